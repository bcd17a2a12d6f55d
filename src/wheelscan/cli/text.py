"""Plain-text layout for the commands' terminal output: 80 columns, never a word cut.

Lines are wrapped between words only (a file name or a tag is never split, in a terminal or
in a pipe), continuation lines hang under their first line, and lists of names too long for
one line are folded to a count. No markup: what is printed is what a pipe receives.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from wheelscan.cli.wordwrap import wrap_words

WIDTH = 80  # the most a line takes; a narrower terminal takes its own width
_NARROWEST = 40


def output_width() -> int:
    """80 columns, or the terminal's width when it is narrower (pipes get 80)."""
    if not sys.stdout.isatty():
        return WIDTH
    # here, not with this module: cli/usage.py imports argparse (with gettext), 2 ms of a
    # plain ``show``'s text output that never parsed a thing (show_start.py, issue #15)
    from wheelscan.cli.usage import terminal_columns

    return max(_NARROWEST, min(WIDTH, terminal_columns(WIDTH)))


def wrap(text: str, indent: int, hang: int, width: int) -> list[str]:
    """``text`` at ``indent``, its further lines at ``hang``, broken at spaces only; its
    control characters (from a name in it) escaped first, not made spaces by the wrapping:
    ``c\\rd.so`` is told from ``c d.so``."""
    if not text.isprintable():
        text = _escaped(text)
    # textwrap's wrapping so, without importing it (wordwrap.py)
    return wrap_words(text, width, " " * indent, " " * hang) or [" " * indent]


def printable_lines(lines: list[str]) -> list[str]:
    """``lines`` with every control character of a name in them escaped (those wrapped are
    already: this is for those printed whole, a wheel's or a file's name as a heading)."""
    if all(line.isprintable() for line in lines):
        return lines
    return [_escaped(line) for line in lines]


def _escaped(text: str) -> str:
    # imported only when a name needs it: a show of sound wheels never does (its start-up
    # is counted in instructions, issue #15; tests/test_startup.py)
    from wheelscan.cli.printable import escape_controls

    return escape_controls(text)


def fit_names(names: Sequence[str], room: int) -> str:
    """As many of ``names`` as fit in ``room`` characters with the count of the rest
    (``a.so, b.so and 3 more``); at least one name, however long."""
    # each name takes at least 3 characters with its ", ": no more than room // 3 + 1 fit
    for shown in range(min(len(names), room // 3 + 1), 0, -1):
        rest = len(names) - shown
        text = ", ".join(names[:shown]) + (f" and {rest} more" if rest else "")
        if len(text) <= room or shown == 1:
            return text
    return ""
