"""Reading a member by its ends holds no more than its streamed reading would, and a member
over WHOLE_MEMBER_LIMIT is routed alike from a directory and over HTTP.

The members are built as in tests/test_ends_large.py: a small library from
tests/elfwriter.py, its PT_DYNAMIC moved behind compressible filler (64 KiB deflated once,
with a full flush, its stream repeated), so that hundreds of MiB of library weigh a few MB.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from tests.elfwriter import build_image, sample_spec
from tests.indexserver import IndexServer
from tests.test_ends_failsafe import MEMBER
from tests.test_ends_large import (
    CHUNK,
    WHEEL,
    LargeMember,
    _show_measured,
    filler_chunk,
    large_member,
    large_wheel,
)

from wheelscan._native import dynamic_segment, facts_end
from wheelscan.elf import ElfFacts, partial_parser
from wheelscan.wheel import contents, ends
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import RemoteWheelArchive, open_remote_archive
from wheelscan.wheel.http_ranges import HttpRangeReader
from wheelscan.wheel.httpclient import HttpSession
from wheelscan.wheel.inflate import WHOLE_MEMBER_LIMIT, crc32
from wheelscan.wheel.stream import RESTART_KEEP

MiB = 1 << 20
DT_STRTAB = 5


def _deflated(pieces: list[tuple[bytes, int, int]]) -> tuple[bytes, int, int]:
    """(content, times, zlib level) pieces as one deflate stream, each deflated once with a
    full flush and its stream repeated: (stream, CRC-32, size)."""
    stream, crc, total = bytearray(), 0, 0
    for content, times, level in pieces:
        if not content or not times:
            continue
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        stream += (compressor.compress(content) + compressor.flush(zlib.Z_FULL_FLUSH)) * times
        for _ in range(times):
            crc = crc32(content, crc)
        total += len(content) * times
    stream += b"\x03\x00"  # an empty final block (fixed codes)
    return bytes(stream), crc, total


def _repeated(chunk: bytes, length: int, level: int = 6) -> list[tuple[bytes, int, int]]:
    return [(chunk, length // CHUNK, level), (chunk[: length % CHUNK], 1, level)]


def _relocated(size: int, trailing: int) -> tuple[Any, Any]:
    """The sample library's image, and it with PT_DYNAMIC moved ``trailing`` bytes before
    ``size`` (benchmarks/harness/elfmove.py)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    image = build_image(sample_spec("x86_64", interpreter=None))
    return image, relocate_dynamic(bytes(image.data), size - trailing)


def noisy_end_member(size: int, trailing: int) -> LargeMember:
    """PT_DYNAMIC ``trailing`` bytes before the end of ``size``, all of them noise that does
    not deflate (stored blocks): an end whose stream is ``trailing`` bytes long."""
    _, moved = _relocated(size, trailing)
    noise = random.Random(5).randbytes(CHUNK)
    stream, crc, total = _deflated(
        [
            (moved.head, 1, 6),
            *_repeated(filler_chunk(1), moved.filler_size),
            (moved.tail, 1, 6),
            *_repeated(noise, trailing, level=0),
        ]
    )
    assert total == size
    return LargeMember(stream, size, crc, moved.dynamic_offset, moved.head[:4096])


def far_strings_member(size: int, strings_at: int, dynamic_at: int) -> LargeMember:
    """The library with its string table (DT_STRTAB) copied ``strings_at`` bytes in and
    PT_DYNAMIC ``dynamic_at`` bytes in, filler between and after: a member whose tables
    reach far into it, as tensorflow-cpu's (97 MB from its start)."""
    image, moved = _relocated(dynamic_at, 0)  # PT_DYNAMIC ends at ``dynamic_at``, about
    strings_offset, strings_size = image.sections[".dynstr"]
    strings = bytes(image.data[strings_offset : strings_offset + strings_size])
    head: bytes = moved.head
    # the last PT_LOAD, stretched to PT_DYNAMIC, maps the strings' new place too
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", head, 0x20)[0],
        *struct.unpack_from("<2H", head, 0x36),
    )
    loads = [
        struct.unpack_from("<2I6Q", head, phoff + i * phentsize)
        for i in range(phnum)
        if struct.unpack_from("<I", head, phoff + i * phentsize)[0] == 1
    ]
    last = max(loads, key=lambda load: load[3])
    address = last[3] - last[2] + strings_at
    tail = bytearray(moved.tail)
    for entry in range(0, len(tail), 16):
        if struct.unpack_from("<q", tail, entry)[0] == DT_STRTAB:
            struct.pack_into("<Q", tail, entry + 8, address)
    dynamic_offset: int = moved.dynamic_offset
    chunk = filler_chunk(1)
    stream, crc, total = _deflated(
        [
            (head, 1, 6),
            *_repeated(chunk, strings_at - len(head)),
            (strings, 1, 6),
            *_repeated(chunk, dynamic_offset - strings_at - len(strings)),
            (bytes(tail), 1, 6),
            *_repeated(chunk, size - dynamic_offset - len(tail)),
        ]
    )
    assert total == size
    return LargeMember(stream, size, crc, dynamic_offset, head[:4096])


