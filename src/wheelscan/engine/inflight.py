"""Several remote wheels in flight in one worker, so that their round trips overlap.

A wheel read over HTTP waits a round trip or more for each of its requests (its tail, its
members, a longer start or an end of a member); one wheel at a time, a worker would spend
most of a 50 ms link waiting. So a worker reads several remote wheels at once, each on a
thread of its own that fetches and then parses it (the inflater and the parser release the
GIL), as many as the pool keeps queued on it (engine/pool.py): ``WHEELS_IN_FLIGHT``, more
where the index's answers came slowly, a few where they came at once
(``wheels_in_flight``). A local wheel has nothing to wait for: it is read on the worker's
own thread, as before.

Results go back as they are ready, so that one slow wheel holds up no other; the pool knows
each by its wheel. A worker lost while it read several wheels leaves the pool unable to tell
which one killed it: the pool reads each of them again on a worker of its own (engine/pool.py).
The threads share the worker's scratch
memory (``share_among_threads``): a worker holds what one thread would, however many read;
its allocator keeps a little of what they free for the next wheels (engine/allocator.py).
"""

from __future__ import annotations

import math
import multiprocessing.connection
import queue
import threading
from collections.abc import Callable

from wheelscan.engine.allocator import KEPT_BYTES, keep_freed_memory
from wheelscan.model import WheelResult
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.remote import is_url, ranges_honoured, size_named
from wheelscan.wheel.scratch import RETAINED, Budget, share_among_threads
from wheelscan.wheel.threads import threads_within

# Remote wheels read at once by one worker. A wheel costs 1-3 round trips (its tail, the
# parts of its members, rarely one more), ~0.5 s of waiting at 200 ms, against ~10-20 ms of
# a core: on the benchmark corpus at 200 ms, two workers took 4.3 s with 16 each in flight,
# 3.5 s with 32 (benchmarks/remote.py; a loaded machine). That many on a fast link: more
# would only queue on one worker wheels another could take
WHEELS_IN_FLIGHT = 32
# On a slower link, as many as keep a worker's core busy for the time a wheel waits (Little's
# law): a worker parses some ``WORKER_WHEELS_PER_SECOND`` wheels a second, and a wheel waits
# for ``ROUND_TRIPS_PER_WHEEL`` round trips one after another at most (a new connection, its
# tail, its members' heads, their parts, a longer start). 60 at 200 ms, 15 (so 32) at 50 ms;
# never more than ``MOST_WHEELS_IN_FLIGHT``. What they hold stays within ``IN_FLIGHT_BYTES``
# however many they are, and their threads' stacks within ``THREADS_SHARE``
WORKER_WHEELS_PER_SECOND = 60
ROUND_TRIPS_PER_WHEEL = 5
MOST_WHEELS_IN_FLIGHT = 128
# What the wheels in flight in a worker may weigh together, counted by their sizes as the
# index gives them; fewer wheels are read at once where they are large, and one larger than
# this is read alone. What is fetched of a wheel is held until it is judged: its parts (half
# its size on the benchmark corpus), never a member over 64 MiB whole (streamed, a window
# at a time). A PEP 503 page gives no size: from an origin that has answered ranges with
# their parts (``ranges_honoured``), such a wheel counts as ``UNKNOWN_FIRST`` until its
# first answer names its size, what that answer holds at most (its suffix, no more than a
# wheel fetched whole, WHOLE_AT_MOST: a longer answer, the whole file from a server or a
# cache that ignores Range for it, is refused unread and asked for again once the wheel
# counts as large; wheel/http_ranges.py), and then as its size, ``UNKNOWN_SIZE`` at most
# (what most wheels weigh at most; one whose size no answer names, or fetched whole, as
# much; a larger one is under-counted, as it always was). From any other origin (none
# answered yet, or one that sent a whole file for a range) it counts as UNKNOWN_SIZE until
# named. Counted so everywhere, 15 were in flight where all were unknown (the allocator's
# KEPT_BYTES counted), a first round trip each: through 200 ms, the simulated 1,050 wheels
# from their HTML pages, which give hashes and no sizes, took 10.0 s where their JSON pages
# took 4.5; every one counted UNKNOWN_FIRST until named, 5.5 s, and the rule as it stands
# as fast (6.16 s against 6.18, a slower hour; benchmarks/remote.py --pages html, and
# results/remote-loopback.txt, session 25). A share grown waits for its room before the
# wheels yet to be admitted (``Budget.take``'s ``before_others``), and always finds it:
# the shares waiting to grow are UNKNOWN_FIRST each, on MOST_WHEELS_IN_FLIGHT threads at
# most, which leaves a growth's room free of them (``grows_without_deadlock``); every other
# share is a wheel's that reads on and gives it back.
IN_FLIGHT_BYTES = 256 << 20
UNKNOWN_FIRST = 1 << 20  # WHOLE_AT_MOST (a test holds them equal: http_ranges imports urllib3)
UNKNOWN_SIZE = 16 << 20
# The part of a worker's RLIMIT_DATA the stacks of its wheels' threads may take: the rest is
# its largest member's (twice, at most), the range requests' threads' (wheel/http_ranges.py), the
# wheels in flight's, the interpreter's
THREADS_SHARE = 0.25
# Where the index answers within NEAR_ROUND_TRIP (loopback, a mirror on the LAN: the threshold
# of wheel/http_ranges.py's NEAR), a wheel waits for its round trips a fraction of a millisecond,
# and a few wheels at once keep a worker's core busy. More only queue on a worker wheels
# another could take: the pool hands a worker its wheels as it asks for them, and the last
# ones a worker holds, in flight on its threads, no idle worker can take over. Over nginx on
# loopback, two workers: the benchmark corpus took 1.3-2.0 s with 32 in flight where 1.0-1.15
# from a directory (one worker alone for the last 0.9 s, its 20-odd wheels sharing its core),
# 1.2-1.3 s with 3, 4 or 6; the simulated index's 1,050 wheels 6.0-6.2 CPU s with 32, 5.7-5.8
# with 6 (their threads handing the GIL and the answers back and forth less)
NEAR_ROUND_TRIP = 0.002
NEAR_WHEELS_IN_FLIGHT = 4

