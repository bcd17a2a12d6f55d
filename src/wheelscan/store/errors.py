"""The store's one exception, and SQLite's errors mapped to it in one place.

Every failure of the store says what it was doing, on which file, and what to do about it. The
mapping reads ``sqlite_errorname`` (Python 3.11+), not the message text, which SQLite may
reword between versions.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wheelscan.errors import CommandError, OutputError, WheelscanError


class StoreError(CommandError):
    """The store cannot do what was asked; ``code`` is stable, ``hint`` says what to do."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        WheelscanError.__init__(self, code, message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (str(self.code), self.message, self.hint))


class ExportError(OutputError, StoreError):
    """The store's export (``Store.export_jsonl_zst``) cannot be written: an OutputError, as
    every command's output that cannot be (code output-unwritable), and a StoreError still,
    as it was before: what a program calling the store caught, it still catches."""

    def __init__(self, reason: str, broken_pipe: bool = False) -> None:
        CommandError.__init__(self, reason)  # StoreError's own takes a code and a hint
        self.broken_pipe = broken_pipe
        self.message = reason
        self.hint = "write the export where there is room and permission to"

    def __str__(self) -> str:
        return self.reason  # one line, as every OutputError's

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (self.reason, self.broken_pipe))


# SQLite primary result code -> (stable code, hint); extended codes (SQLITE_BUSY_SNAPSHOT,
# SQLITE_IOERR_WRITE, ...) share their primary code's entry
_HINTS = {
    "SQLITE_BUSY": (
        "locked",
        (
            "another process is writing to {path}: wait for it to finish, "
            "raise the busy timeout, or use another --db"
        ),
    ),
    "SQLITE_LOCKED": ("locked", "another connection holds {path}: close it or use another --db"),
    "SQLITE_FULL": (
        "disk-full",
        (
            "the disk holding {path} is full: free space and run again; "
            "the batches already committed are intact and not redone"
        ),
    ),
    "SQLITE_READONLY": ("read-only", "{path} is not writable: check its permissions"),
    "SQLITE_CANTOPEN": (
        "cannot-open",
        (
            "check that the directory of {path} exists and is "
            "writable (SQLite also creates {path}-wal beside it)"
        ),
    ),
    "SQLITE_PERM": ("read-only", "{path} is not writable: check its permissions"),
    "SQLITE_IOERR": ("io-error", "the disk holding {path} failed a read or write: check it"),
    "SQLITE_NOTADB": ("not-a-store", "{path} is not a wheelscan database: choose another --db"),
    "SQLITE_CORRUPT": ("corrupt", "{path} is damaged: restore it or start a new --db"),
}
_OTHER = ("sqlite-error", "{path} is as of its last committed batch: see SQLite's message")

# what a -shm takes: its first 32 KiB index (SQLite's WAL-index header and first hash table)
_SHM_ROOM = 32 * 1024


def full_disk(path: Path) -> bool:
    """Whether the disk holding ``path`` has no room left for a -shm: a full disk."""
    try:
        disk = os.statvfs(path.absolute().parent)
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < _SHM_ROOM


def store_error(error: sqlite3.Error, path: Path, action: str) -> StoreError:
    """A StoreError for an error SQLite raised while doing ``action`` on ``path``."""
    name = getattr(error, "sqlite_errorname", "") or ""
    # "SQLITE_BUSY_SNAPSHOT" -> "SQLITE_BUSY"
    primary = "_".join(name.split("_")[:2])
    if primary == "SQLITE_IOERR" and full_disk(path):
        # a -shm or -wal that could not grow (SQLITE_IOERR_SHMSIZE, _WRITE): no room, which
        # "failed a read or write: check it" sent the user looking for a broken disk for
        primary = "SQLITE_FULL"
    code, hint = _HINTS.get(primary, _OTHER)
    return StoreError(code, f"{path}: {action}: {error}", hint.format(path=path))


@contextmanager
def transaction(connection: sqlite3.Connection, path: Path, action: str) -> Iterator[None]:
    """One write transaction: everything in the block is committed, or nothing is.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a second writer waits for the busy
    timeout and then fails here, before any work is done, rather than at ``COMMIT``.
    """
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("COMMIT")
    except BaseException as e:
        # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR)
        if connection.in_transaction:
            # if this fails too, the journal still guarantees the file is as of the last commit
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        if isinstance(e, sqlite3.Error):
            raise store_error(e, path, action) from e
        raise
