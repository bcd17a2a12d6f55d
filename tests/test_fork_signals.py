"""A stop signal while the pool forks a worker is neither lost nor leaves anything changed
(engine/forking.py): real ``wheelscan audit`` processes and real pools in subprocesses."""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path

import pytest

from signalruns import run_python
from test_fault_kills import make_wheels

ROUNDS = 3


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fork-signals") / "wheels"
    make_wheels(directory, 12)
    return directory


# ``wheelscan`` as its script runs it, in a process with one more thread, parked (as
# ``wheelscan-deadlines`` or an HTTP client's are): a Ctrl-C the kernel gives to that thread
# while the main thread forks its first worker. Python runs the handler in the main thread,
# at its first Python code: here the fork's own callbacks, as it was in 1-3 runs of 100 of
# ``wheelscan package --workers 8``.
CTRL_C_WHILE_FORKING = """
import os, signal, sys, threading, time
parked = threading.Event()
other = threading.Thread(target=parked.wait, daemon=True)
other.start()
sent = []
def ctrl_c_to_the_other_thread():
    if not sent:
        sent.append(True)
        signal.pthread_kill(other.ident, signal.SIGINT)
        time.sleep(0.2)  # time for that thread to take it; not a figure the test reads
os.register_at_fork(before=ctrl_c_to_the_other_thread)
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


def test_a_ctrl_c_taken_by_another_thread_while_forking_stops_the_run(
    tmp_path: Path, wheels: Path
) -> None:
    """It stops the run (130, the run recorded ``interrupted``): it was printed ("Exception
    ignored ... KeyboardInterrupt") and dropped, and the run went on to its end (0)."""
    for round_ in range(ROUNDS):
        db = tmp_path / f"run{round_}.db"
        run = run_python(CTRL_C_WHILE_FORKING, "audit", str(wheels), "--db", str(db),
                         "--workers", "2", "--fail-on", "none")  # fmt: skip
        assert "Exception ignored" not in run.stderr, run.stderr
        assert "Traceback" not in run.stderr, run.stderr
        assert run.returncode == 128 + signal.SIGINT, f"round {round_}: {run.stdout}{run.stderr}"
        with sqlite3.connect(db) as connection:
            statuses = connection.execute("SELECT status FROM runs").fetchall()
        assert statuses == [("interrupted",)]


# A Ctrl-C handled at each line of the pool's fork run while SIGINT is blocked and its
# handler is the program's, one line each time (a tracer looks before each line): once it
# has escaped, the mask and the handler are as they were.
INTERRUPTED_WHILE_BLOCKED = """
import os, signal, sys
from wheelscan.engine.pool import LocalPool

def mask():
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, ()))

def handler(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGINT, handler)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # the program's own
before = mask()
parent = os.getpid()  # the worker, forked, inherits the tracer
for nth in range(1, 200):
    seen, where = 0, []
    def local(frame, event, arg):
        global seen
        if event != "line" or os.getpid() != parent:
            return local
        # where the handler is the program's (not one that only notes the signal)
        if signal.SIGINT in mask() and signal.getsignal(signal.SIGINT) is handler:
            seen += 1
            if seen == nth:
                where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
                raise KeyboardInterrupt
        return local
    def tracer(frame, event, arg):
        return local if "/wheelscan/engine/" in frame.f_code.co_filename else None
    sys.settrace(tracer)
    try:
        worker = LocalPool(lambda ref: ref, workers=1)._spawn()
    except KeyboardInterrupt:
        worker = None
    finally:
        sys.settrace(None)
    assert mask() == before, f"Ctrl-C at {where}: mask {mask()}"
    assert signal.getsignal(signal.SIGINT) is handler, f"Ctrl-C at {where}: handler"
    if worker is not None:  # no line left to interrupt
        worker.process.terminate()
        break
print("interrupted", nth - 1, "lines")
"""


def test_a_ctrl_c_while_forking_leaves_the_mask_and_handlers_as_they_were() -> None:
    """A Ctrl-C handled just after the stop signals were blocked left them blocked for good:
    the block was outside the ``try`` whose ``finally`` unblocked them."""
    run = run_python(INTERRUPTED_WHILE_BLOCKED)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines != ["interrupted 0 lines"], lines  # the test reached the blocked lines


# A stop signal (its own) as the first handler is put back after a fork, under StopSignals:
# its handler ignores the three stop signals and raises; the other handlers are then put
# back by the second try (each signal.signal call is watched: the moment is found, not timed)
SIGTERM_AS_THE_HANDLERS_ARE_PUT_BACK = """
import os, signal
from wheelscan.cli.interrupt import Interrupted, StopSignals
from wheelscan.engine.forking import current_mask, signals_held

real = signal.signal
armed = []
def watched(signum, handler):
    previous = real(signum, handler)
    if armed and getattr(handler, "__name__", "") == "_stop":
        armed.clear()
        os.kill(os.getpid(), signum)
    return previous
signal.signal = watched

stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
with StopSignals():
    try:
        with signals_held(stops, current_mask()):
            armed.append(True)
    except Interrupted as e:
        print("stopped")
    print(*(signal.getsignal(s) == signal.SIG_IGN for s in stops))
"""


def test_a_stop_while_the_handlers_are_put_back_leaves_them_ignored() -> None:
    """The cleanup the first stop began is not cut short by a second: the stop handler
    was put back over the SIG_IGN the first had just set (a SIGHUP then raised again)."""
    run = run_python(SIGTERM_AS_THE_HANDLERS_ARE_PUT_BACK, timeout=60)
    assert run.stdout == "stopped\nTrue True True\n", run.stderr


# The audit, with a Ctrl-C as its second worker is forked (noted, raised again once it has
# started); at exit, the workers the pool left running are counted (a tracer finds both
# moments: the second ``_spawn`` and multiprocessing's exit function)
CTRL_C_AS_THE_SECOND_WORKER_FORKS = """
import os, signal, sys
spawns = []
def tracer(frame, event, arg):
    code = frame.f_code
    if event != "call" or os.getpid() != parent:
        return None
    if code.co_name == "_spawn" and code.co_filename.endswith("engine/pool.py"):
        spawns.append(True)
    if code.co_name == "_launch" and "popen_fork" in code.co_filename and len(spawns) == 2:
        spawns.append(True)
        os.kill(os.getpid(), signal.SIGINT)
    if code.co_name == "_exit_function" and "multiprocessing" in code.co_filename:
        import multiprocessing
        print("left running:", len(multiprocessing.active_children()), file=sys.stderr)
    return None
parent = os.getpid()
sys.argv[0] = "wheelscan"
sys.settrace(tracer)
from wheelscan.cli.main import entry
entry()
"""


def test_a_ctrl_c_as_a_worker_forks_leaves_no_worker_running(tmp_path: Path, wheels: Path) -> None:
    """130, and no worker left: the re-raise came after the worker started and before the
    pool recorded it, and outside the block that stops the workers."""
    db = tmp_path / "run.db"
    run = run_python(CTRL_C_AS_THE_SECOND_WORKER_FORKS, "audit", str(wheels), "--db", str(db),
                     "--workers", "3", "--fail-on", "none")  # fmt: skip
    assert run.returncode == 128 + signal.SIGINT, run.stdout + run.stderr
    assert "left running: 0\n" in run.stderr, run.stderr


# A program's own SIGTERM handler (SystemExit) run as the handlers are put back after a
# fork: a tracer sends SIGTERM before the second handler's line runs
SIGTERM_BEFORE_THE_SECOND_HANDLER_IS_PUT_BACK = """
import os, signal, sys
from wheelscan.engine.forking import current_mask, signals_held

def on_term(signum, frame):
    raise SystemExit(143)

signal.signal(signal.SIGTERM, on_term)
lines = []
def local(frame, event, arg):
    if event == "line":
        source = open(frame.f_code.co_filename).read().splitlines()[frame.f_lineno - 1]
        if "signal.signal(signum, handler)" in source:
            lines.append(frame.f_lineno)
            if len(lines) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
    return local
sys.settrace(lambda frame, event, arg: local if frame.f_code.co_name == "_put_back" else None)
try:
    with signals_held((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), current_mask()):
        pass
except SystemExit as e:
    sys.settrace(None)
    print("stopped", e.code)
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


def test_a_handler_raising_as_the_handlers_are_put_back_loses_none() -> None:
    """SIGINT's handler is Python's again: it was popped before it was put back, and the
    handler that only notes stayed for good (a Ctrl-C afterwards did nothing)."""
    run = run_python(SIGTERM_BEFORE_THE_SECOND_HANDLER_IS_PUT_BACK, timeout=60)
    assert run.stdout == "stopped 143\nTrue\n", run.stderr


# ``wheelscan audit`` with a stop signal sent to itself once its run is over (recorded
# finished, its store closed): as it makes its summary, or as the summary is written (to a
# pipe, print only fills a buffer: the bytes go at the first flush after it)
STOP_AS_THE_SUMMARY_IS_PRINTED = """
import os, signal, sys
import wheelscan.cli.audit as audit
import wheelscan.cli.output as output
stop, moment = getattr(signal, sys.argv.pop(1)), sys.argv.pop(1)
made, flushed, written = audit.summary, output.GuardedOutput.flush, output.GuardedOutput.write
summarised = []
def summary_and_a_stop(counts):
    if moment == "made":
        os.kill(os.getpid(), stop)
    return made(counts)
def write(self, data):
    summarised.append(" finished: " in str(data))
    return written(self, data)
def flush_and_a_stop(self):
    if moment == "written" and any(summarised):
        summarised.clear()
        os.kill(os.getpid(), stop)
    return flushed(self)
audit.summary = summary_and_a_stop
output.GuardedOutput.write, output.GuardedOutput.flush = write, flush_and_a_stop
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


@pytest.mark.parametrize("moment", ["made", "written"])
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_as_a_finished_run_prints_its_summary_is_ignored(
    tmp_path: Path, wheels: Path, stop: str, moment: str
) -> None:
    """The run is over: recorded finished, its store closed. A Ctrl-C there was Python's own
    handler's once the stop signals' block had ended, and a finished run exited 130 with
    "run 1 finished" printed (SIGTERM and SIGHUP killed it, no summary written). What is
    left is the summary, which the signals must not cut short: they are ignored."""
    db = tmp_path / "finished.db"
    run = run_python(STOP_AS_THE_SUMMARY_IS_PRINTED, stop, moment, "audit", str(wheels),
                     "--db", str(db), "--workers", "2", "--fail-on", "none")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.match(r"run 1 finished: \d+ audited, ", run.stdout), run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    with sqlite3.connect(db) as connection:
        statuses = connection.execute("SELECT status FROM runs").fetchall()
    assert statuses == [("finished",)]
