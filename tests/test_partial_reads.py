"""Members read in part over HTTP: only the compressed bytes the reading needs are fetched,
and any failure of such a reading falls back to the whole member (issue #15).

The oracle is the local read of the same wheel, which never fetches anything: the facts
must be equal whatever was fetched.
"""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pytest
from tests.hostile.zipwriter import Entry, write_wheel
from tests.test_ends_failsafe import MEMBER, false_start_member, late_dynamic

from wheelscan.engine.worker import read_facts
from wheelscan.wheel import inflate_isal
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.ends import STREAM_WINDOW
from wheelscan.wheel.http import HttpSession, StreamedRanges, open_remote_archive
from wheelscan.wheel.http_ranges import HttpRangeReader

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from wheelbuilder import build_wheel

Prefix = Callable[[bytes | memoryview, bytearray], int]
INFLATERS: dict[str, Prefix] = {"isal": inflate_isal.inflate_prefix}
try:
    from wheelscan._inflate import inflate_prefix as libdeflate_prefix

    INFLATERS["libdeflate"] = libdeflate_prefix
except ImportError:  # the ISA-L twin alone (a test elsewhere requires the native one)
    pass
ERRORS: tuple[type[Exception], ...] = (inflate_isal.InflateError,)
if "libdeflate" in INFLATERS:
    from wheelscan._inflate import InflateError

    ERRORS += (InflateError,)


