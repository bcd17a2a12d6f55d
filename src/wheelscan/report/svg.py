"""Charts as inline SVG text: the HTML report must open from a file, offline, years later.

No plotting library: two chart kinds, drawn in a fixed coordinate system (``viewBox``) that
the page scales. Every mark carries ``data-key``/``data-value`` so the tests (and anyone with
a DOM inspector) can read the numbers back, and a ``<title>`` that browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import NamedTuple

# viewBox units: about the pixels of a chart card in two columns on a laptop, so that text
# is drawn at its CSS size; cards in three columns pass a narrower width
WIDTH = 560
_BAR = 18
_GAP = 6
_CHAR = 7.2  # the width of one character of the 12px monospace labels


class Series(NamedTuple):
    name: str
    colour: str  # any CSS colour, custom properties included
    values: Sequence[float]


def bar_chart(
    entries: Sequence[tuple[str, int]],
    label: str,
    colour: Callable[[str], str] = lambda key: "var(--accent)",
    width: int = WIDTH,
) -> str:
    """Horizontal bars, longest first as given; ``label`` names the chart for screen readers."""
    if not entries:
        return _empty(label)
    label_width = min(0.42 * width, max(len(k) for k, _ in entries) * _CHAR + 8)
    value_room = max(len(str(n)) for _, n in entries) * _CHAR + 10
    span = width - label_width - value_room
    top = max(n for _, n in entries) or 1
    height = len(entries) * (_BAR + _GAP)
    marks = []
    for i, (key, n) in enumerate(entries):
        y = i * (_BAR + _GAP)
        length = max(span * n / top, 1.5)  # a count of 1 among thousands must stay visible
        shown = key if len(key) * _CHAR <= label_width - 8 else _shorten(key, label_width)
        marks.append(
            f'<g class="bar" data-key="{escape(key)}" data-value="{n}">'
            f"<title>{escape(key)}: {n}</title>"
            f'<text x="{label_width - 8:.1f}" y="{y + _BAR / 2:.1f}" class="label" '
            f'text-anchor="end" dominant-baseline="central">{escape(shown)}</text>'
            f'<rect x="{label_width:.1f}" y="{y}" width="{length:.1f}" height="{_BAR}" rx="3" '
            f'fill="{colour(key)}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + _BAR / 2:.1f}" class="value" '
            f'dominant-baseline="central">{n}</text></g>'
        )
    return _svg(label, width, height, "".join(marks), "bar-chart")


def line_chart(
    x_labels: Sequence[str], series: Sequence[Series], label: str, unit: str = ""
) -> str:
    """One line per series over the same x axis, from zero: runs of the nightly audit."""
    if not x_labels:
        return _empty(label)
    left, right, top, bottom, height = 48.0, 16.0, 10.0, 30.0, 220.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for s in series for v in s.values]
    step = _nice_step(max(values, default=0.0) / 4)
    if all(v == int(v) for v in values):
        step = max(step, 1.0)  # counts: no gridline at 0.25 of a wheel
    peak = 4 * step
    spacing = plot_w / (len(x_labels) - 1) if len(x_labels) > 1 else 0.0

    def x(i: int) -> float:
        return left + (i * spacing if len(x_labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    parts = []
    for tick in range(5):
        value = peak * tick / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="axis" x="{left - 6}" y="{y(value):.1f}" '
            f'text-anchor="end" dominant-baseline="central">{_number(value)}</text>'
        )
    for i in _label_positions(len(x_labels), int(plot_w // 70)):  # a date is ~60 units wide
        text = x_labels[i]
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{height - 10}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    for s in series:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        parts.append(
            f'<g class="series" data-key="{escape(s.name)}">'
            f'<polyline points="{points}" fill="none" stroke="{s.colour}" '
            f'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>'
        )
        for i, v in enumerate(s.values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{s.colour}" '
                f'data-key="{escape(x_labels[i])}" data-value="{_number(v)}">'
                f"<title>{escape(s.name)}, {escape(x_labels[i])}: "
                f"{_number(v)}{unit}</title></circle>"
            )
        parts.append("</g>")
    return _svg(label, WIDTH, height, "".join(parts), "line-chart")


def _label_positions(count: int, room: int) -> list[int]:
    """At most ``room`` evenly spread indices, the first and the last always among them."""
    shown = max(2, min(count, room))
    if count == 1:
        return [0]
    return sorted({round(k * (count - 1) / (shown - 1)) for k in range(shown)})


def _svg(label: str, width: int, height: float, body: str, kind: str) -> str:
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _empty(label: str) -> str:
    return f'<p class="empty">No data for {escape(label.lower())}.</p>'


def _shorten(key: str, width: float) -> str:
    # keep the end: policy and library names differ in their tails (…_2_17_x86_64, .so.6)
    keep = max(int((width - 8) / _CHAR) - 1, 4)
    return "…" + key[-keep:]


def _nice_step(step: float) -> float:
    """The smallest round number (1, 2, 2.5, 4, 5 × 10ⁿ) at or above ``step``: four such
    steps make the axis, so every gridline gets a round label."""
    if step <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(step))
    return next(m * magnitude for m in (1, 2, 2.5, 4, 5, 10) if m * magnitude >= step * (1 - 1e-9))


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")
