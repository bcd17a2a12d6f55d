"""Mid-size libraries over HTTP: read by their two ends, fetched whole where the ends fail.

Locally a member is read by its ends from 4 MiB on (ends.SKIP_ABOVE), where that saves
inflation; over HTTP a byte not inflated is a byte not fetched too, so a remote archive
reads members by their ends from 512 KiB on (ends.REMOTE_SKIP_ABOVE, issue #15). The
oracle is the local file read whole: the facts must be equal, and where the ends cannot
settle them, the member is fetched whole, never guessed at.
"""

from __future__ import annotations

import random
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.elfwriter import build_elf, sample_spec
from tests.hostile.zipwriter import Entry, write_wheel
from tests.test_ends_failsafe import (
    STORED_BLOCK_MAX,
    deflate_flushed,
    false_start_member,
    stored_block,
    stored_blocks,
)

from wheelscan._native import dynamic_segment, facts_end
from wheelscan._tail import block_starts
from wheelscan.engine.worker import read_facts
from wheelscan.model import WheelFacts
from wheelscan.wheel import ends
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.contents import PREFIX_FROM, VERIFY_ENV, read_wheel_facts
from wheelscan.wheel.http import inflation_ratio, open_remote_archive
from wheelscan.wheel.http_ranges import HEAD_FETCH, TAIL_SIZE, HttpRangeReader

from indexserver import IndexServer
from wheelbuilder import build_wheel

MEMBER = "mid/libmid.so"
MID = "mid-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
FALSE = "fake-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
SPARSE = "sparse-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
DATA_HEAVY = "heavy-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
TABLES_FIRST = "tables-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
# 8 MiB, a fifth of it data past PT_DYNAMIC: its end counted from the first margin before
# PT_DYNAMIC, and from the second too (ends._route), at most the whole member's inflation
HEAVY_SIZE, HEAVY_DATA = 8 << 20, 1600 << 10
MID_SIZE = 3 << 20  # between PREFIX_FROM and ends.SKIP_ABOVE
DATA = 384 << 10  # the library's data, before PT_DYNAMIC


