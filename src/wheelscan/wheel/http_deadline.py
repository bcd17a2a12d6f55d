"""The deadline of every HTTP request, kept by one watchdog thread per process.

A socket timeout bounds each read, so a server that trickles a byte a second would hold a
request for ever (wheel/httpclient.py's docstring): each request registers its sockets here
with a deadline, extends it once its body's length is known, and releases them when done;
the watchdog shuts down the socket of any request still running at its deadline. Kept apart
from the client, whose requests only call ``WATCHDOG.watch``, ``extend`` and ``release``.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import os
import socket
import threading
import time


class Watch:
    """One request's deadline, as its thread and the watchdog's share it. The deadline is
    written by the request alone (a stale read costs the watchdog a tick); firing and
    releasing decide under the watch's own lock, never contended but at that moment, so
    that a socket released to the pool is never shut afterwards."""

    __slots__ = ("deadline", "done", "fired", "lock", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline
        self.done = self.fired = False
        self.lock = threading.Lock()


class Watchdog:
    """Shuts down the socket of every request still running at its deadline.

    A shut-down socket makes the blocked ``recv`` return at once, in whatever thread waits on
    it; the request then fails as a missed deadline. One thread serves the whole process,
    looking every ``TICK`` seconds: a request registers and extends its deadline without a
    lock (a deque's append, a field's write), and releases it under its own watch's lock.
    With 64 threads and more making requests, one lock taken three times a request became a
    convoy: a third of a remote worker's samples waited on it (py-spy, 1,050 wheels over
    loopback).
    """

    # deadlines are seconds long (--timeout, 60 s at most, plus 1 s a MiB): one fires at
    # most this late
    TICK = 0.1
    # done requests are dropped from the heap when it grows past this, else at their deadline
    PRUNE_ABOVE = 4096

    def __init__(self) -> None:
        self._new: collections.deque[Watch] = collections.deque()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def start_over(self) -> None:
        """In a forked child: no watchdog thread, maybe a lock held by the parent's, and
        the parent's requests' sockets: forgotten, as a watchdog made anew would have them
        (the same one kept, so that the client's reference to it stays good)."""
        self._new = collections.deque()
        self._starting = threading.Lock()
        self._thread = None

    def watch(self, sock: socket.socket, deadline: float) -> Watch:
        watched = Watch(sock, deadline)
        self._new.append(watched)
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="wheelscan-deadlines", daemon=True
                    )
                    self._thread.start()
        return watched

    @staticmethod
    def extend(watched: Watch, deadline: float) -> None:
        watched.deadline = deadline

    @staticmethod
    def release(watched: Watch) -> bool:
        """Stop watching; True when the deadline had passed (and the socket was shut)."""
        with watched.lock:
            watched.done = True
            return watched.fired

    def _run(self) -> None:
        heap: list[tuple[float, int, Watch]] = []
        while True:
            while self._new:
                watched = self._new.popleft()
                heapq.heappush(heap, (watched.deadline, id(watched), watched))
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                _, _, watched = heapq.heappop(heap)
                if watched.done:
                    continue
                if watched.deadline > now:  # extended since it was queued
                    heapq.heappush(heap, (watched.deadline, id(watched), watched))
                    continue
                with watched.lock:
                    if watched.done:  # released meanwhile: its socket may be pooled again
                        continue
                    watched.fired = True
                    # already closed: the request has failed on its own
                    with contextlib.suppress(OSError):
                        watched.sock.shutdown(socket.SHUT_RDWR)
            if len(heap) > self.PRUNE_ABOVE:
                heap = [entry for entry in heap if not entry[2].done]
                heapq.heapify(heap)
            time.sleep(self.TICK)


# The process's one watchdog: a forked child starts it over (``Watchdog.start_over``)
WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.start_over)
