"""Work handed to threads, its outcome taken back where it is needed: what ``show`` and a
wheel's reading on several cores ask of ``concurrent.futures``, without importing it.

``concurrent.futures`` imports ``logging`` (with ``traceback``, ``string``, ``textwrap``)
and ``queue``: 5 ms of a one-wheel ``wheelscan show``, a whole process, where nothing logs
(issue #15). Each function below is used for one call at a time from one thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Outcome(Generic[T]):
    """What a function returned, or what it raised: ``result`` returns or raises it again."""

    __slots__ = ("_error", "_value")

    def __init__(self, function: Callable[[], T]) -> None:
        self._error: BaseException | None = None
        try:
            self._value: T | None = function()
        except BaseException as e:  # handed to the caller, as a future holds it
            self._value, self._error = None, e

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when nothing was raised


class Background(Generic[T]):
    """``function()`` run on a thread of its own from now on; ``result`` waits for it."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        self._outcome: Outcome[T] | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), name=name)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        self._outcome = Outcome(function)

    def result(self) -> T:
        self._thread.join()
        assert self._outcome is not None  # set before the thread ends
        return self._outcome.result()


def run_all(tasks: Sequence[Callable[[], T]], threads: int, name: str) -> list[Outcome[T]]:
    """Each task's outcome, in the order given; the tasks taken in that order by up to
    ``threads`` threads, the calling one among them, and all done when this returns. Where
    no more threads can be had (their stacks past RLIMIT_DATA), on those there are."""
    outcomes: list[Outcome[T] | None] = [None] * len(tasks)
    pending = iter(range(len(tasks)))
    taking = threading.Lock()

    def drain() -> None:
        while True:
            with taking:
                index = next(pending, None)
            if index is None:
                return
            outcomes[index] = Outcome(tasks[index])

    helpers: list[threading.Thread] = []
    for _ in range(min(threads, len(tasks)) - 1):
        helper = threading.Thread(target=drain, name=name)
        try:
            helper.start()
        except RuntimeError:
            break
        helpers.append(helper)
    try:
        drain()
    finally:
        for helper in helpers:
            helper.join()
    return [outcome for outcome in outcomes if outcome is not None]
