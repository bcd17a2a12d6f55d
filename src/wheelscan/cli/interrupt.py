"""SIGTERM and SIGHUP stop a command as Ctrl-C does (issue #13, dependable unattended runs).

``timeout``, systemd, cron jobs' killers and a closed terminal send SIGTERM or SIGHUP, not
SIGINT. Left to their default action they killed ``wheelscan audit`` on the spot: the run
stayed ``running`` in the store and nobody stopped the workers. Here all three signals raise
``Interrupted``, a KeyboardInterrupt, so every path that handles Ctrl-C handles them too: the
pool stops feeding and stops its workers, finished results are committed, the run is recorded
``interrupted`` with its counts, and the summary is printed.

Exit status: 128 + the signal's number, the status a shell reports for a process that signal
killed: 130 for SIGINT (as before), 143 for SIGTERM, 129 for SIGHUP. ``timeout``, systemd and
scripts then see which signal stopped the run, and tell a stopped run (above 128) from a
failed one (2) and a finished one (0).

A signal ignored when the command starts stays ignored: ``nohup`` ignores SIGHUP, and a shell
without job control starts background commands with SIGINT ignored (Python itself keeps an
ignored SIGINT ignored).

The first signal raises; those that follow are ignored until the command returns, so that the
cleanup the first began (workers stopped, the last batch committed, the run recorded) is not
cut short by a second Ctrl-C. SIGKILL still stops everything at once; the workers die with
their parent then too (engine/pool.py).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], Any] | int | None  # as signal.getsignal gives it


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived: a KeyboardInterrupt that knows its signal (see ``exit_status``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the number of the signal that stopped the command (SIGINT when not known)."""
    signum = interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT
    return 128 + signum


# The signal that stopped the command, once a StopSignals block has seen one (each block
# begins without): a run stopped by it ends with its status even where its summary could not
# be written (cli/main.py): ``timeout`` and systemd read 143 as "stopped", a 2 as "failed"
_received: list[int] = []


def stopped_status() -> int | None:
    """128 + the number of the signal that stopped the command, if one did."""
    return 128 + _received[0] if _received else None


def forget_stop() -> None:
    """Begin a command with no stop seen: ``main()`` called twice in one program (a test, a
    tool embedding wheelscan) must not read the first command's stop as the second's."""
    _received.clear()


def raise_if_stopped() -> None:
    """Raise the ``Interrupted`` of a stop that was recorded but never delivered.

    ``_stop`` raised it wherever the main thread was: in a weakref callback (an import
    lock's, a fork's callbacks) Python only prints it ("Exception ignored") and drops it,
    and the stop signals, ignored from then on, could not stop the command any more: it ran
    to its end with status 0. Called where a command can stop, it stops there instead."""
    if _received:
        raise Interrupted(_received[0])


class StopSignals:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` (once)."""

    def __init__(self) -> None:
        self._previous: dict[signal.Signals, Handler] = {}

    def __enter__(self) -> StopSignals:
        _received.clear()
        # only the main thread may set handlers (ValueError elsewhere), and only it runs
        # them: ``main()`` called from another thread keeps the program's handling
        if threading.current_thread() is not threading.main_thread():
            return self
        for stop_signal in STOP_SIGNALS:
            handler = signal.getsignal(stop_signal)
            if handler != signal.SIG_IGN:
                self._previous[stop_signal] = handler
                signal.signal(stop_signal, self._stop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for stop_signal, handler in self._previous.items():
            # None: a handler installed by C code, which Python cannot put back
            signal.signal(stop_signal, signal.SIG_DFL if handler is None else handler)

    def ignore(self) -> None:
        """Ignore them from here to the block's end: what is left is cleanup (the workers
        stopped, the run recorded), which a stop signal would only cut short."""
        for stop_signal in self._previous:
            signal.signal(stop_signal, signal.SIG_IGN)

    def arm(self) -> None:
        """Let them raise ``Interrupted`` again (after ``ignore``): for work that follows the
        cleanup and can be stopped part-way, such as judging the known wheels again."""
        for stop_signal in self._previous:
            signal.signal(stop_signal, self._stop)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.ignore()
        _received.append(signum)
        raise Interrupted(signum)
