"""A fork that loses no stop signal: Ctrl-C, SIGTERM or SIGHUP while a worker is forked.

Python runs a signal's handler in the main thread, at the first Python code after the
signal arrived. During a fork that code is the fork's callbacks (``os.register_at_fork``:
logging's, in the parent), where an exception is only printed ("Exception ignored ...
KeyboardInterrupt") and dropped: the run went on to its end, status 0.

Blocking the signals in the forking thread is not enough: the kernel gives a signal sent
to the process (a terminal's Ctrl-C, ``kill``) to any thread that does not block it, such
as ``wheelscan-deadlines`` or an HTTP client's, and Python still runs the handler in the
main thread, in those callbacks (1-3 runs of 100 ``wheelscan package --workers 8``).
So the handlers themselves are swapped, in the main thread, for one that only notes the
signal; once forked, the handlers are put back and each signal noted is sent again, to be
handled where an exception is one.

The signals are still blocked meanwhile: the worker inherits the mask, so a SIGTERM sent to
it before it has set its handlers (``_worker_main``) waits for them instead of reaching a
handler of the parent's it no longer has any use for.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Collection, Iterator
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


def current_mask() -> set[int]:
    """The calling thread's signal mask (blocking nothing more: a call that cannot fail
    half-way, taken before anything is changed)."""
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, ()))


@contextlib.contextmanager
def signals_held(signals: Collection[int], mask: Collection[int]) -> Iterator[None]:
    """Within the block ``signals`` are blocked and their Python handlers only note them;
    after it, the handlers and ``mask`` (the mask before, ``current_mask()``) are back and
    each signal noted is raised again. Whatever interrupts the block, both are put back."""
    noted: list[int] = []
    swapped: dict[int, Handler] = {}

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        # only the main thread may set handlers, and only its Python code runs them
        if threading.current_thread() is threading.main_thread():
            for signum in signals:
                handler = signal.getsignal(signum)
                if callable(handler):  # not SIG_DFL, SIG_IGN, nor one set by C code
                    swapped[signum] = handler
                    signal.signal(signum, note)
        yield
    finally:
        # the mask first: a signal that comes now is still only noted
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        try:
            _put_back(swapped, note)
        finally:
            # a handler put back may run, and raise, before the others are: the rest then
            _put_back(swapped, note)
        for signum in noted:  # a failed fork too: a Ctrl-C meanwhile is not lost
            signal.raise_signal(signum)  # handled here, by the handler it was meant for


def _put_back(swapped: dict[int, Handler], note: Handler) -> None:
    """Each handler back where ``note`` still is. An entry is dropped only once its handler
    is back: an exception before (a handler put back runs, and raises) leaves it for the
    second call, not ``note`` for good. And a handler changed meanwhile is kept: a stop
    handler that ran here ignored the stop signals (cli/interrupt.py), and putting it back
    over SIG_IGN raised a second Interrupted during the cleanup the first began."""
    while swapped:
        signum, handler = next(iter(swapped.items()))
        if signal.getsignal(signum) is note:
            signal.signal(signum, handler)
        del swapped[signum]
