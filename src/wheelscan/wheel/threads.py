"""Threads: how many a process may start within its RLIMIT_DATA, and work handed to them
with its outcome taken back where it is needed.

A thread's stack is a private mapping, counted against RLIMIT_DATA (8 MiB by default: 32 of
them are 264 MiB), so a worker under a memory limit (engine/pool.py) that started threads by
the dozen would fail its wheels' own allocations, or fail to start a thread at all. The
threads that read wheels (engine/inflight.py) and those that send their range requests
(wheel/http_ranges.py) each take a share of the limit, and no more.

``show`` and a wheel's reading on several cores hand work to threads without
``concurrent.futures``: it imports ``logging`` (with ``traceback``, ``string``,
``textwrap``) and ``queue``, 5 ms of a one-wheel ``wheelscan show``, a whole process, where
nothing logs (issue #15).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

# What a thread costs besides its stack (its share of the C library's arenas, its locals)
THREAD_EXTRA = 1 << 20
# glibc's stack for a thread where RLIMIT_STACK is unlimited (x86-64: ARCH_STACK_DEFAULT_SIZE)
UNLIMITED_STACK = 32 << 20


def threads_within(most: int, share: float) -> int:
    """``most``, or fewer where their stacks would take more than ``share`` of this
    process's RLIMIT_DATA; at least one."""
    # imported here: ``show`` hands work to threads (``Background``, ``run_all``) without
    # asking, and the module was 0.65M instructions before its first wheel's reading began
    import resource

    limit, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if limit == resource.RLIM_INFINITY:
        return most
    stack = threading.stack_size()
    if stack == 0:  # the C library's default: RLIMIT_STACK's soft limit (glibc)
        stack, _ = resource.getrlimit(resource.RLIMIT_STACK)
        if stack == resource.RLIM_INFINITY or stack <= 0:
            stack = UNLIMITED_STACK
    return max(1, min(most, int(limit * share) // (stack + THREAD_EXTRA)))


def _calling(
    function: Callable[[], T],
) -> Generator[None, None, tuple[T | None, BaseException | None]]:
    """What ``function()`` returned, or what it raised, as a generator's return value.

    A generator's frame is the root of what the traceback of the error keeps: a frame that
    outlives its call keeps its caller's frame (``f_back``), and that one its own caller's,
    up to the thread's first, but a generator's frame links to no caller once it is not
    running. Called from an ordinary function, the error held by an :class:`Outcome`
    kept every caller's frame alive, the ``Outcome``'s own among them and whatever holds
    it (``run_all``'s list, the wheel's reading with its archive): a cycle that only the
    cyclic collector frees, and a worker runs it between wheels, fully only every 256
    (engine/pool.py)."""
    try:
        return function(), None
    except BaseException as e:  # handed to the caller, as a future holds it
        return None, e
    yield  # never reached: makes this a generator


def _called(function: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    """``_calling``'s answer: what ``function()`` returned, or what it raised."""
    try:
        next(_calling(function))
    except StopIteration as done:
        answer: tuple[T | None, BaseException | None] = done.value
        return answer
    raise AssertionError("_calling yields nothing")


class Outcome(Generic[T]):
    """What a function returned, or what it raised: ``result`` returns it, or raises it
    again and lets go of it."""

    __slots__ = ("_error", "_taken", "_value")

    def __init__(self, function: Callable[[], T]) -> None:
        self._value, self._error = _called(function)
        self._taken = False

    @property
    def interrupted(self) -> bool:
        """Whether the function was stopped by what is not an error of its own (Ctrl-C)."""
        return self._error is not None and not isinstance(self._error, Exception)

    def result(self) -> T:
        """What the function returned; or what it raised, raised again, once: raised, an
        error's traceback grows by the frames it passes through, the caller's, and held
        here it would keep them (and this outcome with them) in a cycle."""
        if self._taken:
            raise RuntimeError("an outcome's error is raised once")
        error = self._error
        if error is None:
            return self._value  # type: ignore[return-value]  # what function() returned
        self._error, self._taken = None, True
        try:
            raise error
        finally:  # the re-raise's traceback holds this frame: not the error through it
            error = None


class Background(Generic[T]):
    """``function()`` run on a thread of its own from now on; ``result`` waits for it.

    The thread is not a daemon: Ctrl-C while ``result`` waits ends the command, and the
    interpreter's exit waits for the function to end (a daemon's would be cut off in the
    middle of inflating into a mapping)."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        self._outcome: Outcome[T] | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(function,), name=name)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            self._outcome = Outcome(function)
        finally:
            self._ended.set()

    def wait(self) -> None:
        """Until the function has ended. An Event, not join(): a join that Ctrl-C
        interrupts marks a running thread ended (Python 3.11, bpo-45274), and the exit
        would then not wait for it; an Event's wait, cut short, is only waited for again."""
        self._ended.wait()

    def result(self) -> T:
        self.wait()
        assert self._outcome is not None  # set before the event
        return self._outcome.result()


def run_all(tasks: Sequence[Callable[[], T]], threads: int, name: str) -> list[Outcome[T]]:
    """Each task's outcome, in the order given; the tasks taken in that order by up to
    ``threads`` threads, the calling one among them, and all done when this returns. Where
    no more threads can be had (their stacks past RLIMIT_DATA), on those there are. A task
    stopped by Ctrl-C (on the calling thread) stops the others from taking more, and is
    raised here once they have ended; so is a Ctrl-C while the helpers are being started."""
    outcomes: list[Outcome[T] | None] = [None] * len(tasks)
    pending = iter(range(len(tasks)))
    taking = threading.Lock()
    stop = threading.Event()
    interrupted: list[Outcome[T]] = []
    # one a helper that has begun, set as it ends: added by the helper itself, under
    # ``taking`` and only before ``stop``, so that a helper is either waited for or takes
    # no task. (Added by the caller once a helper's thread had started, a Ctrl-C between
    # the two left a helper working unseen: in Thread.start, which waits for the thread.)
    ended: list[threading.Event] = []

    def drain() -> None:
        while not stop.is_set():
            with taking:
                index = next(pending, None)
            if index is None:
                return
            outcome = outcomes[index] = Outcome(tasks[index])
            if outcome.interrupted:
                interrupted.append(outcome)
                stop.set()

    def help_drain() -> None:
        done = threading.Event()
        with taking:
            if stop.is_set():
                return
            ended.append(done)
        try:
            drain()
        finally:
            done.set()

    try:
        for _ in range(min(threads, len(tasks)) - 1):
            try:
                # not a daemon: the interpreter's exit waits for a task (as Background)
                threading.Thread(target=help_drain, name=name).start()
            except RuntimeError:
                break
        drain()
    finally:
        # A Ctrl-C at the call's entry, where the interpreter runs a signal's handler before
        # any line of the function (its try included), escaped with a helper running: the
        # call taken again, every step idempotent, and the Ctrl-C raised once it is done
        late: BaseException | None = None
        while True:
            try:
                late = _stop_and_wait(stop, taking, ended) or late
                break
            except KeyboardInterrupt as e:
                late = e
        if late is not None:
            raise late
    if interrupted:
        interrupted[0].result()  # raises what stopped it
    return [outcome for outcome in outcomes if outcome is not None]


def _stop_and_wait(
    stop: threading.Event, taking: threading.Lock, ended: list[threading.Event]
) -> BaseException | None:
    """``stop`` set under ``taking`` (a Ctrl-C between two tasks too: no helper takes more,
    and none begins), then until every helper that began has ended; a Ctrl-C meanwhile
    kept and returned, for the caller to raise, each step it cut short taken again. Events,
    not ``join()``: a join that Ctrl-C interrupts marks a running thread ended (Python
    3.11, bpo-45274)."""
    interrupt: BaseException | None = None
    # each step idempotent and marked done only after it: a Ctrl-C between a step and its
    # mark takes the step again, never skips one
    stopped, waited = False, 0
    while True:
        try:
            if not stopped:
                with taking:
                    stop.set()
                stopped = True  # no helper begins from now on: ``ended`` is whole
            while waited < len(ended):
                ended[waited].wait()
                waited += 1
            break
        except KeyboardInterrupt as e:
            interrupt = e
    return interrupt
