"""The end of a deflate stream inflated without its beginning (native/_tail.pyx), and the
members read by their two ends (wheel/ends.py).

Checked against zlib, which wrote every stream: from the first block the whole output; from
any bit offset, every byte the inflater calls exact is the byte zlib inflates there.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from wheelscan._tail import block_starts, inflate_from, inflate_tail, inflate_until, known_ranges
from wheelscan.elf import get_parser, partial_parser
from wheelscan.wheel import contents, ends
from wheelscan.wheel.archive import DEFLATED, WheelArchive

from property_budget import examples


def deflate(data: bytes, level: int, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    return compressor.compress(data) + compressor.flush()


def binary_like(seed: int, size: int) -> bytes:
    """Code-like bytes: random words, runs of zeros, repeated snippets, text."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.3:
            part = rng.randbytes(rng.randint(1, 64))
        elif kind < 0.55:
            part = bytes(rng.randint(1, 300))
        elif kind < 0.8 and parts:
            part = parts[rng.randrange(len(parts))]
        else:
            part = b"_ZN%dfoo%dbarEv\0" % (rng.randint(0, 99), rng.randint(0, 9))
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def check_tail(data: bytes, stream: bytes, found: object, out: bytearray, known: bytearray) -> int:
    """Every byte called exact is right; returns how many there are."""
    assert found is not None and isinstance(found, tuple) and found[0] is not None
    length, trusted, _, _ = found
    base = len(data) - length
    assert base >= 0
    exact = 0
    for begin, end in known_ranges(known[:length], trusted, base, 1):
        assert out[begin - base : end - base] == data[begin:end], (begin, end)
        exact += end - begin
    return exact


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("strategy", [zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_RLE])
def test_from_the_first_block_it_inflates_all_of_it(level: int, strategy: int) -> None:
    data = binary_like(level + strategy, 600_000)
    stream = deflate(data, level, strategy)
    out, known = bytearray(len(data)), bytearray(len(data))
    found = inflate_tail(stream, 0, 0, out, known)
    assert found is not None and found[0] == len(data)
    assert out == data
    # nothing before the first checked header after the first block is offered as known,
    # and from there most of it is
    trusted = found[1]
    assert 0 < trusted < len(data) and not any(known[:trusted])
    assert sum(known) > 0.1 * (len(data) - trusted)


# A stream of code-like bytes, and where in it to look for a block header
STREAMS = {
    "seed": st.integers(0, 2**32),
    "size": st.integers(1_000, 400_000),
    "level": st.integers(1, 9),
    "where": st.floats(0.0, 1.0),
}


