"""The store: one SQLite file of wheels (by sha256), their facts, verdicts per policy, and runs.

The parent process owns it (docs/ARCHITECTURE.md): workers return WheelResults, the parent adds
them here. Results are buffered and committed in batches, one transaction each, so a run
killed at any moment loses at most the batch in progress, and a restart redoes exactly that:
``known`` skips everything committed, and every write is an upsert, so nothing is doubled.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from wheelscan import __version__
from wheelscan.elf import backend_name
from wheelscan.model import WheelFacts, WheelResult
from wheelscan.policy.policies import PolicyDatabase
from wheelscan.sources.base import WheelRef
from wheelscan.store.batch import (
    Added,
    Item,
    Seen,
    stored_location,
    write_batch,
    write_verdicts,
)
from wheelscan.store.codec import (
    POLICY_SOURCE_KEY,
    PreparedResult,
    conflict_record,
    hash_conflict,
    prepare,
    unpack,
)
from wheelscan.store.errors import StoreError, transaction
from wheelscan.store.outcome import RunOutcome, run_outcome
from wheelscan.store.rows import (
    iter_changes,
    iter_rows,
    policy_source,
    reported_policy,
    write_jsonl_zst,
)
from wheelscan.store.runs import END_STATUSES, RunLock, RunRecord, read_runs
from wheelscan.store.schema import connect, connect_readonly
from wheelscan.wheel.codec import FACTS_VERSION, OLDEST_FACTS_VERSION, facts_from_json

# failures that say nothing sure about the bytes: such a wheel is read again by the next run
# (a worker's crash or time limit, engine/pool.py, may be a bug fixed since, or a slow host)
TRANSIENT_ERRORS = (  # out-of-memory: a worker's state may have been to blame
    "out-of-memory",
    "io-error",
    "download-failed",
    "file-changed",
    "timeout",
    "worker-crashed",
)
# a wheel is known (not read again) once its facts are stored in the current format, or its
# bytes are known to be unreadable
_REUSABLE = (
    f"(w.facts_version = {FACTS_VERSION} OR (w.facts IS NULL AND w.read_error_code "
    f"NOT IN ({', '.join(repr(code) for code in TRANSIENT_ERRORS)})))"
)


class Store:
    """Results of wheelscan runs in one SQLite file. Use from one thread; close when done."""

    def __init__(
        self, connection: sqlite3.Connection, path: Path, batch_size: int, flush_seconds: float
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._connection = connection
        self._pending: list[Item] = []
        # sha256 -> (filename, size) of the results buffered: known, and checked for conflicts
        self._pending_shas: dict[str, tuple[str, int | None]] = {}
        self._last_flush = time.monotonic()
        self._stats: dict[str, tuple[int, int]] = {}  # location -> (size, mtime_ns) to record
        self._run_policies: dict[int, int] = {}  # run id -> policy id, for runs begun here
        # begun here, not finished: marked ``interrupted`` if the caller cannot finish them
        self._unfinished: set[int] = set()
        self._run_lock = RunLock(path)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 500,
        flush_seconds: float = 5.0,
        busy_timeout: float = 10.0,
        read_only: bool = False,
        create: bool = True,
    ) -> Store:
        """Open or create the store at ``path``; ``create`` False: open an existing one
        only (a file that is not a store, an empty one included, is a StoreError).

        ``add`` commits every ``batch_size`` results or ``flush_seconds``, whichever comes
        first; a write waits ``busy_timeout`` seconds for another writer, then raises.
        ``read_only``: open an existing store for the reading methods only (reports), never
        writing to it, so that it can be read during a run and from a read-only mount.
        """
        path = Path(path)
        if read_only:
            connection = connect_readonly(path, busy_timeout)
            # One read transaction for the reader's life: its first query takes a snapshot
            # (WAL) that every later one reads too, so a report made during a run, which
            # reads runs, wheels and policies in several statements, sees one moment of the
            # store, never a run's verdicts beside another policy's (a writer is not held up)
            connection.execute("BEGIN")
            return cls(connection, path, batch_size, flush_seconds)
        return cls(connect(path, busy_timeout, create), path, batch_size, flush_seconds)

    def close(self) -> None:
        """Commit what is buffered and close. A run begun here and not finished is marked
        ``interrupted`` (one left ``running``, by a process that was killed, is marked so by
        the next ``begin_run``)."""
        try:
            self.flush()
            self._interrupt_unfinished()
        finally:
            self._run_lock.release()
            self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- runs

    def begin_run(
        self,
        source: str,
        policy_digest: str,
        *,
        wheelscan_version: str = __version__,
        backend: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> int:
        """Start a run; its verdicts are stored under ``policy_digest`` (codec.policy_digest).

        A run still marked ``running`` died without finishing (killed, power lost): the run
        lock proves no process holds it any more, so it is marked ``interrupted``, and
        ``warn`` is told so in one line per run, naming the process the lock file names.
        """
        # SQLite text is UTF-8: a path that is not (a Latin-1 directory's name, decoded with
        # os.fsdecode's surrogates) is kept with those bytes written as escapes
        source = source.encode("utf-8", "backslashreplace").decode("utf-8")
        previous = self._run_lock.acquire()
        now = _now()
        try:
            with transaction(self._connection, self.path, "begin a run"):
                abandoned = [
                    run_id
                    for (run_id,) in self._connection.execute(
                        "SELECT id FROM runs WHERE status = 'running' ORDER BY id"
                    )
                ]
                self._connection.execute(
                    "UPDATE runs SET status = 'interrupted', finished = updated, "
                    "seconds = (julianday(updated) - julianday(started)) * 86400 "
                    "WHERE status = 'running'"
                )
                policy_id = self._policy_id(policy_digest, now)
                run_id = self._connection.execute(
                    "INSERT INTO runs (source, status, started, updated, policy_id, "
                    "wheelscan_version, backend) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                    (source, now, now, policy_id, wheelscan_version, backend or backend_name()),
                ).lastrowid
                assert run_id is not None
                # from here on, a stop (a Ctrl-C in the commit's last lines, in ``warn``) that
                # reaches the caller before it has the run's id leaves it ``interrupted``
                self._unfinished.add(run_id)
                # before the commit: once the run is recorded, so is its process
                self._run_lock.record(run_id)
            self._run_policies[run_id] = policy_id
            for abandoned_id in abandoned:
                owner = (
                    f"process {previous.pid}"
                    if previous is not None and previous.run_id == abandoned_id
                    else "process unknown"
                )
                if warn is not None:
                    warn(
                        f"run {abandoned_id} ({owner}) ended without finishing: marked interrupted"
                    )
        except BaseException:
            try:
                with contextlib.suppress(StoreError):  # the next begin_run marks it then
                    self._interrupt_unfinished()
            finally:
                self._run_lock.release()
            raise
        return run_id

    def _interrupt_unfinished(self) -> None:
        """Mark ``interrupted`` the runs begun here and not finished (a run rolled back with
        its transaction is no row: nothing to mark)."""
        if not self._unfinished:
            return
        now = _now()
        marks = [(now, now, now, run_id) for run_id in sorted(self._unfinished)]
        self._unfinished.clear()
        with transaction(self._connection, self.path, "mark a run interrupted"):
            self._connection.executemany(
                "UPDATE runs SET status = 'interrupted', finished = ?, updated = ?, "
                "seconds = (julianday(?) - julianday(started)) * 86400 "
                "WHERE id = ? AND status = 'running'",
                marks,
            )

    def finish_run(
        self, run_id: int, status: str = "finished", seen: int | None = None
    ) -> RunRecord:
        """Commit what is buffered and close the run.

        ``seen``: how many wheels the source listed, when more than the store was told of
        (wheels skipped by filename); by default ``skipped_known + audited``. A finished run
        makes its policy the one ``iter_rows`` reports by default.
        """
        if status not in END_STATUSES:
            raise ValueError(f"status {status!r}: one of {', '.join(END_STATUSES)}")
        self.flush()
        now = _now()
        with transaction(self._connection, self.path, f"finish run {run_id}"):
            self._connection.execute(
                "UPDATE runs SET status = ?, finished = ?, updated = ?, seen = coalesce(?, seen), "
                "seconds = (julianday(?) - julianday(started)) * 86400 WHERE id = ?",
                (status, now, now, seen, now, run_id),
            )
            if status == "finished":
                self._connection.execute(
                    "INSERT OR REPLACE INTO meta SELECT 'policy_digest', digest FROM policies "
                    "WHERE id = (SELECT policy_id FROM runs WHERE id = ?)",
                    (run_id,),
                )
        self._run_policies.pop(run_id, None)
        self._unfinished.discard(run_id)
        self._stats.clear()
        self._run_lock.release()
        return next(r for r in self.runs() if r.id == run_id)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        return read_runs(self._connection)

    def contents(self) -> tuple[int, int]:
        """How many wheels, and of how many projects, the store holds."""
        row = self._connection.execute(
            "SELECT count(*), count(DISTINCT project) FROM wheels"
        ).fetchone()
        return int(row[0]), int(row[1])

    def outcome(self, run_id: int, with_findings: bool = False) -> RunOutcome:
        """The wheels of run ``run_id`` with a broken promise, an under-claim, an error or
        (``with_findings``) a finding: see ``outcome.run_outcome``."""
        self.flush()
        return run_outcome(self._connection, run_id, with_findings)

    # --- results

    def known(self, ref: WheelRef, strict: bool = False) -> str | None:
        """The sha256 of ``ref`` if its wheel need not be read again, else None.

        By the index's sha256 when the ref has one; for a local file, by its path, size and
        mtime, without hashing it. A file not known this way has its size and mtime noted, to
        be recorded with its result by ``add``. ``strict``: facts read by the fast path do
        not count; they are read again, every byte checked.
        """
        if ref.refused is not None:
            return None  # never read: the worker records the refusal
        reusable = _REUSABLE + (" AND (w.strict = 1 OR w.facts IS NULL)" if strict else "")
        if ref.sha256 is not None:
            if ref.sha256 in self._pending_shas:
                return ref.sha256
            row = self._connection.execute(
                f"SELECT sha256 FROM wheels w WHERE sha256 = ? AND {reusable}", (ref.sha256,)
            ).fetchone()
            return row[0] if row else None
        if ref.location.startswith(("http://", "https://")):
            return None
        try:
            stat = os.stat(ref.location)
        except OSError:
            return None  # the worker will meet the same error, and record it
        key = (stat.st_size, stat.st_mtime_ns)
        row = self._connection.execute(
            "SELECT w.sha256 FROM locations l JOIN wheels w ON w.id = l.wheel_id WHERE "
            f"l.location = ? AND l.size = ? AND l.mtime_ns = ? AND {reusable}",
            (stored_location(ref.location), *key),
        ).fetchone()
        if row:
            return str(row[0])
        self._stats[ref.location] = key
        return None

    def conflict(self, sha256: str, filename: str, size: int | None) -> str | None:
        """Why ``sha256`` cannot be this file's key: the store holds it for another filename,
        or another size. Wheels are keyed by sha256, so two files under one hash would share
        one record: the second would be skipped as known, or overwrite the first."""
        held = self._pending_shas.get(sha256)
        if held is None:
            held = self._connection.execute(
                "SELECT filename, size FROM wheels WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return hash_conflict(sha256, held, filename, size)

    def add(self, run_id: int, result: WheelResult | PreparedResult) -> None:
        """Buffer a worker's result; committed by the next flush (see ``open``).

        A WheelResult is encoded here; a worker that sends ``codec.prepare(result)`` instead
        spares the parent that work (about 2 ms a wheel). A result whose sha256 the store
        holds for another file becomes a ``sha256-conflict`` error of this run.
        """
        self._check_run(run_id)
        if isinstance(result, WheelResult):
            result = prepare(result)
        if result.sha256 is not None:
            reason = self.conflict(result.sha256, result.ref.filename, result.size)
            if reason is not None:
                result = conflict_record(result.ref, reason, result.size_named)
        self._pending.append(Added(run_id, result, self._stats.pop(result.ref.location, None)))
        error = result.read_error
        if result.sha256 is not None and (error is None or error.code not in TRANSIENT_ERRORS):
            self._pending_shas[result.sha256] = (result.ref.filename, result.size)
        self._maybe_flush()

    def mark_seen(self, run_id: int, sha256: str) -> None:
        """Record that run ``run_id`` met a known wheel (``known`` gave its sha256)."""
        self._check_run(run_id)
        self._pending.append(Seen(run_id, sha256))
        self._maybe_flush()

    def flush(self) -> None:
        """Commit every buffered result in one transaction; on error they stay buffered."""
        if self._pending:
            with transaction(self._connection, self.path, f"store {len(self._pending)} results"):
                write_batch(self._connection, self._pending, self._run_policies, _now())
            self._pending.clear()
            self._pending_shas.clear()
        self._last_flush = time.monotonic()

    def _maybe_flush(self) -> None:
        if (
            len(self._pending) >= self.batch_size
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    # --- reading back

    def iter_rows(
        self, run_id: int | None = None, policy_digest: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """One dict per wheel, for reports (see ``rows.iter_rows`` for the shape).

        Every stored wheel, or the wheels of run ``run_id``, judged under ``policy_digest``
        (by default the policy of the last finished run or re-evaluation).
        """
        self.flush()
        return iter_rows(self._connection, run_id, policy_digest)

    def reported_policy(self) -> str | None:
        """The policy digest ``iter_rows`` reports by default (``rows.reported_policy``)."""
        return reported_policy(self._connection)

    def policy_source(self, digest: str) -> dict[str, Any] | None:
        """What policy ``digest`` was made of, as ``record_policy_source`` stored it."""
        return policy_source(self._connection, digest)

    def record_policy_source(self, digest: str, source: dict[str, Any]) -> None:
        """Keep what policy ``digest`` was made of (``codec.policy_source``): the digest
        alone cannot tell a reader which policy file judged the wheels."""
        with transaction(self._connection, self.path, "record a policy's source"):
            self._connection.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                (POLICY_SOURCE_KEY + digest, json.dumps(source, sort_keys=True)),
            )

    def iter_changes(
        self, since_run: int, policy_digest: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Wheels newly broken, fixed or newly in error since run ``since_run``
        (``rows.iter_changes``)."""
        self.flush()
        return iter_changes(self._connection, since_run, policy_digest)

    def export_jsonl_zst(
        self,
        path: str | os.PathLike[str],
        run_id: int | None = None,
        policy_digest: str | None = None,
    ) -> int:
        """Write ``iter_rows`` as zstandard-compressed JSON lines; return the number of rows."""
        return write_jsonl_zst(Path(path), self.iter_rows(run_id, policy_digest))

    def iter_facts(self) -> Iterator[tuple[str, WheelFacts]]:
        """(sha256, facts) of every wheel whose facts are stored in the current format."""
        self.flush()
        for page in self._pages(
            f"SELECT w.id, w.sha256, w.facts FROM wheels w WHERE w.facts_version = {FACTS_VERSION}"
        ):
            for _, sha256, blob in page:
                yield sha256, facts_from_json(unpack(blob))

    def outdated_facts(self) -> int:
        """How many wheels have facts stored in an older format: the next audit reads them
        again (reevaluate judges those it can decode, their abi3 verdict unknown). Facts of
        a newer format (a later wheelscan's) are not older, and not counted."""
        self.flush()
        row = self._connection.execute(
            "SELECT count(*) FROM wheels WHERE facts IS NOT NULL AND facts_version < ?",
            (FACTS_VERSION,),
        ).fetchone()
        return int(row[0])

    def reevaluate(
        self,
        database: PolicyDatabase,
        policy_digest: str,
        workers: int = 1,
        musl_policy: str | None = None,
    ) -> int:
        """Judge every stored wheel that has no verdict under ``policy_digest`` yet, from its
        stored facts alone; then report by that policy. Returns how many were judged.

        Resumable: killed halfway, it goes on where it stopped. Holds the run lock: an audit
        finishing meanwhile would make its own policy the reported one again, silently.
        """
        self.flush()
        self._run_lock.acquire()
        try:
            return self._reevaluate(database, policy_digest, workers, musl_policy)
        finally:
            self._run_lock.release()

    def _reevaluate(
        self, database: PolicyDatabase, policy_digest: str, workers: int, musl_policy: str | None
    ) -> int:
        with transaction(self._connection, self.path, "record a policy"):
            policy_id = self._policy_id(policy_digest, _now())
        # older facts too (wheel.codec decodes them): the reported policy switches below,
        # and a wheel left unjudged would vanish from the reports
        pages = self._pages(
            "SELECT w.id, w.facts FROM wheels w WHERE w.facts_version BETWEEN ? AND ? AND "
            "NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.wheel_id = w.id AND v.policy_id = ?)",
            (OLDEST_FACTS_VERSION, FACTS_VERSION, policy_id),
        )
        # judging (the policy code, and a pool of processes) is imported by the commands
        # that judge, not by a report's start-up
        from wheelscan.store.rejudge import Judge, judge_batches

        judged = 0
        batches = ([(wheel_id, blob) for wheel_id, blob in page] for page in pages)
        for verdicts in judge_batches(Judge(database, musl_policy), batches, workers):
            with transaction(self._connection, self.path, f"store {len(verdicts)} verdicts"):
                write_verdicts(self._connection, policy_id, verdicts)
            judged += len(verdicts)
        with transaction(self._connection, self.path, "switch the reported policy"):
            self._connection.execute(
                "INSERT OR REPLACE INTO meta VALUES ('policy_digest', ?)", (policy_digest,)
            )
        return judged

    # --- helpers

    def _pages(self, query: str, params: tuple[Any, ...] = ()) -> Iterator[list[Any]]:
        """``query``'s rows (the first column is ``w.id``) in pages of ``batch_size``, by id.

        Each page is its own short read, so writes between pages never meet an open cursor.
        """
        last = 0
        while True:
            page = self._connection.execute(
                f"{query} AND w.id > ? ORDER BY w.id LIMIT ?", (*params, last, self.batch_size)
            ).fetchall()
            if not page:
                return
            last = page[-1][0]
            yield page

    def _policy_id(self, digest: str, now: str) -> int:
        self._connection.execute(
            "INSERT OR IGNORE INTO policies (digest, first_used) VALUES (?, ?)", (digest, now)
        )
        row = self._connection.execute(
            "SELECT id FROM policies WHERE digest = ?", (digest,)
        ).fetchone()
        return int(row[0])

    def _check_run(self, run_id: int) -> None:
        if run_id not in self._run_policies:
            raise ValueError(f"run {run_id} was not begun by this store, or is finished")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
