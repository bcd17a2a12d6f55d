"""Results keyed by the wheel's sha256, facts for re-judging, run history; resumable.

One SQLite file (``--db``): see ``schema.py`` for the tables and ``store.py`` for the API.
"""

from wheelscan.store.codec import PreparedResult, policy_digest, policy_source, prepare
from wheelscan.store.errors import StoreError
from wheelscan.store.outcome import RunOutcome
from wheelscan.store.runs import RunRecord
from wheelscan.store.store import TRANSIENT_ERRORS, Store

__all__ = [
    "TRANSIENT_ERRORS",
    "PreparedResult",
    "RunOutcome",
    "RunRecord",
    "Store",
    "StoreError",
    "policy_digest",
    "policy_source",
    "prepare",
]