@settings(max_examples=examples(60), deadline=None)
@given(**STREAMS, stored=st.booleans())
def test_from_anywhere_every_byte_called_exact_is_exact(
    seed: int, size: int, level: int, where: float, stored: bool
) -> None:
    data = binary_like(seed, size)
    if stored:  # incompressible stretches make zlib write stored blocks
        data = data[: size // 2] + random.Random(seed).randbytes(70_000) + data[size // 2 :]
    stream = deflate(data, level)
    out, known = bytearray(len(data)), bytearray(len(data))
    bit = int(where * 8 * len(stream))
    found = inflate_tail(stream, bit, max(0, bit - 8 * 200_000), out, known)
    if found is not None and found[0] is not None:
        check_tail(data, stream, found, out, known)


def test_deep_in_a_stream_it_finds_a_block_and_knows_bytes_of_it() -> None:
    data = binary_like(7, 3_000_000)
    stream = deflate(data, 6)
    out, known = bytearray(1_500_000), bytearray(1_500_000)
    bit = 8 * len(stream) * 3 // 4
    found = inflate_tail(stream, bit, bit - 8 * 128 * 1024, out, known)
    exact = check_tail(data, stream, found, out, known)
    assert exact > 0.1 * found[0]  # type: ignore[index]


def test_a_full_buffer_reports_where_it_filled() -> None:
    data = binary_like(3, 1_000_000)
    stream = deflate(data, 6)
    out, known = bytearray(300_000), bytearray(300_000)  # past a block or two, not the end
    bit = 8 * len(stream) // 2
    found = inflate_tail(stream, bit, max(0, bit - 8 * 128 * 1024), out, known)
    assert found is not None and found[0] is None
    _, start, stop = found
    assert start <= bit and stop > start


@settings(max_examples=examples(50), deadline=None)
@given(**STREAMS)
def test_counted_block_starts_lie_where_zlib_puts_them(
    seed: int, size: int, level: int, where: float
) -> None:
    """Counting without writing places each block header at its exact offset: inflated
    from there, every byte called exact is zlib's byte at that offset of the whole, and
    every unknown one a copy of the byte its window index names in the 32 KiB before."""
    data = binary_like(seed, size)
    stream = deflate(data, level)
    bit = int(where * 8 * len(stream))
    found = block_starts(stream, bit, max(0, bit - 8 * 200_000))
    if found is None:
        return
    total, starts = found
    assert total <= len(data)
    for header, output in starts[:: max(1, len(starts) // 4)]:
        begin = len(data) - total + output
        want = min(50_000, len(data) - begin)
        if want == 0:  # an empty final block (zlib ends some streams so): nothing from it
            assert (header, output) == starts[-1]
            continue
        out, known = bytearray(want), bytearray(want)
        window = memoryview(bytearray(2 * want)).cast("H")
        assert inflate_from(stream, header, out, known, window) == want
        for i in range(want):
            if known[i]:
                assert out[i] == data[begin + i]
            else:
                assert 0 <= window[i] < 32768
                assert data[begin + i] == data[begin - 32768 + window[i]]


@settings(max_examples=examples(50), deadline=None)
@given(**STREAMS)
def test_an_end_says_where_its_unknown_bytes_copy_from_and_the_bytes_before_are_found(
    seed: int, size: int, level: int, where: float
) -> None:
    """An end inflated with a window (wheel/ends.py's one pass): each unknown byte from the
    block it trusts from on is a copy of the byte its window index names in the 32 KiB
    before that block; and those bytes, inflated from a block header further back up to
    exactly that block (``inflate_until``), are zlib's wherever they are called exact."""
    data = binary_like(seed, size)
    stream = deflate(data, level)
    bit = int(where * 8 * len(stream))
    out, known = bytearray(len(data)), bytearray(len(data))
    window = memoryview(bytearray(2 * len(data))).cast("H")
    found = inflate_tail(stream, bit, max(0, bit - 8 * 200_000), out, known, window)
    if found is None or found[0] is None:
        return
    length, trusted, _, trusted_bit = found
    base = len(data) - length
    above = base + trusted
    for i in range(trusted, length):
        if known[i]:
            assert out[i] == data[base + i]
        else:
            assert 0 <= window[i] < 32768
            assert data[base + i] == data[above - 32768 + window[i]]
    if trusted == length or trusted_bit < 8 * 1024:
        return
    before, before_known = bytearray(above), bytearray(above)
    before_window = memoryview(bytearray(2 * above)).cast("H")
    earlier = inflate_until(
        stream, trusted_bit - 1, 0, trusted_bit, before, before_known, before_window
    )
    assert earlier is not None  # the stream's first block, if nothing later
    count, earlier_trusted, start, earlier_bit = earlier
    assert start < trusted_bit and count <= above
    # its unknown bytes, as an end's, each a copy of a byte of the 32 KiB before the block
    # it trusts from (a chain of look-ups goes on from there: wheel/end_lookup.py)
    earlier_above = above - count + earlier_trusted
    assert earlier_bit <= trusted_bit
    for i in range(earlier_trusted, count):
        if before_known[i]:
            assert before[i] == data[above - count + i]
        else:
            assert 0 <= before_window[i] < 32768
            assert data[above - count + i] == data[earlier_above - 32768 + before_window[i]]
    # the same bytes without a window
    again, again_known = bytearray(above), bytearray(above)
    assert inflate_until(stream, trusted_bit - 1, 0, trusted_bit, again, again_known) == earlier
    assert again == before and again_known == before_known


def plausible_header(stream: bytes, at: int) -> bool:
    """native/_tail.pyx's ``plausible_header``, written plainly: whether a dynamic block's
    header (its counts in range, its code-length code complete) or a stored block's (its
    padding zeros, its length's complement after it, within the stream) may begin at bit
    ``at``."""

    def bits(start: int, count: int) -> int:
        value = int.from_bytes(stream[start // 8 : start // 8 + 16].ljust(16, b"\0"), "little")
        return (value >> (start % 8)) & ((1 << count) - 1)

    kind = bits(at + 1, 2)
    if kind == 2:
        if bits(at + 3, 5) > 29 or bits(at + 8, 5) > 29:
            return False
        lengths = [bits(at + 17 + 3 * i, 3) for i in range(bits(at + 13, 4) + 4)]
        used = [n for n in lengths if n]
        return sum(128 >> n for n in used) == 128 and len(used) >= 2
    if kind == 0:
        pad = (8 - (at + 3) % 8) % 8
        if bits(at + 3, pad):
            return False
        byte = (at + 3 + pad) // 8
        if 8 * byte + 32 > 8 * len(stream):
            return False
        length = bits(8 * byte, 16)
        return bits(8 * byte + 16, 16) == length ^ 0xFFFF and byte + 4 + length <= len(stream)
    return False


def searched_one_by_one(
    stream: bytes, search_from: int, search_to: int, out: bytearray, known: bytearray
) -> object:
    """What ``inflate_tail``'s search should find, looked for plainly: from ``search_from``
    back to ``search_to``, the first offset where a plausible header begins a sound
    inflation to the end (None: none does)."""
    for at in range(search_from, search_to - 1, -1):
        if plausible_header(stream, at):
            found = inflate_tail(stream, at, at, out, known)
            if found is not None:
                return found
    return None


@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**32), level=st.integers(1, 9), after=st.integers(0, 3000))
@example(seed=2522191857, level=7, after=2595)  # two blocks after the first, one fixed
def test_the_search_takes_the_latest_offset_a_header_may_begin_at(
    seed: int, level: int, after: int
) -> None:
    """The search looks at many offsets at once and at one by one only those that may
    begin a header (``maybe_headers``): it takes the offset that looking at each in turn
    takes, the latest where a plausible header starts a sound inflation to the end."""
    data = binary_like(seed, 400_000)
    stream = deflate(data, level)
    found = block_starts(stream, 0, 0)  # every block header after the first
    assert found is not None and found[1]
    # the search finds dynamic and stored blocks only (a fixed block's header has nothing
    # to check): zlib may write a short last block fixed (seed 2522191857, level 7)
    headers = [at for at, _ in found[1] if plausible_header(stream, at)]
    assume(headers)
    header = headers[len(headers) // 2]
    search_from, search_to = header + after, header - 600
    out, known = bytearray(len(data)), bytearray(len(data))
    expected = searched_one_by_one(stream, search_from, search_to, out, known)
    assert expected is not None  # the header itself, if none later
    assert inflate_tail(stream, search_from, search_to, out, known) == expected


def test_inflating_up_to_a_block_that_is_none_finds_nothing() -> None:
    data = binary_like(9, 400_000)
    stream = deflate(data, 6)
    found = block_starts(stream, 8 * len(stream) // 2, 0)
    assert found is not None
    header = found[1][-1][0]
    out, known = bytearray(len(data)), bytearray(len(data))
    # a block header: found; a bit past it, inside its block: no inflation stops there
    assert inflate_until(stream, header - 1, 0, header, out, known) is not None
    assert inflate_until(stream, header, 0, header + 1, out, known) is None
    # nor one whose output does not fit
    small = bytearray(1000)
    assert inflate_until(stream, header - 1, 0, header, small, bytearray(1000)) is None


def test_counting_from_the_first_block_counts_all_of_it() -> None:
    data = binary_like(5, 800_000)
    stream = deflate(data, 6)
    found = block_starts(stream, 0, 0)
    assert found is not None and found[0] == len(data) and len(found[1]) > 2
    # a block header counted is one: inflated from there with all before known, it is exact
    header, output = found[1][1]
    out, known = bytearray(len(data) - output), bytearray(len(data) - output)
    assert inflate_from(stream, header, out, known) == len(out)
    assert all(out[i] == data[output + i] for i in range(len(out)) if known[i])


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_no_stream(seed: int) -> None:
    junk = random.Random(seed).randbytes(50_000)
    out, known = bytearray(1 << 20), bytearray(1 << 20)
    assert inflate_tail(junk, 8 * len(junk) - 1, 0, out, known) is None
    assert block_starts(junk, 8 * len(junk) - 1, 0) is None


def test_a_cut_stream_has_no_end_to_find() -> None:
    data = binary_like(11, 500_000)
    stream = deflate(data, 6)[:-100]
    out, known = bytearray(len(data)), bytearray(len(data))
    assert inflate_tail(stream, 8 * len(stream) // 2, 0, out, known) is None
    assert block_starts(stream, 8 * len(stream) // 2, 0) is None


def test_every_real_member_read_by_its_ends_gets_the_facts_of_the_whole(
    real_wheels: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpus's members from 256 KiB on read by their two ends wherever the rule lets
    them (here: whatever it costs, from closer to PT_DYNAMIC), each compared with the member
    parsed whole; a third of them at least must take that path."""
    monkeypatch.setattr(ends, "SKIP_ABOVE", 256 * 1024)
    monkeypatch.setattr(ends, "SKIP_WORTH", 1.0)
    monkeypatch.setattr(ends, "WRITE_COST", 0.5)
    monkeypatch.setattr(ends, "COUNT_COST", 0.5)
    monkeypatch.setattr(ends, "TAIL_MARGINS", (64 * 1024, 256 * 1024))
    parse = get_parser()
    partial = partial_parser()
    assert partial is not None
    tried = skipped = 0
    for path in real_wheels:
        with WheelArchive.open(path) as archive:
            for member in archive.elf_members():
                if member.method != DEFLATED or not (
                    ends.SKIP_ABOVE <= member.size <= contents.WHOLE_MEMBER_LIMIT
                ):
                    continue
                tried += 1
                facts = ends.parse_by_ends(archive, member, partial)
                if facts is not None:
                    skipped += 1
                    assert facts == contents._parse_whole(parse, archive, member), member.name
    assert tried > 20 and skipped > tried // 3, (tried, skipped)


def late_dynamic_library(size: int) -> bytes:
    """A library whose PT_DYNAMIC lies at its end, behind ``size`` bytes of code-like bytes."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic
    from tests.elfwriter import build_elf, sample_spec

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), size)
    noise = random.Random(3)
    code = b"".join(noise.randbytes(24) + bytes(noise.randrange(24)) for _ in range(size // 30))
    return moved.head + code[: moved.filler_size] + moved.tail


@pytest.mark.slow
def test_a_stream_longer_than_its_member_is_caught_when_verifying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member read by its ends is placed by the size the directory gives: a stream that
    inflates past it (an installer extracts the declared bytes and stops) would show the
    end at other offsets than the installed file's. WHEELSCAN_VERIFY=1 inflates every
    member whole and refuses it, as the README's known limits say; a sound member of the
    same kind is read by its ends by default, and whole when verifying, to the same facts."""
    from tests.hostile.zipwriter import Entry, write_wheel

    data = late_dynamic_library(8 << 20)
    extra = data + bytes(70_000)  # inflates 70 kB past the size declared
    name = "late-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    lying, sound = tmp_path / "lying" / name, tmp_path / "sound" / name
    for path, entry in (
        (lying, Entry("late/a.so", extra, size=len(data), crc=zlib.crc32(data))),
        (sound, Entry("late/a.so", data)),
    ):
        path.parent.mkdir()
        path.write_bytes(write_wheel([entry]))
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(sound) as archive:
        member = archive.members[0]
        by_ends = ends.parse_by_ends(archive, member, partial)
        assert by_ends == contents._parse_whole(get_parser(), archive, member)
    monkeypatch.setenv(contents.VERIFY_ENV, "1")
    with WheelArchive.open(sound) as archive:
        assert contents.read_wheel_facts(archive, name).elf_files[0].facts == by_ends
    with WheelArchive.open(lying) as archive, pytest.raises(contents.WheelError) as caught:
        contents.read_wheel_facts(archive, name)
    assert caught.value.code == "size-mismatch"


def test_bytes_inflated_up_to_a_block_are_unknown_until_a_block_is_trusted() -> None:
    """An inflation up to the very next block header (``inflate_until``) trusts no block:
    its one block began at a header found by a search, which may be a false start. Its
    bytes were still marked known, and wheel/ends.py's look-up took them as certain."""
    data = binary_like(5, 400_000)
    stream = deflate(data, 6)
    found = block_starts(stream, 0, 0)
    assert found is not None and len(found[1]) >= 2
    (header, _), (stop, _) = found[1][0], found[1][1]
    out, known = bytearray(len(data)), bytearray(len(data))
    inflated = inflate_until(stream, header, header, stop, out, known)
    assert inflated is not None
    length, trusted, start, _ = inflated
    assert start == header and trusted == length > 0
    assert not any(known[:length])
