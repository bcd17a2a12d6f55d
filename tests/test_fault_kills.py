"""``wheelscan audit`` killed (SIGKILL, the whole process group) at random moments, over and
over, then run to its end: the store equals the one an uninterrupted run makes, with nothing
lost and nothing twice, and SQLite finds it sound.

(Two kills at chosen points, over real wheels: tests/test_audit_cli.py. Signals sent to the
parent alone, as ``timeout`` and systemd send them: tests/test_fault_signals.py.)
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from elfwriter import Sym, build_elf, sample_spec
from hostile.cases import CASES
from wheelbuilder import build_wheel

KILLS = 8
SEED = 20261122


def make_wheels(directory: Path, count: int = 400) -> int:
    """Distinct wheels (each its own symbol), some broken: errors are results too."""
    directory.mkdir()
    base = sample_spec("x86_64", interpreter=None)
    for i in range(count):
        glibc = ("2.17", "2.28", "2.34")[i % 3]
        extra = Sym(f"fn{i}", version=f"GLIBC_{glibc}", version_file="libc.so.6")
        so = build_elf(dataclasses.replace(base, symbols=[*base.symbols, extra]))
        name = f"demo{i}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        (directory / name).write_bytes(build_wheel({"demo/_mod.so": so}, f"demo{i}"))
    broken = ["crc-mismatch-stored", "bomb-quoted-overlap", "elf-verneed-loop", "path-traversal"]
    for name in broken:
        (directory / CASES[name].filename(name)).write_bytes(CASES[name].build())
    return count + len(broken)


def command(directory: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "wheelscan", "audit", str(directory), "--db", str(db),
            "--workers", "2", "--commit-every", "1", "--fail-on", "none"]  # fmt: skip


def stored(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """What the store knows: sha256 -> (overall tag, error code) for the wheels it read, and
    filename -> ("", error code) for the last run's failures (they are tried again each run)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "SELECT w.sha256, v.overall_tag, coalesce(v.error_code, w.read_error_code) "
                "FROM wheels w LEFT JOIN verdicts v ON v.wheel_id = w.id"
            ).fetchall()
            failures = connection.execute(
                "SELECT filename, '', error_code FROM run_failures "
                "WHERE run_id = (SELECT max(id) FROM runs)"
            ).fetchall()
    except sqlite3.OperationalError:  # no schema yet, or a write under way
        return {}
    return {key: (tag, error) for key, tag, error in [*rows, *failures]}


def test_audit_killed_at_random_moments_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    directory = tmp_path / "wheels"
    total = make_wheels(directory)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    reference = tmp_path / "reference.db"
    subprocess.run(command(directory, reference), env=env, check=True, capture_output=True)
    expected = stored(reference)
    assert len(expected) == total

    db, rng, mid_run = tmp_path / "killed.db", random.Random(SEED), 0
    for round_ in range(KILLS):
        process = subprocess.Popen(
            command(directory, db),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        before = len(stored(db))
        if rng.random() < 0.25:  # at a random moment of start-up (imports, the store's opening)
            time.sleep(rng.uniform(0.0, 0.4))
        else:  # after a random share of what is left, then a random few milliseconds more
            target = before + rng.randint(1, max(1, (total - before) // (KILLS - round_ + 1)))
            deadline = time.monotonic() + 60
            while len(stored(db)) < target and process.poll() is None:
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.03))
        at_kill = len(stored(db))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        mid_run += before < at_kill < total
    assert mid_run >= KILLS // 2, f"{mid_run} of {KILLS} kills mid-run"  # real kills

    final = subprocess.run(
        command(directory, db), env=env, capture_output=True, text=True, check=False
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert stored(db) == expected
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM wheels").fetchone() == (total - 4,)
        statuses = [s for (s,) in connection.execute("SELECT status FROM runs ORDER BY id")]
    # a kill during start-up comes before the run is recorded, and one after the last wheel
    # may find its run finished; every other run says it was interrupted
    assert statuses[-1] == "finished" and set(statuses) == {"interrupted", "finished"}
    assert statuses.count("interrupted") >= mid_run
