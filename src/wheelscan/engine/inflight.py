"""Several remote wheels in flight in one worker, so that their round trips overlap.

A wheel read over HTTP waits a round trip or more for each of its requests (its tail, its
members, a longer start or an end of a member); one wheel at a time, a worker would spend
most of a 50 ms link waiting. So a worker reads up to ``WHEELS_IN_FLIGHT`` remote wheels at
once, each on a thread of its own that fetches and then parses it (the inflater and the
parser release the GIL), while the pool keeps that many queued on it (engine/pool.py). A
local wheel has nothing to wait for: it is read on the worker's own thread, as before.

Results go back as they are ready, so that one slow wheel holds up no other; the pool knows
each by its wheel. A worker lost while it read several wheels leaves the pool unable to tell
which one killed it: the pool reads each of them again on a worker of its own (engine/pool.py).
The threads share the worker's scratch
memory (``share_among_threads``): a worker holds what one thread would, however many read.
"""

from __future__ import annotations

import multiprocessing.connection
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from wheelscan.model import WheelResult
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.remote import is_url
from wheelscan.wheel.scratch import RETAINED, Budget, share_among_threads

# Remote wheels read at once by one worker. A wheel costs 1-3 round trips (its tail, the
# parts of its members, rarely one more), ~0.5 s of waiting at 200 ms, against ~10-20 ms of
# a core: on the benchmark corpus at 200 ms, two workers took 4.3 s with 16 each in flight,
# 3.5 s with 32 (benchmarks/remote.py; a loaded machine)
WHEELS_IN_FLIGHT = 32
# What the wheels in flight in a worker may weigh together, counted by their sizes as the
# index gives them; fewer wheels are read at once where they are large, and one larger than
# this is read alone. What is fetched of a wheel is held until it is judged: its parts (half
# its size on the benchmark corpus), never a member over 64 MiB whole (streamed, a window
# at a time). A PEP 503 page gives no size: such a wheel counts as ``UNKNOWN_SIZE``, what
# most wheels weigh at most (16 in flight where all are unknown)
IN_FLIGHT_BYTES = 256 << 20
UNKNOWN_SIZE = 16 << 20

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
    admitted = Budget(IN_FLIGHT_BYTES)
    ready: queue.SimpleQueue[Ready] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(WHEELS_IN_FLIGHT, thread_name_prefix="wheelscan-wheel")

    def read(ref: WheelRef) -> WheelResult:
        weight = admitted.take(UNKNOWN_SIZE if ref.size is None else ref.size)
        try:
            return task(ref)
        finally:
            admitted.give(weight)

    def finished(future: Future[WheelResult]) -> None:
        error = future.exception()
        ready.put(future.result() if error is None else error)

    def receive(first: WheelRef) -> None:
        ref: WheelRef | None = first
        while ref is not None:
            if is_url(ref.location):
                pool.submit(read, ref).add_done_callback(finished)
            else:
                ready.put(ref)
            ref = _receive(conn)
        ready.put(None)

    threading.Thread(target=receive, args=(ref,), name="wheelscan-receive", daemon=True).start()
    while (item := ready.get()) is not None:
        if isinstance(item, BaseException):
            raise item  # as a wheel read on this thread would: the worker dies, the pool sees it
        if not _send(conn, task(item) if isinstance(item, WheelRef) else item):
            return
        after_each()


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
