"""Run history: the record of one run, and the lock that lets one run write at a time."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from wheelscan.store.errors import StoreError

END_STATUSES = ("finished", "interrupted", "failed")


@dataclass(frozen=True)
class RunRecord:
    id: int
    source: str
    status: str  # running | finished | interrupted | failed
    started: datetime
    finished: datetime | None
    policy_digest: str
    wheelscan_version: str
    backend: str  # the ELF backend (native or reference): figures differ by it
    seen: int  # skipped_known + audited, or what finish_run was told
    skipped_known: int  # known wheels met again (Store.mark_seen)
    audited: int  # read, or tried, in this run
    errors: int
    bytes_read: int
    elf_bytes: int
    worker_seconds: float  # the sum of every result's seconds
    seconds: float | None  # wall clock, once the run has ended
    # the run's last commit: for a run still marked running, how far it had got, and when
    updated: datetime

    def to_json(self) -> dict[str, Any]:
        """The record with ISO 8601 times, as reports and exports take it."""
        return {
            **asdict(self),
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "updated": self.updated.isoformat(),
        }


_COLUMNS = ", ".join(
    "p.digest" if f.name == "policy_digest" else f"r.{f.name}" for f in fields(RunRecord)
)


def read_runs(connection: sqlite3.Connection) -> list[RunRecord]:
    """Every run, oldest first."""
    runs = []
    for row in connection.execute(
        f"SELECT {_COLUMNS} FROM runs r JOIN policies p ON p.id = r.policy_id ORDER BY r.id"
    ):
        values = dict(zip((f.name for f in fields(RunRecord)), row, strict=True))
        values["started"] = datetime.fromisoformat(values["started"])
        values["updated"] = datetime.fromisoformat(values["updated"])
        if values["finished"] is not None:
            values["finished"] = datetime.fromisoformat(values["finished"])
        runs.append(RunRecord(**values))
    return runs


class RunLock:
    """One run at a time per database, held by a process and released even by SIGKILL.

    An flock on a file beside the database, not on the database itself: closing any
    descriptor of the database file would drop SQLite's own POSIX locks on it.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise StoreError(
                "run-in-progress",
                f"{self.database}: this store has a run in progress",
                "finish_run it before beginning another",
            )
        fd = os.open(f"{self.database}-run.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise StoreError(
                "run-in-progress",
                f"{self.database}: another wheelscan run is writing to it",
                "wait for it to finish, or use another --db",
            ) from e
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
