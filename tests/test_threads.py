"""wheelscan.threads: each task's outcome in the order given, what it raised raised again
where its outcome is taken, every task done when ``run_all`` returns."""

from __future__ import annotations

import threading

import pytest

from wheelscan.threads import Background, run_all


def test_run_all_keeps_the_order_and_each_failure() -> None:
    names: set[str] = set()

    def task(i: int) -> int:
        names.add(threading.current_thread().name)
        if i == 3:
            raise ValueError("three")
        return i * i

    outcomes = run_all([lambda i=i: task(i) for i in range(8)], 3, "test-helper")
    assert [o.result() for o in outcomes[:3]] == [0, 1, 4]
    with pytest.raises(ValueError, match="three"):
        outcomes[3].result()
    assert [o.result() for o in outcomes[4:]] == [16, 25, 36, 49]
    # the calling thread took tasks too, beside at most two helpers, all ended
    assert threading.current_thread().name in names or "test-helper" in names
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
