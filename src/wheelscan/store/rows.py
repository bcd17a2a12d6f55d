"""Stored results as plain dicts for reports, and the JSON-lines export.

A row::

    {"sha256", "filename", "project", "version", "upload_time" (ISO 8601 or None), "location",
     "size", "verdict": Verdict.to_json() or None, "error": AuditError.to_json() or None,
     "abi3": Abi3Verdict.to_json() or None}

``abi3`` is None when the wheel makes no stable-ABI promise, has no verdict yet, or was
judged by a wheelscan before the abi3 audit (a store read as it is, not migrated).

The error is the wheel's read error or the policy's evaluation error. Both are None when the
wheel has no verdict under the policy asked for yet (``Store.reevaluate`` gives it one): the
report counts it as pending. Wheels a run could not even hash have no
sha256 (``None``): they belong to the run that met them, and are listed with that run's
rows, or, when every wheel is asked for, with the latest run's.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from wheelscan.store.codec import POLICY_SOURCE_KEY, error_json, unpack
from wheelscan.store.errors import ExportError
from wheelscan.store.outfile import replacing

_WHEELS = """
SELECT w.sha256, w.filename, w.project, w.version, w.upload_time, w.location, w.size,
       w.facts IS NOT NULL, w.read_error_code, w.read_error_reason, w.read_error_member,
       v.verdict, v.error_code, v.error_reason, v.error_member, {abi3}
FROM wheels w LEFT JOIN verdicts v ON v.wheel_id = w.id AND v.policy_id = :policy
WHERE :run IS NULL OR w.id IN (SELECT wheel_id FROM run_wheels WHERE run_id = :run)
-- by id: sorting by name would sort every verdict blob too (a gigabyte for a mirror);
-- reports do not depend on the order (report/aggregate.py), and the lists that show it
-- sort themselves
ORDER BY w.id
"""
_FAILURES = """
SELECT location, filename, project, version, size, upload_time, error_code, error_reason,
       error_member
