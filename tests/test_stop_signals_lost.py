"""A stop signal whose ``Interrupted`` is lost still stops the command (cli/interrupt.py):
real ``python -m wheelscan`` processes, real signals, at moments found by hooks, not timing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from signalruns import ENV
from signalruns import default_stop_signals as _default_stop_signals
from signalruns import run_python as _wheelscan
from test_fault_kills import make_wheels


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lost-stops") / "wheels"
    make_wheels(directory, 12)
    return directory


# The audit, with a Ctrl-C sent while an import's lock is released by its weakref callback
# (importlib's ``cb``), where the handler's Interrupted is printed and dropped: an import made
# on the first result stored, once the run's stop handling is in force.
CTRL_C_IN_AN_IMPORT_CALLBACK = """
import os, signal, sys, types
import _frozen_importlib as bootstrap
import _imp
sys.path.insert(0, sys.argv.pop(1))  # where the module imported on the way is

class Imp(types.ModuleType):
    armed = False
    def __getattr__(self, name):
        return getattr(_imp, name)
    def acquire_lock(self):
        _imp.acquire_lock()
        if Imp.armed and sys._getframe(1).f_code.co_name == "cb":
            Imp.armed = False
            os.kill(os.getpid(), signal.SIGINT)

bootstrap._imp = Imp("_imp")
from wheelscan.store import Store
add = Store.add
def add_then_import(self, *args):
    add(self, *args)
    if "imported_on_the_way" not in sys.modules:
        Imp.armed = True
        import imported_on_the_way
Store.add = add_then_import
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


def test_a_ctrl_c_lost_in_an_import_callback_still_stops_the_audit(
    tmp_path: Path, wheels: Path
) -> None:
    """130 and the run ``interrupted``: the Interrupted was printed ("Exception ignored"),
    the stop signals stayed ignored, and the run went on to its end with status 0."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "imported_on_the_way.py").write_text("")
    db = tmp_path / "run.db"
    run = _wheelscan(CTRL_C_IN_AN_IMPORT_CALLBACK, str(modules), "audit", str(wheels),
                     "--db", str(db), "--workers", "0", "--fail-on", "none")  # fmt: skip
    assert "Exception ignored" in run.stderr, run.stderr  # the moment was met
    assert run.returncode == 128 + signal.SIGINT, run.stdout + run.stderr
    with sqlite3.connect(db) as connection:
        runs = connection.execute("SELECT status, audited FROM runs").fetchall()
    assert runs[0][0] == "interrupted"
    assert runs[0][1] < 12  # stopped, not run to its end


# The modules imported once the stop signals raise (each a moment where a stop is lost)
IMPORTED_AFTER_STOP_SIGNALS = """
import sys
import wheelscan.cli.interrupt as interrupt
entered = interrupt.StopSignals.__enter__
before = set()
def enter(self):
    before.update(sys.modules)
    return entered(self)
interrupt.StopSignals.__enter__ = enter
import atexit
atexit.register(lambda: print("imported:", sorted(set(sys.modules) - before), file=sys.stderr))
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_audit_imports_nothing_once_stop_signals_raise(
    tmp_path: Path, wheels: Path, workers: str
) -> None:
    """Every module the run needs is imported before: 28 were imported on the way (the
    abi3 policy, importlib.metadata and email, multiprocessing.popen_fork, store.rejudge)."""
    db = str(tmp_path / "run.db")
    run = _wheelscan(IMPORTED_AFTER_STOP_SIGNALS, "audit", str(wheels), "--db", db,
                     "--workers", workers, "--fail-on", "none")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "imported: []" in run.stderr, run.stderr


# The audit, with a SIGTERM sent as the known wheels are judged under its policy (after the
# run itself finished): when the first batch of them is judged
SIGTERM_WHILE_REJUDGING = """
import os, signal, sys
from wheelscan.store.rejudge import Judge
judge = Judge.__call__
def judge_then_stop(self, batch):
    os.kill(os.getpid(), signal.SIGTERM)
    return judge(self, batch)
Judge.__call__ = judge_then_stop
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


def _verdicts_under_reported_policy(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute(
            "SELECT COUNT(*) FROM verdicts v JOIN policies p ON p.id = v.policy_id "
            "WHERE p.id = (SELECT MAX(id) FROM policies)"
        ).fetchone()
    return int(count)


def test_a_sigterm_while_the_known_wheels_are_judged_stops_the_audit(
    tmp_path: Path, wheels: Path
) -> None:
    """143, and the judging goes on at the next run: it was ignored (stop.ignore() before
    it), and minutes of judging a large store could not be stopped."""
    db = tmp_path / "run.db"
    first = _wheelscan(STARTS_AS_SCRIPT, "audit", str(wheels), "--db", str(db), "--workers",
                       "0", "--fail-on", "none")  # fmt: skip
    assert first.returncode == 0, first.stderr
    # another policy: every known wheel is judged again, two to a batch
    argv = ["audit", str(wheels), "--db", str(db), "--workers", "0", "--fail-on", "none",
            "--musl-policy", "musllinux_1_2", "--commit-every", "2"]  # fmt: skip
    stopped = _wheelscan(SIGTERM_WHILE_REJUDGING, *argv)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert _verdicts_under_reported_policy(db) < 12
    again = _wheelscan(STARTS_AS_SCRIPT, *argv)
    assert again.returncode == 0, again.stderr
    assert _verdicts_under_reported_policy(db) == 12


STARTS_AS_SCRIPT = """
import sys
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


