"""What a worker's remote wheels in flight weigh (engine/inflight.py): from an origin that
has answered ranges with their parts, a wheel of no given size counts as UNKNOWN_FIRST
until its first answer names its size, then as that size, UNKNOWN_SIZE at most (from any
other, as UNKNOWN_SIZE until named); a share grown so waits for its room before new wheels
take it (wheel/scratch.py's ``Budget.take``, ``before_others``), and always finds it.

The worker's loop (``serve``) runs in a forked process of its own, as in an audit: it fixes
the process's allocator and shares its scratch among threads. Its wheels are read by a task
that plays a wheel of no given size: its first answer names the size after a while, then
its reading takes a while more."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import threading
import time
from typing import Any

import pytest

from wheelscan.engine import inflight
from wheelscan.engine.inflight import (
    IN_FLIGHT_BYTES,
    MOST_WHEELS_IN_FLIGHT,
    UNKNOWN_FIRST,
    UNKNOWN_SIZE,
    grows_without_deadlock,
    serve,
)
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import remote as remote_module
from wheelscan.wheel.http_ranges import WHOLE_AT_MOST
from wheelscan.wheel.remote import answered_range, tell_size
from wheelscan.wheel.scratch import Budget

FORK = multiprocessing.get_context("fork")
MIB = 1 << 20


def test_the_first_weight_is_what_a_first_answer_holds_at_most() -> None:
    """An unsized wheel's first request is a suffix no longer than a wheel fetched whole."""
    assert UNKNOWN_FIRST == WHOLE_AT_MOST
    assert grows_without_deadlock()


