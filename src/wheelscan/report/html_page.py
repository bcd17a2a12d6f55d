"""The statistics as one self-contained HTML page: inline CSS, inline SVG, no script, no
external resource of any kind, so it can be mailed, archived, or opened from a CI artifact."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from wheelscan import __version__
from wheelscan.report.html_style import CSS
from wheelscan.report.sections import (
    ABI3_RANKINGS,
    ABI3_TITLE,
    CAUSES,
    OFFENDERS,
    OTHER_FINDINGS,
    PLATFORMS,
    POLICIES,
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
    wheel_list_sections,
)
from wheelscan.report.statistics import Changes, Count, Ranking, Statistics, WheelList
from wheelscan.report.svg import WIDTH, Series, bar_chart, line_chart

# a column: its header, and the class of its cells ("" text, "num" right-aligned, "meter")
Column = tuple[str, str]
NARROW = 360  # the chart width of a card in three columns


def render_html(stats: Statistics) -> str:
    t = stats.totals
    compliance = "–" if stats.compliance is None else f"{100 * stats.compliance:.1f}%"
    body = [
        (
            f'<header><div class="wrap"><h1>wheelscan report</h1><p>Generated '
            f"{escape(stats.generated)} · wheelscan {escape(__version__)} · {t.wheels:,} wheels of"
            f" {t.projects:,} projects · {escape(size_text(t))}</p>"
            f'<p class="policy">{escape(policy_text(stats.policy))}</p></div></header>'
        ),
        '<main class="wrap">',
        # the KPI cards first: the page's design lifts them into the header
        _kpis(stats),
        "".join(f'<p class="status">{escape(line)}</p>' for line in status_lines(stats)),
        _changes(stats.changes) if stats.changes is not None else "",
        _band(
            "The index",
            "what the wheels are",
            '<div class="stack"><div class="grid">'
            + "".join(_section_chart(stats, s) for s in POLICIES)
            + '</div><div class="grid three">'
            + "".join(_section_chart(stats, s, width=NARROW) for s in PLATFORMS)
            + "</div></div>",
        ),
        _band(
            "Over-claims",
            f"{t.over_claims:,} wheels promise more than they keep",
            _over_claims(stats),
        ),
        _band(
            "Under-claims and other findings",
            "",
            '<div class="grid">'
            + _pairs_card("Under-claims: declared → computed", stats, under=True)
            + '<div class="stack">'
            + "".join(_ranking_card(stats, s) for s in OTHER_FINDINGS)
            + "</div></div>",
        ),
        _band("Errors", f"{t.errors:,} wheels could not be judged", _errors(stats)),
        _abi3(stats),
        _band("Wheels behind the counts", "the first by name, then how many more", _lists(stats)),
        _band(
            "Projects",
            f"{len(stats.projects)} of {t.projects:,}, most problems first",
            _projects(stats),
        ),
        _band("Runs", "the nightly audits, oldest first", _runs(stats)),
        "</main>",
        (
            f"<footer>wheelscan {escape(__version__)} · judged with auditwheel's policies, "
            "computed without the machine that ran the scan</footer>"
        ),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>wheelscan report · {compliance} compliant</title><style>{CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>\n"
    )


def _abi3(stats: Statistics) -> str:
    """The stable-ABI promises (issue #17): counts and rankings; the wheels behind them are
    with the others (wheel_list_sections)."""
    rows = abi3_summary_rows(stats)
    if not rows:
        return ""
    summary = [[escape(label), f"{n:,}", percent(n, whole)] for label, n, whole in rows]
    table = _table([("", ""), ("Wheels", "num"), ("Share", "num")], summary)
    cards = "".join(_ranking_card(stats, s, bad=i > 0) for i, s in enumerate(ABI3_RANKINGS))
    kept = stats.abi3.compliant if stats.abi3 else 0
    return _band(
        ABI3_TITLE,
        f"{kept:,} of {rows[0][1]:,} wheels keep their stable-ABI promise",
        f'<div class="grid"><div class="card"><h2>Promises</h2>{table}</div>{cards}</div>',
    )


def _band(title: str, subtitle: str, content: str) -> str:
    small = f"<small>{escape(subtitle)}</small>" if subtitle else ""
    return f'<section><h2 class="band">{escape(title)}{small}</h2>{content}</section>'


def _kpis(stats: Statistics) -> str:
    t = stats.totals
    figures = [
        ("wheels", "Wheels", t.wheels, ""),
        ("judged", "Judged", t.judged, ""),
        ("over_claims", "Over-claims", t.over_claims, "bad"),
        ("under_claims", "Under-claims", t.under_claims, "warn"),
        ("errors", "Errors", t.errors, "error"),
        ("pending", "Not audited yet", t.pending, ""),
    ]
    cards = [_donut(stats.compliance, t.compliant, t.judged)]
    cards += [
        f'<div class="card kpi {tone if n else ""}" data-kpi="{key}">'
        f'<span class="value">{n:,}</span><span class="label">{label}</span></div>'
        for key, label, n, tone in figures
    ]
    return f'<div class="kpis">{"".join(cards)}</div>'


def _donut(compliance: float | None, compliant: int, judged: int) -> str:
    radius = 34.0
    circumference = 2 * math.pi * radius
    filled = circumference * (compliance or 0.0)
    text = "–" if compliance is None else f"{100 * compliance:.0f}%"
    return (
        f'<div class="card kpi compliance" data-kpi="compliant" data-value="{compliant}">'
        f'<svg class="donut" viewBox="0 0 86 86" role="img" aria-label="compliance">'
        f'<circle class="track" cx="43" cy="43" r="{radius}" fill="none" stroke-width="10"/>'
        f'<circle class="fill" cx="43" cy="43" r="{radius}" fill="none" stroke-width="10" '
        f'stroke-linecap="round" stroke-dasharray="{filled:.1f} {circumference:.1f}" '
        f'transform="rotate(-90 43 43)"/>'
        f'<text x="43" y="43" text-anchor="middle" dominant-baseline="central">{text}'
        f'</text></svg><div><span class="value">{compliant:,}</span>'
        f'<span class="label">of {judged:,} judged wheels keep every promise of their '
        f"filename</span></div></div>"
    )


def _policy_colour(key: str) -> str:
    # linux_* runs nowhere in particular: the colour of trouble; musl apart from glibc
    if key.startswith("linux_"):
        return "var(--linux)"
    if key.startswith("android"):  # android_24_arm64_v8a, and the libc "android"
        return "var(--android)"
    return "var(--musl)" if key.startswith("musllinux") or key == "musl" else "var(--accent)"


def _section_chart(
    stats: Statistics,
    section: RankingSection,
    colour: Callable[[str], str] = _policy_colour,
    width: int = WIDTH,
) -> str:
    subtitle = f"{section.base(stats.totals):,} {section.of}"
    return _chart_card(section.title, section.get(stats), subtitle, colour, width)


def _chart_card(
    title: str, ranking: Ranking, subtitle: str, colour: Callable[[str], str], width: int = WIDTH
) -> str:
    chart = bar_chart([(c.key, c.wheels) for c in ranking.entries], title, colour, width)
    note = left_out(ranking)
    slug = title.lower().replace(" ", "-")
    return (
        f'<div class="card" id="{escape(slug)}"><h2>{escape(title)}<small>'
        f"{escape(subtitle)}</small></h2>{chart}"
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + "</div>"
    )


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], css: str = "") -> str:
    """``rows`` are HTML already: each cell escaped where it was made."""
    if not rows:
        return '<p class="empty">None.</p>'
    head = "".join(
        f'<th class="{css}">{escape(h)}</th>' if css else f"<th>{escape(h)}</th>"
        for h, css in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{css}">{cell}</td>' if css else f"<td>{cell}</td>"
            for cell, (_, css) in zip(row, columns, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _tag(text: str) -> str:
    # a platform tag broken across lines reads as two tags
    return f'<code class="tag">{escape(text)}</code>'


def _count(n: int) -> str:
    return f'<span class="{"hot" if n else "zero"}">{n:,}</span>'


def _ranking_card(stats: Statistics, section: RankingSection, bad: bool = False) -> str:
    ranking = section.get(stats)
    base = section.base(stats.totals)
    top = max((c.wheels for c in ranking.entries), default=1)
    rows = [
        [
            _code(c.key),
            f"{c.wheels:,}",
            percent(c.wheels, base),
            f'<span style="width:{100 * c.wheels / top:.1f}%"></span>',
        ]
        for c in ranking.entries
    ]
    # the share's base goes in the title: a long header would squeeze the names
    table = _table(
        [(section.column, ""), ("Wheels", "num"), ("%", "num"), ("", "meter")],
        rows,
        "ranking bad" if bad else "ranking",
    )
    note = left_out(ranking)
    return (
        f'<div class="card"><h2>{escape(section.title)}<small>% of {base:,} '
        f"{escape(section.of)}</small></h2>{table}"
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + "</div>"
    )


def _pairs_card(title: str, stats: Statistics, under: bool = False) -> str:
    pairs = stats.under_claim_pairs if under else stats.over_claim_pairs
    rows = [[_tag(g.declared), _tag(g.computed), f"{g.wheels:,}"] for g in pairs]
    return (
        f'<div class="card"><h2>{escape(title)}</h2>'
        f"{_table([('Declared', ''), ('Computed', ''), ('Wheels', 'num')], rows)}</div>"
    )


def _over_claims(stats: Statistics) -> str:
    versions, symbols, libraries = OFFENDERS
    wheels = [
        [
            _code(o.filename),
            escape((o.upload_time or "–")[:10]),
            "".join(f'<span class="pill bad">{escape(tag)}</span>' for tag in o.broken),
            _tag(o.computed),
            "".join(f'<span class="pill">{escape(c)}</span>' for c in o.causes),
        ]
        for o in stats.over_claim_wheels
    ]
    recent = _table(
        [
            ("Wheel", ""),
            ("Uploaded", "nowrap"),
            ("Broken tags", ""),
            ("Computed", ""),
            ("Causes", ""),
        ],
        wheels,
    )
    return (
        '<div class="stack"><div class="grid">'
        + _section_chart(stats, CAUSES, lambda key: "var(--bad)")
        + _pairs_card("Declared → computed", stats)
        + "</div>"
        + f'<div class="card"><h2>Most recent over-claiming wheels</h2>{recent}</div>'
        + '<div class="grid">'
        + _ranking_card(stats, versions, bad=True)
        + _ranking_card(stats, libraries, bad=True)
        + "</div>"
        # mangled C++ names are long: the symbols get the whole width
        + _ranking_card(stats, symbols, bad=True)
        + "</div>"
    )


def _errors(stats: Statistics) -> str:
    entries = Ranking(tuple(Count(e.code, e.wheels) for e in stats.errors), len(stats.errors), 0)
    rows = [
        [_tag(e.code), f"{e.wheels:,}", _code(e.example_wheel), escape(e.example_reason)]
        for e in stats.errors
    ]
    table = _table([("Code", ""), ("Wheels", "num"), ("Example", ""), ("Reason", "")], rows)
    return (
        '<div class="grid">'
        + _chart_card(
            "Errors by code", entries, f"{stats.totals.errors:,} errors", lambda k: "var(--error)"
        )
        + f'<div class="card"><h2>An example of each</h2>{table}</div></div>'
    )


def _changes(changes: Changes) -> str:
    cards = []
    for title, meaning, changed in change_sections(changes):
        rows = [
            [_code(c.filename), escape(c.was or "not judged"), escape(c.detail)]
            for c in changed.entries
        ]
        table = _table([("Wheel", ""), ("Was", "nowrap"), ("Now", "")], rows)
        note = more(len(changed.entries), changed.wheels)
        cards.append(
            f'<div class="card" data-change="{escape(title)}" data-wheels="{changed.wheels}">'
            f"<h2>{escape(title)}: {changed.wheels:,}<small>{escape(meaning)}</small></h2>"
            f"{table}" + (f'<p class="note">{escape(note)}</p>' if note else "") + "</div>"
        )
    return _band(
        changes_title(changes),
        "what the runs since changed",
        f'<div class="stack">{"".join(cards)}</div>',
    )


def _wheel_list(entry: WheelList) -> str:
    names = "".join(f"<li>{_code(f)}</li>" for f in entry.filenames)
    note = more(len(entry.filenames), entry.wheels)
    return (
        f'<details data-key="{escape(entry.key)}" data-wheels="{entry.wheels}"><summary>'
        f"{_code(entry.key)} · {entry.wheels:,} wheels</summary><ul>{names}</ul>"
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + "</details>"
    )


def _lists(stats: Statistics) -> str:
    cards = [
        f'<div class="card"><h2>{escape(title)}</h2>'
        + ("".join(_wheel_list(e) for e in lists) or '<p class="empty">None.</p>')
        + "</div>"
        for title, lists in wheel_list_sections(stats)
    ]
    return f'<div class="grid">{"".join(cards)}</div>'


def _projects(stats: Statistics) -> str:
    rows = [
        [
            escape(p.project),
            f"{p.wheels:,}",
            f"{p.judged:,}",
            _count(p.over_claims),
            f"{p.under_claims:,}",
            _count(p.errors),
            _tag(p.worst_tag) if p.worst_tag else "–",
        ]
        for p in stats.projects
    ]
    table = _table(
        [
            ("Project", ""),
            ("Wheels", "num"),
            ("Judged", "num"),
            ("Over-claims", "num"),
            ("Under-claims", "num"),
            ("Errors", "num"),
            ("Least compatible computed tag", ""),
        ],
        rows,
    )
    return f'<div class="card" id="projects">{table}</div>'


def _runs(stats: Statistics) -> str:
    runs = stats.runs
    dates = [r.started[:10] for r in runs]
    volume = line_chart(
        dates,
        [
            Series("audited", "var(--accent)", [r.audited for r in runs]),
            Series("errors", "var(--error)", [r.errors for r in runs]),
        ],
        "Wheels audited and errors per run",
    )
    speed = line_chart(
        dates,
        [Series("wheels/s", "var(--good)", [round(r.wheels_per_second, 1) for r in runs])],
        "Throughput per run",
        " wheels/s",
    )
    legend = (
        '<p class="legend"><span><i style="background:var(--accent)"></i>audited</span>'
        '<span><i style="background:var(--error)"></i>errors</span></p>'
    )
    rows = [
        [
            escape(r.started),
            escape(r.source),
            escape(r.status),
            f"{r.seen:,}",
            f"{r.skipped_known:,}",
            f"{r.audited:,}",
            _count(r.errors),
            f"{r.seconds:,.1f}",
            f"{r.wheels_per_second:,.1f}",
            human_bytes(r.bytes_read),
            escape(f"{r.backend} {r.wheelscan_version}"),
            _code(r.policy_digest[:16]),
        ]
        for r in runs
    ]
    table = _table(
        [
            ("Started", "nowrap"),
            ("Source", ""),
            ("Status", ""),
            ("Seen", "num"),
            ("Known", "num"),
            ("Audited", "num"),
            ("Errors", "num"),
            ("Seconds", "num"),
            ("Wheels/s", "num"),
            ("Read", "num"),
            ("Backend", ""),
            ("Policy", ""),
        ],
        rows,
    )
    return (
        '<div class="stack"><div class="grid">'
        f'<div class="card" id="trend"><h2>Audited per run</h2>{legend}{volume}</div>'
        f'<div class="card" id="throughput"><h2>Wheels per second</h2>{speed}</div></div>'
        f'<div class="card">{table}</div></div>'
    )
