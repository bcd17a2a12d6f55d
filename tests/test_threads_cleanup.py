"""wheelscan.wheel.threads leaves nothing behind: a failed task's outcome holds no reference
cycle (its error's traceback kept every caller's frame alive, and whatever they held, until
the cyclic collector ran). Real threads; the collector is switched off where what is freed
is counted."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from wheelscan.wheel.threads import Background, Outcome, run_all

HELPER = "test-cleanup-helper"


class _Held:
    """Something a frame holds, to see whether that frame is still alive."""


def _fails() -> None:
    held = _Held()
    _fails.held = weakref.ref(held)  # type: ignore[attr-defined]
    raise ValueError("broken")


@pytest.fixture()
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _caller_of(run: Callable[[], object]) -> weakref.ref[_Held]:
    """Calls ``run`` from a frame holding something, and keeps what ``run`` returns there."""
    held = _Held()
    kept = run()
    assert kept is not None
    return weakref.ref(held)


@pytest.mark.parametrize("threads", [1, 3])
def test_failed_tasks_keep_no_caller_frame_alive(no_collector: None, threads: int) -> None:
    """The outcomes held by the caller, then dropped: the caller's frame (and what it held)
    goes at once, by reference counting; the failed task's frame with the outcome."""
    caller = _caller_of(lambda: run_all([_fails] * 3, threads, HELPER))
    assert caller() is None
    assert _fails.held() is None  # type: ignore[attr-defined]


def test_an_error_raised_again_keeps_no_frame_alive(no_collector: None) -> None:
    def take() -> object:
        outcome = Outcome(_fails)
        with pytest.raises(ValueError, match="broken"):
            outcome.result()
        with pytest.raises(RuntimeError):  # raised once: not held after
            outcome.result()
        return outcome

    caller = _caller_of(take)
    assert caller() is None
    assert _fails.held() is None  # type: ignore[attr-defined]


def test_a_background_failure_keeps_no_frame_alive(no_collector: None) -> None:
    def take() -> object:
        reading = Background(_fails, HELPER)
        with pytest.raises(ValueError, match="broken"):
            reading.result()
        return reading

    caller = _caller_of(take)
    assert caller() is None
    assert _fails.held() is None  # type: ignore[attr-defined]
