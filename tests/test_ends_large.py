"""Members over WHOLE_MEMBER_LIMIT are read by their two ends too (issue #15), within the
memory bound, locally and over HTTP, and fall back to the streamed reading wherever that
fails.

jaxlib's libjax_common.so is 328 MB, its PT_DYNAMIC 237 MB in: streamed from its start, it
was most of ``show``'s time. The members here are built cheaply: a small library from
tests/elfwriter.py, its PT_DYNAMIC moved behind compressible filler (each 64 KiB of filler
deflated once, with a full flush, and its stream repeated), so that a wheel holding 1 GiB
of library weighs a few tens of MB and is written in a second.
"""

from __future__ import annotations

import json
import random
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.elfwriter import build_elf, sample_spec
from tests.hostile.zipwriter import Entry, write_wheel
from tests.indexserver import IndexServer
from tests.peak_rss import show_measured
from tests.test_ends_failsafe import (
    FAKE_ENTRY,
    MEMBER,
    decoded_from_the_search,
    false_start_member,
)

from wheelscan._native import dynamic_segment, facts_end
from wheelscan.elf import ElfFacts, partial_parser
from wheelscan.wheel import contents, ends
from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.http import open_remote_archive
from wheelscan.wheel.http_ranges import HttpRangeReader
from wheelscan.wheel.httpclient import HttpSession
from wheelscan.wheel.inflate import WHOLE_MEMBER_LIMIT, crc32
from wheelscan.wheel.scratch import KEPT_RESIDENT, scratch

MiB = 1 << 20
CHUNK = 64 * 1024
NAME = "big"
WHEEL = f"{NAME}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def filler_chunk(seed: int) -> bytes:
    """64 KiB that deflate ~30x (2 KiB of noise, then zeros): no zip bomb (ratio < 1000)."""
    noise = random.Random(seed).randbytes(2048)
    return noise + bytes(CHUNK - len(noise))


