"""``known_ranges`` (wheelscan/_tail.pyx), which looks at whole words for runs of 15 bytes or
more, against the plain definition: every maximal run of known bytes in ``known[start:stop]``
at least ``min_length`` long, shifted by ``offset``."""

from __future__ import annotations

import random

import pytest

from wheelscan._tail import known_ranges


def plainly(
    known: bytes, start: int, offset: int, min_length: int, stop: int | None
) -> list[tuple[int, int]]:
    end = len(known) if stop is None else min(len(known), stop)
    runs: list[tuple[int, int]] = []
    i = start
    while i < end:
        if known[i] != 1:
            i += 1
            continue
        begin = i
        while i < end and known[i] == 1:
            i += 1
        if i - begin >= min_length:
            runs.append((begin + offset, i + offset))
    return runs


@pytest.mark.parametrize("density", [0.02, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("min_length", [1, 14, 15, 16, 64])
def test_known_ranges_are_the_plain_runs(density: float, min_length: int) -> None:
    rng = random.Random(f"{density}-{min_length}")
    for _ in range(40):
        # runs of every length, the known ones longer as the density grows
        known = bytearray()
        while len(known) < rng.randrange(1, 3000):
            value = 1 if rng.random() < density else 0
            known += bytes([value]) * rng.choice([1, 2, 7, 8, 9, 14, 15, 16, 17, 63, 64, 65, 200])
        start = rng.randrange(0, len(known) + 2)
        stop = rng.choice([None, rng.randrange(0, len(known) + 9)])
        offset = rng.randrange(0, 1 << 40)
        expected = plainly(bytes(known), start, offset, min_length, stop)
        assert known_ranges(known, start, offset, min_length, stop) == expected


def test_known_ranges_of_nothing() -> None:
    assert known_ranges(bytearray(), 0, 5) == []
    assert known_ranges(bytearray(b"\x01" * 100), 100, 5) == []
    assert known_ranges(bytearray(b"\x01" * 100), 3, 5, stop=2) == []
    assert known_ranges(bytearray(b"\x01" * 100), 0, 5) == [(5, 105)]