def late_dynamic_library(size: int) -> bytes:
    """A library of ``size`` bytes whose PT_DYNAMIC lies at its end, behind code-like bytes
    that deflate to about three quarters, then DATA bytes that do not deflate: the layout
    a linker gives most libraries. (Bytes that copy from before where the end is decoded,
    through runs of copies, are unknown to the end's decoder; the data's are all known,
    so the end settles the facts at its first attempt.)"""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), size)
    noise = random.Random(7)
    code = b"".join(noise.randbytes(24) + bytes(noise.randrange(24)) for _ in range(size // 30))
    filler = code[: moved.filler_size - DATA] + noise.randbytes(DATA)
    return moved.head + filler + moved.tail


def data_heavy_library() -> bytes:
    """HEAVY_SIZE bytes: a library of which HEAVY_DATA bytes of data (not deflating) lie
    past its PT_DYNAMIC and its tables, where a linker writes .data."""
    library = late_dynamic_library(HEAVY_SIZE - HEAVY_DATA)
    return library + random.Random(8).randbytes(HEAVY_DATA)


def tables_first_library() -> bytes:
    """A library read by a prefix: its headers and tables first, then 64 KiB of zeros
    (that deflate to almost nothing), then 2 MiB that do not deflate at all."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    return elf + bytes(64 << 10) + random.Random(10).randbytes(2 << 20)


def sparse_headers_stream(content: bytes) -> bytes:
    """``content`` deflated, its DATA and what follows in stored blocks of 64 KiB placed so
    that no block header lies within ends.FIRST_SEARCH_BITS before where the end's search
    begins: it must look further back (as far as ends.SEARCH_BITS) to find one."""
    cut = len(content) - DATA - 64
    front, rest = deflate_flushed(content[:cut]), content[cut:]
    for first in range(1024, STORED_BLOCK_MAX, 2048):
        stream = front + stored_block(rest[:first])
        stream += stored_blocks(rest[first:], -(-(len(rest) - first) // STORED_BLOCK_MAX), True)
        # where ends.py aims its search (the first margin, the block allowance)
        dynamic = len(content) - (len(content) - cut - DATA)
        aim = dynamic - ends.TAIL_MARGINS[0] - ends.BLOCK_ALLOWANCE
        target = 8 * len(stream) * aim // len(content)
        near = block_starts(stream, target, target - ends.FIRST_SEARCH_BITS)
        if near is None and block_starts(stream, target, target - ends.SEARCH_BITS) is not None:
            return stream
    raise AssertionError("no placement of the stored blocks hides the headers")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    web = tmp_path_factory.mktemp("web")
    (web / "packages").mkdir()
    (web / "packages" / MID).write_bytes(
        write_wheel([Entry(MEMBER, late_dynamic_library(MID_SIZE))], name="mid")
    )
    library = late_dynamic_library(MID_SIZE)
    (web / "packages" / SPARSE).write_bytes(
        write_wheel([Entry(MEMBER, library, payload=sparse_headers_stream(library))], name="sparse")
    )
    (web / "packages" / DATA_HEAVY).write_bytes(
        write_wheel([Entry(MEMBER, data_heavy_library())], name="heavy")
    )
    (web / "packages" / TABLES_FIRST).write_bytes(
        build_wheel(
            {MEMBER: tables_first_library(), "mid/data.txt": random.Random(9).randbytes(TAIL_SIZE)},
            name="tables",
        )
    )
    fake = false_start_member(300 << 10, size=MID_SIZE)
    (web / "packages" / FALSE).write_bytes(
        write_wheel([Entry(MEMBER, fake.content, payload=fake.stream)], name="fake")
    )
    with IndexServer(web) as server:
        yield server


def remote_facts(server: IndexServer, name: str) -> tuple[WheelFacts, HttpRangeReader, int]:
    """The wheel's facts read over HTTP (by ranges, however small), the reader, and the
    library's compressed size."""
    path = server.web / "packages" / name
    url = server.file_url(path)
    with open_remote_archive(url, path.stat().st_size, whole_below=0) as archive:
        assert isinstance(archive.reader, HttpRangeReader)
        (member,) = [m for m in archive.members if m.name == MEMBER]
        return read_wheel_facts(archive, name), archive.reader, member.compressed_size


def test_the_library_is_mid_size_and_compresses_as_code_does(served: IndexServer) -> None:
    content = late_dynamic_library(MID_SIZE)
    assert PREFIX_FROM <= len(content) < ends.SKIP_ABOVE
    assert 0.3 < len(zlib.compress(content, 6)) / len(content) < 0.8


def test_a_mid_size_library_is_fetched_by_its_ends(served: IndexServer) -> None:
    """Its start and its end cross the network, not the code between: well under half its
    compressed bytes (fetched whole, all of them and more, before issue #15's change)."""
    facts, reader, compressed = remote_facts(served, MID)
    assert facts == read_facts(served.web / "packages" / MID, MID)
    assert [m.path for m in facts.elf_files] == [MEMBER]
    assert reader.bytes_fetched < compressed / 2, (reader.bytes_fetched, compressed)


def test_a_library_whose_ends_cannot_settle_its_facts_is_read_from_its_start(
    served: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its end decodes from a false start (tests/test_ends_failsafe.py) to bytes that are
    not its own: the parse fails, and the member is read from its start (as far as its
    tables, or whole), to the facts of the local file with every member inflated whole
    and checked (WHEELSCAN_VERIFY=1), never to the false end's."""
    facts, _, _ = remote_facts(served, FALSE)
    monkeypatch.setenv(VERIFY_ENV, "1")
    assert facts == read_facts(served.web / "packages" / FALSE, FALSE)


def test_a_block_header_far_before_the_search_is_still_found(served: IndexServer) -> None:
    """The end's search looks FIRST_SEARCH_BITS back, fetching only that much before
    where it aims; finding no block header there, it fetches and searches further back,
    and the member is still read by its ends (not whole), to the facts of the whole."""
    facts, reader, compressed = remote_facts(served, SPARSE)
    assert facts == read_facts(served.web / "packages" / SPARSE, SPARSE)
    assert reader.bytes_fetched < compressed / 2, (reader.bytes_fetched, compressed)


def test_a_counted_end_is_fetched_from_its_first_margin_only(served: IndexServer) -> None:
    """Locally an end counted from the first margin before PT_DYNAMIC is counted from as
    far back as a later margin may need, so that a second attempt need not count again;
    over HTTP that cost the bytes between, fetched for an attempt that seldom comes. They
    are not fetched: less than the stream from the second margin on crosses the network."""
    path = served.web / "packages" / DATA_HEAVY
    with WheelArchive.open(path) as archive:
        (member,) = [m for m in archive.members if m.name == MEMBER]
        dynamic = dynamic_segment(archive.head(member, ends.HEAD_BYTES))[0]
        end = facts_end(archive.head(member, ends.HEAD_BYTES))
        stream = bytes(archive.payload(member))
    first, second = ends.TAIL_MARGINS[:2]
    for margin in (first, second):
        assert ends._route(HEAVY_SIZE, dynamic, end, margin, 1.0) is ends.Route.COUNTED
    facts, reader, compressed = remote_facts(served, DATA_HEAVY)
    assert facts == read_facts(path, DATA_HEAVY)
    inflater, produced, used = zlib.decompressobj(-15), 0, 0
    while produced < dynamic - second:  # the stream's offset where the second margin is
        produced += len(inflater.decompress(stream[used : used + 1024]))
        used += 1024
    assert reader.bytes_fetched < compressed - used, (reader.bytes_fetched, compressed - used)


def test_a_prefix_is_sized_from_the_ratio_of_the_start_fetched(served: IndexServer) -> None:
    """The member's first HEAD_FETCH bytes, fetched with its plan, inflate to five times
    as much; its whole to about as much. Sized at the whole's ratio, its prefix (its tables
    and PREFIX_SLACK more) would take some 80 KiB of the stream; at its start's, a fifth of
    that: the wheel costs its tail, the member's first bytes and a few KiB more."""
    facts, reader, _ = remote_facts(served, TABLES_FIRST)
    assert facts == read_facts(served.web / "packages" / TABLES_FIRST, TABLES_FIRST)
    assert reader.bytes_fetched < TAIL_SIZE + 3 * HEAD_FETCH, reader.bytes_fetched


def test_the_ratio_of_a_start_is_measured_on_a_bounded_sample() -> None:
    """Zeros then noise: the ratio of the zeros alone when the sample ends in them, of
    both when it reaches the noise; nothing for a stream that is no deflate stream."""
    content = bytes(1 << 20) + random.Random(11).randbytes(1 << 20)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = compressor.compress(content) + compressor.flush()
    zeros = inflation_ratio(stream, 512 << 10)
    both = inflation_ratio(stream, 4 << 20)
    assert zeros is not None and both is not None
    assert zeros > 100 and 1 < both < 2
    assert both == pytest.approx(len(content) / len(stream))
    assert inflation_ratio(random.Random(12).randbytes(4096), 1 << 20) is None
