"""Streamed inflation gives the facts of a whole read, with only the bytes the parser needs."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from wheelscan._native import parse_elf
from wheelscan.wheel.archive import DEFLATED, WheelArchive
from wheelscan.wheel.stream import StreamError, StreamStats, parse_streamed

from elfwriter import build_elf, sample_spec


def deflate(data: bytes) -> memoryview:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return memoryview(compressor.compress(data) + compressor.flush())


@pytest.mark.parametrize("keep", [64, 4096, 1 << 25])
def test_streamed_equals_whole_on_built_files(keep: int) -> None:
    # a debug-info-like tail the parser never needs
    data = build_elf(sample_spec("ppc64le")) + bytes(range(256)) * 4096 * 32
    stats = StreamStats()
    facts = parse_streamed(
        deflate(data), len(data), zlib.crc32(data), parse_elf, keep=keep, stats=stats
    )
    assert facts == parse_elf(data)
    if keep == 64:
        assert stats.passes > 1  # dropped bytes were wanted: inflated again
    else:
        assert stats.passes == 1
        assert not stats.complete and stats.inflated < len(data) // 4  # the tail never inflated


def test_streamed_equals_whole_on_real_members(real_wheels: list[Path]) -> None:
    members = saved = 0
    for wheel in real_wheels[::3]:
        with WheelArchive.open(wheel) as archive:
            for member in archive.elf_members():
                if member.method != DEFLATED:
                    continue
                stats = StreamStats()
                streamed = parse_streamed(
                    archive.payload(member),
                    member.size,
                    member.crc,
                    parse_elf,
                    stats=stats,
                )
                assert streamed == parse_elf(archive.read(member)), member.name
                members += 1
                saved += member.size - stats.inflated
    assert members > 30 and saved > 0


def test_crc_and_size_are_checked_when_the_stream_is_read_to_its_end() -> None:
    data = build_elf(sample_spec("x86_64"))
    payload = deflate(data)
    with pytest.raises(StreamError) as crc:
        parse_streamed(payload, len(data), zlib.crc32(data) ^ 1, parse_elf)
    assert crc.value.code == "crc-mismatch"
    with pytest.raises(StreamError) as short:
        parse_streamed(payload, len(data) + 100, zlib.crc32(data), parse_elf)
    assert short.value.code == "size-mismatch"
    with pytest.raises(StreamError) as junk:
        parse_streamed(memoryview(b"\xff" * 64), 1000, 0, parse_elf)
    assert junk.value.code == "bad-deflate"


def test_a_second_pass_stops_at_the_bytes_the_first_did_not_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tables past what the first pass keeps, found only once PT_DYNAMIC, far further on,
    is parsed (tensorflow-cpu 2.21's libtensorflow_cc.so.2: its string table 15-97 MB in,
    PT_DYNAMIC 580 MB in): the second pass keeps them, and stops once it has them. What the
    first pass kept further on (PT_DYNAMIC) is the stream's own bytes still: streaming to
    it again cost the member's whole stream a second time, over HTTP fetched twice."""
    from tests.test_ends_memory import far_strings_member

    from wheelscan.wheel import stream

    mib = 1 << 20
    member = far_strings_member(24 * mib, 4 * mib, 20 * mib)
    # bytes streamed past that a new pass keeps wholesale: less than the 16 MiB between the
    # strings and PT_DYNAMIC, as tensorflow's 480 MB are more than RESTART_KEEP
    monkeypatch.setattr(stream, "RESTART_KEEP", mib)
    data = zlib.decompressobj(-15).decompress(member.stream)
    stats = StreamStats()
    facts = parse_streamed(
        memoryview(member.stream), member.size, member.crc, parse_elf, keep=mib, stats=stats
    )
    assert facts == parse_elf(data)
    assert stats.passes == 2
    # the first pass to PT_DYNAMIC, the second to the strings' end (~4 MiB), not again to it
    assert member.dynamic_offset <= stats.inflated < member.dynamic_offset + 8 * mib, stats


def test_known_bytes_are_given_to_the_parser_and_taken_from_the_callers_list() -> None:
    """Bytes known already (a large member's end, wheel/ends.py's ``EndFound``) are placed
    in the stream's buffer and given to the parser; the caller's list is emptied as they
    are, so that they are not held twice while the member streams."""
    data = build_elf(sample_spec("x86_64")) + bytes(range(256)) * 4096 * 32
    known = [(0, data[:64]), (len(data) - 4096, data[-4096:])]
    stats = StreamStats()
    facts = parse_streamed(
        deflate(data), len(data), zlib.crc32(data), parse_elf, stats=stats, known=known
    )
    assert facts == parse_elf(data) and known == []
    assert not stats.complete  # the known end did not make the stream run to it
