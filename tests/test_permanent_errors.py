"""A local wheel that cannot be read for a reason its bytes hold (not a zip, truncated) is
recorded as the wheel's, under its sha256, and not read again by the next run: the bytes
under the same path, size and mtime do not change. A passing failure is read again.

Real ``wheelscan audit`` runs in this process (``tests/inprocess.py``) on a directory, real
SQLite files read back with ``sqlite3``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from elfwriter import build_elf, sample_spec
from inprocess import wheelscan
from wheelbuilder import build_wheel

GOOD = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
NOT_ZIP = "notzip-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
TRUNCATED = "cut-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"


def wheels(directory: Path) -> Path:
    directory.mkdir()
    whole = build_wheel({"demo/mod.so": build_elf(sample_spec("x86_64", interpreter=None))})
    (directory / GOOD).write_bytes(whole)
    (directory / NOT_ZIP).write_bytes(b"not a zip")
    (directory / TRUNCATED).write_bytes(whole[: len(whole) // 2])
    return directory


def audit(db: Path, source: Path) -> str:
    done = wheelscan("audit", "--workers", "0", "--db", db, source)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def test_a_wheel_whose_bytes_cannot_be_read_is_not_read_again(tmp_path: Path) -> None:
    source, db = wheels(tmp_path / "wheels"), tmp_path / "s.db"
    assert "3 audited, 2 errors, 0 known skipped" in audit(db, source)
    assert "0 audited, 0 errors, 3 known skipped" in audit(db, source)
    with sqlite3.connect(db) as connection:
        stored = dict(connection.execute("SELECT filename, read_error_code FROM wheels"))
        failures = connection.execute("SELECT count(*) FROM run_failures").fetchone()[0]
    connection.close()
    assert stored == {GOOD: None, NOT_ZIP: "not-zip", TRUNCATED: stored[TRUNCATED]}
    assert stored[TRUNCATED] is not None
    assert failures == 0
    # and the reports still count them as errors
    report = json.loads(wheelscan("report", "--db", db, "--format", "json").stdout)
    assert report["totals"]["errors"] == 2
