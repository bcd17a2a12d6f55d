"""Writing one batch of results: every statement idempotent, the run's counts exact.

A batch is written inside one transaction (``Store.flush``). Wheels and verdicts are upserts
keyed by sha256 and (wheel, policy), so a result written twice, say before a crash and again
after the restart, leaves one row. A run's counts grow only when its ``run_wheels`` row is
new, and in the same transaction, so nothing is counted twice either.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wheelscan.store.codec import VERDICT_COLUMNS, PreparedResult, VerdictColumns
from wheelscan.wheel.codec import FACTS_VERSION
from wheelscan.wheel.remote import redact


@dataclass(frozen=True, slots=True)
class Added:
    run_id: int
    result: PreparedResult
    # (size, mtime_ns) of a local file, taken by Store.known before the file was read: a file
    # rewritten while it was read then gets a new mtime, and is read again next time
    stat: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Seen:
    run_id: int
    sha256: str


Item = Added | Seen


def stored_location(location: str) -> str:
    """``location`` as SQLite text (UTF-8) can hold it, its secret redacted: a path whose
    directory's name is not UTF-8 (a Latin-1 "caf\\xe9", decoded with os.fsdecode's
    surrogates) with those bytes written as escapes, as a run's source is (Store.begin_run)."""
    return redact(location).encode("utf-8", "backslashreplace").decode("utf-8")


_UPSERT_WHEEL = """
INSERT INTO wheels (sha256, filename, project, version, location, size, upload_time, facts,
                    facts_version, read_error_code, read_error_reason, read_error_member, strict)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sha256) DO UPDATE SET
    filename = excluded.filename, project = excluded.project, version = excluded.version,
    location = excluded.location, size = excluded.size,
    upload_time = coalesce(excluded.upload_time, upload_time),
    facts = excluded.facts, facts_version = excluded.facts_version, strict = excluded.strict,
    read_error_code = excluded.read_error_code, read_error_reason = excluded.read_error_reason,
    read_error_member = excluded.read_error_member
-- never trade facts already read for a later failure to read the same bytes
WHERE excluded.facts IS NOT NULL OR wheels.facts IS NULL
"""
_UPSERT_VERDICT = f"""
INSERT INTO verdicts (wheel_id, policy_id, {", ".join(VERDICT_COLUMNS)})
VALUES (?, ?, {", ".join("?" * len(VERDICT_COLUMNS))})
ON CONFLICT (wheel_id, policy_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in VERDICT_COLUMNS)}
"""
_UPSERT_LOCATION = """
INSERT INTO locations (location, size, mtime_ns, wheel_id) VALUES (?, ?, ?, ?)
ON CONFLICT (location) DO UPDATE SET
    size = excluded.size, mtime_ns = excluded.mtime_ns, wheel_id = excluded.wheel_id
"""
_INSERT_FAILURE = """
INSERT OR IGNORE INTO run_failures (run_id, location, filename, project, version, size,
                                    upload_time, error_code, error_reason, error_member)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_COUNTS = (
    "seen",
    "skipped_known",
    "audited",
    "errors",
    "bytes_read",
    "elf_bytes",
    "worker_seconds",
)
_ADD_COUNTS = (
    f"UPDATE runs SET {', '.join(f'{c} = {c} + ?' for c in _COUNTS)}, updated = ? WHERE id = ?"
)


def write_batch(
    connection: sqlite3.Connection, items: Iterable[Item], policy_ids: Mapping[int, int], now: str
) -> None:
    """Write ``items`` (inside the caller's transaction); ``policy_ids``: run id -> policy id."""
    counts: dict[int, list[float]] = defaultdict(lambda: [0] * len(_COUNTS))
    for item in items:
        if isinstance(item, Seen):
            new = connection.execute(
                "INSERT OR IGNORE INTO run_wheels SELECT ?, id FROM wheels WHERE sha256 = ?",
                (item.run_id, item.sha256),
            ).rowcount
            _count(counts[item.run_id], new, skipped_known=new)
        elif _write_result(connection, item, policy_ids[item.run_id]):
            result = item.result
            _count(
                counts[item.run_id],
                1,
                audited=1,
                errors=int(not result.ok),
                bytes_read=result.bytes_read,
                elf_bytes=result.elf_bytes,
                worker_seconds=result.seconds,
            )
    for run_id, deltas in counts.items():
        connection.execute(_ADD_COUNTS, (*deltas, now, run_id))


def _count(deltas: list[float], seen: int, **more: float) -> None:
    deltas[0] += seen
    for name, value in more.items():
        deltas[_COUNTS.index(name)] += value


def _write_result(connection: sqlite3.Connection, item: Added, policy_id: int) -> bool:
    """Write one result; True if it is new to its run (and so must be counted)."""
    result, ref = item.result, item.result.ref
    upload_time = ref.upload_time.isoformat() if ref.upload_time else None
    error = result.read_error
    if result.sha256 is None:  # not even hashed: nothing to key a wheel row by
        assert error is not None, "a result without a sha256 was not read"
        return (
            connection.execute(
                _INSERT_FAILURE,
                (
                    item.run_id,
                    stored_location(ref.location),  # a private index's token is never stored
                    ref.filename,
                    ref.project,
                    ref.version,
                    result.size,
                    upload_time,
                    error.code,
                    error.reason,
                    error.member,
                ),
            ).rowcount
            == 1
        )
    read_error = (error.code, error.reason, error.member) if error else (None, None, None)
    connection.execute(
        _UPSERT_WHEEL,
        (
            result.sha256,
            ref.filename,
            ref.project,
            ref.version,
            stored_location(ref.location),
            result.size,
            upload_time,
            result.facts,
            FACTS_VERSION if result.facts else None,
            *read_error,
            int(result.strict),
        ),
    )
    (wheel_id,) = connection.execute(
        "SELECT id FROM wheels WHERE sha256 = ?", (result.sha256,)
    ).fetchone()
    if result.verdict is not None:
        connection.execute(_UPSERT_VERDICT, (wheel_id, policy_id, *result.verdict))
    if item.stat is not None:
        connection.execute(_UPSERT_LOCATION, (stored_location(ref.location), *item.stat, wheel_id))
    return (
        connection.execute(
            "INSERT OR IGNORE INTO run_wheels VALUES (?, ?)", (item.run_id, wheel_id)
        ).rowcount
        == 1
    )


def write_verdicts(
    connection: sqlite3.Connection, policy_id: int, judged: Iterable[tuple[int, VerdictColumns]]
) -> None:
    """Store verdicts (re-)derived from stored facts (inside the caller's transaction)."""
    connection.executemany(
        _UPSERT_VERDICT, ((wheel_id, policy_id, *columns) for wheel_id, columns in judged)
    )