def _held(reader: HttpRangeReader) -> int:
    """The bytes of the file the reader holds (fetched, not let go)."""
    return sum(len(data) for _, data in reader._blocks)


def _served_wheel(tmp_path: Path, member: LargeMember) -> Path:
    (tmp_path / "packages").mkdir()
    return large_wheel(tmp_path / "packages" / WHEEL, member)  # as IndexServer serves it


def test_an_end_fetched_over_http_is_held_once(tmp_path: Path) -> None:
    """The end's stream, fetched with the wheel's plan, is copied into the mapping the end
    is decoded from, and the reader lets it go: it was held twice until the wheel closed
    (70 MB of tensorflow-cpu's). Once the member is done with, its start goes too."""
    member = large_member(80 * MiB, 24 * MiB)  # counted: a third of the stream is the end
    path = _served_wheel(tmp_path, member)
    partial = partial_parser()
    assert partial is not None
    with IndexServer(tmp_path) as server, HttpSession(backoff=0.01) as session:
        url = server.file_url(path)
        with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as wheel:
            assert isinstance(wheel, RemoteWheelArchive)
            reader = wheel.reader
            (elf,) = [m for m in wheel.members if m.name == MEMBER]
            end_stream = elf.compressed_size * (elf.size - member.dynamic_offset) // elf.size
            assert isinstance(ends.parse_by_ends(wheel, elf, partial), ElfFacts)
            held = _held(reader)
            assert held < end_stream // 2, (held, end_stream)
            wheel.done_with(elf)
            assert _held(reader) < 256 * 1024, _held(reader)


# Members over the limit whose end a directory and HTTP routed apart (before): PT_DYNAMIC
# 30% in, whose end costs more than SKIP_WORTH (0.5) of the member but less than
# REMOTE_SKIP_WORTH (1.0); and an end of 40 MiB of noise, a stream longer than
# ends.MAX_END_STREAM, read by its ends either way (fetched and held over HTTP)
APART = {
    "dynamic early": lambda: large_member(80 * MiB, 56 * MiB),
    "end too long": lambda: noisy_end_member(160 * MiB, 40 * MiB),
}


@pytest.mark.parametrize("layout", list(APART))
def test_a_member_over_the_limit_is_routed_alike_from_a_directory_and_over_http(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed both ways, to the same facts: where streaming meets ``scattered-tables``
    the store then holds the same error whichever way the wheel was read, never an error
    from a directory and a verdict over HTTP; over HTTP the long end is then fetched a
    window at a time (wheel/http.py's ``StreamedRanges``), never held whole."""
    member = APART[layout]()
    assert member.size > WHOLE_MEMBER_LIMIT
    path = _served_wheel(tmp_path, member)
    streamed: list[str] = []
    stream = contents._parse_stream

    def spied(archive: WheelArchive, *args: object) -> object:
        streamed.append("http" if archive.fetched else "directory")
        return stream(archive, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(contents, "_parse_stream", spied)
    with WheelArchive.open(path) as archive:
        local = read_wheel_facts(archive, path.name)
    with IndexServer(tmp_path) as server, HttpSession(backoff=0.01) as session:
        url = server.file_url(path)
        with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as wheel:
            remote = read_wheel_facts(wheel, path.name)
    assert remote == local
    assert streamed == ["directory", "http"]


_THREADS_KEEP_NO_BUFFERS = """
import sys, threading
from wheelscan.elf import ElfFacts, partial_parser
from wheelscan.wheel import ends
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.scratch import RETAINED, share_among_threads

share_among_threads(RETAINED)  # as a worker reading wheels on threads (engine/inflight.py)

def resident():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

archive = WheelArchive.open(sys.argv[1])
(member,) = [m for m in archive.members if m.name == sys.argv[2]]
parse = partial_parser()
assert isinstance(ends.parse_by_ends(archive, member, parse), ElfFacts)  # imports, its pages
before = resident()
threads = int(sys.argv[3])
read, release, results = threading.Barrier(threads + 1), threading.Event(), []

def reader():
    results.append(isinstance(ends.parse_by_ends(archive, member, parse), ElfFacts))
    read.wait()
    release.wait()  # alive, as a worker's wheel threads stay

started = [threading.Thread(target=reader) for _ in range(threads)]
for thread in started:
    thread.start()
read.wait()
print(resident() - before, results.count(True))
release.set()
"""


def test_threads_sharing_the_scratch_keep_no_one_pass_buffers(tmp_path: Path) -> None:
    """A worker's wheel threads (up to 128) kept two one-pass buffers each, up to 4 MiB
    apiece, for their lives: 32 threads that read an 8 MiB member's short end in one pass
    kept ~90 MiB between them. Sharing the scratch, they take them from its budget while
    they use them, and keep none. (malloc's threshold fixed: what it caches is not held.)"""
    member = large_member(8 * MiB, 300 * 1024)
    end = facts_end(member.head)
    assert end is not None
    route = ends._route(member.size, member.dynamic_offset, end, ends.TAIL_MARGINS[0])
    assert route is ends.Route.ONE_PASS
    path = large_wheel(tmp_path / WHEEL, member)
    threads = 32
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_KEEP_NO_BUFFERS, str(path), MEMBER, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)},
    ).stdout
    grown, read = map(int, out.split())
    assert read == threads
    assert grown < 24 * MiB, f"{grown / MiB:.0f} MiB"