FROM run_failures WHERE run_id = coalesce(:run, (SELECT max(id) FROM runs))
ORDER BY location
"""


def reported_policy(connection: sqlite3.Connection) -> str | None:
    """The digest whose verdicts reports show by default.

    The policy of the last finished run or re-evaluation; before any run has finished, the
    latest run's: a first run killed halfway has judged every wheel it stored, and a report
    that showed none of them would say nothing was judged.
    """
    row = connection.execute("SELECT value FROM meta WHERE key = 'policy_digest'").fetchone()
    if row is None:
        row = connection.execute(
            "SELECT p.digest FROM runs r JOIN policies p ON p.id = r.policy_id "
            "ORDER BY r.id DESC LIMIT 1"
        ).fetchone()
    return str(row[0]) if row else None


def policy_source(connection: sqlite3.Connection, digest: str) -> dict[str, Any] | None:
    """What the policy ``digest`` was made of (``codec.policy_source``), if it was recorded."""
    row = connection.execute(
        "SELECT value FROM meta WHERE key = ?", (POLICY_SOURCE_KEY + digest,)
    ).fetchone()
    return json.loads(row[0]) if row else None


def _policy_id(connection: sqlite3.Connection, digest: str | None) -> int | None:
    found = connection.execute("SELECT id FROM policies WHERE digest = ?", (digest,)).fetchone()
    return int(found[0]) if found else None


def _has_abi3(connection: sqlite3.Connection) -> bool:
    """Whether verdicts has the abi3 column: a store of schema 2 read as it is has not."""
    columns = connection.execute("PRAGMA table_info(verdicts)").fetchall()
    return any(column[1] == "abi3" for column in columns)


def iter_rows(
    connection: sqlite3.Connection, run_id: int | None, policy_digest: str | None
) -> Iterator[dict[str, Any]]:
    if policy_digest is None:
        policy_digest = reported_policy(connection)
    params = {"policy": _policy_id(connection, policy_digest), "run": run_id}
    query = _WHEELS.format(abi3="v.abi3" if _has_abi3(connection) else "NULL")
    for (
        sha256,
        filename,
        project,
        version,
        upload_time,
        location,
        size,
        has_facts,
        read_code,
        read_reason,
        read_member,
        blob,
        code,
        reason,
        member,
        abi3,
    ) in connection.execute(query, params):
        verdict, error = None, None
        if not has_facts:
            error = error_json(filename, read_code, read_reason, read_member)
        elif blob is not None:
            verdict = unpack(blob)
        elif code is not None:
            error = error_json(filename, code, reason, member)
        yield {
            "sha256": sha256,
            "filename": filename,
            "project": project,
            "version": version,
            "upload_time": upload_time,
            "location": location,
            "size": size,
            "verdict": verdict,
            "error": error,
            "abi3": unpack(abi3) if abi3 is not None and has_facts else None,
        }
    for (
        location,
        filename,
        project,
        version,
        size,
        upload_time,
        code,
        reason,
        member,
    ) in connection.execute(_FAILURES, params):
        yield {
            "sha256": None,
            "filename": filename,
            "project": project,
            "version": version,
            "upload_time": upload_time,
            "location": location,
            "size": size,
            "verdict": None,
            "error": error_json(filename, code, reason, member),
            "abi3": None,
        }


# a wheel's state under one policy: broken (a declared tag does not hold: a platform tag,
# or an abi3/abi3t promise), unknown (its abi3 verdict is, from facts of an older format),
# ok, error, or NULL (no verdict under that policy). abi3_broken: see _abi3_broken
# ({abi3}: the verdict's abi3 column, or NULL in a store of schema 2 read as it is)
_STATE = """CASE WHEN w.facts IS NULL THEN 'error'
    WHEN {v}.verdict IS NOT NULL THEN CASE WHEN {v}.over_claim THEN 'broken'
        WHEN {abi3} IS NULL THEN 'ok'
        ELSE CASE abi3_broken({abi3}) WHEN 1 THEN 'broken' WHEN 0 THEN 'ok'
            ELSE 'unknown' END END
    WHEN {v}.error_code IS NOT NULL THEN 'error' END"""
_CHANGES = """
WITH then_wheels AS MATERIALIZED (
    SELECT DISTINCT wheel_id FROM run_wheels WHERE run_id <= :since
), states AS (
    SELECT w.id, w.sha256, w.filename, w.project, w.location,
           CASE WHEN t.wheel_id IS NULL THEN 'absent' ELSE {was} END AS was,
           {now} AS now,
           new.verdict, {new_abi3} AS abi3, new.arch,
           coalesce(w.read_error_code, new.error_code) AS code,
           coalesce(w.read_error_reason, new.error_reason) AS reason,
           coalesce(w.read_error_member, new.error_member) AS member
    FROM wheels w
    LEFT JOIN then_wheels t ON t.wheel_id = w.id
    LEFT JOIN verdicts old ON old.wheel_id = w.id
        AND old.policy_id = (SELECT policy_id FROM runs WHERE id = :since)
    LEFT JOIN verdicts new ON new.wheel_id = w.id AND new.policy_id = :policy
)
SELECT sha256, filename, project, location, was, now, verdict, abi3, arch, code, reason,
       member
FROM states
WHERE (now = 'broken' AND was IS NOT 'broken') OR (was = 'broken' AND now = 'ok')
   OR (now = 'error' AND was IS NOT 'error')
ORDER BY filename, sha256
"""
# wheels the latest run could not even hash, at locations that did not fail so in run N
_NEW_FAILURES = """
SELECT location, filename, project, error_code, error_reason, error_member
FROM run_failures f
WHERE run_id = (SELECT max(id) FROM runs) AND run_id > :since AND NOT EXISTS (
    SELECT 1 FROM run_failures g WHERE g.run_id = :since AND g.location = f.location)
