"""One streaming pass over the store's rows: the statistics of an index.

Memory grows with the number of distinct keys (policies, symbols, projects, error codes),
never with the number of wheels: a nightly report over a whole mirror reads each row once
and keeps no row, only counters and a bounded heap of over-claiming wheels.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from wheelscan.policy.verdict import Blocker
from wheelscan.policy.versions import version_key
from wheelscan.report.abi3_stats import Abi3Aggregator
from wheelscan.report.claims import (
    declared_policies,
    over_claim_blockers,
    platform_of,
    policy_name,
    python_tag,
    tag_priority,
)
from wheelscan.report.listing import WheelLister
from wheelscan.report.statistics import (
    Changes,
    ClaimGap,
    Count,
    ErrorCount,
    Filters,
    OverClaim,
    PolicyInfo,
    ProjectSummary,
    Ranking,
    RunPoint,
    Statistics,
    Totals,
    WheelLists,
)

NO_POLICY = PolicyInfo(None, False, None, None, None, None)
NO_FILTERS = Filters((), ())

TOP = 20  # entries per list: enough to act on, small enough to read
LISTED = 10  # wheels named behind each count; the rest are counted
MAX_CAUSES = 8  # causes shown per over-claiming wheel; the rankings have the rest
TREND_RUNS = 60  # the most recent runs in the trend: two months of nightly runs


@dataclass
class _Counters:
    """One counter per ranking of :class:`Statistics`: a key's count only, never a row."""

    declared: Counter[str] = field(default_factory=Counter)
    computed: Counter[str] = field(default_factory=Counter)
    arch: Counter[str] = field(default_factory=Counter)
    libc: Counter[str] = field(default_factory=Counter)
    python: Counter[str] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    symbols: Counter[str] = field(default_factory=Counter)
    libraries: Counter[str] = field(default_factory=Counter)
    external: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    over_pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    under_pairs: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass
class _Project:
    wheels: int = 0
    judged: int = 0
    over_claims: int = 0
    under_claims: int = 0
    errors: int = 0
    worst_tag: str | None = None
    worst_priority: int = 0

    def judged_as(self, tag: str, priority: int) -> None:
        # ties by name: x86_64 and i686 wheels meeting the same policy rank alike, and the
        # order rows were stored in must not pick between them
        if self.worst_tag is None or (priority, tag) < (self.worst_priority, self.worst_tag):
            self.worst_tag, self.worst_priority = tag, priority


