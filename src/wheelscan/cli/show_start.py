"""``wheelscan show WHEEL...``'s plain command lines, taken before any parser exists, and the
first wheel's reading begun from the process's first milliseconds (issue #15).

A one-wheel ``show`` is a whole process, and most of it is Python holding the GIL: the
command line's parser (argparse, gettext and locale with it, two parsers built: 5 ms of a
one-wheel ``show``), the evaluation's modules, the policies. The wheel's reading is mostly
native work that does not hold it: the sooner it begins, the more of it that Python hides.

So a command line that is surely ``show`` of wheels with no option but the flags
``--json``, ``-v``/``--verbose`` and ``--strict`` (each at most once, the wheels one run of
words, as argparse takes them: ``plain_show``) is taken as its parser would take it,
without one: the same namespace (tests/test_show_start.py holds the two equal), and the
first wheel, a local regular file, read from then on (``begin``), by the reading ``show``
would have begun (``take``). Anything else (help, an option with a value, an option the
parser refuses, a word it would read otherwise, a URL, a path that names no regular file)
is the parser's, and the command runs as it always did: the parser says what is wrong,
``show`` reads what it was given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import argparse

    from wheelscan.model import WheelFacts
    from wheelscan.wheel.threads import Background

# The flags a plain ``show`` command line may give (each at most once): no value, and what
# each sets in the namespace its parser makes (cli/show.py, ``configure_parser``)
_FLAGS = ("--json", "-v", "--verbose", "--strict")


class _Begun:
    """The command line ``begin`` was given and what it made of it: once per process."""

    words: list[str] | None = None
    namespace: argparse.Namespace | None = None
    # the first wheel's reading: (wheel as given, strict, the reading), until taken
    reading: tuple[str, bool, Background[WheelFacts | None]] | None = None


def plain_show(words: Sequence[str]) -> argparse.Namespace | None:
    """The namespace ``show``'s parser makes of ``words`` (the command line, without the
    program), if it is a plain ``show`` command line (module docstring); else None."""
    if not words or words[0] != "show":
        return None
    flags: list[str] = []
    wheels: list[str] = []
    wheels_ended = False  # a flag came after them: argparse takes one run of wheels only
    for word in words[1:]:
        if word in _FLAGS and word not in flags:
            flags.append(word)
            wheels_ended = bool(wheels)
        elif not word or word.startswith("-") or wheels_ended:
            return None  # an option, or a word argparse may read otherwise, or refuses
        else:
            wheels.append(word)
    if not wheels:
        return None  # ``show``'s own error: no WHEEL given
    from wheelscan.cli.show import run

    namespace = SimpleNamespace(
        command="show",
        wheels=wheels,
        verbose="-v" in flags or "--verbose" in flags,
        format="json" if "--json" in flags else None,
        policy_file=None,
        musl_policy=None,
        timeout=60.0,
        strict="--strict" in flags,
        json_schema=False,
        func=run,
        configures_logging=True,
        exits_at_once=True,
        ends_on_sigint=True,
    )
    if "--json" in flags:
        namespace.formats_asked = [("--json", "json")]  # as OneFormat (cli/usage.py) notes it
    return cast("argparse.Namespace", namespace)


def begin(words: Sequence[str]) -> None:
    """Take ``words`` (the process's command line, without the program) as ``plain_show``
    does, and begin reading its first wheel if it is a local regular file; once a process:
    ``python -m wheelscan`` begins before the parser's modules are even imported, the
    ``wheelscan`` script as its entry begins (cli/main.py)."""
    if _Begun.words is not None:
        return
    _Begun.words = list(words)
    namespace = _Begun.namespace = plain_show(words)
    if namespace is None:
        return
    first, strict = namespace.wheels[0], namespace.strict
    if "://" in first or not os.path.isfile(first):
        return  # a URL, or what ``show`` says is no wheel
    from wheelscan.cli import show

    # show's short GIL switch interval (``show.run``) from now on, while this thread's
    # Python runs beside the reading: given back once ``show`` has taken it (``take``)
    show._SHORT_SWITCH_INTERVAL.__enter__()
    # what the reading imports came with ``show`` (``plain_show``): its thread inflates from
    # its first moment, while this one goes on, where the two would share the GIL importing
    _Begun.reading = (first, strict, reading(first, strict))


def command_line(words: Sequence[str]) -> argparse.Namespace | None:
    """The namespace ``begin`` made of ``words``, if it was given them and they are plain."""
    return _Begun.namespace if _Begun.words == list(words) else None


def take(target: str, strict: bool) -> Background[WheelFacts | None] | None:
    """The reading ``begin`` began of ``target``, read as ``strict`` says; None if it began
    none of it (the caller reads it). Taken once."""
    begun = _Begun.reading
    if begun is None or begun[:2] != (target, strict):
        return None
    _Begun.reading = None
    from wheelscan.cli import show

    show._SHORT_SWITCH_INTERVAL.__exit__(None, None, None)  # ``show.run`` holds its own
    return begun[2]


def reading(target: str, strict: bool) -> Background[WheelFacts | None]:
    """``show``'s reading of ``target`` on a thread of its own, from now on."""
    from wheelscan.cli.show import read
    from wheelscan.wheel.threads import Background

    return Background(lambda: read(target, strict), "wheelscan-read")
