"""wheelscan.wheel.threads: each task's outcome in the order given, what it raised raised again
where its outcome is taken, every task done when ``run_all`` returns."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from wheelscan.wheel.threads import Background, run_all


def test_run_all_keeps_the_order_and_each_failure() -> None:
    names: set[str] = set()

    meeting = threading.Barrier(3, timeout=30)  # the first three tasks, one on each thread

    def task(i: int) -> int:
        names.add(threading.current_thread().name)
        if i < 3:
            meeting.wait()
        if i == 3:
            raise ValueError("three")
        return i * i

    outcomes = run_all([lambda i=i: task(i) for i in range(8)], 3, "test-helper")
    assert [o.result() for o in outcomes[:3]] == [0, 1, 4]
    with pytest.raises(ValueError, match="three"):
        outcomes[3].result()
    assert [o.result() for o in outcomes[4:]] == [16, 25, 36, 49]
    # the calling thread took tasks too, beside at most two helpers, all ended
    assert names == {threading.current_thread().name, "test-helper"}
    assert not [t for t in threading.enumerate() if t.name == "test-helper"]


def test_run_all_with_one_thread_runs_on_the_caller() -> None:
    seen = run_all([threading.current_thread for _ in range(3)], 1, "test-helper")
    assert {o.result() for o in seen} == {threading.current_thread()}


def test_background_returns_or_raises_what_its_function_did() -> None:
    assert Background(lambda: 42, "test-bg").result() == 42

    def fails() -> None:
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        Background(fails, "test-bg").result()


def test_ctrl_c_on_the_caller_stops_the_others_and_is_raised_once_they_end() -> None:
    ran: list[int] = []

    def task(i: int) -> None:
        ran.append(i)
        if threading.current_thread().name == "test-helper":
            time.sleep(0.1)  # the helper's task ends after the caller's Ctrl-C
            return
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        try:
            run_all([lambda i=i: task(i) for i in range(50)], 2, "test-helper")
        finally:
            assert not [t for t in threading.enumerate() if t.name == "test-helper"]
    assert len(ran) <= 2  # the caller's task and the helper's first: none taken after


def test_background_interrupted_while_waiting_leaves_its_thread_to_be_waited_for() -> None:
    # Ctrl-C in result(): the reading thread still counts as running, so the interpreter's
    # exit waits for it (an interrupted join() would have marked it ended: bpo-45274)
    release = threading.Event()
    reading = Background(lambda: release.wait(30), "test-bg")
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGINT)).start()  # Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        reading.result()
    assert reading._thread.is_alive()
    release.set()
    assert reading.result() is True


def test_ctrl_c_while_the_caller_waits_for_the_helpers_waits_on() -> None:
    # Ctrl-C after the caller's own task, while a helper still works: raised only once the
    # helper has ended (a join() it interrupts would have let the caller go on at once)
    done: list[str] = []
    started = threading.Event()
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main

    def task(i: int) -> None:
        if threading.current_thread().name == "test-helper":
            started.set()
            # Ctrl-C while this task runs: the caller, its own task done, waits for it
            threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT)).start()
            time.sleep(0.5)
            done.append("helper")
        else:  # the caller's one task, ended once the helper has taken the other
            started.wait(30)

    with pytest.raises(KeyboardInterrupt):
        run_all([lambda i=i: task(i) for i in range(2)], 2, "test-helper")
    assert done == ["helper"]
