"""A verdict's reasons in words: what a maintainer reads first.

The answer to "why is this wheel not one policy better?" is the blockers of the *next* better
policy (``Verdict.next_upgrade``), most telling first: a library to vendor or drop, then the
newest symbol version (GLIBC_2.25 implies every older one that blocks too). Lists of names
are folded to a count; ``show --verbose`` prints them whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wheelscan.policy.policies import platform_tag_info
from wheelscan.policy.verdict import Blocker, BlockerKind, PolicyCheck
from wheelscan.policy.versions import version_key

# the kinds of blocker in the order a maintainer should look at them
_KIND_ORDER = (
    BlockerKind.EXTERNAL_LIBRARY,
    BlockerKind.BLACKLISTED_SYMBOL,
    BlockerKind.ISA,
    BlockerKind.UCS2,
    BlockerKind.PYFPE,
    BlockerKind.SYMBOL_VERSION,
    BlockerKind.NEWEST_VERSION,
)
_VERSION_KINDS = (BlockerKind.SYMBOL_VERSION, BlockerKind.NEWEST_VERSION)


def folded(items: Sequence[str], limit: int | None) -> str:
    """``a, b and 3 more``: at most ``limit`` names (None: all of them)."""
    if limit is None or len(items) <= limit:
        shown, rest = list(items), 0
    else:
        shown, rest = list(items[: max(limit, 1)]), len(items) - max(limit, 1)
    text = ", ".join(shown)
    return f"{text} and {rest} more" if rest else text


def most_telling_first(blockers: Iterable[Blocker]) -> list[Blocker]:
    """Libraries and the rarer kinds first, then symbol versions, newest first per bucket."""

    def rank(b: Blocker) -> int:
        return _KIND_ORDER.index(b.kind) if b.kind in _KIND_ORDER else len(_KIND_ORDER)

    blockers = list(blockers)
    versions = [b for b in blockers if b.kind in _VERSION_KINDS]
    versions.sort(key=lambda b: version_key(b.subject), reverse=True)
    versions.sort(key=lambda b: version_key(b.subject)[0])  # stable: buckets A-Z, newest first
    others = sorted((b for b in blockers if b.kind not in _VERSION_KINDS), key=rank)
    return others + versions  # the version kinds rank last


def headline(blocker: Blocker, symbol_limit: int | None = 3, symbols: str | None = None) -> str:
    """One blocker in a few words, without its files; ``symbols``: its symbols as they
    should read (by default the first ``symbol_limit`` and a count)."""
    if symbols is None:
        symbols = folded(blocker.symbols, symbol_limit)
    if blocker.kind in _VERSION_KINDS:
        return f"needs {blocker.subject} ({symbols or 'no symbol bound to it'})"
    if blocker.kind == BlockerKind.EXTERNAL_LIBRARY:
        return f"links {blocker.subject} (neither whitelisted nor in the wheel)"
    if blocker.kind == BlockerKind.BLACKLISTED_SYMBOL:
        return f"uses {symbols} of {blocker.subject} (blacklisted)"
    if blocker.kind == BlockerKind.ISA:
        return f"needs the {blocker.subject} instruction set"
    if blocker.kind == BlockerKind.UCS2:
        return "uses the UCS-2 unicode ABI (PyUnicodeUCS2_*) of Python 2"
    if blocker.kind == BlockerKind.PYFPE:
        return "uses PyFPE_jbuf, which Python builds without --with-fpectl lack"
    return f"{blocker.kind} {blocker.subject}"


def why_not(check: PolicyCheck) -> str:
    """The most telling blocker of a policy in a few words, and how many more there are."""
    ordered = most_telling_first(check.blockers)
    if not ordered:
        return ""
    first = ordered[0]
    text = headline(first, symbol_limit=1)
    if first.kind == BlockerKind.EXTERNAL_LIBRARY:
        text = f"links {first.subject}"  # the column is narrow: the rest is in `show`
    return text + (f" (+{len(ordered) - 1} more)" if len(ordered) > 1 else "")


def policy_name(tag: str) -> str:
    """The policy a declared tag names: ``manylinux2014_x86_64`` -> ``manylinux_2_17_x86_64``
    (the name ``Verdict.upgrades`` uses); other tags as they are."""
    try:
        info = platform_tag_info(tag)
    except ValueError:
        return tag
    return tag if info.base_name is None else f"{info.base_name}_{info.arch}"