Task = Callable[[WheelRef], WheelResult]
# what the receiving thread hands the worker's own: a finished result, a local wheel to read,
# an exception a wheel's thread raised, or None when no more wheels will come
Ready = WheelResult | WheelRef | BaseException | None


def serve(
    conn: multiprocessing.connection.Connection, task: Task, after_each: Callable[[], None]
) -> None:
    """Answer the wheels the pool sends on ``conn`` until it sends None or goes away.

    Until the first remote wheel comes, this thread receives and reads every wheel itself,
    as a worker always did: a worker that reads only local wheels starts no thread (under
    a tight RLIMIT_DATA, a thread's stack is one more mapping that can fail)."""
    while True:
        ref = _receive(conn)
        if ref is None:
            return
        if is_url(ref.location):
            break
        if not _send(conn, task(ref)):
            return
        after_each()
    share_among_threads(RETAINED)
    kept = KEPT_BYTES if keep_freed_memory() else 0
    admitted = Budget(IN_FLIGHT_BYTES - kept)  # what the allocator keeps freed is theirs
    ready: queue.SimpleQueue[Ready] = queue.SimpleQueue()

    def read(ref: WheelRef) -> WheelResult:
        if ref.size is not None:
            weight = admitted.take(ref.size)
        else:
            # its first answer's worth only where the origin is known to answer ranges (a
            # whole file may come otherwise); asked again while it waits, as the first
            # wheels' answers tell the origin and give room back, which wakes it
            location = ref.location
            weight = admitted.take(
                lambda: UNKNOWN_FIRST if ranges_honoured(location) else UNKNOWN_SIZE
            )

        def sized(size: int) -> None:  # its first answer named the size no index gave
            nonlocal weight
            # (a size an answer left unnamed, ``bytes 0-99/*``, is -1)
            wanted = min(size, UNKNOWN_SIZE) if size > 0 else UNKNOWN_SIZE
            if wanted < weight:
                admitted.give(weight - wanted)
                weight = wanted
            elif wanted > weight and weight <= UNKNOWN_FIRST:  # grown so, it finds room
                weight += admitted.take(wanted - weight, before_others=True)

        try:
            with size_named(sized):
                return task(ref)
        finally:
            admitted.give(weight)

    readers = _Readers(read, ready, wheel_threads())

    def receive(first: WheelRef) -> None:
        ref: WheelRef | None = first
        while ref is not None:
            if not (is_url(ref.location) and readers.submit(ref)):
                ready.put(ref)  # read on the worker's own thread
            ref = _receive(conn)
        ready.put(None)

    threading.Thread(target=receive, args=(ref,), name="wheelscan-receive", daemon=True).start()
    while (item := ready.get()) is not None:
        if isinstance(item, BaseException):
            raise item  # as a wheel read on this thread would: the worker dies, the pool sees it
        if not _send(conn, task(item) if isinstance(item, WheelRef) else item):
            return
        after_each()


