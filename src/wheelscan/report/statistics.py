"""The statistics of an index: one typed record that every renderer reads.

Every list is cut to the top N by the aggregator, so a report of a million wheels is as small
as one of a hundred; a :class:`Ranking` says how much the cut left out, so nothing is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wheelscan.report.abi3_stats import Abi3Statistics

# the version of the record, and of the JSON document made from it (report.schema.json)
REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    wheels: int


@dataclass(frozen=True, slots=True)
class Ranking:
    """The most common keys of one counter, most common first, ties by key (numbers in it
    as numbers: ``aggregate.natural_key``)."""

    entries: tuple[Count, ...]
    distinct: int  # keys counted, shown or not
    rest: int  # the sum of the counts of the keys the cut left out


@dataclass(frozen=True, slots=True)
class Totals:
    wheels: int
    judged: int  # with a verdict
    errors: int  # could not be judged
    pending: int  # neither yet: listed by a source, not audited
    compliant: int  # judged, and every declared platform tag holds
    over_claims: int  # judged, and some declared tag is broken
    under_claims: int  # judged, and the content meets a more compatible tag than declared
    with_findings: int  # judged, with a check auditwheel does not make failing
    projects: int
    bytes: int  # the wheels' sizes, summed: as the source gave them, or their server named them
    unsized: int  # wheels of no size known (not counted in bytes): a read that failed, say


@dataclass(frozen=True, slots=True)
class ClaimGap:
    """Wheels declaring ``declared`` whose content meets only ``computed`` (or better)."""

    declared: str  # a policy name: aliases are resolved (manylinux2014 -> manylinux_2_17)
    computed: str
    wheels: int


@dataclass(frozen=True, slots=True)
class OverClaim:
    """One wheel whose filename promises more than its content keeps."""

    filename: str
    project: str
    version: str
    upload_time: str | None
    broken: tuple[str, ...]  # the declared tags that do not hold, as the filename spells them
    computed: str
    causes: tuple[str, ...]  # GLIBC_2.29, libgomp.so.1, ... (at most MAX_CAUSES)


@dataclass(frozen=True, slots=True)
class ErrorCount:
    code: str
    wheels: int
    example_wheel: str  # the first wheel by name with this code, to start the hunt from
    example_reason: str


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    project: str
    wheels: int
    judged: int
    over_claims: int
    under_claims: int
    errors: int
    # the least compatible computed tag (ties by name); None when nothing was judged
    worst_tag: str | None


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One run of ``wheelscan audit``, as the store records it."""

    id: str
    started: str
    finished: str | None
    source: str
    status: str
    seen: int
    skipped_known: int
    audited: int
    errors: int
    bytes_read: int
    elf_bytes: int
    seconds: float
    wheels_per_second: float  # audited / seconds: the figure the native core exists for
    wheelscan_version: str
    backend: str
    updated: str  # the last commit: how far a run still marked running has got
    policy_digest: str  # the policy its verdicts were judged under


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """The policy data the report's verdicts came from."""

    digest: str | None  # None: nothing has been judged yet
    recorded: bool  # False: a store written before policy sources were recorded
    wheelscan: str | None  # the wheelscan that judged, whose rules are part of the policy
    policy_file: str | None  # None: the built-in policies alone
    policy_file_sha256: str | None
    musl_policy: str | None


@dataclass(frozen=True, slots=True)
class WheelList:
    """The wheels behind one count, the first few by name."""

    key: str
    wheels: int
    filenames: tuple[str, ...]  # at most the report's ``listed``; ``wheels`` says how many


@dataclass(frozen=True, slots=True)
class WheelLists:
    over_claims: tuple[WheelList, ...]  # per "declared → computed" pair
    under_claims: tuple[WheelList, ...]  # per "declared → computed" pair
    errors: tuple[WheelList, ...]  # per error code
    findings: tuple[WheelList, ...]  # per finding kind


@dataclass(frozen=True, slots=True)
class ChangedWheel:
    filename: str
    project: str
    # broken, ok, error, absent (not in the store then), or None: not judged then, or a
    # wheel never hashed, known by its location alone
    was: str | None
    detail: str  # the broken tags, the computed tag, or the error


@dataclass(frozen=True, slots=True)
class WheelChanges:
    wheels: int
    entries: tuple[ChangedWheel, ...]  # the first ``listed`` by name


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since one run: the question a nightly audit exists to answer."""

    since_run: int
    since_started: str | None  # None: no such run in the store
    newly_broken: WheelChanges  # over-claims now that were not then
    fixed: WheelChanges  # over-claims then whose every declared tag now holds
    new_errors: WheelChanges  # errors now that were not then


@dataclass(frozen=True, slots=True)
class Filters:
    projects: tuple[str, ...]  # canonical names; empty: every project
    architectures: tuple[str, ...]  # empty: every architecture


@dataclass(frozen=True, slots=True)
class Statistics:
    generated: str  # ISO 8601, UTC
    totals: Totals
    declared_policies: Ranking  # per wheel, its most compatible claim per libc and arch
    computed_policies: Ranking  # overall_tag
    architectures: Ranking
    libcs: Ranking
    python_tags: Ranking  # cp312, cp27mu, cp39-abi3, py3 ...
    over_claim_pairs: tuple[ClaimGap, ...]
    under_claim_pairs: tuple[ClaimGap, ...]
    over_claim_causes: Ranking  # by blocker kind, plus platform-mismatch and not-linux
    offending_versions: Ranking  # symbol versions breaking a declared tag
    offending_symbols: Ranking  # symbol@VERSION, and blacklisted symbols as symbol (library)
    offending_libraries: Ranking  # external libraries breaking a declared tag
    external_libraries: Ranking  # every judged wheel's libraries that would need grafting
    findings: Ranking  # wheels per finding kind
    errors: tuple[ErrorCount, ...]
    projects: tuple[ProjectSummary, ...]  # the projects with the most problems first
    over_claim_wheels: tuple[OverClaim, ...]  # the most recently uploaded first
    runs: tuple[RunPoint, ...]  # oldest first
    policy: PolicyInfo
    wheel_lists: WheelLists
    filters: Filters
    changes: Changes | None  # with --since-run
    # the stable-ABI promises (issue #17, report/abi3_stats.py); None from a caller that
    # did not count them
    abi3: Abi3Statistics | None = None

    @property
    def compliance(self) -> float | None:
        """The share of judged wheels whose every declared tag holds."""
        judged = self.totals.judged
        return self.totals.compliant / judged if judged else None
