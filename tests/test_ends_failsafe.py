"""A member read by its ends fails safe: an end decoded from a false start never decides.

The tail decoder (native/_tail.pyx) enters a deflate stream at a bit offset that looks
like a block header and decodes from there to the stream's last byte. A stored block's
bytes are the member's own, so a sound member may hold, inside one of its stored blocks,
a whole fake sequence of blocks: a stored block, a dynamic block that inflates to anything
at all, and an empty stored block that ends where the real stored block does.
Entered there, the stream decodes soundly to its end, every header checked, and the fake
dynamic block's output is taken for the member's bytes before that point, PT_DYNAMIC's
among them. Such a member is sound (zipfile extracts it, its CRC-32 matches): its facts
must be the facts of the whole member, never an error that the whole member does not have.
"""

from __future__ import annotations

import itertools
import json
import random
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.elfwriter import CORRUPTIONS, build_elf, sample_spec
from tests.hostile.zipwriter import Entry, write_wheel
from tests.inprocess import wheelscan

from wheelscan._native import facts_end
from wheelscan._tail import block_starts, inflate_from, inflate_tail
from wheelscan.elf import get_parser, partial_parser
from wheelscan.wheel import contents, ends
from wheelscan.wheel.archive import Member, WheelArchive

DT_NEEDED = 1
FAKE_ENTRY = struct.pack("<qq", DT_NEEDED, 0)
STORED_BLOCK_MAX = 65535
MEMBER = "fake/libfake.so"


def stored_block(data: bytes, final: bool = False) -> bytes:
    """A stored block that starts on a byte boundary: its header's three bits and five bits
    of padding in one byte, then LEN and NLEN (RFC 1951, 3.2.4)."""
    assert len(data) <= STORED_BLOCK_MAX
    return bytes([int(final)]) + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data