class Aggregator:
    """Feed rows with :meth:`add`, then take the :class:`Statistics` with :meth:`result`."""

    def __init__(self, top: int = TOP, listed: int = LISTED) -> None:
        self.top = top
        self.wheels = self.judged = self.errors = self.pending = self.bytes = self.unsized = 0
        self.compliant = self.over = self.under = self.with_findings = 0
        self.count = _Counters()
        self.error_codes: dict[str, ErrorCount] = {}
        self.projects: dict[str, _Project] = {}
        # a min-heap on (upload_time, filename, sha256): the newest `top` over-claims
        # survive; the sha256 orders two wheels of one name, whatever order they came in
        self.over_heap: list[tuple[str, str, str, OverClaim]] = []
        self.lists = {kind: WheelLister(listed) for kind in ("over", "under", "errors", "findings")}
        self.abi3 = Abi3Aggregator(top, listed)

    def add(self, row: Mapping[str, Any]) -> None:
        self.wheels += 1
        if row["size"] is None:  # neither the source nor the server gave one: unknown, not 0
            self.unsized += 1
        else:
            self.bytes += row["size"]
        project = self.projects.setdefault(canonicalize_name(row["project"]), _Project())
        project.wheels += 1
        self.abi3.add(row)
        verdict, error = row["verdict"], row["error"]
        tags = _tags(row["filename"])
        declared = declared_policies(tags)
        self.count.python[python_tag(tags) if tags else "invalid-filename"] += 1
        self.count.declared.update(declared)
        if verdict is not None:
            self._add_verdict(row, verdict, declared, project)
            return
        arch, libc = platform_of(tags)
        self.count.arch[arch] += 1
        self.count.libc[libc] += 1
        if error is None:
            self.pending += 1
            return
        self.errors += 1
        project.errors += 1
        code = error["code"]
        self.lists["errors"].add(code, row["filename"], _identity(row))
        known = self.error_codes.get(code)
        example = (row["filename"], error["reason"])
        if known is not None and (known.example_wheel, known.example_reason) <= example:
            example = (known.example_wheel, known.example_reason)
        self.error_codes[code] = ErrorCount(code, 1 + (known.wheels if known else 0), *example)

    def _add_verdict(
        self,
        row: Mapping[str, Any],
        verdict: Mapping[str, Any],
        declared: set[str],
        project: _Project,
    ) -> None:
        self.judged += 1
        project.judged += 1
        computed = verdict["overall_tag"]
        count = self.count
        count.computed[computed] += 1
        count.arch[verdict["architecture"]] += 1
        count.libc[verdict["libc"]] += 1
        count.external.update(set(verdict["external_libraries"]))
        kinds = {f["kind"] for f in verdict["findings"]}
        count.findings.update(kinds)
        identity = _identity(row)
        for kind in kinds:
            self.lists["findings"].add(kind, row["filename"], identity)
        self.with_findings += bool(verdict["findings"])
        project.judged_as(computed, tag_priority(verdict))
        if verdict["under_claim"] is not None:
            self.under += 1
            project.under_claims += 1
            # under-claims are glibc only (evaluate._claims): pair with the manylinux claim
            pairs = {(d, computed) for d in declared if d.startswith("manylinux_")}
            count.under_pairs.update(pairs)
            for pair in pairs:
                self.lists["under"].add(" → ".join(pair), row["filename"], identity)
        if not verdict["over_claims"]:
            self.compliant += 1
            return
        self.over += 1
        project.over_claims += 1
        pairs = {(policy_name(t), computed) for t in verdict["over_claims"]}
        count.over_pairs.update(pairs)
        for pair in pairs:
            self.lists["over"].add(" → ".join(pair), row["filename"], identity)
        blockers = list(over_claim_blockers(verdict))
        count.causes.update({b.kind for b in blockers})
        for b in blockers:
            if b.kind == "symbol-version":
                count.versions[b.subject] += 1
                count.symbols.update(f"{s}@{b.subject}" for s in b.symbols)
            elif b.kind == "blacklisted-symbol":
                count.symbols.update(f"{s} ({b.subject})" for s in b.symbols)
            elif b.kind == "external-library":
                count.libraries[b.subject] += 1
        claim = OverClaim(
            row["filename"],
            row["project"],
            row["version"],
            row["upload_time"],
            tuple(verdict["over_claims"]),
            computed,
            _causes(blockers),
        )
        entry = (row["upload_time"] or "", row["filename"], identity, claim)
        if len(self.over_heap) < self.top:
            heapq.heappush(self.over_heap, entry)
        elif entry[:3] > self.over_heap[0][:3]:
            heapq.heapreplace(self.over_heap, entry)

    def result(
        self,
        runs: Iterable[Mapping[str, Any]] = (),
        now: datetime | None = None,
        *,
        policy: PolicyInfo = NO_POLICY,
        filters: Filters = NO_FILTERS,
        changes: Changes | None = None,
    ) -> Statistics:
        count, top = self.count, self.top
        projects = heapq.nsmallest(
            top,
            self.projects.items(),
            key=lambda kv: (-kv[1].over_claims, -kv[1].errors, -kv[1].wheels, kv[0]),
        )
        return Statistics(
            generated=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            totals=Totals(
                self.wheels,
                self.judged,
                self.errors,
                self.pending,
                self.compliant,
                self.over,
                self.under,
                self.with_findings,
                len(self.projects),
                self.bytes,
                self.unsized,
            ),
            declared_policies=self._rank(count.declared),
            computed_policies=self._rank(count.computed),
            architectures=self._rank(count.arch),
            libcs=self._rank(count.libc),
            python_tags=self._rank(count.python),
            over_claim_pairs=_gaps(count.over_pairs, top),
            under_claim_pairs=_gaps(count.under_pairs, top),
            over_claim_causes=self._rank(count.causes),
            offending_versions=self._rank(count.versions),
            offending_symbols=self._rank(count.symbols),
            offending_libraries=self._rank(count.libraries),
            external_libraries=self._rank(count.external),
            findings=self._rank(count.findings),
            errors=tuple(
                heapq.nsmallest(top, self.error_codes.values(), key=lambda e: (-e.wheels, e.code))
            ),
            projects=tuple(
                ProjectSummary(
                    name, p.wheels, p.judged, p.over_claims, p.under_claims, p.errors, p.worst_tag
                )
                for name, p in projects
            ),
            over_claim_wheels=tuple(e[3] for e in sorted(self.over_heap, reverse=True)),
            runs=_trend(runs),
            policy=policy,
            wheel_lists=WheelLists(*(self.lists[k].result() for k in self.lists)),
            filters=filters,
            changes=changes,
            abi3=self.abi3.result(),
        )

    def _rank(self, counter: Counter[str]) -> Ranking:
        entries = heapq.nsmallest(
            self.top, counter.items(), key=lambda kv: (-kv[1], natural_key(kv[0]))
        )
        shown = sum(n for _, n in entries)
        return Ranking(
            tuple(Count(k, n) for k, n in entries), len(counter), counter.total() - shown
        )


