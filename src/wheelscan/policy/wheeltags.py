"""The tags of a wheel's file name, as packaging's ``parse_wheel_filename`` reads them.

A verdict needs the file name's platform tags (and, for the stable ABI, its interpreter and
ABI tags). packaging reads them, but ``packaging.utils`` imports ``packaging.tags``, which
imports ``platform``, ``subprocess`` and ``sysconfig`` to detect the host: 8 ms of a
``wheelscan show`` (issue #15: one wheel, start-up included), for a scanner that never
looks at its host. So a name of the plain shape almost every wheel has (``PLAIN``: letters,
digits, dots and underscores in the name, a PEP 440 version in its canonical form, a
numeric build tag, lowercase tags) is split here, and every other name is handed to
packaging, which decides it and words its error. ``PLAIN`` only accepts names packaging
accepts, and the split gives packaging's tags: tests/test_wheeltags.py checks both.
"""

from __future__ import annotations

import re
import sys

from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.fast_tuple import TupleBody, fast_tuple

# Anything this does not match is read by packaging. Each part is a subset of what
# packaging accepts there (``parse_wheel_filename``): the name of ``[\w\d._]*`` without
# "__" (checked beside), the version of PEP 440's grammar (``packaging.version``), the build
# tag of ``(\d+)(.*)``; tags are split on "." as ``parse_tag`` does, and lowercase already
_TAG = r"[a-z0-9_]+(?:\.[a-z0-9_]+)*"
# packaging reads each number with int(), which refuses more digits than Python's limit
# (sys.get_int_max_str_digits(), 4300 by default; 0: none): such a name is packaging's
_NUMBER = f"[0-9]{{1,{sys.get_int_max_str_digits() or ''}}}"
PLAIN = re.compile(
    r"[A-Za-z0-9._]+"  # the name
    rf"-{_NUMBER}(?:\.{_NUMBER})*(?:(?:a|b|rc){_NUMBER})?(?:\.post{_NUMBER})?"  # version
    rf"(?:\.dev{_NUMBER})?"
    rf"(?:-{_NUMBER})?"  # a build tag
    rf"-(?P<interpreters>{_TAG})-(?P<abis>{_TAG})-(?P<platforms>{_TAG})\.whl"
)


@fast_tuple
class WheelTag(TupleBody):
    """One (interpreter, abi, platform) of the file name's tag set, as packaging's ``Tag``."""

    interpreter: str
    abi: str
    platform: str


class InvalidWheelFilename(WheelscanError, ValueError):
    """The file name is not a wheel's: ``bad-filename``, its ``reason`` packaging's words
    (the verdict's record quotes them)."""

    code: ErrorCode


def plain(filename: str) -> re.Match[str] | None:
    """The file name split, where it has the plain shape (``PLAIN``, a name without "__"),
    else None: a name for packaging to read."""
    found = PLAIN.fullmatch(filename)
    return None if found is None or "__" in filename.split("-", 1)[0] else found


def wheel_tags(filename: str) -> frozenset[WheelTag]:
    """Every tag of the file name (a compressed tag set expanded); InvalidWheelFilename
    where packaging's ``parse_wheel_filename`` raises it."""
    plain_name = plain(filename)
    if plain_name is None:
        return _packaging_tags(filename)
    return frozenset(
        WheelTag(interpreter, abi, platform)
        for interpreter in plain_name["interpreters"].split(".")
        for abi in plain_name["abis"].split(".")
        for platform in plain_name["platforms"].split(".")
    )


def platform_tags(filename: str) -> list[str]:
    """The file name's platform tags, sorted, each once."""
    return sorted({tag.platform for tag in wheel_tags(filename)})


def _packaging_tags(filename: str) -> frozenset[WheelTag]:
    from packaging.utils import InvalidWheelFilename as Invalid
    from packaging.utils import parse_wheel_filename

    try:
        tags = parse_wheel_filename(filename)[3]
    except (Invalid, ValueError) as e:  # ValueError: a number past int()'s digits
        raise InvalidWheelFilename(ErrorCode.BAD_FILENAME, str(e)) from e
    return frozenset(WheelTag(t.interpreter, t.abi, t.platform) for t in tags)
