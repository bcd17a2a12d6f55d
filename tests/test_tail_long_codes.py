"""The tail decoder's codes longer than its table's bits (native/_tail.pyx's SLOW entries):
a literal met that way, far from the buffer's end and at it, inflates as zlib's does.

Bytes drawn with halving odds make Huffman codes of every length up to 15 bits, so the rare
literals take the slow way; stretches of them between repeats keep matches in between."""

from __future__ import annotations

import random
import zlib

import pytest

from wheelscan._tail import inflate_from


def skewed(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    symbols = list(range(256))
    rng.shuffle(symbols)
    weights = [2.0 ** -min(i, 40) for i in range(256)]
    parts: list[bytes] = []
    total = 0
    while total < size:
        if parts and rng.random() < 0.2:
            part = parts[rng.randrange(len(parts))]  # a repeat: a match
        else:
            part = bytes(rng.choices(symbols, weights, k=rng.randint(5, 200)))
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def deflate(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    return compressor.compress(data) + compressor.flush()


def longest_literal_code(stream: bytes) -> int:
    """How long the longest literal code of the first dynamic block is (RFC 1951 3.2.7)."""
    bits = int.from_bytes(stream, "little")
    pos = 0

    def take(n: int) -> int:
        nonlocal pos
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    take(1)
    assert take(2) == 2, "a dynamic block"
    nlen, _ndist, ncode = take(5) + 257, take(5) + 1, take(4) + 4
    order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    code_lengths = [0] * 19
    for i in range(ncode):
        code_lengths[order[i]] = take(3)
    # the code-length code, decoded a bit at a time (canonical, as puff does)
    table: dict[tuple[int, int], int] = {}
    code = 0
    for length in range(1, 8):
        for symbol in range(19):
            if code_lengths[symbol] == length:
                table[(length, code)] = symbol
                code += 1
        code <<= 1
    lengths: list[int] = []
    while len(lengths) < nlen:
        code = length = 0
        while (length, code) not in table:
            code = (code << 1) | take(1)
            length += 1
        symbol = table[(length, code)]
        if symbol < 16:
            lengths.append(symbol)
        elif symbol == 16:
            lengths += [lengths[-1]] * (3 + take(2))
        elif symbol == 17:
            lengths += [0] * (3 + take(3))
        else:
            lengths += [0] * (11 + take(7))
    return max(lengths[:256])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_literals_with_long_codes_inflate_as_zlibs(seed: int) -> None:
    data = skewed(seed, 200_000)
    stream = deflate(data, 6)
    assert longest_literal_code(stream) > 10  # the table's 10 bits: the slow way is taken
    out, known = bytearray(len(data)), bytearray(len(data))
    assert inflate_from(stream, 0, out, known) == len(data)
    assert out == data and all(known)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_buffer_filled_by_a_long_literal_holds_zlibs_bytes(seed: int) -> None:
    data = skewed(seed, 200_000)
    stream = deflate(data, 6)
    assert longest_literal_code(stream) > 10
    # the bytes with the longest codes: those met once in 2,000 bytes or less
    rare = {b for b in set(data) if data.count(b) * 2_000 < len(data)}
    ends = [i + 1 for i in range(len(data)) if data[i] in rare][:200]
    assert len(ends) >= 20
    for size in ends:  # the buffer full with a rare literal (or a match cut there)
        out, known = bytearray(size), bytearray(size)
        assert inflate_from(stream, 0, out, known) == size
        assert out == data[:size]
