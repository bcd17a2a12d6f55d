"""Stores built once by a real ``wheelscan audit``, handed to each test as its own copy.

An audit in a subprocess costs a third of a second, and many tests only read, re-judge or
extend the same store: a module audits once (a module-scoped fixture) and each test gets a
byte copy of the files the audit left (the database, and any write-ahead log, shared-memory
index or run lock beside it), which is the store as the next process would open it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from inprocess import wheelscan


def copy_store(store: Path, directory: Path, name: str = "c.db") -> Path:
    """A copy of ``store`` and its companion files as ``directory / name``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    for part in (store, *store.parent.glob(f"{store.name}-*")):
        shutil.copyfile(part, directory / (name + part.name[len(store.name) :]))
    return target


def audited_store(wheels: Path, db: Path) -> Path:
    """``db``, the store a one-process ``wheelscan audit`` of the directory ``wheels`` left
    (a wheel breaking its tag makes status 1, still a finished audit)."""
    done = wheelscan("audit", "--workers", "0", "--db", db, wheels)
    assert done.returncode in (0, 1), done.stderr
    return db
