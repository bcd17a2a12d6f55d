"""What every renderer shows, in which order, under which title: one list, so the terminal,
Markdown and HTML reports cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from wheelscan.report.statistics import (
    Changes,
    PolicyInfo,
    Ranking,
    Statistics,
    Totals,
    WheelChanges,
    WheelList,
)

NO_RANKING = Ranking((), 0, 0)


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
# the stable-ABI promises (issue #17; report/abi3_stats.py); shares of the judged wheels
ABI3_TITLE = "Stable ABI (abi3/abi3t)"
ABI3_RANKINGS = (
    RankingSection(
        "abi3: the Python the files need",
        "Python",
        lambda s: s.abi3.computed if s.abi3 else NO_RANKING,
        lambda t: t.judged,
        "judged",
    ),
    RankingSection(
        "abi3: findings",
        "Finding",
        lambda s: s.abi3.findings if s.abi3 else NO_RANKING,
        lambda t: t.judged,
        "judged",
    ),
    RankingSection(
        "abi3: symbols outside the stable ABI",
        "Symbol",
        lambda s: s.abi3.symbols if s.abi3 else NO_RANKING,
        lambda t: t.judged,
        "judged",
    ),
)


def abi3_summary_rows(stats: Statistics) -> list[tuple[str, int, int]]:
    """(label, wheels, the total it is a share of) of the stable-ABI promises; none
    without them."""
    a = stats.abi3
    if a is None or not a.wheels:
        return []
    return [
        ("Promise the stable ABI (abi3 or abi3t)", a.wheels, stats.totals.judged),
        ("of which abi3t (free-threaded)", a.abi3t, a.wheels),
        ("Promise kept", a.compliant, a.wheels),
        ("Promise broken", a.violating, a.wheels),
        ("Over-claim (declared cpXY below the files' need)", a.over_claims, a.wheels),
        # facts stored before the abi3 audit: not known until `wheelscan audit` reads them
        *([("Not known until read again (older facts)", a.unknown, a.wheels)] if a.unknown else []),
    ]


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


def size_text(totals: Totals) -> str:
    """The wheels' summed size, honest about the wheels whose size is not known."""
    if totals.wheels and totals.unsized == totals.wheels:
        return "size unknown"
    known = human_bytes(totals.bytes)
    return f"{known} (+ {totals.unsized} of unknown size)" if totals.unsized else known


def policy_text(policy: PolicyInfo, name: Callable[[str], str] = str) -> str:
    """One line: the policy data the verdicts came from; ``name`` formats paths and digests
    (as code, in Markdown)."""
    if policy.digest is None:
        return "no policy yet: nothing has been judged"
    digest = f"policy digest {name(policy.digest[:16])}"
    if not policy.recorded:
        return f"judged with {digest} (its source was not recorded)"
    if policy.policy_file is not None:
        source = (
            f"the policy file {name(policy.policy_file)} "
            f"(sha256 {name((policy.policy_file_sha256 or '')[:16])}) and the built-in policies"
        )
    else:
        source = "the built-in policies"
    musl = f", musllinux policy {name(policy.musl_policy)} only" if policy.musl_policy else ""
    return f"judged with {source} of wheelscan {policy.wheelscan}{musl}; {digest}"


def status_lines(stats: Statistics) -> list[str]:
    """What a reader must know before trusting the figures: runs not finished, filters."""
    lines = []
    for run in stats.runs:
        if run.status == "running":
            lines.append(
                f"run {run.id} is in progress or was stopped without finishing: "
                f"{run.seen} wheels stored so far (last commit {run.updated}); "
                "shown as stored, under the reported policy"
            )
    filters = stats.filters
    if filters.projects or filters.architectures:
        kept = [
            f"projects {', '.join(filters.projects)}" if filters.projects else "",
            f"architectures {', '.join(filters.architectures)}" if filters.architectures else "",
        ]
        lines.append(f"only {' and '.join(k for k in kept if k)}")
    return lines


# the --since-run sections: a title, what a change of the kind means, the changes
def change_sections(changes: Changes) -> list[tuple[str, str, WheelChanges]]:
    return [
        ("Newly broken", "a declared tag broken now that was not", changes.newly_broken),
        ("Fixed", "every declared tag holds now, and did not", changes.fixed),
        ("New errors", "cannot be judged now, and could", changes.new_errors),
    ]


def changes_title(changes: Changes) -> str:
    when = f" ({changes.since_started})" if changes.since_started else " (no such run)"
    return f"Since run {changes.since_run}{when}"


def more(shown: int, total: int) -> str | None:
    """The line under a list cut to ``shown`` of ``total``, or None when nothing was cut."""
    return f"… and {total - shown} more" if total > shown else None


# the wheels behind each count: a title, and the lists
def wheel_list_sections(stats: Statistics) -> list[tuple[str, tuple[WheelList, ...]]]:
    lists = stats.wheel_lists
    return [
        ("Over-claiming wheels by declared → computed", lists.over_claims),
        ("Under-claiming wheels by declared → computed", lists.under_claims),
        ("Wheels that could not be judged, by error", lists.errors),
        ("Wheels with findings, by kind", lists.findings),
        *(
            [("Stable-ABI (abi3/abi3t) wheels, by state and finding", stats.abi3.wheel_lists)]
            if stats.abi3 is not None
            else []
        ),
    ]
