"""What every renderer shows, in which order, under which title: one list, so the terminal,
Markdown and HTML reports cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from wheelscan.report.statistics import Ranking, Statistics, Totals


class RankingSection(NamedTuple):
    title: str
    column: str  # what the keys are
    get: Callable[[Statistics], Ranking]
    # the shares are of this many wheels: a wheel may count under several keys (symbols,
    # causes), so a share of the counts would mean nothing
    base: Callable[[Totals], int]
    of: str  # what the base is, for the column header

    def share_header(self) -> str:
        return f"% of {self.of}"


# the distribution of the index, then what is wrong with it
POLICIES = (
    RankingSection(
        "Computed policies", "Policy", lambda s: s.computed_policies, lambda t: t.judged, "judged"
    ),
    RankingSection(
        "Declared policies", "Policy", lambda s: s.declared_policies, lambda t: t.wheels, "wheels"
    ),
)
PLATFORMS = (
    RankingSection(
        "Architectures", "Architecture", lambda s: s.architectures, lambda t: t.wheels, "wheels"
    ),
    RankingSection("C libraries", "libc", lambda s: s.libcs, lambda t: t.wheels, "wheels"),
    RankingSection("Python tags", "Tag", lambda s: s.python_tags, lambda t: t.wheels, "wheels"),
)
DISTRIBUTIONS = (*POLICIES, *PLATFORMS)
CAUSES = RankingSection(
    "Over-claims by cause",
    "Cause",
    lambda s: s.over_claim_causes,
    lambda t: t.over_claims,
    "over-claims",
)
OFFENDERS = (
    RankingSection(
        "Symbol versions breaking a declared tag",
        "Version",
        lambda s: s.offending_versions,
        lambda t: t.over_claims,
        "over-claims",
    ),
    RankingSection(
        "Symbols breaking a declared tag",
        "Symbol",
        lambda s: s.offending_symbols,
        lambda t: t.over_claims,
        "over-claims",
    ),
    RankingSection(
        "Libraries breaking a declared tag",
        "Library",
        lambda s: s.offending_libraries,
        lambda t: t.over_claims,
        "over-claims",
    ),
)
OTHER_FINDINGS = (
    RankingSection(
        "External libraries (would need grafting)",
        "Library",
        lambda s: s.external_libraries,
        lambda t: t.judged,
        "judged",
    ),
    RankingSection(
        "Findings auditwheel does not check",
        "Finding",
        lambda s: s.findings,
        lambda t: t.judged,
        "judged",
    ),
)
PROBLEMS = (CAUSES, *OFFENDERS, *OTHER_FINDINGS)


def summary_rows(totals: Totals) -> list[tuple[str, int, int]]:
    """(label, wheels, the total it is a share of); shares of judged where judging matters."""
    return [
        ("Wheels", totals.wheels, totals.wheels),
        ("Judged", totals.judged, totals.wheels),
        ("Could not be judged", totals.errors, totals.wheels),
        ("Not audited yet", totals.pending, totals.wheels),
        ("Every declared tag holds", totals.compliant, totals.judged),
        ("Over-claim (a declared tag is broken)", totals.over_claims, totals.judged),
        ("Under-claim (could declare a better tag)", totals.under_claims, totals.judged),
        ("With findings", totals.with_findings, totals.judged),
    ]


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def left_out(ranking: Ranking) -> str | None:
    """The line under a cut table, or None when nothing was cut."""
    hidden = ranking.distinct - len(ranking.entries)
    return f"… and {hidden} more, with {ranking.rest} between them" if hidden else None
