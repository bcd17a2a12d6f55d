"""A run stopped by a signal ends with the signal's status even where its output is lost
(cli/main.py, cli/interrupt.py): a real ``wheelscan audit`` and its store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_fault_kills import make_wheels

ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull}


def _stdout_closed() -> None:
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_DFL)
    os.close(1)  # as `wheelscan audit ... >&-` in a unit whose output was closed


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(db) as connection:
            return int(connection.execute("SELECT count(*) FROM wheels").fetchone()[0])
    except sqlite3.Error:  # no schema yet, or a write under way
        return 0


def test_a_run_stopped_by_sigterm_with_stdout_closed_exits_143(tmp_path: Path) -> None:
    """``timeout``, systemd read 143 as "stopped": the lost summary made it 2, "failed"."""
    wheels = tmp_path / "wheels"
    make_wheels(wheels, 150)
    db = tmp_path / "store.db"
    argv = [sys.executable, "-m", "wheelscan", "audit", str(wheels), "--db", str(db),
            "--workers", "1", "--commit-every", "1", "--fail-on", "none"]  # fmt: skip
    run = subprocess.Popen(
        argv,
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_stdout_closed,  # noqa: PLW1509 - a test process starts no threads
    )
    deadline = time.monotonic() + 120  # a bound, not a figure
    while stored(db) < 3 and run.poll() is None:
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.005)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    with sqlite3.connect(db) as connection:
        statuses = connection.execute("SELECT status FROM runs").fetchall()
    assert statuses == [("interrupted",)], err  # stopped, not finished before the signal
    assert err.splitlines()[-1].startswith("wheelscan audit: cannot write the output"), err
    assert run.returncode == 128 + signal.SIGTERM, err
