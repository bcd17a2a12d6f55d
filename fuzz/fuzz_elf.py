#!/usr/bin/env python3
"""Fuzz the native ELF parser, whole and partial (``available=``), against its own oracles.

For every input: ``parse_elf(data)`` returns an ElfFacts or raises ElfError, nothing else;
the partial mode, fed only the byte ranges it asks for (the rest of its buffer is garbage),
asks only for bytes inside the buffer that it was not given, and ends as the whole parse
does; with ``WHEELSCAN_FUZZ_DIFFERENTIAL=1`` the pyelftools reference must agree too.

    python fuzz/make_seeds.py /tmp/seeds
    python fuzz/fuzz_elf.py /tmp/corpus-elf /tmp/seeds/elf -max_total_time=3600
"""

from __future__ import annotations

import os
from collections.abc import Callable

from _common import exact, fuzz, write

GARBAGE = 0xA5


def setup() -> Callable[[bytes], None]:
    from wheelscan._native import NeedBytes, parse_elf
    from wheelscan.elf import ElfError
    from wheelscan.elf.reference import parse_elf as reference

    differential = os.environ.get("WHEELSCAN_FUZZ_DIFFERENTIAL") == "1"

    def outcome(parse: Callable[..., object], *args: object) -> object:
        try:
            return parse(*args)
        except ElfError as e:
            return ("error", e.code)

    def partial(data: bytes) -> object:
        """The partial mode fed range by range, from a first range the input's tail picks."""
        size = len(data)
        buffer = exact(bytes([GARBAGE]) * size)
        ranges: list[tuple[int, int]] = []

        def give(start: int, end: int) -> None:
            write(buffer, start, data[start:end])
            merged: list[tuple[int, int]] = []
            for a, b in sorted([*ranges, (start, end)]):
                if merged and a <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], b))
                else:
                    merged.append((a, b))
            ranges[:] = merged

        first = (data[-1] * 16) % (size + 1) if size else 0
        give(0, first)
        for _ in range(size + 2):
            try:
                return outcome(parse_elf, buffer, ranges)
            except NeedBytes as e:
                assert 0 <= e.start < e.end <= size, (e.start, e.end, size)
                assert not any(a <= e.start and e.end <= b for a, b in ranges), "asked twice"
                give(e.start, e.end)
        raise AssertionError("the partial parse never ended")

    def test(data: bytes) -> None:
        whole = outcome(parse_elf, exact(data))
        assert partial(data) == whole
        if differential:
            assert outcome(reference, data) == whole

    return test


if __name__ == "__main__":
    fuzz(setup)
