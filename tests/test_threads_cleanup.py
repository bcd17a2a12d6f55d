"""wheelscan.wheel.threads leaves nothing behind: a Ctrl-C while ``run_all`` still starts its
helpers waits for those already started (they went on taking tasks, unseen), and a failed
task's outcome holds no reference cycle (its error's traceback kept every caller's frame
alive, and whatever they held, until the cyclic collector ran). Real threads and signals;
the collector is switched off where what is freed is counted."""

from __future__ import annotations

import gc
import inspect
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from wheelscan.wheel.threads import Background, Outcome, _stop_and_wait, run_all

HELPER = "test-cleanup-helper"


class _Tasks:
    """Tasks that take a while each and count how many began and ended; ``on_first`` runs
    at the start of the first one to begin."""

    def __init__(self, count: int, on_first: Callable[[], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.begun = self.ended = 0
        self.on_first = on_first
        self.tasks = [self._task for _ in range(count)]

    def _task(self) -> None:
        with self.lock:
            self.begun += 1
            first = self.begun == 1
        if first and self.on_first is not None:
            self.on_first()
        time.sleep(0.02)
        with self.lock:
            self.ended += 1


class _CtrlCAtHelper(str):
    """A thread name that raises KeyboardInterrupt the ``at``-th time a thread is named
    with it: Ctrl-C arriving on the caller while it starts its helpers, at that one."""

    at = 2

    def __str__(self) -> str:
        self.named: int = getattr(self, "named", 0) + 1
        if self.named == self.at:
            raise KeyboardInterrupt
        return HELPER


def _join_helpers() -> None:
    for thread in threading.enumerate():
        if thread.name == HELPER:
            thread.join(30)


def _interrupted_run(tasks: _Tasks, threads: int, name: str) -> tuple[int, int]:
    """``run_all`` over the tasks, which must raise KeyboardInterrupt: the tasks begun and
    ended when it did."""
    with pytest.raises(KeyboardInterrupt):
        run_all(tasks.tasks, threads, name)
    with tasks.lock:
        return tasks.begun, tasks.ended


def test_ctrl_c_while_starting_the_helpers_waits_for_those_started() -> None:
    """Ctrl-C as the second helper is made: the first, started, is stopped and waited for
    (it took every task, the caller gone, before)."""
    tasks = _Tasks(50)
    begun, ended = _interrupted_run(tasks, 4, _CtrlCAtHelper("helper"))
    assert begun == ended  # no task was left running
    _join_helpers()
    assert tasks.begun == begun  # and none began after
    # not all: the helper stopped (``<= 1`` if the caller is not held up for a task's 20 ms
    # between starting it and its Ctrl-C; on a loaded machine it may be)
    assert begun < len(tasks.tasks)


def test_a_real_ctrl_c_while_starting_the_helpers_waits_for_those_started() -> None:
    """SIGINT sent to the caller by the first task to begin: a helper's, while the caller
    still starts the other 62 (the caller takes tasks only once they are started)."""
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    tasks = _Tasks(200, lambda: signal.pthread_kill(main, signal.SIGINT))
    begun, ended = _interrupted_run(tasks, 64, HELPER)
    assert begun == ended
    _join_helpers()
    assert tasks.begun == begun


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


def _guarded_lines(function: Callable[..., object]) -> list[int]:
    """The lines of ``function`` from its first ``try``'s body to its end (a line tracer
    raises a Ctrl-C at each). Not the lines before, nor the ``try`` line itself: a Ctrl-C
    there, before any step, is raised to the caller as from any statement no ``try``
    covers."""
    source, first = inspect.getsourcelines(function)
    begin = next(i for i, text in enumerate(source) if text.strip() == "try:")
    covered = range(first + begin + 1, first + len(source))
    return sorted({line for _, _, line in function.__code__.co_lines() if line in covered})


@pytest.mark.parametrize("line", _guarded_lines(_stop_and_wait))
def test_a_ctrl_c_on_any_line_of_the_wait_still_waits_for_every_helper(line: int) -> None:
    """Ctrl-C (raised by a line tracer) on each line of ``_stop_and_wait``'s steps, once:
    ``run_all`` raises it only when every task begun has ended. (A Ctrl-C after the step
    that lists the helpers, before they were waited for, once escaped with one running.)"""
    code = _stop_and_wait.__code__
    fired: list[int] = []

    def local(frame: FrameType, event: str, arg: object) -> object:
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(line)
            raise KeyboardInterrupt
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> object:
        return local if frame.f_code is code else None

    tasks = _Tasks(8)
    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_all(tasks.tasks, 4, HELPER)
            if not fired:  # the line was never reached: nothing to interrupt
                raise KeyboardInterrupt
    finally:
        sys.settrace(None)
    with tasks.lock:
        assert tasks.begun == tasks.ended, f"a task still ran after a Ctrl-C at line {line}"
    _join_helpers()


def _lines_before_the_try(function: Callable[..., object]) -> list[int]:
    """The lines of ``function``'s body before its first ``try``: ``_guarded_lines``' rest."""
    source, first = inspect.getsourcelines(function)
    begin = next(i for i, text in enumerate(source) if text.strip() == "try:")
    lines = {line for _, _, line in function.__code__.co_lines() if line is not None}
    return sorted(line for line in lines if first < line < first + begin)


@pytest.mark.parametrize("line", [None, *_lines_before_the_try(_stop_and_wait)])
def test_a_ctrl_c_at_the_wait_s_entry_still_waits_for_every_helper(line: int | None) -> None:
    """Ctrl-C (raised by a tracer) as ``_stop_and_wait`` is entered (``None``: its call
    event, where the interpreter runs a signal's handler before any line) or on a line
    before its ``try``: it escaped ``run_all`` with helpers still at their tasks."""
    code = _stop_and_wait.__code__
    fired: list[int | None] = []

    def local(frame: FrameType, event: str, arg: object) -> object:
        if event == "line" and frame.f_lineno == line and not fired:
            fired.append(line)
            raise KeyboardInterrupt
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> object:
        if frame.f_code is not code:
            return None
        if line is None and not fired:
            fired.append(None)
            raise KeyboardInterrupt
        return local

    # the helpers' tasks slow, the caller's quick: the caller has drained every task, and
    # calls the wait, while the helpers are still at theirs
    caller = threading.current_thread()
    lock = threading.Lock()
    counts = {"begun": 0, "ended": 0}

    def task() -> None:
        with lock:
            counts["begun"] += 1
        if threading.current_thread() is not caller:
            time.sleep(0.2)
        with lock:
            counts["ended"] += 1

    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_all([task] * 40, 4, HELPER)
    finally:
        sys.settrace(None)
    assert fired == [line]
    with lock:
        assert counts["begun"] == counts["ended"], f"a task still ran after a Ctrl-C at {line}"
    _join_helpers()
