"""What one run found, for its summary and its exit status: the wheels it listed (audited or
already known) whose promise is broken, under-claimed, unjudged or flagged by a finding.

Known wheels count too: a wheel broken last night is still broken tonight, and a gate that
turned green because nothing new was read would be lying.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from wheelscan.store.codec import unpack

# The run's wheels with their verdict under the run's policy
_RUN_VERDICTS = """
SELECT w.filename, v.over_claim, v.under_claim,
       coalesce(v.error_code, w.read_error_code), {verdict}, v.abi3
FROM run_wheels rw
JOIN wheels w ON w.id = rw.wheel_id
LEFT JOIN verdicts v
  ON v.wheel_id = w.id AND v.policy_id = (SELECT policy_id FROM runs WHERE id = :run)
WHERE rw.run_id = :run
ORDER BY w.filename
"""


@dataclass
class RunOutcome:
    """Filenames, sorted, for each kind of trouble a run met."""

    over_claims: list[str] = field(default_factory=list)
    under_claims: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # filled only when asked for
    # a broken abi3/abi3t promise (issue #17): few wheels have an abi3 verdict, and each is
    # small, so it is always decoded
    abi3: list[str] = field(default_factory=list)


def run_outcome(
    connection: sqlite3.Connection, run_id: int, with_findings: bool = False
) -> RunOutcome:
    """``with_findings`` decodes every verdict of the run (a finding is inside it): asked
    only when ``--fail-on finding`` needs it."""
    outcome = RunOutcome()
    query = _RUN_VERDICTS.format(verdict="v.verdict" if with_findings else "NULL")
    for filename, over, under, error, verdict, abi3 in connection.execute(query, {"run": run_id}):
        if error is not None:
            outcome.errors.append(filename)
        if over:
            outcome.over_claims.append(filename)
        if under is not None:
            outcome.under_claims.append(filename)
        if verdict is not None and unpack(verdict).get("findings"):
            outcome.findings.append(filename)
        if abi3 is not None and unpack(abi3)["compliant"] is False:  # None: unknown
            outcome.abi3.append(filename)
    failed = connection.execute(
        "SELECT filename FROM run_failures WHERE run_id = ? ORDER BY filename", (run_id,)
    )
    outcome.errors.extend(row[0] for row in failed)
    return outcome
