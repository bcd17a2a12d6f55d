"""A byte of PT_DYNAMIC that copies, through a long chain of deflate blocks, from far
before the end decoded is looked up from the first margin (wheel/end_lookup.py ``_copied_bytes``).

jaxlib 0.12.0.1's libjax_common.so is such a member: one byte of its PT_DYNAMIC copies
through 32 blocks back from its first margin. While a chain was held whole it was bounded
at 16 inflations, and the end was inflated again from each further margin (three ends and
three chains where one of each settles the facts: a third of ``show``'s time past the
count, issue #15). The member here is built so: the dynamic segment at the end of a unit of
noise, the unit repeated, each repetition a deflate block of its own (a sync flush keeps
the window) that copies the one before it, the first one's bytes the only literals.
"""

from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

import pytest
from tests.elfwriter import build_elf, sample_spec
from tests.test_ends_large import (
    CHUNK,
    WHEEL,
    LargeMember,
    assembled,
    filler_chunk,
    flushed,
    large_wheel,
)

from wheelscan.elf import get_parser, partial_parser
from wheelscan.wheel import end_lookup, ends
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.inflate import WHOLE_MEMBER_LIMIT

MiB = 1 << 20
# Each repetition copies the one before from this far back (within deflate's 32 KiB window)
UNIT = 24 * 1024
# More repetitions than the old bound of 16 inflations from every margin before the last:
# (64 x 24 KiB - 1 MiB) / 24 KiB = 21 blocks from the 1 MiB margin
UNITS = 64


def chained_member(size: int, trailing: int) -> LargeMember:
    """A library of ``size`` bytes, PT_DYNAMIC ``trailing`` bytes before its end, the last
    UNITS x UNIT bytes up to PT_DYNAMIC's end the repetitions of (noise, PT_DYNAMIC)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), size - trailing)
    unit = random.Random(3).randbytes(UNIT - len(moved.tail)) + moved.tail
    before = moved.filler_size - (UNITS * UNIT - len(moved.tail))
    chained = zlib.compressobj(6, zlib.DEFLATED, -15)
    repeated = b"".join(
        chained.compress(unit) + chained.flush(zlib.Z_SYNC_FLUSH) for _ in range(UNITS)
    )
    repeated += chained.flush(zlib.Z_FULL_FLUSH)
    pieces: list[tuple[bytes, bytes, int]] = [(moved.head, flushed(moved.head), 1)]
    for length, seed in ((before, 1), (trailing, 2)):
        chunk = filler_chunk(seed)
        pieces += [
            (chunk, flushed(chunk), length // CHUNK),
            (chunk[: length % CHUNK], flushed(chunk[: length % CHUNK]), 1),
        ]
        if length == before:
            pieces.append((unit * UNITS, repeated, 1))
    return assembled(pieces, size, moved.dynamic_offset, moved.head[:4096])


def test_a_long_chain_of_copies_is_followed_from_the_first_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # counted to its end (longer than one pass may write), whole under the limit
    member = chained_member(60 * MiB, 16 * MiB)
    assert member.size <= WHOLE_MEMBER_LIMIT and 16 * MiB > ends.MAX_ONE_PASS
    ends_inflated: list[int] = []
    inflate_counted = ends._inflate_counted

    def noted(counted: ends.Counted, begin: int, end: int) -> ends.Tail | None:
        ends_inflated.append(begin)
        return inflate_counted(counted, begin, end)

    monkeypatch.setattr(ends, "_inflate_counted", noted)
    wheel = large_wheel(tmp_path / WHEEL, member)
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(wheel) as archive:
        (elf,) = archive.elf_members()
        by_ends = ends.parse_by_ends(archive, elf, partial)
        whole = get_parser()(archive.read(elf))
    assert by_ends is not None and by_ends == whole
    # one end, from the first margin; its PT_DYNAMIC was unknown there, and was looked up
    assert ends_inflated == [member.dynamic_offset - ends.TAIL_MARGINS[0]]


def copied_unit_stream(unit_size: int, units: int) -> tuple[bytes, ends.Counted]:
    """A unit of noise repeated, each repetition a deflate block of its own that copies
    the one before (the first one's bytes the only literals), counted from its start."""
    from wheelscan._tail import block_starts

    unit = random.Random(3).randbytes(unit_size)
    chained = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = b"".join(
        chained.compress(unit) + chained.flush(zlib.Z_SYNC_FLUSH) for _ in range(units)
    )
    stream += chained.flush()
    payload = memoryview(stream)
    total, starts = block_starts(payload, 0, 0)  # from the first block on
    base = unit_size * units - total
    return unit, ends.Counted(payload, [(bit, base + output) for bit, output in starts], {})


@pytest.mark.parametrize("few", [True, False])
def test_a_chain_looks_up_a_bounded_number_of_bytes(
    few: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown bytes, each copied level after level from the unit before: a few hundred (as
    jaxlib's PT_DYNAMIC) are found, right, through every level down to the first unit's
    literals; 48 KiB of them are given up once the look-ups summed over the levels pass
    MAX_CHAIN_LOOKUPS (the member is then read from its start), rather than held level
    after level (64 KiB took 205 MiB, and 28 s of CPU with a look-up that scanned every
    block for each byte)."""
    unit_size, units = 24 << 10, 60
    unit, counted = copied_unit_stream(unit_size, units)
    begin = counted.starts[-20][1]
    tail = ends._inflate_counted(counted, begin, begin + 2 * unit_size)
    assert tail is not None and tail.known is not None
    unknown = [p for p in range(tail.begin, tail.end) if not tail.known[p - tail.begin]]
    # the first unit's bytes past its first counted block are known at the chain's foot
    first = counted.starts[0][1]
    positions = [p for p in unknown if p % unit_size > first][:300] if few else unknown
    assert len(positions) == 300 or len(positions) > 32 << 10
    inflations: list[int] = []
    inflate_at = end_lookup.inflate_at

    def noted(*args: object, **kwargs: object) -> ends.Tail | None:
        inflations.append(1)
        return inflate_at(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(end_lookup, "inflate_at", noted)
    values = end_lookup._copied_bytes(counted, tail, positions)
    if few:
        assert values == [unit[p % unit_size] for p in positions]
        assert len(inflations) > 30  # found only far back, level after level
    else:
        assert values is None
        assert len(inflations) <= end_lookup.MAX_CHAIN_LOOKUPS // len(positions)