class _Counters:
    """Wheels at each stage in the worker's process, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = FORK.Lock()
        # first now, first most, grown now, grown most; no lock of its own (``lock``'s
        # guards it), which a worker killed while holding it would leave held
        self.values = FORK.Array("i", 4, lock=False)

    def enter(self, stage: int) -> None:
        with self.lock:
            self.values[2 * stage] += 1
            self.values[2 * stage + 1] = max(self.values[2 * stage + 1], self.values[2 * stage])

    def leave(self, stage: int) -> None:
        with self.lock:
            self.values[2 * stage] -= 1


ORIGIN = "http://127.0.0.1:9"


def _refs(count: int, size: int | None = None, name: str = "w") -> list[WheelRef]:
    # never fetched: the task below plays their reading
    return [
        WheelRef(f"{name}{i}-1.0-py3-none-manylinux_2_28_x86_64.whl", f"{name}{i}", "1.0",
                 f"{ORIGIN}/{name}{i}-1.0-py3-none-manylinux_2_28_x86_64.whl", None, size)
        for i in range(count)
    ]  # fmt: skip


def _result(ref: WheelRef) -> WheelResult:
    error = AuditError(ref.filename, "download-failed", "played")
    return WheelResult(ref, None, None, error, 0, 0, 0.0)


def _worker(
    conn: multiprocessing.connection.Connection, counters: _Counters, named: int,
    barriers: tuple[int, int], honoured: bool,
) -> None:  # fmt: skip
    """``serve`` with a task that plays wheels of no given size: each named ``named`` after a
    while, or, with ``barriers``, once that many wheels hold their first shares at once,
    then read on once that many are counted as named at once. A sized wheel holds its
    share until the second barrier trips, and counts as one of its parties."""
    remote_module._RANGES_ANSWERED.clear()  # as a new worker knows no origin
    if honoured:  # as a worker knows its origin once an answer came as a 206
        answered_range(ORIGIN, True)
    first, named_together = (threading.Barrier(n) if n else None for n in barriers)

    def task(ref: WheelRef) -> WheelResult:
        counters.enter(0)
        if ref.size is not None:  # a sized wheel: holds its share until the others are named
            if named_together is not None:
                named_together.wait(timeout=20)
            return _result(ref)
        if first is not None:
            first.wait(timeout=20)
        else:
            time.sleep(0.05)  # its first answer's round trip
        counters.leave(0)
        tell_size(named)
        counters.enter(1)
        if named_together is not None:
            named_together.wait(timeout=20)
        else:
            time.sleep(0.02)  # its reading, its size counted
        counters.leave(1)
        return _result(ref)

    serve(conn, task, lambda: None)


def _run(
    refs: list[WheelRef], named: int, barriers: tuple[int, int] = (0, 0),
    honoured: bool = True, first_alone: bool = False,
) -> tuple[int, int, list[Any]]:  # fmt: skip
    """The wheels read by a worker of its own: the most of them at once before their sizes
    were named, after, and the results. ``first_alone``: the first wheel's reading begun
    before the others are sent."""
    counters = _Counters()
    ours, theirs = FORK.Pipe()
    worker = FORK.Process(target=_worker, args=(theirs, counters, named, barriers, honoured))
    worker.start()
    theirs.close()  # the worker's end: its death is then this end's EOF
    try:
        for index, ref in enumerate(refs):
            ours.send(ref)
            deadline = time.monotonic() + 30
            while first_alone and index == 0 and counters.values[0] == 0:
                assert time.monotonic() < deadline, "the first wheel was never read"
                time.sleep(0.01)
        results = []
        for _ in refs:
            assert ours.poll(60), "the worker stopped answering: a share never grew"
            results.append(ours.recv())  # EOFError: the worker died (a barrier broke)
        ours.send(None)
    finally:
        worker.join(10)
        if worker.is_alive():
            worker.kill()
            worker.join(10)
    return counters.values[1], counters.values[3], results


def test_unsized_wheels_are_asked_for_together_and_grow_within_the_budget() -> None:
    """64 wheels whose sizes no index gave, from an origin that answers ranges: all their
    first requests out at once (counted as UNKNOWN_SIZE from the start, 15 were:
    IN_FLIGHT_BYTES less what the allocator keeps); once each is named 64 MiB, counted as
    UNKNOWN_SIZE, no more of them read on together than the budget holds."""
    refs = _refs(64)
    most_first, most_grown, results = _run(refs, 64 * MIB)
    assert sorted(r.ref.project for r in results) == sorted(r.project for r in refs)
    assert most_first > IN_FLIGHT_BYTES // UNKNOWN_SIZE
    assert 1 <= most_grown <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_from_an_origin_not_known_to_answer_ranges_an_unsized_wheel_counts_as_large() -> None:
    """Until an answer from the origin came as a 206, a suffix may be answered with the whole
    file (a server that ignores ranges): counted as UNKNOWN_SIZE, 15 at once at most."""
    most_first, _, results = _run(_refs(48), 100_000, honoured=False)
    assert len(results) == 48
    assert 1 <= most_first <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_a_size_named_small_gives_back_what_it_was_counted_beyond() -> None:
    """A sized wheel holds all but 40 MiB of IN_FLIGHT_BYTES (and the allocator keeps 16 of
    those): 24 unsized wheels fit beside it as UNKNOWN_FIRST each. Named 100 kB, each gives
    the rest back, so that all 48 are read on at once; counted as 1 MiB still, 24 would be,
    and the barrier of 49 never trips."""
    if inflight.wheel_threads() < 49:
        pytest.skip("fewer threads than the barrier's parties (a tight RLIMIT_DATA)")
    big = _refs(1, IN_FLIGHT_BYTES - 40 * MIB, name="big")
    refs = big + _refs(48)
    _, most_named, results = _run(refs, 100_000, barriers=(0, 49), first_alone=True)
    assert len(results) == 49
    assert most_named == 48


def test_a_size_left_unnamed_counts_as_large() -> None:
    """An answer of ``bytes 0-99/*`` names no size: the wheel counts as UNKNOWN_SIZE."""
    _, most_unnamed, _ = _run(_refs(48), -1)
    assert 1 <= most_unnamed <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_every_thread_waiting_to_grow_at_once_still_ends() -> None:
    """The worst case of ``grows_without_deadlock``: as many wheels as a worker reads at
    once, each holding its first share, all waiting to grow at the same moment."""
    parties = min(MOST_WHEELS_IN_FLIGHT, inflight.wheel_threads())
    most_first, most_grown, results = _run(_refs(parties), UNKNOWN_SIZE, barriers=(parties, 0))
    assert len(results) == parties
    assert most_first == parties
    assert most_grown <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_a_share_grown_is_taken_before_new_ones() -> None:
    """Room that comes free goes to the share asked ``before_others``, though a plain one
    asked first and fits it too."""
    budget = Budget(10 * MIB)
    budget.take(9 * MIB)
    taken: list[str] = []

    def take(name: str, size: int, before_others: bool) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: (budget.take(size, before_others=before_others), taken.append(name)),
            daemon=True,  # a regression that leaves it waiting must not hold pytest's exit
        )
        thread.start()
        return thread

    plain = take("plain", 4 * MIB, False)
    time.sleep(0.1)
    grown = take("grown", 4 * MIB, True)
    deadline = time.monotonic() + 10
    while budget._first_waiting == 0 and time.monotonic() < deadline:  # it waits, counted
        time.sleep(0.01)
    assert taken == []
    budget.give(4 * MIB)  # room for one of them: the grown share's
    grown.join(5)
    time.sleep(0.1)
    assert taken == ["grown"]
    budget.give(4 * MIB)
    plain.join(5)
    assert taken == ["grown", "plain"]
    assert budget.used == 9 * MIB
