"""Whether a wheel makes a stable-ABI promise, and which: what decides that an abi3 verdict
is due, apart from the audit that gives it (policy/abi3.py), so that ``show`` imports that
audit, its records and its data only for a wheel that makes one (issue #15: start-up is
part of a one-wheel run)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from wheelscan.model import WheelFacts
from wheelscan.policy.wheeltags import InvalidWheelFilename, wheel_tags

ABIS = ("abi3", "abi3t")
Version = tuple[int, int]
STABLE_ABI_START: Version = (3, 2)  # Py_LIMITED_API 3: PEP 384, Python 3.2
# foo.abi3.so, and the multiarch form some builds name (foo.abi3t-x86_64-linux-gnu.so)
_EXTENSION_SUFFIX = re.compile(r"\.(abi3t?)(-[^./]+)?\.so$")


# A CPython interpreter tag; compiled on first use, by re's own cache (issue #15)
_CP_TAG = r"cp(\d)(\d+)$"


def declared_abis(filename: str) -> dict[str, Version]:
    """The lowest cpXY of each stable ABI among the file name's tags."""
    try:
        tags = wheel_tags(filename)
    except InvalidWheelFilename:
        return {}
    declared: dict[str, Version] = {}
    for tag in tags:
        if tag.abi not in ABIS:
            continue
        match = re.match(_CP_TAG, tag.interpreter)
        version: Version = (int(match.group(1)), int(match.group(2))) if match else STABLE_ABI_START
        declared[tag.abi] = min(declared.get(tag.abi, version), version)
    return declared


def promised_abis(facts: WheelFacts, declared: Mapping[str, Version]) -> set[str]:
    """The stable ABIs the wheel promises: those its tags declare (``declared_abis``) and
    those its ELF members' names (``*.abi3.so``) do."""
    abis = set(declared)
    for member in facts.elf_files:
        found = _EXTENSION_SUFFIX.search(member.path)
        if found:
            abis.add(found.group(1))
    return abis


def makes_promise(facts: WheelFacts) -> bool:
    """Whether the wheel promises a stable ABI: whether it gets an abi3 verdict."""
    return bool(promised_abis(facts, declared_abis(facts.filename)))
