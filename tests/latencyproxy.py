"""A TCP proxy on 127.0.0.1 that adds round-trip time, as a mirror across a network would.

Every chunk, each way, is held for half of ``rtt`` seconds before it is passed on, so a request
and its answer cost ``rtt`` more. A new connection costs one ``rtt`` more before its first
request gets through, as TCP's handshake does (the kernel completes the handshake with the
proxy at once, so without this a fresh connection would be free and reusing one would not
pay). Bytes are never changed, dropped or reordered; bandwidth is not limited.

One thread serves every connection from a ``selectors`` loop: a thread per direction of each
connection (as this proxy had) meant 256 threads for 64 connections, and on a loaded machine
their wake-ups, not the round trip asked for, set the pace (requests took 0.3-0.7 s at 200 ms).
The loop sleeps until a socket's event or the next held chunk's due time, and then looks at
those directions only (``LatencyProxy``).

``depths`` counts round trips without timing anything: each request for a path gets a depth,
one more than the deepest request for the same path whose answer had begun to come back
before it was sent. Requests sent together share a depth; a request that needed an earlier
answer to be asked comes one deeper. The deepest is how many round trips the reading of that
file waited for, one after another.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import re
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Self

_REQUEST_LINE = re.compile(rb"[A-Z]+ (\S+) HTTP/")


@dataclass(eq=False)
class _Direction:
    """Bytes one way through one connection: held until due, then written."""

    source: socket.socket
    sink: socket.socket
    # (due, bytes, the request whose answer these bytes begin), b"": the end of stream
    held: deque[tuple[float, bytes, tuple[bytes, int] | None]] = field(default_factory=deque)
    unsent: bytes = b""
    done: bool = False  # the end of stream passed on (or the sink gone)
    armed: bool = False  # in the loop's heap of due times, at its first held chunk's


@dataclass(eq=False)
class _Connection:
    upstream: _Direction  # client to server
    downstream: _Direction  # server to client
    open_at: float  # when the handshake would be done: no request gets through before
    # the request (path, depth) waiting for its answer's first byte, in order
    asked: deque[tuple[bytes, int]] = field(default_factory=deque)
    answering: bool = False  # the answer to the last request has begun


@dataclass
class LatencyProxy:
    """The loop's work follows its events: a direction is looked at when its socket has an
    event or its first held chunk falls due (a heap of due times), never because another
    connection's did. A network's latency costs the hosts at its ends no CPU: looking at
    every direction at every wake-up (as this proxy did) cost the benchmark's process a
    second of CPU and more at 50 ms, taken from the audit it measures on a 2-core machine."""

    target: tuple[str, int]
    rtt: float
    # path -> the depth of each request for it, in the order they were sent (see the module)
    depths: dict[str, list[int]] = field(default_factory=dict)
    # how many times the loop looked at a direction (an event of its sockets, or its bytes
    # falling due): its work, which tests bound by the bytes that crossed it
    visits: int = 0
    # CPU seconds the proxy's thread used, known once it has stopped: on a machine whose
    # cores the measured audit shares, the part of its run a real network would not cost
    cpu_seconds: float = 0.0
    _answered: dict[bytes, int] = field(default_factory=dict)  # path -> deepest answered
    _listener: socket.socket | None = None
    _selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _read_by: dict[socket.socket, _Direction] = field(default_factory=dict)  # its source's
    _connections: dict[_Direction, _Connection] = field(default_factory=dict)
    # (due, tie-breaker, direction): each direction with held bytes and none unsent, once
    _due: list[tuple[float, int, _Direction]] = field(default_factory=list)
    _order: Iterator[int] = field(default_factory=itertools.count)
    # written to by ``__exit__``: the loop sleeps until an event or a due time, no longer
    _waker: tuple[socket.socket, socket.socket] = field(default_factory=socket.socketpair)

    def __enter__(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._waker[0], selectors.EVENT_READ, _WAKER)
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._waker[1].send(b"\0")
        assert self._thread is not None
        self._thread.join()
        assert self._listener is not None
        for sock in [self._listener, *self._waker, *self._read_by]:
            sock.close()
        self._selector.close()

    @property
    def address(self) -> str:
        assert self._listener is not None
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def deepest(self, path: str) -> int:
        """How many round trips the reading of ``path`` waited for, one after another."""
        with self._lock:
            return max(self.depths.get(path, [0]))

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.cpu_seconds = time.thread_time()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, direction = heapq.heappop(self._due)
                direction.armed = False
                self._pass_on(direction, now)
            wait = max(0.0, self._due[0][0] - now) if self._due else None
            for key, events in self._selector.select(wait):
                if key.data is None:
                    self._accept()
                    continue
                if key.data is _WAKER:
                    continue  # stopping
                direction = key.data
                connection = self._connections[direction]
                # one socket serves two directions: the other one's events come with it
                other = connection.downstream
                if direction is connection.downstream:
                    other = connection.upstream
                for each in (direction, other):
                    if events & selectors.EVENT_READ and key.fileobj is each.source:
                        self._receive(each, connection)
                    if events & selectors.EVENT_WRITE and key.fileobj is each.sink:
                        self._send(each)
                        self._watch(each)
                        self._arm(each)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        server = socket.create_connection(self.target)
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(
            _Direction(client, server), _Direction(server, client), time.monotonic() + self.rtt
        )
        self._connections[connection.upstream] = connection
        self._connections[connection.downstream] = connection
        # a socket is registered once, for both directions it takes part in: data its first
        self._read_by[client], self._read_by[server] = connection.upstream, connection.downstream
        self._selector.register(client, selectors.EVENT_READ, connection.upstream)
        self._selector.register(server, selectors.EVENT_READ, connection.downstream)

    def _arm(self, direction: _Direction) -> None:
        """Put the direction in the heap, at its first held chunk's due time, if it waits
        for that (bytes still unsent wait for the sink instead)."""
        if direction.armed or direction.done or direction.unsent or not direction.held:
            return
        direction.armed = True
        heapq.heappush(self._due, (direction.held[0][0], next(self._order), direction))

    def _receive(self, direction: _Direction, connection: _Connection) -> None:
        self.visits += 1
        try:
            data = direction.source.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._unwatch_read(direction)
        if direction.done or (direction.held and direction.held[-1][1] == b""):
            return  # already ended, or its sink gone: nobody takes these bytes
        now = time.monotonic()
        answers = None
        if direction is connection.upstream:
            self._count_request(connection, data)
            due = max(now, connection.open_at) + self.rtt / 2
        else:
            answers = self._answer_begun(connection, data)
            due = now + self.rtt / 2
        direction.held.append((due, data, answers))
        self._arm(direction)

    def _count_request(self, connection: _Connection, data: bytes) -> None:
        """A chunk from the client after an answer began (or the first) opens a request."""
        if not data or not (connection.answering or not connection.asked):
            return
        line = _REQUEST_LINE.match(data)
        if line is None:
            return  # the rest of a request already counted
        path = line[1]
        with self._lock:
            depth = self._answered.get(path, 0) + 1
            self.depths.setdefault(path.decode("latin-1"), []).append(depth)
        connection.asked.append((path, depth))
        connection.answering = False

    def _answer_begun(self, connection: _Connection, data: bytes) -> tuple[bytes, int] | None:
        """The request whose answer ``data`` begins, if it begins one."""
        if not data or connection.answering or not connection.asked:
            return None
        connection.answering = True
        return connection.asked.popleft()

    def _pass_on(self, direction: _Direction, now: float) -> None:
        """Write what has fallen due, as far as the sink takes it."""
        self.visits += 1
        while not direction.unsent and direction.held and direction.held[0][0] <= now:
            _, data, answers = direction.held.popleft()
            if answers is not None:  # the client has it now: what it asks next is deeper
                path, depth = answers
                with self._lock:
                    self._answered[path] = max(self._answered.get(path, 0), depth)
            if not data:
                self._end(direction)
                return
            direction.unsent = data
            self._send(direction)
        self._watch(direction)
        self._arm(direction)

    def _send(self, direction: _Direction) -> None:
        if not direction.unsent:
            return
        self.visits += 1
        try:
            sent = direction.sink.send(direction.unsent)
        except BlockingIOError:
            return
        except OSError:
            direction.unsent, direction.held, direction.done = b"", deque(), True
            return
        direction.unsent = direction.unsent[sent:]

    def _end(self, direction: _Direction) -> None:
        direction.done = True
        with contextlib.suppress(OSError):
            direction.sink.shutdown(socket.SHUT_WR)
        connection = self._connections[direction]
        if connection.upstream.done and connection.downstream.done:
            for sock in (direction.source, direction.sink):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                self._read_by.pop(sock, None)
                sock.close()
            del self._connections[connection.upstream], self._connections[connection.downstream]

    def _watch(self, direction: _Direction) -> None:
        """Ask for the sink's writability while bytes wait for it, and only then."""
        self._set_events(direction.sink, selectors.EVENT_WRITE, bool(direction.unsent))

    def _unwatch_read(self, direction: _Direction) -> None:
        self._set_events(direction.source, selectors.EVENT_READ, False)

    def _set_events(self, sock: socket.socket, event: int, on: bool) -> None:
        if sock.fileno() < 0:
            return  # closed
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            if on:  # its reading has ended, and now it has bytes to take
                self._selector.register(sock, event, self._read_by[sock])
            return
        events = (key.events | event) if on else (key.events & ~event)
        if events == key.events:
            return
        if events:
            self._selector.modify(sock, events, key.data)
        else:
            self._selector.unregister(sock)


# the selector's data for the stopping wake-up (None is the listener's)
_WAKER = object()
