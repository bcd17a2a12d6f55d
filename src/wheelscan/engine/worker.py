"""One wheel in, one result out: what a worker does, with every failure made a record."""

from __future__ import annotations

import errno
from pathlib import Path

from wheelscan.model import WheelFacts
from wheelscan.policy.evaluate import EvaluationError, evaluate
from wheelscan.policy.policies import PolicyDatabase
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.policy.wheeltags import InvalidWheelFilename
from wheelscan.wheel.archive import Limits, WheelArchive, WheelError
from wheelscan.wheel.contents import read_wheel_facts

# Every way reading or judging a wheel can fail on the wheel's account
FAILURES = (WheelError, EvaluationError, OSError, InvalidWheelFilename)


def audit_error(filename: str, error: Exception) -> AuditError:
    """One of FAILURES as the wheel's error record, with its stable code."""
    if isinstance(error, WheelError | EvaluationError):
        return AuditError(filename, error.code, error.reason, getattr(error, "member", None))
    if isinstance(error, InvalidWheelFilename):
        return AuditError(filename, error.code, error.reason)
    if isinstance(error, OSError) and error.errno == errno.ENOMEM:
        # a mapping past the worker's RLIMIT_DATA (mmap fails so, where malloc raises
        # MemoryError): the wheel's cost, as MemoryError is (engine/task.py), not an I/O fault
        return AuditError(filename, "out-of-memory", f"past the worker's memory limit: {error}")
    return AuditError(filename, "io-error", str(error))


def read_facts(
    source: Path | bytes, filename: str, limits: Limits = Limits(), threads: int = 1
) -> WheelFacts:
    archive = (
        WheelArchive.open(source, limits)
        if isinstance(source, Path)
        else WheelArchive(source, limits)
    )
    with archive:
        return read_wheel_facts(archive, filename, threads=threads)


def audit(
    source: Path | bytes,
    filename: str,
    database: PolicyDatabase | None = None,
    musl_policy: str | None = None,
    limits: Limits = Limits(),
    threads: int = 1,
) -> Verdict | AuditError:
    """Read and judge one wheel; a bad wheel becomes an AuditError, never an exception.

    ``threads``: how many members to inflate and parse at once (one wheel on several cores).
    """
    try:
        facts = read_facts(source, filename, limits, threads)
    except FAILURES as e:
        return audit_error(filename, e)
    return judge(filename, facts, database, musl_policy)


def judge(
    filename: str,
    facts: WheelFacts,
    database: PolicyDatabase | None = None,
    musl_policy: str | None = None,
) -> Verdict | AuditError:
    """The verdict on a wheel's facts, read before (a wheel that could not be read is
    ``audit_error``'s)."""
    try:
        return evaluate(facts, database, musl_policy)
    except FAILURES as e:
        return audit_error(filename, e)