def aggregate(
    rows: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]] = (),
    top: int = TOP,
    now: datetime | None = None,
    *,
    listed: int = LISTED,
    policy: PolicyInfo = NO_POLICY,
    filters: Filters = NO_FILTERS,
    changes: Changes | None = None,
) -> Statistics:
    """The statistics of ``rows`` (the store's results) and ``runs`` (its run records).

    ``policy``, ``filters`` and ``changes`` are carried into the record as they are: what
    the verdicts were judged with, which rows were kept, and what changed since a run.
    """
    aggregator = Aggregator(top, listed)
    for row in rows:
        aggregator.add(row)
    return aggregator.result(runs, now, policy=policy, filters=filters, changes=changes)


def policy_info(digest: str | None, source: Mapping[str, Any] | None) -> PolicyInfo:
    """The report's policy record from the store's digest and recorded source."""
    if source is None:
        return PolicyInfo(digest, False, None, None, None, None)
    return PolicyInfo(
        digest,
        True,
        source.get("wheelscan"),
        source.get("policy_file"),
        source.get("policy_file_sha256"),
        source.get("musl_policy"),
    )


def _identity(row: Mapping[str, Any]) -> str:
    """What tells two rows of one filename apart: the bytes, else (never hashed) the place."""
    return str(row["sha256"] or row["location"])


def _tags(filename: str) -> frozenset[Tag]:
    try:
        return parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return frozenset()


def _causes(blockers: list[Blocker]) -> tuple[str, ...]:
    """What a maintainer has to fix, first: libraries and other kinds, then per symbol-version
    bucket only the newest version (GLIBC_2.29 implies every older one that blocks too)."""
    others: list[str] = []
    newest: dict[str, str] = {}
    for b in blockers:
        if b.kind == "symbol-version":
            bucket = b.subject.partition("_")[0]
            if bucket not in newest or version_key(b.subject) > version_key(newest[bucket]):
                newest[bucket] = b.subject
        else:
            # a library speaks for itself; the rarer kinds need their name
            others.append(b.subject if b.kind == "external-library" else f"{b.kind}: {b.subject}")
    return tuple([*others, *sorted(newest.values(), key=version_key)][:MAX_CAUSES])


def natural_key(name: str) -> tuple[str | int, ...]:
    """A name's text with its numbers as numbers: every tie in a ranking is broken in the
    order a reader expects (GLIBC_2.7 before GLIBC_2.14, manylinux_2_5 before
    manylinux_2_28), the same whatever order the rows were stored in."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _gaps(counter: Counter[tuple[str, str]], top: int) -> tuple[ClaimGap, ...]:
    entries = heapq.nsmallest(
        top,
        counter.items(),
        key=lambda kv: (-kv[1], natural_key(kv[0][0]), natural_key(kv[0][1])),
    )
    return tuple(ClaimGap(declared, computed, n) for (declared, computed), n in entries)


def _trend(runs: Iterable[Mapping[str, Any]]) -> tuple[RunPoint, ...]:
    points = [_point(r) for r in runs]
    points.sort(key=lambda p: (p.started, p.id))
    return tuple(points[-TREND_RUNS:])


def _point(r: Mapping[str, Any]) -> RunPoint:
    # a run still marked running (in progress, or killed before anything marked it
    # interrupted) has no end yet: its figures are as of its last commit
    updated = r.get("updated") or r["started"]
    seconds = r["seconds"]
    if seconds is None:
        elapsed = datetime.fromisoformat(updated) - datetime.fromisoformat(r["started"])
        seconds = max(elapsed.total_seconds(), 0.0)
    return RunPoint(
        id=str(r["id"]),
        started=r["started"],
        finished=r["finished"],
        source=r["source"],
        status=r["status"],
        seen=r["seen"],
        skipped_known=r["skipped_known"],
        audited=r["audited"],
        errors=r["errors"],
        bytes_read=r["bytes_read"],
        elf_bytes=r["elf_bytes"],
        seconds=seconds,
        wheels_per_second=r["audited"] / seconds if seconds else 0.0,
        wheelscan_version=r["wheelscan_version"],
        backend=r["backend"],
        updated=updated,
        policy_digest=r.get("policy_digest") or "",
    )
