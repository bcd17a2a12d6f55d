"""One audit run: sources in, results stored, progress reported; nothing else.

The parent owns the store and the progress; the executor's workers only turn WheelRefs into
results. Known wheels (same sha256, or same path/size/mtime) are skipped before any byte is
read, so a nightly re-run audits only what is new.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from wheelscan.engine.pool import Executor
from wheelscan.engine.task import AuditTask
from wheelscan.model import WheelResult
from wheelscan.sources.base import Source, SourceError, WheelRef, listing_error
from wheelscan.store import PreparedResult, RunRecord, Store, prepare
from wheelscan.store.codec import conflict_record, hash_conflict


class Observer(Protocol):
    """Progress, injected: a terminal bar, a log line, or nothing."""

    def update(self, counts: RunCounts) -> None: ...


@dataclass
class RunCounts:
    seen: int = 0  # Linux platform wheels the sources listed
    skipped_known: int = 0
    audited: int = 0
    errors: int = 0
    bytes_read: int = 0
    elf_bytes: int = 0
    reused_elf_bytes: int = 0  # ELF bytes not parsed again: identical to a member seen before
    started: float = 0.0

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def as_recorded(self, run: RunRecord) -> RunCounts:
        """These counts as the store recorded run ``run``: its tallies are committed in the
        same transactions as its results, so they are true whatever moment a run stopped at
        (a signal between a result's storing and its counting, wheels read ahead and never
        audited)."""
        return dataclasses.replace(
            self,
            seen=run.seen,
            skipped_known=run.skipped_known,
            audited=run.audited,
            errors=run.errors,
            bytes_read=run.bytes_read,
            elf_bytes=run.elf_bytes,
        )


class PreparingTask:
    """The audit task, plus the store's encoding, done in the worker to spare the parent."""

    def __init__(self, task: AuditTask) -> None:
        self.task = task

    def __call__(self, ref: WheelRef) -> PreparedResult:
        return prepare(self.task(ref))


def _flight_key(ref: WheelRef) -> str:
    # a sha256 (64 hex digits) never equals a location (a path or a URL)
    return ref.sha256 or ref.location


def _conflict(
    ref: WheelRef, in_flight: dict[str, tuple[str, int | None]], store: Store
) -> str | None:
    """Why the index's sha256 for ``ref`` names another file (one in flight, or stored)."""
    if ref.sha256 is None or ref.refused is not None:
        return None
    if ref.sha256 in in_flight:
        return hash_conflict(ref.sha256, in_flight[ref.sha256], ref.filename, ref.size)
    return store.conflict(ref.sha256, ref.filename, ref.size)


def audit(
    sources: Sequence[Source],
    store: Store,
    executor: Executor[PreparedResult | WheelResult],
    run_id: int,
    observer: Observer | None = None,
    limit: int | None = None,
    strict: bool = False,
    counts: RunCounts | None = None,
) -> RunCounts:
    """Audit every new wheel of ``sources`` into ``store``; stops cleanly on KeyboardInterrupt
    (the caller records the run as interrupted: everything finished is already stored).
    ``strict``: a wheel known only from a fast reading is read again (``Store.known``).

    ``counts``, when given, is filled as the run goes, so that a caller the interrupt reaches
    still has them.
    """
    counts = counts if counts is not None else RunCounts()
    counts.started = time.monotonic()
    # wheels handed to the executor and not stored yet, by sha256 or, unhashed, by location:
    # the executor reads ahead of its workers, so a wheel two sources list (two mirrors of
    # one index, a directory given twice) could otherwise be audited twice before either
    # result is stored
    # (the value, filename and size, tells a repeat from a second file under one sha256)
    in_flight: dict[str, tuple[str, int | None]] = {}
    # a source whose listing failed part-way: what it listed, and every other source, is
    # still audited and stored before the run fails with its error
    failed_listings: list[SourceError] = []

    def todo() -> Iterator[WheelRef]:
        sent = 0
        for source in sources:
            try:
                for ref in source.wheels():
                    counts.seen += 1
                    reason = _conflict(ref, in_flight, store)
                    if reason is not None:  # never audited under a hash another file holds
                        store.add(run_id, conflict_record(ref, reason))
                        counts.audited += 1
                        counts.errors += 1
                        continue
                    if _flight_key(ref) in in_flight:
                        counts.skipped_known += 1  # its first listing's result records the run
                        continue
                    known = store.known(ref, strict)
                    if known is not None:
                        store.mark_seen(run_id, known)
                        counts.skipped_known += 1
                        continue
                    if limit is not None and sent >= limit:
                        return
                    sent += 1
                    in_flight[_flight_key(ref)] = (ref.filename, ref.size)
                    yield ref
            except SourceError as e:
                failed_listings.append(e)

    # what the first listing needs first (an index's own page, or its first project's) is
    # read before the executor starts: the local pool's workers, forked after it, know how
    # far the index is from their first wheel. Only the first source's: the others are
    # listed once it is done, and a page read for them now would hold up the run's start
    # (an index that is down: its retries) and be stale when its turn came
    if sources:
        sources[0].prepare()
    # closed here, not whenever it is collected: an interrupt stops the workers before the
    # caller records the run
    with contextlib.closing(executor.results(todo())) as results:
        for result in results:
            store.add(run_id, result)
            in_flight.pop(_flight_key(result.ref), None)
            counts.audited += 1
            counts.errors += not result.ok
            counts.bytes_read += result.bytes_read
            counts.elf_bytes += result.elf_bytes
            counts.reused_elf_bytes += result.reused_elf_bytes
            if observer is not None:
                observer.update(counts)
    if failed_listings:
        raise failed_listings[0]
    for source in sources:
        # a listing stopped early (--limit) never reached its error: pages that failed
        # before the limit still fail the run
        early = getattr(source, "failed_pages", None)
        if early:
            # stopped early: the other projects were not all listed, and are not said to be
            raise listing_error(early, read=0)
    return counts
