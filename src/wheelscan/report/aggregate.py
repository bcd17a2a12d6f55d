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

from wheelscan.report.claims import (
    Blocker,
    declared_policies,
    over_claim_blockers,
    platform_of,
    policy_name,
    python_tag,
    tag_priority,
)
from wheelscan.report.statistics import (
    ClaimGap,
    Count,
    ErrorCount,
    OverClaim,
    ProjectSummary,
    Ranking,
    RunPoint,
    Statistics,
    Totals,
)

TOP = 20  # entries per list: enough to act on, small enough to read
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


class Aggregator:
    """Feed rows with :meth:`add`, then take the :class:`Statistics` with :meth:`result`."""

    def __init__(self, top: int = TOP) -> None:
        self.top = top
        self.wheels = self.judged = self.errors = self.pending = self.bytes = 0
        self.compliant = self.over = self.under = self.with_findings = 0
        self.count = _Counters()
        self.error_codes: dict[str, ErrorCount] = {}
        self.projects: dict[str, _Project] = {}
        # a min-heap on (upload_time, filename, row number): the newest `top` over-claims
        # survive; the row number keeps a duplicated filename from comparing two OverClaims
        self.over_heap: list[tuple[str, str, int, OverClaim]] = []

    def add(self, row: Mapping[str, Any]) -> None:
        self.wheels += 1
        self.bytes += row["size"] or 0
        project = self.projects.setdefault(canonicalize_name(row["project"]), _Project())
        project.wheels += 1
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
        known = self.error_codes.get(code)
        self.error_codes[code] = (
            ErrorCount(code, 1, row["filename"], error["reason"])
            if known is None
            else ErrorCount(code, known.wheels + 1, known.example_wheel, known.example_reason)
        )

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
        count.findings.update({f["kind"] for f in verdict["findings"]})
        self.with_findings += bool(verdict["findings"])
        priority = tag_priority(verdict)
        if project.worst_tag is None or priority < project.worst_priority:
            project.worst_tag, project.worst_priority = computed, priority
        if verdict["under_claim"] is not None:
            self.under += 1
            project.under_claims += 1
            # under-claims are glibc only (evaluate._claims): pair with the manylinux claim
            count.under_pairs.update((d, computed) for d in declared if d.startswith("manylinux_"))
        if not verdict["over_claims"]:
            self.compliant += 1
            return
        self.over += 1
        project.over_claims += 1
        count.over_pairs.update({(policy_name(t), computed) for t in verdict["over_claims"]})
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
        entry = (row["upload_time"] or "", row["filename"], self.wheels, claim)
        if len(self.over_heap) < self.top:
            heapq.heappush(self.over_heap, entry)
        elif entry[:3] > self.over_heap[0][:3]:
            heapq.heapreplace(self.over_heap, entry)

    def result(
        self, runs: Iterable[Mapping[str, Any]] = (), now: datetime | None = None
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
        )

    def _rank(self, counter: Counter[str]) -> Ranking:
        entries = heapq.nsmallest(self.top, counter.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = sum(n for _, n in entries)
        return Ranking(
            tuple(Count(k, n) for k, n in entries), len(counter), counter.total() - shown
        )


def aggregate(
    rows: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]] = (),
    top: int = TOP,
    now: datetime | None = None,
) -> Statistics:
    """The statistics of ``rows`` (the store's results) and ``runs`` (its run records)."""
    aggregator = Aggregator(top)
    for row in rows:
        aggregator.add(row)
    return aggregator.result(runs, now)


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
            if bucket not in newest or _version_key(b.subject) > _version_key(newest[bucket]):
                newest[bucket] = b.subject
        else:
            # a library speaks for itself; the rarer kinds need their name
            others.append(b.subject if b.kind == "external-library" else f"{b.kind}: {b.subject}")
    return tuple([*others, *sorted(newest.values())][:MAX_CAUSES])


def _version_key(version: str) -> tuple[int, ...]:
    """GLIBCXX_3.4.9 < GLIBCXX_3.4.21, which string order gets wrong."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _gaps(counter: Counter[tuple[str, str]], top: int) -> tuple[ClaimGap, ...]:
    entries = heapq.nsmallest(top, counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(ClaimGap(declared, computed, n) for (declared, computed), n in entries)


def _trend(runs: Iterable[Mapping[str, Any]]) -> tuple[RunPoint, ...]:
    points = [
        RunPoint(
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
            seconds=r["seconds"],
            wheels_per_second=r["audited"] / r["seconds"] if r["seconds"] else 0.0,
            wheelscan_version=r["wheelscan_version"],
            backend=r["backend"],
        )
        for r in runs
    ]
    points.sort(key=lambda p: p.started)
    return tuple(points[-TREND_RUNS:])
