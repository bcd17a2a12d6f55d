"""Names from wheels and indexes made safe to print to a terminal.

A wheel's file name comes from whoever serves the index (a link's text, a URL's path
percent-decoded) or fills the directory; its members' and symbols' names from whoever built
it. Any of them may hold control characters: an escape sequence that erases the line above
or moves the cursor, a carriage return, a newline that starts a line of its own, a
bidirectional override that shows a tag reversed. Printed as they are, a hostile wheel
could hide its own over-claim from whoever reads ``show``, ``package`` or a terminal report.
The text formats show each such character as a visible escape (``\\x1b``, ``\\u202e``),
and a byte of a name that is not UTF-8 as ``\\xNN``; in a name so escaped, a backslash of
its own is doubled (``\\\\``), so an escape is never a name's literal text. The JSON and
SARIF documents keep every name exactly, escaped by their own rules; JUnit's XML cannot hold
most control characters even escaped, and shows each as ``?`` (report/junit.py).
"""

from __future__ import annotations

import dataclasses
import functools
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

# C0 (newline and tab included: inside a name they are no layout), DEL, C1 (0x9b is CSI on
# terminals that read 8-bit controls), and Unicode's bidirectional marks and overrides
_CONTROLS = (
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)


def escape_controls(text: str) -> str:
    """``text`` with every control character written as its escape, and its backslashes
    doubled where it has one (``a\\x1b`` and ESC then print apart)."""
    if text.isprintable():  # no control nor format character: the common case, in C
        return text
    if text.translate(_escapes()) == text:  # a format character that is no control
        return text
    return text.replace("\\", "\\\\").translate(_escapes())


def message_line(message: str) -> str:
    """``message`` as every message to the user is printed: on one line (a library's
    reason may run over several), and a name in it (a page's link, a wheel's file name)
    with its control characters escaped, on stderr as on stdout."""
    return escape_controls(" ".join(part.strip() for part in message.splitlines() if part.strip()))


@functools.cache
def _escapes() -> dict[int, str]:
    """The escape of each control character, made when a name first needs one: a show of
    sound wheels never does (its start-up is counted in instructions, issue #15)."""
    escapes = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS}
    # a byte of a name that is not UTF-8 (a Latin-1 file name): Python's surrogateescape
    # holds it as U+DC80..U+DCFF, which a strict UTF-8 stdout refuses with a traceback; its
    # escape is the byte's own, as ``ls -b`` shows it
    escapes.update({0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)})
    return escapes


def printable(value: T) -> T:
    """``value`` (a record, a tuple, a list, a dict, a string: what a renderer reads) with
    every string in it ``escape_controls``-ed; itself where nothing needed it. Enums are kept: their
    values are wheelscan's own."""
    result: Any = _printable(value)
    return result  # type: ignore[no-any-return]


def _printable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value
    if isinstance(value, str):
        return escape_controls(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            old = getattr(value, field.name)
            new = _printable(old)
            if new is not old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, tuple | list | frozenset | set):
        items = [_printable(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        pairs = [(_printable(k), _printable(v)) for k, v in value.items()]
        if all(nk is k and nv is v for (nk, nv), (k, v) in zip(pairs, value.items(), strict=True)):
            return value
        return type(value)(pairs)
    return value
