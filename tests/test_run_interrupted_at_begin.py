"""A stop signal while a run is being begun leaves no run ``running`` (store/store.py's
``begin_run``): real ``wheelscan audit`` processes on real stores."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from signalruns import run_python as python

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel

# a run left ``running`` by a process that was killed (kill -9: no close, no finish)
KILLED_MID_RUN = """
import os, sys
from wheelscan.store.store import Store
store = Store.open(sys.argv[1])
store.begin_run("dir", "x" * 64)
os._exit(0)
"""

# ``wheelscan audit`` whose stderr, as it says that run ended without finishing (the last
# thing ``begin_run`` does, once its own run is committed), gets a Ctrl-C: a slow terminal
CTRL_C_AS_BEGIN_RUN_WARNS = """
import os, signal, sys

class Stderr:
    def __init__(self, stream):
        self.stream = stream
    def write(self, text):
        written = self.stream.write(text)
        if "ended without finishing" in text:
            self.stream.flush()
            os.kill(os.getpid(), signal.SIGINT)
        return written
    def __getattr__(self, name):
        return getattr(self.stream, name)

sys.stderr = Stderr(sys.stderr)
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


def test_a_ctrl_c_once_the_run_is_committed_leaves_it_interrupted(tmp_path: Path) -> None:
    """The Ctrl-C escaped ``begin_run`` after its commit, before ``audit`` had the run's id
    (and its ``try``): the run stayed ``running``, its process gone."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    so = build_elf(sample_spec("x86_64", interpreter=None))
    name = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    (wheels / name).write_bytes(build_wheel({"demo/_mod.so": so}, "demo"))
    db = tmp_path / "store.db"
    killed = python(KILLED_MID_RUN, str(db))
    assert killed.returncode == 0, killed.stderr

    run = python(CTRL_C_AS_BEGIN_RUN_WARNS, "audit", str(wheels), "--db", str(db), "--workers", "0")
    assert "ended without finishing" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 128 + signal.SIGINT, f"{run.returncode}: {run.stderr}"
    with sqlite3.connect(db) as connection:
        statuses = connection.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    assert statuses == [(1, "interrupted"), (2, "interrupted")]
