"""Two writers opening an old-schema store at once: both succeed, and it is migrated once.

Each writer reads the schema version before it takes the write lock; the one that waits for
the lock must read it again there, or it runs the migration's steps a second time and fails
(``duplicate column name``). The race is made certain, not likely: the test holds the write
lock while both writers start, and releases it only once both are waiting for it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wheelscan.store.schema import SCHEMA_VERSION

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel

# A real Store.open in a process of its own, that prints every statement SQLite begins to
# run on the connection Store.open makes (sqlite3.connect wrapped to add a trace, nothing
# else): "BEGIN IMMEDIATE" printed means the writer read the version and waits for the lock
_OPENER = """
import sqlite3
import sys
from wheelscan.store import Store

untraced_connect = sqlite3.connect

def traced_connect(*args, **kwargs):
    connection = untraced_connect(*args, **kwargs)
    connection.set_trace_callback(lambda sql: print(sql, flush=True))
    return connection

sqlite3.connect = traced_connect
Store.open(sys.argv[1], busy_timeout=600).close()
print("opened", flush=True)
"""

# what each older version lacks, undone on a store of today's schema (as test_strict's
# test_a_version_1_store_is_migrated makes one)
_DOWNGRADES = {
    1: ("ALTER TABLE wheels DROP COLUMN strict", "ALTER TABLE verdicts DROP COLUMN abi3"),
    2: ("ALTER TABLE verdicts DROP COLUMN abi3",),
}


def old_store(tmp_path: Path, version: int) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(
        build_wheel({"demo/mod.so": build_elf(sample_spec())}, name="demo")
    )
    db = tmp_path / "old.db"
    command = [sys.executable, "-m", "wheelscan", "audit", str(wheels), "--db", str(db)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        for statement in _DOWNGRADES[version]:
            connection.execute(statement)
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    finally:
        connection.close()
    return db


def wait_for_the_lock(opener: subprocess.Popen[str]) -> None:
    """Read the opener's trace until it asks for the write lock."""
    assert opener.stdout is not None
    for line in opener.stdout:
        if line.strip() == "BEGIN IMMEDIATE":
            return
    pytest.fail(f"the opener ended without asking for the write lock: {opener.wait()}")


def columns(db: Path, table: str) -> list[str]:
    connection = sqlite3.connect(db)
    try:
        return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
    finally:
        connection.close()


@pytest.mark.parametrize("version", sorted(_DOWNGRADES))
def test_two_writers_opening_an_old_store_both_succeed(tmp_path: Path, version: int) -> None:
    db = old_store(tmp_path, version)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock: both openers read the old version
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for opener in openers:
            wait_for_the_lock(opener)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for opener in openers:
        rest, stderr = opener.communicate(timeout=600)
        assert opener.returncode == 0, stderr
        assert rest.splitlines()[-1] == "opened"
    connection = sqlite3.connect(db)
    try:
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert found.fetchall() == [(str(SCHEMA_VERSION),)]
    finally:
        connection.close()
    for table, added in (("wheels", "strict"), ("verdicts", "abi3")):
        assert columns(db, table).count(added) == 1
