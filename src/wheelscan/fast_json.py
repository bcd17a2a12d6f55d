"""``json.loads`` and ``json.dumps(value, indent=2)``, the same values and text, by json's
own C functions (the ``_json`` module) without the ``json`` package.

Importing ``json`` compiles seven regular expressions for its pure-Python fallbacks, which a
``show`` never uses: 6.7M instructions of a one-wheel ``wheelscan show`` (issue #15), which
reads its policies with ``json.loads`` and prints with ``json.dumps``. ``loads`` is
json.loads's own C scanner, configured as ``json.loads`` configures it; anything it does not
take whole (an error, a BOM, trailing data) goes to ``json.loads``, which says what is wrong
in its own words.

``dumps``: with an indent, json does not use its C encoder either: each piece of the text is
yielded up through one generator per level of nesting. ``show --json`` on onnxruntime 1.31.1
prints 46 KB six levels deep, and that was 8.3M instructions after the wheel had been read
and judged; appended to one list as they are made, the same pieces take a fraction of that.
Strings are escaped by json's C function. Anything that is not the plain JSON types json
writes by itself (str, int, float, bool, None, list, tuple and dict with str keys) is left
to ``json.dumps`` whole, which says what is wrong with it: the text is json's in every case.
"""

from __future__ import annotations

import math
from _json import encode_basestring_ascii, make_scanner
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_INFINITY = float("inf")


# What json.loads parses a document with: its decoder's settings (json.decoder.JSONDecoder's
# defaults), read by the C scanner as attributes
class _Decoding:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "-Infinity": -_INFINITY,
        "Infinity": _INFINITY,
        "NaN": float("nan"),
    }.__getitem__


# typeshed's signature asks for a scanner; the C scanner reads only the context's attributes
# (json.scanner passes it a JSONDecoder)
_scan = make_scanner(_Decoding)  # type: ignore[arg-type]
# JSON's whitespace (json.decoder's WHITESPACE)
_WHITESPACE = " \t\n\r"


def loads(text: str) -> Any:
    """``json.loads(text)``."""
    first = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, first)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text.rstrip(_WHITESPACE)):
        import json  # it raises json's error, worded as json words it

        return json.loads(text)
    return value


_STEP = "  "


class _LeftToJson(Exception):
    """A value this encoder does not write: json.dumps writes the whole (or says why not)."""


def dumps(value: object) -> str:
    """``json.dumps(value, indent=2)``."""
    parts: list[str] = []
    try:
        _encode(value, parts, "\n")
    except (_LeftToJson, RecursionError):  # (json says "Circular reference detected")
        import json

        return json.dumps(value, indent=2)
    return "".join(parts)


def _encode(value: object, parts: list[str], newline: str) -> None:
    """Append ``value``'s text to ``parts``; ``newline``: a new line at its level's indent.
    The types are tested in the order json's encoder tests them (``_make_iterencode``), so
    a subclass (a StrEnum, an IntEnum) is written as json writes it."""
    if isinstance(value, str):
        parts.append(encode_basestring_ascii(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float_text(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        inner = newline + _STEP
        if all(type(item) is str for item in value):  # the common list: names
            parts.append("[" + inner + ("," + inner).join(map(encode_basestring_ascii, value)))
        else:
            separator = "[" + inner
            for item in value:
                parts.append(separator)
                separator = "," + inner
                _encode(item, parts, inner)
        parts.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + _STEP
        separator = "{" + inner
        for key, item in value.items():
            if not isinstance(key, str):
                raise _LeftToJson  # json turns numbers and constants into keys its own way
            kind = type(item)
            if kind is str:  # written here: most values are, and a call each was most of it
                parts.append(
                    f"{separator}{encode_basestring_ascii(key)}: {encode_basestring_ascii(item)}"
                )
            elif kind in _CONSTANTS:
                parts.append(f"{separator}{encode_basestring_ascii(key)}: {_CONSTANTS[kind](item)}")
            else:
                parts.append(f"{separator}{encode_basestring_ascii(key)}: ")
                _encode(item, parts, inner)
            separator = "," + inner
        parts.append(newline + "}")
    else:
        raise _LeftToJson


def _float_text(value: float) -> str:
    """A float as json writes it (``allow_nan``: its default)."""
    if math.isnan(value):
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


# The text of a value of each of these exact types (a subclass goes through ``_encode``)
_CONSTANTS: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
    float: _float_text,
}