@pytest.mark.slow
def test_a_member_whose_tables_reach_far_stays_within_the_memory_bound(tmp_path: Path) -> None:
    """Its string table 120 MiB in, PT_DYNAMIC 250 MiB in: its start inflated up to
    MAX_START (128 MiB, before) beside the end's buffers took ``show`` past issue #15's
    150 MB a worker; streamed, it keeps its first 64 MiB and the table. Reading by ends
    now inflates no more of the start than leaves room for the end's buffers and stream
    within what the streamed reading may hold; this member's end is placed and kept (at
    most MAX_TAIL_WRITE), and its start streamed to the table."""
    member = far_strings_member(280 * MiB, 120 * MiB, 250 * MiB)
    dynamic = dynamic_segment(member.head)
    assert dynamic is not None and dynamic[0] == member.dynamic_offset
    path = large_wheel(tmp_path / WHEEL, member)
    with WheelArchive.open(path) as archive:
        local = read_wheel_facts(archive, path.name)
    assert len(local.elf_files) == 1 and local.elf_files[0].facts.needed, local
    status, results, max_rss = _show_measured(path)
    assert status in (0, 1) and "overall_tag" in results[0], results
    assert max_rss < 150 * MiB, f"{max_rss / MiB:.0f} MiB"
    assert ends.MAX_START + ends.END_HELD + ends.MAX_END_STREAM <= (
        RESTART_KEEP + ends.STREAM_WINDOW
    )


def test_an_end_placed_with_its_start_past_what_the_ends_may_hold_streams_the_start_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tensorflow-cpu 2.21's libtensorflow_cc.so.2 holds its strings 15-97 MB in, past the
    start the reading by ends may inflate (MAX_START), and PT_DYNAMIC 580 MB in: it was
    streamed from its start to PT_DYNAMIC (154 MB of its 172 MB stream, over HTTP all of
    it fetched). Its end, counted, now stays placed, and the stream runs only to the
    strings: locally and over HTTP the same facts as a whole parse, the stream given the
    end's bytes, and inflated and fetched only as far as the strings."""
    from tests.test_ends_large import read_here_and_over_http

    from wheelscan._native import parse_elf
    from wheelscan.wheel import http, stream

    member = far_strings_member(160 * MiB, 48 * MiB, 150 * MiB)
    assert 48 * MiB > ends.MAX_START
    (tmp_path / "packages").mkdir()
    path = large_wheel(tmp_path / "packages" / WHEEL, member)
    streams: list[tuple[stream.StreamStats, int]] = []
    streamed = stream.parse_streamed

    def noted(*args: Any, **kwargs: Any) -> Any:
        stats = kwargs.setdefault("stats", stream.StreamStats())
        streams.append((stats, len(kwargs.get("known", ()))))
        return streamed(*args, **kwargs)

    monkeypatch.setattr(stream, "parse_streamed", noted)  # where contents takes it
    # the stream fetched 256 KiB at a time: 8 MiB at a time (STREAM_WINDOW // 2) would be
    # this member's whole stream (its filler deflates 30 times over) in the first part
    monkeypatch.setattr(http, "STREAM_WINDOW", 512 * 1024)
    monkeypatch.setattr(stream, "INPUT_CHUNK", 128 * 1024)  # each slice within a part
    local, remote, reader = read_here_and_over_http(path)
    whole = parse_elf(zlib.decompressobj(-15).decompress(member.stream))
    assert remote == local and local.elf_files[0].facts == whole  # type: ignore[attr-defined]
    assert len(streams) == 2
    for stats, known in streams:
        assert known > 0  # the end's bytes, placed
        # to the strings' end (48 MiB and a little), never on to PT_DYNAMIC at 150 MiB
        assert 48 * MiB < stats.inflated < 64 * MiB, stats
    # the start's stream to the strings, the end's from where its count began: not the
    # stream between (before, all of it up to PT_DYNAMIC was fetched)
    wheel_size = path.stat().st_size
    assert reader.bytes_fetched < wheel_size * 6 // 10, (reader.bytes_fetched, wheel_size)


