"""The statistics as GitHub-flavoured Markdown: for an issue, a wiki page or a CI summary."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

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
    wheel_list_sections,
)
from wheelscan.report.statistics import Changes, Statistics


def render_markdown(stats: Statistics) -> str:
    totals = stats.totals
    out = [
        (
            f"# wheelscan report\n\nGenerated {stats.generated} by wheelscan {__version__}: "
            f"{totals.wheels} wheels of {totals.projects} projects "
            f"({size_text(totals)}); {policy_text(stats.policy, _code)}.\n"
        )
    ]
    notes = status_lines(stats)
    if notes:
        out.append("".join(f"> **{_cell(line)}**\n" for line in notes))
    if stats.changes is not None:
        out.append(_changes(stats.changes))
    out.append(
        _section(
            "Summary",
            ["", "Wheels", "Share"],
            [
                [label, str(n), percent(n, whole) if label != "Wheels" else ""]
                for label, n, whole in summary_rows(totals)
            ],
        )
    )
    for section in DISTRIBUTIONS:
        out.append(_ranking(stats, section))
    out.append(
        _section(
            "Over-claims: declared → computed",
            ["Declared", "Computed", "Wheels"],
            [[_code(g.declared), _code(g.computed), str(g.wheels)] for g in stats.over_claim_pairs],
        )
    )
    out.append(
        _section(
            "Most recent over-claiming wheels",
            ["Wheel", "Uploaded", "Broken tags", "Computed", "Causes"],
            [
                [
                    _code(o.filename),
                    o.upload_time or "",
                    _codes(o.broken),
                    _code(o.computed),
                    _codes(o.causes),
                ]
                for o in stats.over_claim_wheels
            ],
        )
    )
    out.append(
        _section(
            "Under-claims: declared → computed",
            ["Declared", "Computed", "Wheels"],
            [
                [_code(g.declared), _code(g.computed), str(g.wheels)]
                for g in stats.under_claim_pairs
            ],
        )
    )
    for section in PROBLEMS:
        out.append(_ranking(stats, section))
    out.append(
        _section(
            "Errors",
            ["Code", "Wheels", "Example", "Reason"],
            [
                [_code(e.code), str(e.wheels), _code(e.example_wheel), _cell(e.example_reason)]
                for e in stats.errors
            ],
        )
    )
    out.append(_abi3(stats))
    out.append(_wheel_lists(stats))
    out.append(
        _section(
            f"Projects ({len(stats.projects)} of {totals.projects}, most problems first)",
            ["Project", "Wheels", "Judged", "Over-claims", "Under-claims", "Errors", "Worst tag"],
            [
                [
                    _cell(p.project),
                    str(p.wheels),
                    str(p.judged),
                    str(p.over_claims),
                    str(p.under_claims),
                    str(p.errors),
                    _code(p.worst_tag) if p.worst_tag else "–",
                ]
                for p in stats.projects
            ],
        )
    )
    out.append(
        _section(
            "Runs",
            [
                "Started",
                "Source",
                "Status",
                "Seen",
                "Known",
                "Audited",
                "Errors",
                "Seconds",
                "Wheels/s",
                "Read",
                "Backend",
                "Policy",
            ],
            [
                [
                    r.started,
                    _cell(r.source),
                    r.status,
                    str(r.seen),
                    str(r.skipped_known),
                    str(r.audited),
                    str(r.errors),
                    f"{r.seconds:.1f}",
                    f"{r.wheels_per_second:.1f}",
                    human_bytes(r.bytes_read),
                    f"{r.backend} {r.wheelscan_version}",
                    _code(r.policy_digest[:16]),
                ]
                for r in stats.runs
            ],
        )
    )
    return "\n".join(out)


def _abi3(stats: Statistics) -> str:
    """The stable-ABI promises (issue #17): counts and rankings; the wheels behind them are
    with the others (wheel_list_sections)."""
    rows = abi3_summary_rows(stats)
    if not rows:
        return ""
    out = [
        _section(
            ABI3_TITLE,
            ["", "Wheels", "Share"],
            [[label, str(n), percent(n, whole)] for label, n, whole in rows],
        )
    ]
    out += [_ranking(stats, section) for section in ABI3_RANKINGS]
    return "\n".join(out)


def _changes(changes: Changes) -> str:
    out = [f"## {changes_title(changes)}\n"]
    for title, meaning, changed in change_sections(changes):
        table = _section(
            f"{title}: {changed.wheels}",
            ["Wheel", "Was", "Now"],
            [[_code(c.filename), c.was or "not judged", _cell(c.detail)] for c in changed.entries],
            level="###",
            intro=f"_{meaning}_",
        )
        note = more(len(changed.entries), changed.wheels)
        out.append(f"{table}\n{note}\n" if note else table)
    return "\n".join(out)


def _wheel_lists(stats: Statistics) -> str:
    """The wheels behind each count, folded (``<details>``) under the count."""
    out = ["## Wheels behind the counts\n"]
    for title, lists in wheel_list_sections(stats):
        out.append(f"### {title}\n")
        if not lists:
            out.append("None.\n")
        for entry in lists:
            names = "".join(f"- {_code(f)}\n" for f in entry.filenames)
            note = more(len(entry.filenames), entry.wheels)
            out.append(
                f"<details><summary><code>{html.escape(entry.key)}</code>: {entry.wheels} "
                f"wheels</summary>\n\n{names}" + (f"- {note}\n" if note else "") + "\n</details>\n"
            )
    return "\n".join(out)


def _ranking(stats: Statistics, section: RankingSection) -> str:
    ranking = section.get(stats)
    base = section.base(stats.totals)
    # every key is a name (policy, symbol, library, code): shown as code, never as prose
    rows = [[_code(c.key), str(c.wheels), percent(c.wheels, base)] for c in ranking.entries]
    text = _section(section.title, [section.column, "Wheels", section.share_header()], rows)
    note = left_out(ranking)
    return f"{text}\n{note}\n" if note else text


def _section(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    level: str = "##",
    intro: str | None = None,
) -> str:
    rows = list(rows)
    heading = f"{level} {title}\n\n" + (f"{intro}\n\n" if intro else "")
    if not rows:
        return f"{heading}None.\n"
    # numbers right-aligned, so columns of counts line up in every viewer
    align = ["---:" if all(_numeric(r[i]) for r in rows) else "---" for i in range(len(header))]
    lines = [heading.rstrip("\n"), "", _row(header), _row(align), *(_row(r) for r in rows)]
    return "\n".join(lines) + "\n"


def _numeric(text: str) -> bool:
    return text.replace(".", "").replace("%", "").isdigit() or text in ("", "–")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


_MARKUP = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|"})


def _cell(text: str) -> str:
    # prose from wheels and indexes (error reasons, names) must not become markup; a newline
    # would end the table
    return text.translate(_MARKUP).replace("\n", " ")


def _code(text: str) -> str:
    # code spans keep a mangled name's underscores from turning into emphasis and need no
    # escapes but the pipe (GFM tables); a name with a backtick needs a longer fence
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _codes(texts: Iterable[str]) -> str:
    return ", ".join(_code(t) for t in texts)
