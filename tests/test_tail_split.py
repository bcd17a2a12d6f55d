"""A long end counted on two threads (wheel/end_count.py ``_counted``) gives exactly what one
thread's ``block_starts`` gives: the same length, the same block headers at the same
offsets; false starts included (tests/test_ends_failsafe.py's crafted members)."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from tests.hostile.zipwriter import Entry, write_wheel
from tests.test_ends_failsafe import MEMBER, ROUTES, false_start_member

from wheelscan._tail import block_starts, block_starts_until, count_from
from wheelscan.elf import partial_parser
from wheelscan.wheel import contents, end_count, ends
from wheelscan.wheel.archive import WheelArchive


def wordy(size: int, seed: int) -> bytes:
    """Text-like bytes that deflate ~3x into many dynamic blocks, with matches across them."""
    noise = random.Random(seed)
    words = [noise.randbytes(noise.randint(2, 9)) for _ in range(4000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(noise.choices(words, k=4096))
    return bytes(out[:size])


@pytest.fixture(scope="module")
def stream() -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(wordy(12 << 20, 1)) + compressor.flush()


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_two_threads_count_as_one_does(
    stream: bytes, share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(end_count, "COUNT_SPLIT_ABOVE", 0)
    search_from = int(8 * len(stream) * share)
    search_to = max(0, search_from - ends.SEARCH_BITS)
    one = block_starts(stream, search_from, search_to)
    assert one is not None and len(one[1]) > 10
    assert end_count._counted(memoryview(stream), search_from, search_to) == one


def test_a_count_stopped_at_a_header_goes_on_from_it(stream: bytes) -> None:
    """``block_starts_until`` stops at the first header past the bit given, and
    ``count_from`` there counts the rest: together, ``block_starts``' count."""
    search_from = 8 * len(stream) // 4
    search_to = search_from - ends.SEARCH_BITS
    one = block_starts(stream, search_from, search_to)
    assert one is not None
    stop = 8 * len(stream) // 2
    first = block_starts_until(stream, search_from, search_to, stop)
    assert first is not None and len(first) == 3
    produced, starts, stopped = first
    assert stopped >= stop and stopped in dict(one[1])
    rest = count_from(stream, stopped)
    assert rest is not None
    total, later = rest
    assert later[0] == (stopped, 0)  # its own header first: it was reached, so trusted
    assert (produced + total, starts + [(b, o + produced) for b, o in later]) == one
    assert count_from(stream, stopped + 1) is None  # not a header: unsound from there


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_false_start_counted_on_two_threads_never_decides(
    route: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crafted members whose end decodes from a false start: split or not, the count
    is block_starts' own, and the member's facts are its whole reading's."""
    monkeypatch.setattr(end_count, "COUNT_SPLIT_ABOVE", 0)
    member = false_start_member(ROUTES[route])
    search_to = max(0, member.search_from - ends.SEARCH_BITS)
    assert end_count._counted(memoryview(member.stream), member.search_from, search_to) == (
        block_starts(member.stream, member.search_from, search_to)
    )
    path = tmp_path / "fake-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(
        write_wheel([Entry(MEMBER, member.content, payload=member.stream)], name="fake")
    )
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        whole = contents._parse_whole(contents.get_parser(), archive, elf)
        by_ends = ends.parse_by_ends(archive, elf, partial)
        assert by_ends is None or by_ends == whole