def stored_blocks(data: bytes, count: int, final: bool = False) -> bytes:
    """``data`` in ``count`` stored blocks of about equal length (the last one final)."""
    cuts = [len(data) * i // count for i in range(count + 1)]
    return b"".join(
        stored_block(data[a:b], final and i == count - 1)
        for i, (a, b) in enumerate(itertools.pairwise(cuts))
    )


def deflate_flushed(data: bytes) -> bytes:
    """``data`` deflated, ending with an empty stored block on a byte boundary (a sync
    flush), no block final: more blocks may follow."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def late_dynamic(elf: bytes, size: int, filler: bytes) -> tuple[bytes, int]:
    """``elf`` rebuilt as ``size`` bytes, its PT_DYNAMIC moved behind ``filler`` (repeated
    as needed) to its end (benchmarks/harness/elfmove.py); with PT_DYNAMIC's offset."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(elf, size)
    stretch = (filler * (moved.filler_size // len(filler) + 1))[: moved.filler_size]
    return moved.head + stretch + moved.tail, moved.dynamic_offset


@dataclass(frozen=True)
class FalseStart:
    content: bytes  # the member
    stream: bytes  # its deflate stream
    dynamic_offset: int  # PT_DYNAMIC's
    search_from: int  # where ends.py begins its search for a block header, in bits
    fake_bit: int  # where the fake blocks begin, in bits of the stream


def false_start_member(
    trailing: int, size: int = 5 << 20, filler: bytes = bytes(4096)
) -> FalseStart:
    """A sound library of ``size`` bytes, PT_DYNAMIC ``trailing`` bytes before its end,
    deflated so that where wheel/ends.py searches for a block header it finds, inside a
    stored block, a fake sequence whose dynamic block inflates to DT_NEEDED entries without
    a DT_STRTAB, placed (counted back from the stream's end) over PT_DYNAMIC.

    Stream: the ELF file deflated by zlib (its filler is zeros: a few KiB), then the
    trailing bytes in stored blocks, one of which holds the fake blocks. From the stream's
    length the place where ends.py starts its search is known; the fake blocks are put
    just before it, their empty first block padded so that its dynamic block ends at a
    real block boundary. (``filler``, between the tables and PT_DYNAMIC: a member over
    WHOLE_MEMBER_LIMIT needs one that deflates less than zeros, so that the search still
    falls among the trailing bytes, tests/test_ends_large.py.)
    """
    elf, dynamic_offset = late_dynamic(
        build_elf(sample_spec("x86_64", interpreter=None)), size - trailing, filler
    )
    front = deflate_flushed(elf)
    rest = size - len(elf)
    blocks = -(-rest // STORED_BLOCK_MAX) + 2  # the trailing bytes', the fake one's aside
    stream_length = len(front) + 5 * (blocks + 1) + rest
    # where ends.py begins its search (inflate_to_the_end and count_end aim alike)
    begin = dynamic_offset - ends.TAIL_MARGINS[0]
    target = 8 * stream_length * (begin - ends.BLOCK_ALLOWANCE) // size
    fake_byte = target // 8 - 64  # 64 bytes of the fake's padding lie before the search
    # the trailing bytes before the fake's stored block: as many in as many blocks as
    # put its header 5 bytes before fake_byte
    room = fake_byte - 5 - len(front)
    before_blocks = next(n for n in range(1, blocks) if room - 5 * n <= n * STORED_BLOCK_MAX)
    before = room - 5 * before_blocks
    at = len(elf) + before  # the member offset of the fake's stored block's data
    # The fake output is placed from where the real stored block ends, backwards: it
    # begins 16-aligned a page before the first byte the ends read (ends.py trusts a tail
    # only if its checked bytes reach that far back)
    fake_begin = (begin - 4096) // 16 * 16
    length = (at - fake_begin + 4096) // 16 * 16
    fake = deflate_flushed(FAKE_ENTRY * (length // 16))
    assert (fake[0] >> 1) & 3 == 2, "the fake's first block is not a dynamic one"
    padding = fake_begin + length - at - 5 - len(fake)
    assert padding >= 128 and 5 + padding + len(fake) <= STORED_BLOCK_MAX
    fake_blocks = stored_block(bytes(padding)) + fake
    noise = random.Random(trailing)
    before_bytes = noise.randbytes(before)
    after_bytes = noise.randbytes(rest - before - len(fake_blocks))
    content = elf + before_bytes + fake_blocks + after_bytes
    stream = (
        front
        + stored_blocks(before_bytes, before_blocks)
        + stored_block(fake_blocks)
        + stored_blocks(after_bytes, blocks - before_blocks, final=True)
    )
    assert len(content) == size and len(stream) == stream_length
    assert zlib.decompress(stream, -15) == content
    return FalseStart(content, stream, dynamic_offset, target, 8 * fake_byte)


# PT_DYNAMIC this far from the member's end: the end is inflated in one pass, or counted
# to the stream's end first and written only as far as the tables (ends._route)
ROUTES = {"one pass": 300 << 10, "counted": 700 << 10}


@dataclass(frozen=True)
class Case:
    route: str
    member: FalseStart
    path: Path  # a wheel holding it


@pytest.fixture(scope="module", params=list(ROUTES))
def false_start(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    member = false_start_member(ROUTES[request.param])
    path = tmp_path_factory.mktemp("false-start") / "fake-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(
        write_wheel([Entry(MEMBER, member.content, payload=member.stream)], name="fake")
    )
    return Case(request.param, member, path)


def decoded_from_the_search(member: FalseStart, route: str) -> bytes:
    """PT_DYNAMIC's first 16 bytes as the tail decoder puts them out, searching from where
    ends.py searches, as ends.py does on ``route``."""
    stream, size = member.stream, len(member.content)
    search_to = max(0, member.search_from - ends.SEARCH_BITS)
    wanted = member.dynamic_offset + 16
    begin = member.dynamic_offset - ends.TAIL_MARGINS[0]
    found = block_starts(stream, member.search_from, search_to)
    assert found is not None
    total, starts = found
    base = size - total
    if route == "one pass":
        capacity = 2 * (size - begin + ends.BLOCK_ALLOWANCE)
        out, known = bytearray(capacity), bytearray(capacity)
        tail = inflate_tail(stream, member.search_from, search_to, out, known)
        assert tail is not None and tail[0] is not None
        length, trusted, start, _ = tail
        # (a stored header found in its padding bits is the same block)
        assert member.fake_bit <= start < member.fake_bit + 8
        assert size - length + trusted <= begin
        at = member.dynamic_offset - (size - length)
        assert all(known[at : at + 16])
        return bytes(out[at : at + 16])
    # counted: inflated from the last block header counted at or before ``begin``
    bit, output = [s for s in starts if base + s[1] <= begin][-1]
    out = bytearray(wanted - base - output)
    assert inflate_from(stream, bit, out, bytearray(len(out))) == len(out)
    return bytes(out[-16:])


def test_the_member_is_sound_and_its_end_decodes_falsely(false_start: Case) -> None:
    """The crafted member does what it is for: zipfile extracts it (CRC-32 checked); and
    where ends.py looks for a block header, the tail decoder takes the fake blocks, whose
    bytes at PT_DYNAMIC are not the member's."""
    import zipfile

    member = false_start.member
    with zipfile.ZipFile(false_start.path) as archive:
        assert archive.read(MEMBER) == member.content
    assert ends.SKIP_ABOVE <= len(member.content) <= contents.WHOLE_MEMBER_LIMIT
    decoded = decoded_from_the_search(member, false_start.route)
    assert decoded == FAKE_ENTRY
    assert member.content[member.dynamic_offset : member.dynamic_offset + 16] != decoded


def test_a_false_start_never_decides_the_facts(false_start: Case) -> None:
    """Read by its ends (on the route the case is for), the member gives the facts of the
    whole or none (then it is read from its start); never an error: the default reading
    gives the facts of the whole."""
    member, path = false_start.member, false_start.path
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(path) as archive:
        (elf,) = [m for m in archive.members if m.name == MEMBER]
        whole = contents._parse_whole(get_parser(), archive, elf)
        by_ends = ends.parse_by_ends(archive, elf, partial)
        assert by_ends is None or by_ends == whole
        facts = contents.read_wheel_facts(archive, path.name)
    assert [m.facts for m in facts.elf_files] == [whole]
    end = facts_end(member.content[: ends.HEAD_BYTES])
    route = ends._route(len(member.content), member.dynamic_offset, end, ends.TAIL_MARGINS[0])
    assert route is ends.Route(false_start.route)


def show(path: Path, **env: str) -> tuple[int, list[dict[str, object]]]:
    """``wheelscan show --json``'s exit status and results, run as a user runs it (in this
    process, through the CLI's own ``main``: ``tests/inprocess.py``)."""
    run = wheelscan("show", "--json", str(path), env=env)
    results: list[dict[str, object]] = json.loads(run.stdout)["results"]
    return run.returncode, results


def test_show_judges_it_as_the_whole_member_is_judged(false_start: Case) -> None:
    """The verdict by default equals the verdict of the member inflated whole and checked
    (WHEELSCAN_VERIFY=1) and of the reference reader (which reads members whole)."""
    whole = show(false_start.path, WHEELSCAN_VERIFY="1")
    assert whole[0] == 0 and "overall_tag" in whole[1][0], whole
    assert show(false_start.path) == whole
    assert show(false_start.path, WHEELSCAN_ELF_BACKEND="reference") == whole


# A library whose DT_NEEDED string lies outside its string table (bad-table)
BAD_TABLES = CORRUPTIONS["needed-offset-outside-strtab"]


def read_by_ends(elf: bytes) -> bytes:
    """``elf`` as a member read by its two ends: 6 MiB, PT_DYNAMIC last, behind bytes that
    do not compress (so that every byte of its end is known from any block on)."""
    return late_dynamic(elf, 6 << 20, random.Random(1).randbytes(1 << 20))[0]


def read_by_prefix(elf: bytes) -> bytes:
    """``elf`` as a member read up to its tables: 1 MiB, its tables in the first KiB."""
    return elf + random.Random(2).randbytes((1 << 20) - len(elf))


def fast_reading(build: Callable[[bytes], bytes], archive: WheelArchive, member: Member) -> object:
    """The facts of the reading ``build`` lays the member out for (None: it fell back)."""
    partial = partial_parser()
    assert partial is not None
    if build is read_by_ends:
        return ends.parse_by_ends(archive, member, partial)
    end = facts_end(archive.head(member, ends.HEAD_BYTES))
    assert end is not None
    return contents._parse_prefix(archive, member, end, partial)


@pytest.mark.parametrize("build", [read_by_ends, read_by_prefix])
def test_a_member_is_refused_for_what_its_whole_reading_meets(
    build: Callable[[bytes], bytes], tmp_path: Path
) -> None:
    """A member with bad tables whose CRC-32 differs from the directory's: read whole, as
    an installer reads it, the CRC-32 refuses it before any ELF file is parsed. Read by its
    ends or up to its tables, the parser's refusal only says that reading cannot tell; the
    error is the whole reading's, the same by default, when verifying and with the
    reference reader."""
    sound = tmp_path / "sound-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    sound.write_bytes(write_wheel([Entry(MEMBER, build(build_elf(sample_spec())))], name="sound"))
    with WheelArchive.open(sound) as archive:  # the layout takes the fast reading
        assert fast_reading(build, archive, archive.members[0]) is not None
    content = build(BAD_TABLES())
    path = tmp_path / "bad-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(write_wheel([Entry(MEMBER, content, crc=zlib.crc32(content) ^ 1)], name="bad"))
    whole = show(path, WHEELSCAN_VERIFY="1")
    assert whole[1][0]["code"] == "crc-mismatch", whole
    assert show(path) == whole
    assert show(path, WHEELSCAN_ELF_BACKEND="reference") == whole
