"""What a worker's remote wheels in flight weigh (engine/inflight.py): a wheel of no given
size counts as UNKNOWN_FIRST until its first answer names its size, then as that size,
UNKNOWN_SIZE at most; a share grown so waits for its room before new wheels take it
(wheel/scratch.py's ``Budget.take``, ``before_others``), and always finds it.

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
from wheelscan.engine.allocator import KEPT_BYTES
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
from wheelscan.wheel.http_ranges import WHOLE_AT_MOST
from wheelscan.wheel.remote import tell_size
from wheelscan.wheel.scratch import Budget

FORK = multiprocessing.get_context("fork")
MIB = 1 << 20


def test_the_first_weight_is_what_a_first_answer_holds_at_most() -> None:
    """An unsized wheel's first request is a suffix no longer than a wheel fetched whole."""
    assert UNKNOWN_FIRST == WHOLE_AT_MOST
    assert grows_without_deadlock()
    # and the inequality it checks is the one the budget's room depends on
    held = MOST_WHEELS_IN_FLIGHT * UNKNOWN_FIRST
    assert IN_FLIGHT_BYTES - KEPT_BYTES - held >= UNKNOWN_SIZE - UNKNOWN_FIRST


class _Counters:
    """Wheels at each stage in the worker's process, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = FORK.Lock()
        self.values = FORK.Array("i", 4)  # first now, first most, grown now, grown most

    def enter(self, stage: int) -> None:
        with self.lock:
            self.values[2 * stage] += 1
            self.values[2 * stage + 1] = max(self.values[2 * stage + 1], self.values[2 * stage])

    def leave(self, stage: int) -> None:
        with self.lock:
            self.values[2 * stage] -= 1


def _refs(count: int) -> list[WheelRef]:
    # never fetched: the task below plays their reading
    return [
        WheelRef(f"w{i}-1.0-py3-none-manylinux_2_28_x86_64.whl", f"w{i}", "1.0",
                 f"http://127.0.0.1:9/w{i}-1.0-py3-none-manylinux_2_28_x86_64.whl", None, None)
        for i in range(count)
    ]  # fmt: skip


def _result(ref: WheelRef) -> WheelResult:
    error = AuditError(ref.filename, "download-failed", "played")
    return WheelResult(ref, None, None, error, 0, 0, 0.0)


def _worker(
    conn: multiprocessing.connection.Connection, counters: _Counters, named: int,
    barrier_parties: int,
) -> None:  # fmt: skip
    barrier = threading.Barrier(barrier_parties) if barrier_parties else None

    def task(ref: WheelRef) -> WheelResult:
        counters.enter(0)
        if barrier is not None:
            barrier.wait(timeout=60)  # every wheel holds its first share, then all grow
        else:
            time.sleep(0.05)  # its first answer's round trip
        counters.leave(0)
        tell_size(named)
        counters.enter(1)
        time.sleep(0.02)  # its reading, its size counted
        counters.leave(1)
        return _result(ref)

    serve(conn, task, lambda: None)


def _run(count: int, named: int, barrier_parties: int = 0) -> tuple[int, int, list[Any]]:
    counters = _Counters()
    ours, theirs = FORK.Pipe()
    worker = FORK.Process(target=_worker, args=(theirs, counters, named, barrier_parties))
    worker.start()
    try:
        for ref in _refs(count):
            ours.send(ref)
        results = []
        for _ in range(count):
            assert ours.poll(60), "the worker stopped answering: a share never grew"
            results.append(ours.recv())
        ours.send(None)
    finally:
        worker.join(10)
        if worker.is_alive():
            worker.kill()
    return counters.values[1], counters.values[3], results


def test_unsized_wheels_are_asked_for_together_and_grow_within_the_budget() -> None:
    """64 wheels whose sizes no index gave: all their first requests out at once (counted
    as UNKNOWN_SIZE from the start, 15 were: IN_FLIGHT_BYTES less what the allocator
    keeps); once each is named 64 MiB, counted as UNKNOWN_SIZE, no more of them read on
    together than the budget holds."""
    most_first, most_grown, results = _run(64, 64 * MIB)
    assert sorted(r.ref.project for r in results) == sorted(r.project for r in _refs(64))
    assert most_first > IN_FLIGHT_BYTES // UNKNOWN_SIZE
    assert 1 <= most_grown <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_a_size_named_small_frees_room_and_one_left_unnamed_counts_as_large() -> None:
    """Named 100 kB, a wheel gives back what it was counted beyond; left unnamed (an answer
    of ``bytes 0-99/*``), it counts as UNKNOWN_SIZE."""
    _, most_small, _ = _run(48, 100_000)
    _, most_unnamed, _ = _run(48, -1)
    assert most_small > IN_FLIGHT_BYTES // UNKNOWN_SIZE
    assert 1 <= most_unnamed <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


@pytest.mark.slow
def test_every_thread_waiting_to_grow_at_once_still_ends() -> None:
    """The worst case of ``grows_without_deadlock``: as many wheels as a worker reads at
    once, each holding its first share, all waiting to grow at the same moment."""
    parties = min(MOST_WHEELS_IN_FLIGHT, inflight.wheel_threads())
    most_first, most_grown, results = _run(parties, UNKNOWN_SIZE, barrier_parties=parties)
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
            target=lambda: (budget.take(size, before_others=before_others), taken.append(name))
        )
        thread.start()
        return thread

    plain = take("plain", 4 * MIB, False)
    time.sleep(0.1)
    grown = take("grown", 4 * MIB, True)
    time.sleep(0.1)
    assert taken == []
    budget.give(4 * MIB)  # room for one of them: the grown share's
    grown.join(5)
    time.sleep(0.1)
    assert taken == ["grown"]
    budget.give(4 * MIB)
    plain.join(5)
    assert taken == ["grown", "plain"]
    assert budget.used == 9 * MIB
