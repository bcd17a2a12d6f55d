"""Judging stored facts again under a policy: the part of ``Store.reevaluate`` that a worker
process runs. Facts blobs in, verdict columns out; no wheel is read, no database is touched.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wheelscan.policy.abi3 import evaluate_abi3
from wheelscan.policy.evaluate import EvaluationError, evaluate
from wheelscan.policy.policies import PolicyDatabase
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.store.codec import VerdictColumns, unpack, verdict_columns
from wheelscan.wheel.codec import definitions_known, facts_from_json

if TYPE_CHECKING:
    from concurrent.futures import Future

# (wheel id, facts blob) in; (wheel id, verdict columns) out
Batch = list[tuple[int, bytes]]
Judged = list[tuple[int, VerdictColumns]]


@dataclass(frozen=True)
class Judge:
    """The policy to judge by; picklable, so each worker process gets it once."""

    database: PolicyDatabase
    musl_policy: str | None = None

    def __call__(self, batch: Batch) -> Judged:
        return [(wheel_id, self._one(blob)) for wheel_id, blob in batch]

    def _one(self, blob: bytes) -> VerdictColumns:
        data = unpack(blob)
        facts = facts_from_json(data)
        outcome: Verdict | AuditError
        try:
            outcome = evaluate(facts, self.database, self.musl_policy)
        except EvaluationError as e:  # as engine.worker.audit records it
            outcome = AuditError(facts.filename, e.code, e.reason)
        # the abi3 verdict beside it: judged from the same facts (policy/abi3.py)
        # (facts of format 3 lack the module exports: that verdict says it is unknown)
        return verdict_columns(outcome, evaluate_abi3(facts, definitions_known(data)))


_judge: Judge | None = None  # the worker process's Judge, set once by _init


def _init(judge: Judge) -> None:
    global _judge  # noqa: PLW0603 - a pool initializer can only hand state over this way
    _judge = judge
    # a Ctrl-C reaches the whole process group: the parent stops the pool (its KeyboardInterrupt
    # leaves the with block), and a worker's own only printed a traceback per worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _judge_in_worker(batch: Batch) -> Judged:
    assert _judge is not None, "the pool initializer sets it"
    return _judge(batch)


def judge_batches(judge: Judge, batches: Iterable[Batch], workers: int) -> Iterator[Judged]:
    """Judged batches, in order; ``workers`` > 1 spreads them over that many processes.

    At most two batches per worker are in flight, so memory stays bounded however many
    wheels the store holds (``Executor.map`` would submit every batch up front).
    """
    if workers <= 1:
        yield from map(judge, batches)
        return
    # imported here: multiprocessing and pickle are 7 ms of every start-up of a command that
    # opens a store, and most never judge in processes
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # spawn: a fresh interpreter does not inherit the parent's open SQLite connection
    with ProcessPoolExecutor(workers, get_context("spawn"), _init, (judge,)) as pool:
        in_flight: deque[Future[Judged]] = deque()
        for batch in batches:
            in_flight.append(pool.submit(_judge_in_worker, batch))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
