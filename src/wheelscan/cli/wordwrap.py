"""Lines broken between words only, as ``textwrap.wrap`` breaks them with
``break_long_words=False`` and ``break_on_hyphens=False`` (and its other defaults), without
importing textwrap.

textwrap compiles its regular expressions as it is imported, those for hyphens too, which
this wrapping never uses: 4.2M instructions, about 1 ms, of a one-wheel ``show``'s text
output (issue #15). What is left of textwrap's rules once those options are fixed is a
few lines: tabs expanded, every ASCII whitespace character made a space, the text cut into
runs of spaces and the words between them, and the runs and words put on lines greedily,
a word too long for any line on a line of its own, the whitespace at a line's end dropped,
and at its start but on the first line. tests/test_wordwrap.py holds the two equal.
"""

from __future__ import annotations

# textwrap's ``_whitespace``: each becomes a space (``replace_whitespace``)
_WHITESPACE = "\t\n\x0b\x0c\r "
_TO_SPACE = dict.fromkeys(map(ord, _WHITESPACE), ord(" "))
_TAB_SIZE = 8  # textwrap's ``tabsize``


def wrap_words(
    text: str, width: int, initial_indent: str = "", subsequent_indent: str = ""
) -> list[str]:
    """``textwrap.wrap(text, width, initial_indent=initial_indent,
    subsequent_indent=subsequent_indent, break_long_words=False, break_on_hyphens=False)``."""
    if width <= 0:
        raise ValueError(f"invalid width {width!r} (must be > 0)")
    chunks = _chunks(text.expandtabs(_TAB_SIZE).translate(_TO_SPACE))
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        indent = subsequent_indent if lines else initial_indent
        room = width - len(indent)
        # (``str.strip`` as textwrap tests it: a word of other whitespace counts as space)
        if lines and chunks[-1].strip() == "":
            del chunks[-1]
        line: list[str] = []
        length = 0
        while chunks and length + len(chunks[-1]) <= room:
            length += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and len(chunks[-1]) > room and not line:
            line.append(chunks.pop())  # a word longer than any line: on a line of its own
        if line and line[-1].strip() == "":
            del line[-1]
        if line:
            lines.append(indent + "".join(line))
    return lines


def _chunks(text: str) -> list[str]:
    """``text`` (whose only whitespace is spaces) cut into its runs of spaces and the words
    between them, in order: textwrap's ``wordsep_simple_re.split``, empty strings left out."""
    chunks: list[str] = []
    spaces = 0
    for index, word in enumerate(text.split(" ")):
        if index:
            spaces += 1  # one space between each two parts
        if word:
            if spaces:
                chunks.append(" " * spaces)
                spaces = 0
            chunks.append(word)
    if spaces:
        chunks.append(" " * spaces)
    return chunks