ORDER BY filename, location
"""


def iter_changes(
    connection: sqlite3.Connection, since_run: int, policy_digest: str | None
) -> Iterator[dict[str, Any]]:
    """Wheels whose state changed since run ``since_run``, each once, by filename.

    "Then" is the store as of that run: the wheels some run up to it had met, judged under
    its policy; "now" is every stored wheel under ``policy_digest`` (by default the
    reported one). A row: ``{"change": "newly-broken" | "fixed" | "new-error", "was": the
    state then (broken, ok, unknown, error, absent, or None: not judged then), "sha256",
    "filename", "project", "location", "verdict" (now) or None, "abi3" (now) or None,
    "error" (now) or None}``. Broken is a broken declared tag: a platform tag (over-claim)
    or an abi3/abi3t promise (issue #17).
    """
    if policy_digest is None:
        policy_digest = reported_policy(connection)
    connection.create_function("abi3_broken", 1, _abi3_broken, deterministic=True)
    params = {"since": since_run, "policy": _policy_id(connection, policy_digest)}
    has_abi3 = _has_abi3(connection)
    old_abi3, new_abi3 = ("old.abi3", "new.abi3") if has_abi3 else ("NULL", "NULL")
    changes = _CHANGES.format(
        was=_STATE.format(v="old", abi3=old_abi3),
        now=_STATE.format(v="new", abi3=new_abi3),
        new_abi3=new_abi3,
    )
    for (
        sha256,
        filename,
        project,
        location,
        was,
        now,
        blob,
        abi3,
        arch,
        code,
        reason,
        member,
    ) in connection.execute(changes, params):
        change = "newly-broken" if now == "broken" else "fixed" if now == "ok" else "new-error"
        yield {
            "change": change,
            "was": was,
            "sha256": sha256,
            "filename": filename,
            "project": project,
            "location": location,
            "architecture": arch,
            "verdict": unpack(blob) if blob is not None else None,
            "abi3": unpack(abi3) if abi3 is not None and now != "error" else None,
            "error": error_json(filename, code, reason, member) if now == "error" else None,
        }
    for location, filename, project, code, reason, member in connection.execute(
        _NEW_FAILURES, params
    ):
        yield {
            "change": "new-error",
            "was": None,
            "sha256": None,
            "filename": filename,
            "project": project,
            "location": location,
            "architecture": None,
            "verdict": None,
            "abi3": None,
            "error": error_json(filename, code, reason, member),
        }


def _abi3_broken(blob: bytes | None) -> int | None:
    """1 when a stored abi3 verdict is a broken promise, 0 when it holds, None when it is not
    known (or absent): SQL's view of its ``compliant``, which the compressed blob hides."""
    if blob is None:
        return None
    compliant = unpack(blob)["compliant"]
    return None if compliant is None else int(not compliant)


def write_jsonl_zst(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as one compact JSON object per line into a zstandard stream at ``path``.

    A regular file is written beside itself and renamed into place: a reader never sees half
    an export; a FIFO, a device, a symbolic link's target are written through or replaced as
    ``outfile.replacing`` says. A write that fails is an ``ExportError``: an OutputError
    (output-unwritable), as every other report format's output that cannot be written, and a
    StoreError.
    """
    try:
        with replacing(path) as out:
            return write_jsonl_zst_stream(out, rows)
    except OSError as e:  # the output's failure, as report's other formats' (cli/output.py)
        raise ExportError.of(e, os.fspath(path)) from e


def write_jsonl_zst_stream(out: BinaryIO, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as JSON lines in a zstandard stream into ``out`` (left open); the count.

    Level 3, on every core: across lines the stream compresses well at any level, and an
    export of a whole mirror is gigabytes of JSON.
    """
    count = 0
    with zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(out, closefd=False) as z:
        for row in rows:
            z.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
            count += 1
    return count
