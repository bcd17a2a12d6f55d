"""Run history: the record of one run, and the lock that lets one run write at a time."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
import weakref
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


@dataclass(frozen=True)
class LockOwner:
    """What the lock file says of the process that holds, or last held, the run lock."""

    pid: int
    run_id: int | None  # None until its run was begun

    def __str__(self) -> str:
        return f"process {self.pid}" + ("" if self.run_id is None else f", run {self.run_id}")


# How long a lock held by nobody alive we know of may take to come free: its recorded owner
# is gone, and either a new owner took it and has not written its pid yet (microseconds), or
# processes the owner forked still hold it open (workers of wheelscan before issue #13 kept
# the lock's file open; ours close it)
STALE_LOCK_GRACE = 1.0
_RETRY_EVERY = 0.05


class RunLock:
    """One run at a time per database, held by a process and released even by SIGKILL.

    An flock on a file beside the database, not on the database itself: closing any
    descriptor of the database file would drop SQLite's own POSIX locks on it. The file says
    who holds the lock ("PID" or "PID RUN_ID"), and keeps saying it once the holder is gone:
    a run found ``running`` is then known to be that process's, dead without finishing.

    A forked child closes its copy of the lock's descriptor at once (``_forget_in_child``):
    an flock belongs to the open file, so a child that kept a copy and outlived its parent
    would hold the lock for a run that is over.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = Path(f"{database}-run.lock")
        self._fd: int | None = None

    def acquire(self) -> LockOwner | None:
        """Take the lock; return the owner the lock file names, the last one (gone now)."""
        if self._fd is not None:
            raise StoreError(
                "run-in-progress",
                f"{self.database}: this store has a run in progress",
                "finish_run it before beginning another",
            )
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
            previous = _read_owner(fd)
            _write_owner(fd, LockOwner(os.getpid(), None))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD.add(self)
        return previous

    def record(self, run_id: int) -> None:
        """Name the run this lock's holder is writing, in the lock file."""
        assert self._fd is not None, "record comes after acquire"
        _write_owner(self._fd, LockOwner(os.getpid(), run_id))

    def release(self) -> None:
        fd, self._fd = self._fd, None  # forgotten first: released once, whatever interrupts
        if fd is not None:
            _HELD.discard(self)
            os.close(fd)  # closing the descriptor releases the flock

    def _lock(self, fd: int) -> None:
        """flock ``fd``, waiting ``STALE_LOCK_GRACE`` only while no live owner is named."""
        deadline = time.monotonic() + STALE_LOCK_GRACE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                owner = _read_owner(fd)
                if (owner is not None and _alive(owner.pid)) or time.monotonic() >= deadline:
                    raise self._refusal(fd, owner) from None
                time.sleep(_RETRY_EVERY)

    def _refusal(self, fd: int, owner: LockOwner | None) -> StoreError:
        if owner is not None and _alive(owner.pid):
            return StoreError(
                "run-in-progress",
                f"{self.database}: another wheelscan run is writing to it ({owner})",
                "wait for it to finish, or use another --db",
            )
        holders = sorted(_holders(fd) - {os.getpid()})
        last = "the process that took it last" if owner is None else f"process {owner.pid}"
        if not holders:
            return StoreError(
                "run-lock-held",
                f"{self.database}: the run lock {self.path} is held, though {last} is gone",
                f"find the processes that hold it open (fuser {self.path}) and stop them",
            )
        return StoreError(
            "run-lock-held",
            f"{self.database}: the run lock {self.path} is held by process "
            f"{', '.join(map(str, holders))}, though {last} is gone",
            "they are most likely workers of a wheelscan that was killed: stop them "
            f"(kill {' '.join(map(str, holders))}), then run again",
        )

    def _forget(self) -> None:
        """In a forked child: close the inherited copy; the parent keeps the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


_HELD: weakref.WeakSet[RunLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    for lock in list(_HELD):
        lock._forget()
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _read_owner(fd: int) -> LockOwner | None:
    words = os.pread(fd, 64, 0).split()
    try:
        pid, *run = (int(word) for word in words)
    except ValueError:  # empty, or written by hand
        return None
    return LockOwner(pid, run[0] if run else None)


def _write_owner(fd: int, owner: LockOwner) -> None:
    os.ftruncate(fd, 0)
    text = f"{owner.pid}" if owner.run_id is None else f"{owner.pid} {owner.run_id}"
    os.pwrite(fd, f"{text}\n".encode(), 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def _holders(fd: int) -> set[int]:
    """The processes that have the file of ``fd`` open, as far as /proc lets us see."""
    target = os.fstat(fd)
    holders = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for entry in os.scandir(fd_dir):
                opened = os.stat(entry.path)
                if (opened.st_dev, opened.st_ino) == (target.st_dev, target.st_ino):
                    holders.add(int(fd_dir.parent.name))
                    break
        except OSError:  # another user's, or gone meanwhile
            continue
    return holders
