"""The statistics as tables on a terminal, with ``rich``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.columns import Columns
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from wheelscan import __version__
from wheelscan.report.sections import (
    ABI3_RANKINGS,
    ABI3_TITLE,
    DISTRIBUTIONS,
    PROBLEMS,
    RankingSection,
    abi3_summary_rows,
    change_sections,
    changes_title,
    human_bytes,
    left_out,
    more,
    percent,
    policy_text,
    size_text,
    status_lines,
    summary_rows,
)
from wheelscan.report.statistics import Statistics


def render_terminal(stats: Statistics, console: Console) -> None:
    """Print the report; the caller's console decides width, colour and where it goes."""
    totals = stats.totals
    console.print(
        Panel(
            _summary(stats),
            title=f"wheelscan {__version__} report",
            subtitle=f"generated {stats.generated}",
            expand=False,
        )
    )
    # whole lines, never folded: paths and digests are copied from here
    console.print(escape(policy_text(stats.policy)), soft_wrap=True)
    for line in status_lines(stats):
        console.print(f"[bold yellow]{escape(line)}[/]", soft_wrap=True)
    if stats.changes is not None:
        console.print(f"[bold]{escape(changes_title(stats.changes))}[/]")
        for title, meaning, changes in change_sections(stats.changes):
            if not changes.entries:  # an empty table folds its title into a narrow column
                console.print(f"{title}: {changes.wheels} ({meaning})", soft_wrap=True)
                continue
            console.print(
                _table(
                    f"{title}: {changes.wheels} ({meaning})",
                    ["Wheel", "Was", "Now"],
                    [[c.filename, c.was or "not judged", c.detail] for c in changes.entries],
                    style="red" if title != "Fixed" else "green",
                    caption=more(len(changes.entries), changes.wheels),
                )
            )
    # short rankings side by side: the shape of the index at a glance
    console.print(Columns([_ranking(stats, s) for s in DISTRIBUTIONS]))
    console.print(
        _table(
            "Over-claims: declared → computed",
            ["Declared", "Computed", "Wheels"],
            [[g.declared, g.computed, str(g.wheels)] for g in stats.over_claim_pairs],
            style="red",
        )
    )
    console.print(
        _table(
            "Most recent over-claiming wheels",
            ["Wheel", "Uploaded", "Broken tags", "Computed", "Causes"],
            [
                [
                    o.filename,
                    o.upload_time or "",
                    "\n".join(o.broken),
                    o.computed,
                    ", ".join(o.causes),
                ]
                for o in stats.over_claim_wheels
            ],
            style="red",
        )
    )
    console.print(
        _table(
            "Under-claims: declared → computed",
            ["Declared", "Computed", "Wheels"],
            [[g.declared, g.computed, str(g.wheels)] for g in stats.under_claim_pairs],
            style="yellow",
        )
    )
    console.print(Columns([_ranking(stats, s) for s in PROBLEMS]))
    _abi3(stats, console)
    console.print(
        _table(
            "Errors",
            ["Code", "Wheels", "Example", "Reason"],
            [[e.code, str(e.wheels), e.example_wheel, e.example_reason] for e in stats.errors],
            style="magenta",
        )
    )
    console.print(
        _table(
            f"Projects ({len(stats.projects)} of {totals.projects})",
            ["Project", "Wheels", "Judged", "Over", "Under", "Errors", "Worst tag"],
            [
                [
                    p.project,
                    str(p.wheels),
                    str(p.judged),
                    str(p.over_claims),
                    str(p.under_claims),
                    str(p.errors),
                    p.worst_tag or "–",
                ]
                for p in stats.projects
            ],
        )
    )
    console.print(
        _table(
            "Runs",
            [
                "Started",
                "Source",
                "Status",
                "Audited",
                "Errors",
                "Seconds",
                "Wheels/s",
                "Read",
                "Backend",
            ],
            [
                [
                    r.started,
                    r.source,
                    r.status,
                    str(r.audited),
                    str(r.errors),
                    f"{r.seconds:.1f}",
                    f"{r.wheels_per_second:.1f}",
                    human_bytes(r.bytes_read),
                    r.backend,
                ]
                for r in stats.runs
            ],
        )
    )


def _abi3(stats: Statistics, console: Console) -> None:
    """The stable-ABI promises: the counts, the rankings, the wheels behind each count."""
    rows = abi3_summary_rows(stats)
    if not rows or stats.abi3 is None:
        return
    summary = [[label, str(n), percent(n, whole)] for label, n, whole in rows]
    console.print(_table(ABI3_TITLE, ["", "Wheels", "Share"], summary))
    console.print(Columns([_ranking(stats, s) for s in ABI3_RANKINGS]))
    lists = [
        [
            entry.key,
            str(entry.wheels),
            ", ".join(entry.filenames) + (f" (+{extra})" if extra else ""),
        ]
        for entry in stats.abi3.wheel_lists
        if entry.key != "abi3"
        for extra in [entry.wheels - len(entry.filenames)]
    ]
    console.print(
        _table(
            f"{ABI3_TITLE}: the wheels behind the counts",
            ["", "Wheels", "Wheels (first by name)"],
            lists,
        )
    )


def _summary(stats: Statistics) -> Group:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column(justify="right", style="dim")
    for label, n, whole in summary_rows(stats.totals):
        table.add_row(label, str(n), percent(n, whole) if label != "Wheels" else "")
    compliance = stats.compliance
    headline = (
        "nothing judged yet"
        if compliance is None
        else f"[bold]{100 * compliance:.1f}%[/] of judged wheels keep every promise"
    )
    return Group(
        headline,
        "",
        table,
        f"\n{stats.totals.projects} projects, {size_text(stats.totals)}",
    )


def _ranking(stats: Statistics, section: RankingSection) -> Table:
    ranking = section.get(stats)
    base = section.base(stats.totals)
    return _table(
        section.title,
        [section.column, "Wheels", section.share_header()],
        [[c.key, str(c.wheels), percent(c.wheels, base)] for c in ranking.entries],
        caption=left_out(ranking),
    )


def _table(
    title: str,
    header: Sequence[str],
    rows: list[list[str]],
    style: str = "cyan",
    caption: str | None = None,
) -> Table:
    table = Table(
        title=title,
        title_style=f"bold {style}",
        caption=caption,
        show_edge=False,
        header_style="bold",
    )
    for name in header:
        numeric = bool(rows) and all(
            r[header.index(name)].replace(".", "").replace("%", "").isdigit() for r in rows
        )
        # long filenames and mangled symbols fold rather than vanish behind an ellipsis
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        # keys come from wheels and indexes: "[...]" in them must not be read as markup
        table.add_row(*(escape(cell) for cell in row))
    if not rows:
        table.add_row(*(["none"] + [""] * (len(header) - 1)))
    return table