# ``audit`` (``package`` enters the same StopSignals) run by ``main()`` from another thread
FROM_ANOTHER_THREAD = """
import sys, threading
from wheelscan.cli.main import main
statuses = []
thread = threading.Thread(target=lambda: statuses.append(main(sys.argv[1:])))
thread.start()
thread.join()
print("status", statuses)
"""


def test_audit_runs_from_another_thread(tmp_path: Path, wheels: Path) -> None:
    """Their stop signals are the program's there (only the main thread may set handlers):
    they failed with "ValueError: signal only works in main thread"."""
    audit = _wheelscan(FROM_ANOTHER_THREAD, "audit", str(wheels), "--db",
                       str(tmp_path / "run.db"), "--workers", "0", "--fail-on", "none")  # fmt: skip
    assert audit.stdout.endswith("status [0]\n"), audit.stdout + audit.stderr


# Two commands run by ``main()`` in one program: the first stopped by a Ctrl-C (sent as its
# first result is stored), the second a report whose reader has gone away (a closed pipe)
TWO_COMMANDS = """
import io, os, signal, sys
from wheelscan.cli import interrupt
from wheelscan.cli.main import main
from wheelscan.store import Store
add = Store.add
def add_then_stop(self, *args):
    add(self, *args)
    os.kill(os.getpid(), signal.SIGINT)
Store.add = add_then_stop
wheels, db = sys.argv[1:]
print("audit", main(["audit", wheels, "--db", db, "--workers", "0", "--fail-on", "none"]))
Store.add = add
print("stopped", interrupt.stopped_status())
sys.stdout.flush()
reader, writer = os.pipe()
os.close(reader)
stdout, sys.stdout = sys.stdout, io.TextIOWrapper(os.fdopen(writer, "wb"), write_through=True)
status = main(["report", "--db", db])
sys.stdout = stdout
print("report", status)
"""


def test_a_stop_is_forgotten_before_the_next_command(tmp_path: Path, wheels: Path) -> None:
    """A command's stop is not the next one's (``run`` forgets it first): a report to a
    closed pipe, 2, returned the audit's 130 before it."""
    run = _wheelscan(TWO_COMMANDS, str(wheels), str(tmp_path / "run.db"))
    assert run.stdout.splitlines()[-3:] == ["audit 130", "stopped 130", "report 2"], run.stderr


# In each process of ``reevaluate --workers 2`` (spawned: they import sitecustomize too), a
# judge that says where it is (its pid) and waits for the test to let it go
JUDGE_THAT_WAITS = """
import os, time
from pathlib import Path
from wheelscan.store import rejudge
judge = rejudge.Judge.__call__
def waiting_judge(self, batch):
    here = Path(os.environ["JUDGE_SIGNALS"])
    (here / "judging").write_text(str(os.getpid()))
    while not (here / "go").exists():
        time.sleep(0.01)
    return judge(self, batch)
rejudge.Judge.__call__ = waiting_judge
"""


def test_a_ctrl_c_to_a_reevaluate_worker_prints_nothing(tmp_path: Path, wheels: Path) -> None:
    """A worker ignores SIGINT: a Ctrl-C to the process group is the parent's to handle
    (each worker printed a KeyboardInterrupt traceback)."""
    db = tmp_path / "run.db"
    audit = _wheelscan(STARTS_AS_SCRIPT, "audit", str(wheels), "--db", str(db), "--workers",
                       "0", "--fail-on", "none")  # fmt: skip
    assert audit.returncode == 0, audit.stderr
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(JUDGE_THAT_WAITS)
    env = {**ENV, "PYTHONPATH": f"{hooks}{os.pathsep}{ENV.get('PYTHONPATH', '')}",
           "JUDGE_SIGNALS": str(tmp_path)}  # fmt: skip
    argv = [sys.executable, "-m", "wheelscan", "reevaluate", "--db", str(db),
            "--musl-policy", "musllinux_1_2", "--workers", "2"]  # fmt: skip
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_stop_signals,  # noqa: PLW1509 - a test process starts no threads
    ) as reevaluate:  # fmt: skip
        judging = tmp_path / "judging"
        while not judging.exists() and reevaluate.poll() is None:
            time.sleep(0.005)  # the moment a worker judges (the watch is the file, not a clock)
        assert judging.exists(), reevaluate.communicate()
        os.kill(int(judging.read_text()), signal.SIGINT)
        (tmp_path / "go").touch()
        out, err = reevaluate.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert reevaluate.returncode == 0, out + err