def mixed_content(seed: int, size: int) -> bytes:
    """Runs of zeros, text and noise: dynamic, fixed and stored blocks, long matches."""
    noise = random.Random(seed)
    parts, total = [], 0
    while total < size:
        kind = noise.randrange(3)
        length = noise.randrange(1, 40_000)
        if kind == 0:
            part = bytes(length)
        elif kind == 1:
            part = b"".join(b"symbol_%d\0" % noise.randrange(5000) for _ in range(length // 10))
        else:
            part = noise.randbytes(length)
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


@pytest.mark.parametrize("inflater", list(INFLATERS))
@pytest.mark.parametrize("level", [1, 6, 9])
def test_a_cut_stream_is_refused_or_inflates_its_start_exactly(inflater: str, level: int) -> None:
    """wheel/partial.py inflates a member's start from a cut of its stream: wherever it is
    cut, the bytes the inflater vouches for are the stream's own, or it refuses."""
    content = mixed_content(level, 600_000)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    stream = compressor.compress(content) + compressor.flush()
    prefix = INFLATERS[inflater]
    out_length = 400_000
    vouched = refused = 0
    for cut in range(0, len(stream), max(1, len(stream) // 997)):
        out = bytearray(out_length)
        try:
            valid = prefix(stream[:cut], out)
        except ERRORS:
            refused += 1
            continue
        assert out[:valid] == content[:valid], cut
        vouched += 1
    assert vouched and refused  # both sides of the cut that suffices were met


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    with IndexServer(tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture()
def session() -> Iterator[HttpSession]:
    with HttpSession(backoff=0.01) as client:
        yield client


def remote_and_local(
    server: IndexServer, session: HttpSession, name: str, data: bytes
) -> tuple[object, object, HttpRangeReader]:
    """The wheel's facts read over HTTP (by ranges, however small) and read locally."""
    path = server.web / "packages" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    url = server.file_url(path)
    with open_remote_archive(url, len(data), session=session, whole_below=0) as archive:
        assert isinstance(archive.reader, HttpRangeReader)
        facts = read_wheel_facts(archive, name)
        return facts, read_facts(path, name), archive.reader


def test_a_start_that_compresses_worse_than_its_member_is_fetched_longer(
    server: IndexServer, session: HttpSession
) -> None:
    """A library whose first 300 KB are noise and the rest zeros: sized from the member's
    ratio (~1:10), the first fetch of its start would be far too short to inflate its
    tables and the slack after them. It is sized from the ratio of its first bytes,
    fetched with the plan (issue #15): long enough at once."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    noise = random.Random(7).randbytes(300_000)
    member = elf + noise + bytes(3_000_000)
    name = "skewed-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    data = build_wheel({"skewed/_mod.cpython-312-x86_64-linux-gnu.so": member}, name="skewed")
    remote, local, reader = remote_and_local(server, session, name, data)
    assert remote == local
    assert len(remote.elf_files) == 1  # type: ignore[attr-defined]
    # the tail, the plan, the planned parts (its start among them); never its noise whole
    assert reader.requests == 3
    assert reader.bytes_fetched < 200_000 < len(data)


@pytest.mark.parametrize("trailing", [300 << 10, 700 << 10], ids=["one pass", "counted"])
def test_an_end_that_decodes_falsely_is_read_again_from_its_start(
    server: IndexServer, session: HttpSession, trailing: int
) -> None:
    """tests/test_ends_failsafe.py's member: where the end's search begins, a stored block
    holds fake blocks that decode soundly to the stream's end. Over HTTP the reading by
    the ends fails as it does locally, and the member is read from its start (as far as
    its tables), to the facts of the local file."""
    member = false_start_member(trailing)
    name = f"fake{trailing}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    data = write_wheel([Entry(MEMBER, member.content, payload=member.stream)], name="fake")
    remote, local, reader = remote_and_local(server, session, name, data)
    assert remote == local
    # its start fetched as far as its tables (PT_DYNAMIC's end, ``trailing`` before the end)
    tables_end = member.dynamic_offset + 1024
    inflater, produced, used = zlib.decompressobj(-15), 0, 0
    while produced < tables_end:
        produced += len(inflater.decompress(member.stream[used : used + 1024]))
        used += 1024
    assert reader.bytes_fetched >= used - 1024


def test_a_large_library_is_fetched_by_its_two_ends(
    server: IndexServer, session: HttpSession
) -> None:
    """PT_DYNAMIC near the end of a 6 MiB library whose middle is noise: its head, its start
    and its end are fetched, not the noise between."""
    noise = random.Random(11).randbytes(1 << 20)
    content, _ = late_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), 6 << 20, noise)
    name = "ends-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    data = build_wheel({MEMBER: content}, name="ends")
    remote, local, reader = remote_and_local(server, session, name, data)
    assert remote == local
    assert reader.bytes_fetched < len(data) // 4
    # the plan reads the 4 KiB of headers it needs from the 16 KiB of the member already
    # fetched, not from a 64 KiB window of its own: one request fewer (5 before)
    assert reader.requests <= 4


def test_a_member_over_the_scratch_is_streamed_a_window_at_a_time(
    server: IndexServer, session: HttpSession
) -> None:
    """A 72 MiB library (20 MiB of it noise): streamed, its compressed bytes are fetched a
    window at a time as the stream reaches them, and no window is kept after; they were
    fetched whole up front, and held."""
    noise = random.Random(5).randbytes(20 << 20)
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    member = elf + noise + bytes((72 << 20) - len(elf) - len(noise))
    name = "huge-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    data = build_wheel({"huge/_mod.cpython-312-x86_64-linux-gnu.so": member}, name="huge")
    path = server.web / "packages" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    with open_remote_archive(server.file_url(path), len(data), session=session) as archive:
        assert isinstance(archive.reader, HttpRangeReader)
        facts = read_wheel_facts(archive, name)
        held = sum(len(block) for _, block in archive.reader._blocks)
        assert held < 1 << 20  # the tail and the head: no window is kept
        # the stream stops where the parser has what it needs: one window of it
        assert archive.reader.bytes_fetched < len(noise) < len(data)
    assert facts == read_facts(path, name)


def test_a_streamed_member_asks_for_its_next_part_while_it_reads_this_one(
    server: IndexServer, session: HttpSession
) -> None:
    """Read in order, a MiB and a half at a time (across the parts' edges), then again from
    its start as a second pass does: every byte as the file has it; each part after the
    first was asked for on the pool (``passing_ahead``) before the stream reached it (past
    the first part's middle, then as each part was taken), none waited for in turn; one
    part ahead at most, so a pass fetches the bytes once."""
    length = 5 * STREAM_WINDOW // 2 + 12345  # five parts and a piece
    data = random.Random(13).randbytes(length + 1000)
    path = server.web / "packages" / "streamed.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    reader = HttpRangeReader(server.file_url(path), len(data), session, whole_below=0)
    asked: list[tuple[str, int]] = []
    at_once, ahead = reader.passing, reader.passing_ahead

    def passing(start: int, end: int) -> bytes | memoryview:
        if threading.current_thread() is threading.main_thread():  # not the pool's
            asked.append(("now", start))
        return at_once(start, end)

    def passing_ahead(start: int, end: int) -> Future[bytes | memoryview]:
        asked.append(("ahead", start))
        return ahead(start, end)

    reader.passing, reader.passing_ahead = passing, passing_ahead  # type: ignore[method-assign]
    stream = StreamedRanges(reader, 1000, length)
    step = 3 << 19
    for _ in range(2):  # two passes
        fetched_before = reader.bytes_fetched
        for start in range(0, length, step):
            assert bytes(stream[start : start + step]) == data[1000 + start : 1000 + start + step]
        assert reader.bytes_fetched - fetched_before <= length + 1000 + 2 * (1 << 16)
    part = stream.part
    parts = [1000 + i * part for i in range((length + part - 1) // part)]
    assert [start for how, start in asked if how == "ahead"] == parts[1:] + parts[1:]
    # fetched on the stream's own thread: each pass's first part, and any part whose
    # request was still queued on the pool when the stream reached it (sent then, and
    # dropped from the pool's queue)
    assert [start for how, start in asked if how == "now"][:1] == parts[:1]
    assert asked.count(("now", parts[0])) == 2


def test_a_stream_that_stops_early_leaves_nothing_asked_ahead(
    server: IndexServer, session: HttpSession
) -> None:
    """A stream that stops in its first part (the parser had what it needed) asks for no
    other; one that stops past the middle of its first part has asked for the second, and
    closing the reading ends that request before it returns: it is counted by then, and
    nothing fetched for the stream runs on after its reading."""
    length = 3 * STREAM_WINDOW // 2
    data = random.Random(17).randbytes(length)
    path = server.web / "packages" / "stops.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    reader = HttpRangeReader(server.file_url(path), len(data), session, whole_below=0)
    opened = reader.bytes_fetched  # its tail
    stream = StreamedRanges(reader, 0, length)
    assert bytes(stream[0 : 1 << 20]) == data[: 1 << 20]
    assert stream._ahead is None  # a MiB in: nothing asked ahead
    middle = stream.part // 2
    assert bytes(stream[middle : middle + (1 << 20)]) == data[middle : middle + (1 << 20)]
    assert stream._ahead is not None
    ahead = stream._ahead[1]
    stream.close()
    assert ahead.done()
    counted = reader.bytes_fetched
    # the second part: sent, or dropped from the pool's queue unsent
    assert counted - opened in (stream.part, 2 * stream.part)
    requests = reader.requests
    # whatever the pool does next, the reading's figures are settled
    assert (reader.bytes_fetched, reader.requests) == (counted, requests)