def grows_without_deadlock() -> bool:
    """Whether a wheel's share can always grow from UNKNOWN_FIRST to UNKNOWN_SIZE: with
    every thread holding UNKNOWN_FIRST and waiting to grow, room is left for one."""
    most_held = MOST_WHEELS_IN_FLIGHT * UNKNOWN_FIRST
    return IN_FLIGHT_BYTES - KEPT_BYTES - most_held >= UNKNOWN_SIZE - UNKNOWN_FIRST


def wheels_in_flight(round_trip: float | None) -> int:
    """How many remote wheels a worker reads at once where a round trip takes
    ``round_trip`` seconds (None: not known yet); the pool keeps that many queued on it."""
    if round_trip is None:
        return WHEELS_IN_FLIGHT
    if round_trip < NEAR_ROUND_TRIP:
        return NEAR_WHEELS_IN_FLIGHT
    wanted = math.ceil(WORKER_WHEELS_PER_SECOND * ROUND_TRIPS_PER_WHEEL * round_trip)
    return max(WHEELS_IN_FLIGHT, min(MOST_WHEELS_IN_FLIGHT, wanted))


def wheel_threads() -> int:
    """How many threads may read wheels in this process: ``MOST_WHEELS_IN_FLIGHT`` (the
    pool sends fewer on a fast link), or fewer where their stacks would take more than
    ``THREADS_SHARE`` of its RLIMIT_DATA (a thread's stack counts against it, 8 MiB by
    default: 32 of them are 264 MiB)."""
    return threads_within(MOST_WHEELS_IN_FLIGHT, THREADS_SHARE)


class _Readers:
    """The threads that read remote wheels: started as wheels come (one more while none is
    idle), up to ``most``. A thread that cannot start (its stack past RLIMIT_DATA) leaves
    its wheel to those that did, and ``most`` at their number; with none started, each
    wheel is left to the worker's own thread (``submit`` says False)."""

    def __init__(self, read: Task, ready: queue.SimpleQueue[Ready], most: int) -> None:
        self._read = read
        self._ready = ready
        self._most = most
        self._started = 0
        self._wheels: queue.SimpleQueue[WheelRef] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one count for each thread waiting for a wheel

    def submit(self, ref: WheelRef) -> bool:
        """Whether a thread will read ``ref`` (called by one thread only)."""
        if not self._idle.acquire(blocking=False) and self._started < self._most:
            thread = threading.Thread(
                target=self._serve, name=f"wheelscan-wheel_{self._started}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # "can't start new thread"
                self._most = self._started
            else:
                self._started += 1
        if self._started == 0:
            return False
        self._wheels.put(ref)
        return True

    def _serve(self) -> None:
        while True:
            ref = self._wheels.get()
            try:
                result: WheelResult | BaseException = self._read(ref)
            except BaseException as error:  # the worker's own thread raises it
                result = error
            self._ready.put(result)
            self._idle.release()


def _receive(conn: multiprocessing.connection.Connection) -> WheelRef | None:
    """The next wheel; None once the pool says there are no more, or is gone (its socket,
    closed with wheels unread, resets: before the kernel's signal, which closes a dying
    process's files first, or without one)."""
    try:
        ref: WheelRef | None = conn.recv()
    except (EOFError, OSError):
        return None
    return ref


def _send(conn: multiprocessing.connection.Connection, result: WheelResult) -> bool:
    """Whether the result could be sent (the parent gone, nobody is left to receive it)."""
    try:
        conn.send(result)
    except OSError:
        return False
    return True