def flushed(data: bytes) -> bytes:
    """``data`` deflated on its own, ending on a byte boundary (a full flush), not final:
    any such pieces concatenated are one deflate stream."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


@dataclass(frozen=True)
class LargeMember:
    stream: bytes  # its deflate stream
    size: int
    crc: int
    dynamic_offset: int
    head: bytes  # its first bytes (ELF and program headers)


def noise_chunk(seed: int) -> bytes:
    """64 KiB that do not deflate at all: a stream as long as what it inflates to."""
    return random.Random(seed).randbytes(CHUNK)


def large_member(
    size: int, trailing: int, filler: Callable[[int], bytes] = filler_chunk
) -> LargeMember:
    """A library of ``size`` bytes whose PT_DYNAMIC ends ``trailing`` bytes before its end:
    the library, PT_DYNAMIC moved near ``size - trailing``, then ``trailing`` bytes of
    filler past everything the loader maps (a linker's non-alloc sections)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), size - trailing)
    pieces = [(moved.head, flushed(moved.head), 1)]
    for length, seed in ((moved.filler_size, 1), (trailing, 2)):
        chunk, rest = filler(seed), filler(seed)[: length % CHUNK]
        pieces += [(chunk, flushed(chunk), length // CHUNK), (rest, flushed(rest), 1)]
        if length == moved.filler_size:
            pieces.append((moved.tail, flushed(moved.tail), 1))
    return assembled(pieces, size, moved.dynamic_offset, moved.head[:4096])


def assembled(
    pieces: list[tuple[bytes, bytes, int]], size: int, dynamic_offset: int, head: bytes
) -> LargeMember:
    """A member of ``size`` bytes from its pieces in order: (content, the content deflated
    on its own and flushed, how many times in a row)."""
    stream, crc, total = bytearray(), 0, 0
    for content, deflated, times in pieces:
        if not content or not times:
            continue
        stream += deflated * times
        for _ in range(times):
            crc = crc32(content, crc)
        total += len(content) * times
    stream += b"\x03\x00"  # an empty final block (fixed codes)
    assert total == size
    return LargeMember(bytes(stream), size, crc, dynamic_offset, head)


def large_wheel(path: Path, member: LargeMember) -> Path:
    entry = Entry(MEMBER, b"", payload=member.stream, crc=member.crc, size=member.size)
    path.write_bytes(write_wheel([entry], name=NAME))
    return path


def test_the_start_kept_between_attempts_is_what_the_scratch_keeps() -> None:
    """ends.py keeps a member's inflated start in the scratch between its attempts; after
    a member over KEPT_RESIDENT the scratch gives back the pages past KEPT_RESIDENT, and
    what ends.py counts as kept (``_Start.valid``) stops there: zeros past it are never
    taken for the member's bytes. (Before issue #15 a check at import refused any member
    over KEPT_RESIDENT this reading.)"""
    size = 2 * KEPT_RESIDENT
    with scratch(size) as buffer:
        buffer[KEPT_RESIDENT - 1] = 7
        buffer[KEPT_RESIDENT + 4096] = 9
    with scratch(size) as buffer:
        assert buffer[KEPT_RESIDENT - 1] == 7
        assert buffer[KEPT_RESIDENT + 4096] == 0  # given back: zeros


def streamed_facts(archive: WheelArchive, member: Member) -> ElfFacts:
    """The member's facts streamed from its start, as every member over the limit was read."""
    partial = partial_parser()
    assert partial is not None
    facts = contents._parse_stream(archive, member, partial)
    assert facts is not None
    return facts


# PT_DYNAMIC this far from an 80 MiB member's end: ends.py writes the end in one pass, or
# counts it to the stream's end first (too long to write: over ends.MAX_ONE_PASS)
LAYOUTS = {"one pass": 0, "counted": 24 * MiB}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def built(layout: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[LargeMember, Path]:
    member = large_member(80 * MiB, LAYOUTS[layout])
    web = tmp_path_factory.mktemp(layout.replace(" ", "-"))
    (web / "packages").mkdir()
    return member, large_wheel(web / "packages" / WHEEL, member)  # as IndexServer serves it


def test_a_member_over_the_limit_is_read_by_its_ends(
    layout: str, built: tuple[LargeMember, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its facts by its ends, on the route its layout takes, are the streamed reading's,
    and the default reading gives them too, without streaming it."""
    member, path = built
    assert member.size > WHOLE_MEMBER_LIMIT
    dynamic = dynamic_segment(member.head)
    end = facts_end(member.head)
    assert dynamic is not None and end is not None and dynamic[0] == member.dynamic_offset
    route = ends._route(member.size, member.dynamic_offset, end, ends.TAIL_MARGINS[0])
    assert route is ends.Route(layout)
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        streamed = streamed_facts(archive, elf)
        assert ends.parse_by_ends(archive, elf, partial) == streamed

        def not_streamed(*args: object) -> None:
            raise AssertionError("streamed from its start")

        monkeypatch.setattr(contents, "_parse_stream", not_streamed)
        facts = contents.read_wheel_facts(archive, path.name)
    assert [m.facts for m in facts.elf_files] == [streamed]


def test_over_http_only_its_two_ends_are_fetched(
    layout: str, built: tuple[LargeMember, Path]
) -> None:
    """Over HTTP the member's facts are the local ones, from its start and its end's stream
    only: the filler's stream between (all of it but its last part) is never fetched."""
    member, path = built
    local, facts, reader = read_here_and_over_http(path)
    fetched = reader.bytes_fetched
    assert facts == local
    # streamed, it was all fetched; by its ends, the end's share of the stream (from 2 MiB
    # before PT_DYNAMIC, where the search for a block header begins) and a few requests'
    # worth for its start: 167 KB of 2.9 MB (one pass), 1.07 MB (counted, 24 MiB more)
    wheel_size = path.stat().st_size
    end_share = wheel_size * (member.size - member.dynamic_offset + 2 * MiB) // member.size
    assert fetched < end_share + 256 * 1024, (fetched, end_share, wheel_size)


def read_here_and_over_http(path: Path) -> tuple[object, object, HttpRangeReader]:
    """The wheel's facts read from its file, then by ranges from a server on loopback
    (``path`` under ``<web>/packages/``), and the reader that fetched them."""
    with WheelArchive.open(path) as archive:
        local = contents.read_wheel_facts(archive, path.name)
    with IndexServer(path.parent.parent) as server, HttpSession(backoff=0.01) as session:
        url = server.file_url(path)
        with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as wheel:
            facts = contents.read_wheel_facts(wheel, path.name)
            assert isinstance(wheel.reader, HttpRangeReader)
            return local, facts, wheel.reader


def _show_measured(path: Path, **env: str) -> tuple[int, list[dict[str, object]], int]:
    """``wheelscan show --json``'s exit status, results and peak RSS (bytes), as a user runs it."""
    status, output, max_rss = show_measured(path, **env)
    return status, json.loads(output)["results"], max_rss


@pytest.mark.slow
def test_a_gib_member_is_read_by_its_ends_within_the_memory_bound(tmp_path: Path) -> None:
    """A 1 GiB member, PT_DYNAMIC 200 MiB before its end: read by its ends (counted), and
    ``show`` stays under issue #15's 150 MB a worker, as when it was streamed."""
    member = large_member(1 << 30, 200 * MiB)
    path = large_wheel(tmp_path / WHEEL, member)
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        by_ends = ends.parse_by_ends(archive, elf, partial)
        assert by_ends is not None
        assert by_ends == streamed_facts(archive, elf)
    status, results, max_rss = _show_measured(path)
    assert status in (0, 1) and "overall_tag" in results[0], results
    assert max_rss < 150 * MiB, f"{max_rss / MiB:.0f} MiB"


@pytest.mark.slow
def test_a_streamed_member_leaves_the_bytes_it_has_read(tmp_path: Path) -> None:
    """A 160 MiB member that does not deflate, PT_DYNAMIC 48 MiB before its end: its end's
    stream is over MAX_END_STREAM, so it is streamed from its start, through 112 MiB of the
    mapped wheel. The pages the stream has passed go back as it goes: ``show`` stays under
    the bytes it read (98 MiB: the start it keeps, its scratch; 204 MiB when they stayed
    until the member was done)."""
    member = large_member(160 * MiB, 48 * MiB, filler=noise_chunk)
    assert len(member.stream) - member.dynamic_offset > ends.MAX_END_STREAM
    path = large_wheel(tmp_path / WHEEL, member)
    status, results, max_rss = _show_measured(path)
    assert status in (0, 1) and "overall_tag" in results[0], results
    assert max_rss < 128 * MiB, f"{max_rss / MiB:.0f} MiB"
    assert (status, results) == _show_measured(path, WHEELSCAN_VERIFY="1")[:2]


# PT_DYNAMIC this far from the end of a 72 MiB member whose end decodes falsely
# (tests/test_ends_failsafe.py): the same routes as for the smaller members there
FALSE_ROUTES = {"one pass": 300 << 10, "counted": 700 << 10}


@pytest.fixture(scope="module", params=list(FALSE_ROUTES))
def false_start(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    route = str(request.param)
    member = false_start_member(FALSE_ROUTES[route], 72 * MiB, filler_chunk(3))
    assert decoded_from_the_search(member, route) == FAKE_ENTRY  # it does decode falsely
    path = tmp_path_factory.mktemp("false-start-large") / WHEEL
    path.write_bytes(write_wheel([Entry(MEMBER, member.content, payload=member.stream)], name=NAME))
    return route, path


def test_a_false_start_in_a_large_member_falls_back_to_the_stream(
    false_start: tuple[str, Path],
) -> None:
    """Over the limit as under it, an end decoded from a false start never decides: the
    ends' reading gives the streamed facts or none, and the default reading (which then
    streams the member) gives the streamed facts."""
    _, path = false_start
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        assert elf.size > WHOLE_MEMBER_LIMIT
        streamed = streamed_facts(archive, elf)
        by_ends = ends.parse_by_ends(archive, elf, partial)
        assert by_ends is None or by_ends == streamed
        facts = contents.read_wheel_facts(archive, path.name)
    assert [m.facts for m in facts.elf_files] == [streamed]
    # as a user runs it: the verdict of the member read whole and checked, within the bound
    status, results, max_rss = _show_measured(path)
    assert (status, results) == _show_measured(path, WHEELSCAN_VERIFY="1")[:2]
    assert "overall_tag" in results[0], results
    assert max_rss < 150 * MiB, f"{max_rss / MiB:.0f} MiB"
