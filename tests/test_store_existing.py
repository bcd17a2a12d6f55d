"""A command that reads a store refuses a file that is not one, as ``report`` does; only
``audit`` makes a store, and an existing empty file is a new store there.

``: > typo.db; wheelscan reevaluate --db typo.db`` made the empty file a store and exited 0
(``reevaluate --help`` promises exit status 2 for "no store"). Real commands in this process
(``tests/inprocess.py``), real SQLite files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from elfwriter import build_elf, sample_spec
from inprocess import wheelscan
from wheelbuilder import build_wheel


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def foreign(path: Path) -> Path:
    """An SQLite database of something else."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()
    return path


@pytest.mark.parametrize("command", ["reevaluate", "report"])
def test_an_empty_file_is_no_store(tmp_path: Path, command: str) -> None:
    db = empty(tmp_path / "typo.db")
    done = wheelscan(command, "--db", db)
    assert done.returncode == 2
    # not "an audit stopped as it began leaves such a file": a touch or a `: >` does, and
    # "`wheelscan audit --db typo.db` makes it a store" named a command that is refused
    assert done.stderr == (
        f"wheelscan {command}: {db}: an empty file, not a wheelscan store (hint: nothing was "
        f"ever stored in it: `wheelscan audit --db {db} SOURCE...` makes it a store; or "
        "choose another --db)\n"
    )
    assert db.read_bytes() == b""  # nothing written into it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.db"]


@pytest.mark.parametrize("command", ["reevaluate", "report"])
def test_another_sqlite_database_is_no_store(tmp_path: Path, command: str) -> None:
    db = foreign(tmp_path / "notes.db")
    before = db.read_bytes()
    done = wheelscan(command, "--db", db)
    assert done.returncode == 2
    assert f"{db}: an SQLite file, not a wheelscan store" in done.stderr
    assert db.read_bytes() == before


def test_audit_makes_a_store_of_an_empty_file(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    so = build_elf(sample_spec("x86_64", interpreter=None))
    (wheels / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(
        build_wheel({"demo/mod.so": so})
    )
    db = empty(tmp_path / "new.db")
    done = wheelscan("audit", "--workers", "0", "--db", db, wheels)
    assert done.returncode in (0, 1), done.stderr  # 1: a finding
    # and then it is a store the others read
    assert wheelscan("reevaluate", "--db", db).returncode == 0
    report = wheelscan("report", "--db", db, "--format", "json")
    assert json.loads(report.stdout)["totals"]["wheels"] == 1
