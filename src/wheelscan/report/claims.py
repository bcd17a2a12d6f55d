"""What a filename promises, and why a verdict (as JSON) breaks the promise.

The report reads verdicts from the store as JSON (``Verdict.to_json()``), not as objects: a
stored verdict may come from an older wheelscan, so only the fields of the schema are used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict
from typing import Any

from packaging.tags import Tag

from wheelscan.policy.android import is_android_tag, policies_for_tags
from wheelscan.policy.policies import Architecture, Libc, load_policies, platform_tag_info
from wheelscan.policy.verdict import Blocker, BlockerKind

# the ranking of a policy absent from the built-in data (a custom --policy-file): just above
# linux_*, since the report cannot know its priority
_UNKNOWN_PRIORITY = 1


def policy_name(tag: str) -> str:
    """The policy a platform tag names: ``manylinux2014_x86_64`` -> ``manylinux_2_17_x86_64``.

    Aliases resolve so that a wheel tagged both ways counts once; other tags stay as they are.
    """
    try:
        info = platform_tag_info(tag)
    except ValueError:
        return tag
    return tag if info.base_name is None else f"{info.base_name}_{info.arch}"


def declared_policies(tags: frozenset[Tag]) -> set[str]:
    """The most compatible claim per (libc, arch): what pip decides installability from.

    ``manylinux2014_x86_64.manylinux_2_28_x86_64`` claims glibc 2.17; the 2_28 tag is only
    there for older installers, so counting it too would inflate the newer policies.
    """
    best: dict[tuple[str, str], tuple[tuple[int, ...], str]] = {}
    for platform in {t.platform for t in tags}:
        name = policy_name(platform)
        try:
            info = platform_tag_info(platform)
        except ValueError:
            best[(platform, "")] = ((), name)  # not a Linux tag: counted as it is
            continue
        if info.base_name is None:
            best[("linux", str(info.arch))] = ((), name)
            continue
        version = tuple(int(n) for n in info.base_name.split("_")[1:])
        group = (str(info.libc), str(info.arch.baseline))
        if group not in best or version < best[group][0]:
            best[group] = (version, name)
    return {name for _, name in best.values()}


def python_tag(tags: frozenset[Tag]) -> str:
    """One key per wheel: the ABI when it names one (cp312, cp27mu), else the interpreter.

    ``cp39-abi3`` keeps its interpreter, since abi3 alone says nothing about the oldest Python;
    so does PEP 803's ``cp315-abi3t``. Several (``py2.py3``) are joined as the filename
    joins them (``cp315-abi3.abi3t``: ``cp315-abi3.cp315-abi3t``).
    """
    keys = set()
    for tag in tags:
        if tag.abi == "none":
            keys.add(tag.interpreter)
        elif tag.abi in ("abi3", "abi3t"):
            keys.add(f"{tag.interpreter}-{tag.abi}")
        else:
            keys.add(tag.abi)
    return ".".join(sorted(keys))


def platform_of(tags: frozenset[Tag]) -> tuple[str, str]:
    """(architecture, libc) from the filename, for wheels without a verdict."""
    arches, libcs = set(), set()
    for tag in tags:
        try:
            info = platform_tag_info(tag.platform)
        except ValueError:
            continue
        arches.add(str(info.arch.baseline))
        if info.libc is not None:
            libcs.add(str(info.libc))
    return (
        arches.pop() if len(arches) == 1 else "unknown",
        libcs.pop() if len(libcs) == 1 else "unknown",
    )


def tag_priority(verdict: Mapping[str, Any]) -> int:
    """auditwheel's priority of the computed tag: higher runs on more machines, linux is 0."""
    try:
        policies = load_policies().for_platform(
            Libc(verdict["libc"]), Architecture(verdict["architecture"])
        )
        if policies.libc is Libc.ANDROID and is_android_tag(verdict["overall_tag"]):
            # android_25_arm64_v8a: android_24's policy, renamed to the tag (policy/android.py)
            policies = policies_for_tags(policies, [verdict["overall_tag"]])
        return policies.get(verdict["overall_tag"]).priority
    except (LookupError, ValueError):
        return 0 if verdict["overall_tag"].startswith("linux_") else _UNKNOWN_PRIORITY


def over_claim_blockers(verdict: Mapping[str, Any]) -> Iterator[Blocker]:
    """Why each broken declared tag is broken, each reason once.

    The blockers of the declared policy when the verdict checked it; a tag for another
    platform is a ``platform-mismatch``. A PEP 600 tag with no policy of its own
    (manylinux_2_33) was never checked: its blame falls on the newest symbol versions that
    block some policy, which is what stands between the content and the tag.
    """
    seen: set[tuple[str, str]] = set()
    for tag in verdict["over_claims"]:
        for blocker in tag_blockers(tag, verdict):
            if (blocker.kind, blocker.subject) not in seen:
                seen.add((blocker.kind, blocker.subject))
                yield blocker


def tag_blockers(tag: str, verdict: Mapping[str, Any]) -> Iterator[Blocker]:
    """Why the declared ``tag`` is broken (see ``over_claim_blockers``)."""
    upgrades = {u["policy"]: u["blockers"] for u in verdict["upgrades"]}
    try:
        info = platform_tag_info(tag)
    except ValueError:
        yield Blocker(BlockerKind.NOT_LINUX, tag)
        return
    if info.libc is not None and (
        str(info.libc) != verdict["libc"] or str(info.arch.baseline) != verdict["architecture"]
    ):
        yield Blocker(
            BlockerKind.PLATFORM_MISMATCH,
            f"{tag} on {verdict['libc']} {verdict['architecture']}",
            files=tuple(verdict["elf_files"]),
        )
        return
    found = upgrades.get(policy_name(tag))
    if found is None:
        blocking = {
            b["subject"] for bs in upgrades.values() for b in bs if b["kind"] == "symbol-version"
        }
        found = [
            dict(b, kind="symbol-version")
            for b in verdict["newest_versions"]
            if b["subject"] in blocking
        ]
    for b in found:
        files, symbols = tuple(b.get("files", ())), tuple(b["symbols"])
        yield Blocker(BlockerKind(b["kind"]), b["subject"], files, symbols)


def promises_only(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a verdict ``tag_blockers`` reads for its broken tags, and nothing else.

    A CI report holds a verdict per wheel until it is written: whole verdicts of a mirror's
    wheels would not fit in memory, and most of each is the upgrade path to better tags.
    ``tag_blockers`` gives the same blockers for the result as for the whole verdict.
    """
    kept: dict[str, Any] = {
        "over_claims": list(verdict["over_claims"]),
        "overall_tag": verdict["overall_tag"],
        "libc": verdict["libc"],
        "architecture": verdict["architecture"],
        "elf_files": list(verdict["elf_files"]) if verdict["over_claims"] else [],
        "newest_versions": [],
        "upgrades": [],
    }
    for tag in verdict["over_claims"]:
        blockers = [asdict(b) for b in tag_blockers(tag, verdict)]
        kept["upgrades"].append({"policy": policy_name(tag), "blockers": blockers})
    return kept
