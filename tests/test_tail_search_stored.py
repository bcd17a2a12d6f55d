"""The search for a block header (native/_tail.pyx's ``maybe_headers``, which drops an offset
unless a stored block's padding to the byte, if any, is all zeros) finds the offset that
looking at each offset in turn finds, at and around the stored blocks zlib writes where the
data does not compress."""

from __future__ import annotations

import random
import zlib

import pytest

from test_tail import binary_like, searched_one_by_one
from wheelscan._tail import block_starts, inflate_tail


def with_stored_blocks(seed: int) -> tuple[bytes, bytes]:
    """Code-like stretches between incompressible ones, the latter ended in pieces of
    random lengths: stored blocks of as many lengths, their headers at every place in a
    byte (``Z_BLOCK`` ends a block with no padding to the byte, only an empty fixed one)."""
    rng = random.Random(seed)
    compressor = zlib.compressobj(rng.randint(1, 9), zlib.DEFLATED, -15, 9)
    data = bytearray()
    stream = bytearray()
    for i in range(6):
        part = binary_like(seed + i, rng.randint(20_000, 60_000))
        data += part
        stream += compressor.compress(part)
        for j in range(12):
            # each incompressible piece after a compressed block of its own, which ends
            # anywhere in a byte
            for part in (
                binary_like(seed + j, rng.randint(200, 3_000)),
                rng.randbytes(rng.randint(300, 9_000)),
            ):
                data += part
                stream += compressor.compress(part) + compressor.flush(zlib.Z_BLOCK)
    stream += compressor.flush()
    return bytes(data), bytes(stream)


def stored_headers(stream: bytes) -> list[int]:
    found = block_starts(stream, 0, 0)
    assert found is not None
    value = int.from_bytes(stream, "little")
    return [bit for bit, _ in found[1] if (value >> (bit + 1)) & 3 == 0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_search_finds_stored_headers_as_a_look_at_each_offset_does(seed: int) -> None:
    data, stream = with_stored_blocks(seed)
    headers = stored_headers(stream)
    value = int.from_bytes(stream, "little")
    # of those with a length's low byte not 0, two at each place in their byte, where a
    # padding is empty or up to 7 bits long (an empty one: the length's byte follows)
    by_place: dict[int, list[int]] = {}
    for bit in headers:
        length_bit = (bit + 3 + 7) // 8 * 8
        if (value >> length_bit) & 0xFF:
            by_place.setdefault(bit % 8, []).append(bit)
    assert len(by_place) >= 6 and 5 in by_place  # 5: a padding that is empty
    chosen = [bit for bits in by_place.values() for bit in bits[:2]]
    out, known = bytearray(len(data)), bytearray(len(data))
    rng = random.Random(seed)
    for header in chosen:
        for after in (0, 1, 5, rng.randint(6, 400)):
            search_from, search_to = header + after, header - 300
            expected = searched_one_by_one(stream, search_from, search_to, out, known)
            assert expected is not None
            found = inflate_tail(stream, search_from, search_to, out, known)
            assert found == expected
            # the header starts a sound inflation to the end: the search, latest offset
            # first, stops there at the latest (the look at each offset above goes through
            # the same filter, so this is what tells a header dropped by it)
            assert found[2] >= header
