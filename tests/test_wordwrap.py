"""cli/wordwrap.py against textwrap, whose wrapping it stands in for (without its imports):
the same lines for every text, width and indents."""

from __future__ import annotations

import random
import textwrap

import pytest

from wheelscan.cli.wordwrap import wrap_words

# words, runs of every ASCII whitespace textwrap makes a space, a tab to expand, whitespace
# that is not ASCII (a word to textwrap's splitting, space to its ``strip``), hyphens
_PIECES = [
    "a", "bb", "word", "libonnxruntime.so.1.31.1", "manylinux_2_28_x86_64", "GLIBC_2.25",
    "self-contained", "--", "-", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\x0b", "\x0c",
    "\u00a0", "\u2003", "x\u00a0y", "é", "(getrandom)", ",", ".",
]  # fmt: skip


def _texts(seed: int, count: int) -> list[str]:
    chooser = random.Random(seed)
    texts = ["", " ", "  a", "a  ", "a b", "\ta\tb\t", "x" * 200, "a " * 100]
    for _ in range(count):
        texts.append("".join(chooser.choice(_PIECES) for _ in range(chooser.randint(1, 40))))
    return texts


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 13, 20, 40, 72, 80, 200])
def test_wrapped_as_textwrap_wraps(width: int) -> None:
    for text in _texts(width, 300):
        for first, rest in (("", ""), ("  ", "    "), ("    ", "  "), (" " * 30, " ")):
            expected = textwrap.wrap(
                text,
                width,
                initial_indent=first,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
            assert wrap_words(text, width, first, rest) == expected, (text, width, first, rest)


def test_a_width_below_one_is_refused_as_textwrap_refuses_it() -> None:
    for width in (0, -1):
        with pytest.raises(ValueError):
            textwrap.wrap("a", width)
        with pytest.raises(ValueError):
            wrap_words("a", width)