@pytest.mark.parametrize("failure", ["refused", "passes run out"])
def test_an_end_placed_whose_bytes_the_parser_refuses_leaves_the_stream_to_decide(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An end may be decoded from a false start (tests/test_ends_failsafe.py): where its
    bytes, given to the stream of a start too long for the reading by ends, make the parser
    refuse the member, or that stream's passes run out, the stream from the member's start
    decides, as it did before the end was kept; never an error the end's bytes alone
    caused. (The end's bytes here are a PT_DYNAMIC whose string table lies nowhere the
    file maps, placed where it begins; its passes made to run out by the stream's own
    bound.)"""
    from wheelscan._native import parse_elf

    member = far_strings_member(160 * MiB, 48 * MiB, 150 * MiB)
    (tmp_path / "packages").mkdir()
    path = large_wheel(tmp_path / "packages" / WHEEL, member)
    dynamic = dynamic_segment(member.head)
    assert dynamic is not None and dynamic[0] == member.dynamic_offset
    # the whole segment, so that the parser asks the stream for none of it: then DT_NULL
    false_end = struct.pack("<2q", DT_STRTAB, 1 << 44).ljust(dynamic[1], b"\0")
    monkeypatch.setattr(
        contents,
        "parse_by_ends",
        lambda *args: ends.EndFound([(member.dynamic_offset, false_end)]),
    )
    streams: list[int] = []
    streamed = contents._parse_stream
    passes_bound = contents.MAX_STREAM_PASSES

    def noted(archive: WheelArchive, member: Any, parse: Any, known: Any = None) -> Any:
        streams.append(len(known or ()))
        if known and failure == "passes run out":
            monkeypatch.setattr(contents, "MAX_STREAM_PASSES", 0)
            try:
                return streamed(archive, member, parse, known)
            finally:
                monkeypatch.setattr(contents, "MAX_STREAM_PASSES", passes_bound)
        return streamed(archive, member, parse, known)

    monkeypatch.setattr(contents, "_parse_stream", noted)
    with WheelArchive.open(path) as archive:
        facts = read_wheel_facts(archive, path.name)
    whole = parse_elf(zlib.decompressobj(-15).decompress(member.stream))
    assert facts.elf_files[0].facts == whole, facts
    assert streams == [1, 0]  # with the false end, refused; then from the start alone


def test_a_counted_end_is_weighed_from_where_its_count_first_searches(tmp_path: Path) -> None:
    """Over WHOLE_MEMBER_LIMIT an end whose stream is longer than MAX_END_STREAM is not
    decoded. A counted end's was weighed from where an evenly compressed member would
    place it, though its count first searches from where an end compressing END_DENSER
    times as well would begin: tensorflow-cpu 2.21's libtensorflow_cc.so.2, taken to need
    45 MB of stream where its count reaches back 23 MB (the end is 19 MB), was streamed.
    Here 140 MiB of noise, then filler: PT_DYNAMIC 150 MiB into 200 MiB, its end's stream
    tiny, 35 MiB from the even aim, 18 MiB from the count's. Read by its ends, with the
    facts of a whole parse; and the HTTP plan fetches that end with the wheel's first
    parts."""
    from wheelscan._native import parse_elf

    size, dynamic_ends, noise = 200 * MiB, 150 * MiB, 140 * MiB
    _, moved = _relocated(size, size - dynamic_ends)
    stream, crc, total = _deflated(
        [
            (moved.head, 1, 6),
            *_repeated(random.Random(7).randbytes(CHUNK), noise, level=0),
            *_repeated(filler_chunk(1), moved.filler_size - noise),
            (moved.tail, 1, 6),
            *_repeated(filler_chunk(2), size - dynamic_ends),
        ]
    )
    assert total == size
    member = LargeMember(stream, size, crc, moved.dynamic_offset, moved.head[:4096])
    path = large_wheel(tmp_path / WHEEL, member)
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        begin = member.dynamic_offset - ends.TAIL_MARGINS[0]
        assert not ends._end_fits(elf, ends._aimed(elf, begin))  # the even aim: 35 MiB
        assert ends._first_reach_fits(elf, begin, ends.Route.COUNTED)
        end = facts_end(member.head)
        assert end is not None and ends.first_decoded(elf, member.dynamic_offset, end)
        facts = ends.parse_by_ends(archive, elf, partial_parser())
    assert facts == parse_elf(zlib.decompressobj(-15).decompress(member.stream))
