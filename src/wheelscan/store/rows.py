"""Stored results as plain dicts for reports, and the JSON-lines export.

A row::

    {"sha256", "filename", "project", "version", "upload_time" (ISO 8601 or None), "location",
     "size", "verdict": Verdict.to_json() or None, "error": AuditError.to_json() or None}

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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import zstandard

from wheelscan.store.codec import error_json, unpack
from wheelscan.store.errors import StoreError

_WHEELS = """
SELECT w.sha256, w.filename, w.project, w.version, w.upload_time, w.location, w.size,
       w.facts IS NOT NULL, w.read_error_code, w.read_error_reason, w.read_error_member,
       v.verdict, v.error_code, v.error_reason, v.error_member
FROM wheels w LEFT JOIN verdicts v ON v.wheel_id = w.id AND v.policy_id = :policy
WHERE :run IS NULL OR w.id IN (SELECT wheel_id FROM run_wheels WHERE run_id = :run)
ORDER BY w.id
"""
_FAILURES = """
SELECT location, filename, project, version, size, upload_time, error_code, error_reason,
       error_member
FROM run_failures WHERE run_id = coalesce(:run, (SELECT max(id) FROM runs))
ORDER BY location
"""


def iter_rows(
    connection: sqlite3.Connection, run_id: int | None, policy_digest: str | None
) -> Iterator[dict[str, Any]]:
    if policy_digest is None:
        row = connection.execute("SELECT value FROM meta WHERE key = 'policy_digest'").fetchone()
        policy_digest = row[0] if row else ""
    found = connection.execute(
        "SELECT id FROM policies WHERE digest = ?", (policy_digest,)
    ).fetchone()
    params = {"policy": found[0] if found else None, "run": run_id}
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
    ) in connection.execute(_WHEELS, params):
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
        }


def write_jsonl_zst(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as one compact JSON object per line into a zstandard stream at ``path``.

    Written beside ``path`` and renamed into place: a reader never sees half an export. Level
    3, on every core: across lines the stream compresses well at any level, and an export of a
    whole mirror is gigabytes of JSON.
    """
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with (
            open(partial, "wb") as raw,
            zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(raw) as out,
        ):
            for row in rows:
                out.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
                count += 1
        os.replace(partial, path)
    except BaseException as e:
        partial.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StoreError(
                "export-failed",
                f"{path}: cannot write the export: {e}",
                "check that the disk holding it has space and is writable",
            ) from e
        raise
    return count
