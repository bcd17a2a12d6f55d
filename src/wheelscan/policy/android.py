"""Android (PEP 738): which policy judges a wheel, as auditwheel 6.8's ``WheelPolicies`` picks it.

An Android platform tag names the oldest Android a wheel runs on by its API level
(``android_24_arm64_v8a``). The policy file only lists the levels at which the NDK's stable
libraries changed (21, 24, 26, 27), so a tag is judged against the policy of the highest level
not above its own, renamed to the tag: auditwheel never proposes another tag for an Android
wheel, it only says whether the tagged one holds (the tag) or not (``linux_<arch>``).

Beyond auditwheel: Bionic files under no Android tag are judged on every Android policy, their
Bionic symbol versions picking the API level (``untagged_policies``); and a symbol version
newer than the tag's API level is a finding (``api_level_findings``). An executable run by
Bionic's loader (PT_INTERP ``/system/bin/linker64``) is judged with the wheel's other Bionic
files: auditwheel's lddtree takes any interpreter but musl's for glibc's and leaves it out of
an Android wheel, so a tool that needs ``libc++_shared.so`` keeps the android tag there.
pip installs the tool (Termux's pip takes android tags, and its app may run what it
installs), and run, the loader loads what it needs: the tag does not hold (``linux_<arch>``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from wheelscan.elf.facts import SymbolBinding
from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.model import WheelFacts
from wheelscan.policy.elfplatform import BIONIC_LIBRARIES
from wheelscan.policy.policies import PolicySet
from wheelscan.policy.verdict import Finding
from wheelscan.policy.wheeltags import wheel_tags

_API_LEVEL = re.compile(r"android_(\d+)")  # auditwheel wheeltools.android_api_level
# The API level that brought each of Bionic's symbol versions (bionic/libc/libc.map.txt, a
# block per Android release: LIBC_O { # introduced=O ...; later blocks name the release by
# its codename, LIBC_V { # introduced=VanillaIceCream), each codename's API level as Android
# numbers them (O MR1 27, S 31, Tiramisu 33, UpsideDownCake 34, VanillaIceCream 35; S_V2,
# 32, added no libc block). LIBC itself spans 21 to 23; a version not listed here (a release
# newer than this table) is not judged.
BIONIC_VERSION_LEVELS = {
    "LIBC_N": 24,
    "LIBC_O": 26,
    "LIBC_OMR1": 27,
    "LIBC_P": 28,
    "LIBC_Q": 29,
    "LIBC_R": 30,
    "LIBC_S": 31,
    "LIBC_T": 33,
    "LIBC_U": 34,
    "LIBC_V": 35,
}


class AndroidTagError(WheelscanError, ValueError):
    """An Android wheel whose tags pick no policy; ``code`` is stable, as an
    EvaluationError's (auditwheel raises a ValueError here: a traceback, no verdict)."""

    code: ErrorCode


def api_level(name: str) -> int | None:
    """24 for ``android_24`` or ``android_24_arm64_v8a``; None for any other name."""
    match = _API_LEVEL.match(name)
    return int(match[1]) if match else None


def is_android_tag(platform: str) -> bool:
    return api_level(platform) is not None


def policies_for_tags(policies: PolicySet, platforms: list[str]) -> PolicySet:
    """auditwheel's Android ``WheelPolicies``: ``linux_<arch>`` and the one policy the
    wheel's single platform tag selects, named as the tag.

    ``policies`` are every Android policy of the wheel's architecture, most compatible (the
    lowest API level) first. Raises AndroidTagError where auditwheel raises ValueError:
    several platform tags (``android-platform-tags``), or an API level below every policy's
    or an architecture with no Android policy (``no-android-policy``).
    """
    if len(platforms) != 1:
        raise AndroidTagError(
            "android-platform-tags",
            f"Android wheels must have exactly one platform tag, got {platforms}",
        )
    tag = platforms[0]
    level = api_level(tag)
    candidates = [
        p
        for p in policies.policies[:-1]  # the last is linux_<arch>
        if level is not None and (api_level(p.base_name) or 0) <= level
    ]
    if level is None or not candidates:
        raise AndroidTagError(
            "no-android-policy", f"no {policies.arch} Android policy matches the tag {tag!r}"
        )
    chosen = candidates[-1]  # the highest API level not above the tag's
    renamed = dataclasses.replace(chosen, name=tag, base_name=f"android_{level}", aliases=())
    return PolicySet(policies.libc, policies.arch, (renamed, policies.linux))


def untagged_policies(policies: PolicySet) -> PolicySet:
    """Every Android policy of ``policies``, each allowing the Bionic symbol versions of its
    API level, for Bionic files under no Android tag (which auditwheel cannot judge): with no
    tag to rename a policy to, the content's own needs pick the level. Bionic's versions are
    all in the ``LIBC`` bucket. ``LIBC_PRIVATE`` meets none, nor does any version of an API
    level above the highest policy's (android_27): ``LIBC_P`` to ``LIBC_V`` (28 to 35) are
    in the table but allowed by no policy, and a version not in it by none either.
    """
    allowed = []
    for policy in policies.policies[:-1]:
        level = api_level(policy.base_name) or 0
        versions = {"LIBC", *(v for v, since in BIONIC_VERSION_LEVELS.items() if since <= level)}
        symbol_versions = {**policy.symbol_versions, "LIBC": frozenset(versions)}
        allowed.append(dataclasses.replace(policy, symbol_versions=symbol_versions))
    return PolicySet(policies.libc, policies.arch, (*allowed, policies.linux))


def api_level_findings(wheel: WheelFacts) -> Iterator[Finding]:
    """``android-api-level``: a file that binds symbols to a Bionic version newer than the
    API level its Android tag promises. auditwheel's policies list no Bionic versions, so
    its verdict cannot see this; the loader of an older Android refuses the file ("cannot
    locate symbol"). Weak references are left out: the NDK makes symbols newer than the
    build's minimum API weak, for code that checks ``__builtin_available`` before calling.
    """
    levels = [api_level(t.platform) for t in wheel_tags(wheel.filename)]
    promised = min((level for level in levels if level is not None), default=None)
    if promised is None:
        return
    for member in wheel.examined:
        facts = member.facts
        newer = {
            version
            for need in facts.version_needs
            if need.file in BIONIC_LIBRARIES
            for version in need.versions
            if BIONIC_VERSION_LEVELS.get(version, 0) > promised
        }
        if not newer:  # nearly always: the symbols are looked at only then
            continue
        symbols: dict[str, set[str]] = {version: set() for version in newer}
        for symbol in facts.undefined_symbols:
            if symbol.version in newer and symbol.binding is not SymbolBinding.WEAK:
                symbols[symbol.version].add(symbol.name)
        for version in sorted(newer, key=BIONIC_VERSION_LEVELS.__getitem__):
            if symbols[version]:
                yield Finding(
                    "android-api-level",
                    member.path,
                    f"needs {version} (API level {BIONIC_VERSION_LEVELS[version]}) above the"
                    f" tag's {promised}: {', '.join(sorted(symbols[version]))}",
                )
