"""Dedupe potential: ELF members that are byte-identical across (or within) wheels.

The key is what the central directory alone gives, (CRC-32, compressed size, size): a
scanner could recognise a vendored library it has seen before without inflating it again.
Identical content deflated differently has another compressed size and is not counted, so
this is a lower bound.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

from harness.corpus import CorpusWheel, ElfLocation

Key = tuple[int, int, int]


def _groups(corpus: list[CorpusWheel]) -> dict[Key, list[tuple[str, ElfLocation]]]:
    groups: dict[Key, list[tuple[str, ElfLocation]]] = defaultdict(list)
    for wheel in corpus:
        for member in wheel.elf:
            groups[(member.crc, member.compressed_size, member.size)].append(
                (wheel.filename, member)
            )
    return groups


def dedupe(corpus: list[CorpusWheel], shown: int = 10) -> dict[str, Any]:
    groups = _groups(corpus)
    repeated = sorted(
        (g for g in groups.values() if len(g) > 1),
        key=lambda g: (len(g) - 1) * g[0][1].size,
        reverse=True,
    )
    members = sum(len(g) for g in groups.values())
    return {
        "elf_members": members,
        "distinct": len(groups),
        "repeats": members - len(groups),  # members a dedupe cache would not read again
        "repeated_bytes": sum((len(g) - 1) * g[0][1].size for g in repeated),
        "repeated_compressed_bytes": sum((len(g) - 1) * g[0][1].compressed_size for g in repeated),
        "elf_bytes": sum(m.size for w in corpus for m in w.elf),
        "largest_groups": [
            {
                "name": PurePosixPath(g[0][1].name).name,
                "copies": len(g),
                "size": g[0][1].size,
                "wheels": sorted({wheel for wheel, _ in g}),
            }
            for g in repeated[:shown]
        ],
    }
