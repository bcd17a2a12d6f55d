"""The zip reader on wheels the tests build: in-place parsing, ELF by magic, clear errors."""

from __future__ import annotations

import csv
import io
import mmap
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelscan._zipdir import elf_heads, local_data_offsets
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.wheel.archive import Limits, WheelArchive, WheelError
from wheelscan.wheel.contents import first_fields, read_wheel_facts

from elfwriter import build_elf, sample_spec
from property_budget import examples
from wheelbuilder import build_wheel

ELF = build_elf(sample_spec("x86_64", interpreter=None))
NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def error_code(data: bytes, limits: Limits = Limits()) -> str:
    result = audit(data, NAME, limits=limits)
    assert isinstance(result, AuditError), result
    return result.code


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated_members_give_the_same_facts(compression: int) -> None:
    data = build_wheel({"mod.so": ELF}, compression=compression)
    with WheelArchive(data) as archive:
        facts = read_wheel_facts(archive, NAME)
    assert [m.path for m in facts.elf_files] == ["mod.so"]
    assert facts.elf_files[0].facts.needed == ("libstdc++.so.6", "libgcc_s.so.1", "libc.so.6")


def test_stored_members_are_parsed_in_place(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(build_wheel({"mod.so": ELF}, compression=zipfile.ZIP_STORED))
    with WheelArchive.open(path) as archive:
        member = archive.find("mod.so")
        assert member is not None
        view = archive.read(member)
        assert isinstance(view, memoryview) and isinstance(view.obj, mmap.mmap)
        assert bytes(view) == ELF
        view.release()


def test_elf_members_are_found_by_magic_not_by_name() -> None:
    data = build_wheel({"pkg/data.bin": ELF, "pkg/fake.so": b"text, not ELF", "pkg/x.py": b""})
    with WheelArchive(data) as archive:
        assert [m.name for m in archive.elf_members()] == ["pkg/data.bin"]


def test_members_outside_record_are_judged_and_reported() -> None:
    data = build_wheel({"pkg/mod.so": ELF})
    # rebuild with a second ELF the RECORD does not list
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("pkg/unlisted.so", ELF)
    with WheelArchive(out.getvalue()) as archive:
        facts = read_wheel_facts(archive, NAME)
    assert [(m.path, m.in_record) for m in facts.elf_files] == [
        ("pkg/mod.so", True),
        ("pkg/unlisted.so", False),
    ]
    # pip installs every member, whatever RECORD lists: judged all the same, and reported
    assert [m.path for m in facts.examined] == ["pkg/mod.so", "pkg/unlisted.so"]
    result = audit(out.getvalue(), NAME)
    assert isinstance(result, Verdict)
    assert result.elf_files == ("pkg/mod.so", "pkg/unlisted.so")
    assert [(f.kind, f.file) for f in result.findings if f.kind == "unlisted-elf"] == [
        ("unlisted-elf", "pkg/unlisted.so")
    ]


def test_no_record() -> None:
    assert error_code(build_wheel({"mod.so": ELF}, record=False)) == "no-record"


def test_not_a_zip_and_truncated() -> None:
    assert error_code(b"this is not a zip file at all") == "not-zip"
    data = build_wheel({"mod.so": ELF})
    assert error_code(data[: len(data) // 2]) in {"not-zip", "truncated"}
    assert error_code(data[:-10]) in {"not-zip", "truncated"}


def test_crc_mismatch() -> None:
    data = bytearray(build_wheel({"mod.so": ELF}, compression=zipfile.ZIP_STORED))
    at = data.index(ELF[:64]) + 40
    data[at] ^= 0xFF
    assert error_code(bytes(data)) == "crc-mismatch"


def test_zip_bomb_ratio_and_size_limits() -> None:
    bomb = b"\x7fELF" + bytes(20 << 20)
    data = build_wheel({"mod.so": bomb})
    assert error_code(data) == "zip-bomb"
    assert error_code(build_wheel({"mod.so": ELF}), Limits(max_member_size=1000)) == "too-large"


def test_duplicate_entries() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zf.writestr("mod.so", ELF)
        zf.writestr("mod.so", ELF)
    assert error_code(out.getvalue()) == "duplicate-member"


def test_zip64_records() -> None:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(build_wheel({"mod.so": ELF}))) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            with dst.open(info.filename, "w", force_zip64=True) as f:
                f.write(src.read(info))
    result = audit(out.getvalue(), NAME)
    assert isinstance(result, Verdict) and result.elf_files == ("mod.so",)


def test_corrupt_elf_member_names_the_member() -> None:
    data = build_wheel({"pkg/mod.so": ELF[:200]})
    result = audit(data, NAME)
    assert isinstance(result, AuditError)
    assert result.code.startswith("elf-") and result.member == "pkg/mod.so"


def test_pure_wheel_is_not_a_platform_wheel() -> None:
    result = audit(build_wheel({"pkg/__init__.py": b""}), "demo-1.0-py3-none-any.whl")
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"


def _as_zipfile_reads(data: bytes) -> list[tuple[str, int, int, int, int, int]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [
            (i.filename, i.compress_type, i.CRC, i.compress_size, i.file_size, i.header_offset)
            for i in zf.infolist()
        ]


def _as_wheelscan_reads(data: bytes) -> list[tuple[str, int, int, int, int, int]]:
    with WheelArchive(data) as archive:
        return [
            (m.name, m.method, m.crc, m.compressed_size, m.size, m.header_offset)
            for m in archive.members
        ]


def test_the_native_directory_reads_real_wheels_as_zipfile_does(real_wheels: list[Path]) -> None:
    """Every entry of every corpus wheel (the central directory is walked natively)."""
    entries = 0
    for path in real_wheels:
        data = path.read_bytes()
        assert _as_wheelscan_reads(data) == _as_zipfile_reads(data), path.name
        entries += len(_as_zipfile_reads(data))
    assert entries > 5_000


def test_member_names_in_utf8_and_cp437() -> None:
    """A name with the UTF-8 flag is UTF-8, one without it CP437 (APPNOTE appendix D)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("pkg/d\u00e9j\u00e0.so", ELF)  # zipfile sets the flag for a non-ASCII name
        zf.writestr("pkg/abc.txt", b"text")
    data = out.getvalue()
    # spell the second name in CP437 (0x81 is u-umlaut there) in both headers, no flag
    cp437 = data.replace(b"pkg/abc.txt", b"pkg/\x81bc.txt")
    assert cp437.count(b"pkg/\x81bc.txt") == 2
    names = [m[0] for m in _as_wheelscan_reads(cp437)]
    assert names == ["pkg/d\u00e9j\u00e0.so", "pkg/\u00fcbc.txt"]
    assert _as_wheelscan_reads(cp437) == _as_zipfile_reads(cp437)


def _directory_bounds(data: bytes | bytearray) -> tuple[int, int, int]:
    """The end record's offset, and the directory's size and offset as it writes them."""
    eocd = data.rfind(b"PK\x05\x06")
    cd_size = int.from_bytes(data[eocd + 12 : eocd + 16], "little")
    return eocd, cd_size, int.from_bytes(data[eocd + 16 : eocd + 20], "little")


def test_a_directory_entry_cut_short_is_refused() -> None:
    """Bytes after the last entry, fewer than an entry's fixed part: zipfile raises
    ("Truncated central directory"), so no entry count can make them pass."""
    data = bytearray(build_wheel({"mod.so": ELF}))
    eocd, cd_size, _ = _directory_bounds(data)
    data[eocd + 12 : eocd + 16] = (cd_size + 10).to_bytes(4, "little")
    data[eocd:eocd] = bytes(10)  # the directory, 10 bytes longer, still ends at the record
    with pytest.raises(WheelError) as raised:
        WheelArchive(bytes(data))
    assert (raised.value.code, raised.value.reason) == (
        "bad-zip",
        "a central directory entry cut short",
    )


def test_a_directory_entry_running_past_the_directory_is_refused() -> None:
    long_names = {f"pkg/{'x' * 60}{i}.so": ELF for i in range(3)}
    data = bytearray(build_wheel(long_names))
    eocd, _, cd_offset = _directory_bounds(data)
    last = data.rfind(b"PK\x01\x02", cd_offset, eocd)
    data[last + 28 : last + 30] = (500).to_bytes(2, "little")  # its name now 500 bytes long
    with pytest.raises(WheelError) as raised:
        WheelArchive(bytes(data))
    assert (raised.value.code, raised.value.reason) == (
        "bad-zip",
        "central directory entry runs past the directory",
    )


def test_a_bad_entry_signature_is_refused() -> None:
    data = bytearray(build_wheel({"mod.so": ELF}))
    last = data.rfind(b"PK\x01\x02")
    data[last : last + 4] = b"PK\x01\x09"
    with pytest.raises(Exception) as raised:
        WheelArchive(bytes(data))
    assert getattr(raised.value, "code", None) == "bad-zip"
    assert f"signature at {last}" in raised.value.reason  # type: ignore[attr-defined]


MAPPED_RSS = """
import sys
from pathlib import Path
from wheelscan.wheel.archive import GIVE_BACK_ABOVE, WheelArchive
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.dedupe import FactsCache

def mapped_rss(path):
    # the resident kB of this process's mapping of ``path`` (/proc/self/smaps)
    rss, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if line[:1].isdigit() or line[:1] in "abcdef":
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                rss += int(line.split()[1])
    return rss * 1024

path = sys.argv[1]
with WheelArchive.open(Path(path)) as archive:
    members = list(archive.elf_members())
    for member in members:
        bytes(archive.payload(member))  # every ELF member's compressed bytes touched
    touched = mapped_rss(path)
    facts = read_wheel_facts(archive, Path(path).name, FactsCache())
    small = sum(m.compressed_size for m in members if m.compressed_size < GIVE_BACK_ABOVE)
    print(touched, mapped_rss(path), sum(m.compressed_size for m in members), small, len(members))
"""


def test_a_wheel_leaves_no_member_bytes_resident(real_wheels: list[Path]) -> None:
    """A large member's compressed bytes leave the worker once parsed (they stay in the page
    cache): of the largest corpus wheel, all of whose ELF bytes were resident before, only
    the small members' stay mapped after its facts are read (and the pages they share)."""
    import subprocess
    import sys

    path = max(real_wheels, key=lambda p: p.stat().st_size)
    out = subprocess.run(
        [sys.executable, "-c", MAPPED_RSS, str(path)], check=True, capture_output=True, text=True
    )
    touched, after, elf_compressed, small, count = map(int, out.stdout.split())
    # (``small``: the members under GIVE_BACK_ABOVE, whose bytes stay until the wheel closes)
    assert elf_compressed > 5_000_000 and small < elf_compressed / 2
    assert touched > 0.9 * elf_compressed
    # what left: nearly all the large members' bytes (a page at each end may stay)
    assert touched - after > (elf_compressed - small) - count * 2 * 4096


def test_a_private_writable_mapping_keeps_its_bytes() -> None:
    """Pages are given back only for a read-only mapping of a whole file: a private
    anonymous one (a wheel copied into memory) would read back zeros after MADV_DONTNEED."""
    import random

    from wheelscan.wheel.archive import GIVE_BACK_ABOVE

    # a member whose compressed bytes are given back: random bytes do not compress
    wheel = build_wheel({"mod.so": ELF + random.Random(0).randbytes(2 * GIVE_BACK_ABOVE)})
    data = mmap.mmap(-1, len(wheel), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    data[:] = wheel
    with WheelArchive(data) as archive:
        member = next(archive.elf_members())
        before = bytes(archive.payload(member))
        archive.done_with(member)
        assert bytes(archive.payload(member)) == before
        first = read_wheel_facts(archive, NAME)
        assert read_wheel_facts(archive, NAME) == first


# RECORD's rows: quotes, NUL and long fields make the csv module read them; the rest is
# split by hand, which must give what pip's csv over splitlines() gives
_RECORD_ALPHABET = st.sampled_from(list('ab,/.= "\t\r\n\x00\x0b\x0c\x1c\x1d\x1e\u2028\u2029\x85'))


@settings(max_examples=examples(500), deadline=None)
@given(st.lists(_RECORD_ALPHABET, max_size=60).map("".join))
def test_record_first_fields_are_pips(text: str) -> None:
    try:
        expected: list[str] | type[csv.Error] = [
            row[0] for row in csv.reader(text.splitlines()) if row
        ]
    except csv.Error:
        expected = csv.Error
    try:
        got: list[str] | type[csv.Error] = first_fields(text)
    except csv.Error:
        got = csv.Error
    assert got == expected


@pytest.mark.parametrize(
    "separator", ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)
def test_record_rows_end_where_pips_do(separator: str) -> None:
    """pip splits RECORD with ``str.splitlines()``: a row behind any of its line ends is a
    row (wheelscan split at \\n only, and took it for the end of the row before)."""
    text = (
        f"demo/a.py,sha256=x,1{separator}demo/_hidden.so,sha256=y,2\ndemo-1.0.dist-info/RECORD,,\n"
    )
    assert first_fields(text) == ["demo/a.py", "demo/_hidden.so", "demo-1.0.dist-info/RECORD"]


def test_record_fields_over_csvs_limit_are_refused_alike() -> None:
    long_field = "a" * (csv.field_size_limit() + 1)
    with pytest.raises(csv.Error):
        first_fields(f"ok,1\n{long_field},2\n")
    assert first_fields(f"ok,1\n{long_field[:-1]},2\n") == ["ok", long_field[:-1]]


def _small_zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i, name in enumerate(names):
            z.writestr(name, bytes(range(i, i + 40)) * 3, zipfile.ZIP_DEFLATED if i % 2 else 0)
    return buffer.getvalue()


def _python_offset(archive: WheelArchive, member: Any) -> int | str:
    try:
        return archive._local_header(member)
    except WheelError as e:
        return e.code


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=4))
def test_local_headers_checked_natively_as_in_python(flips: list[tuple[int, int]]) -> None:
    """Damage anywhere in a local header: the native check vouches for a member exactly
    when the Python check passes it, at the same offset."""
    data = bytearray(_small_zip(["a.so", "lib/b.so.1", "c"]))
    archive = WheelArchive(bytes(data))
    starts = sorted(m.header_offset for m in archive.members)
    for at, value in flips:
        start = starts[at % len(starts)]
        data[start + at % 34] = value
    damaged = WheelArchive(bytes(data))  # the central directory is untouched
    native = local_data_offsets(memoryview(bytes(data)), damaged.members, damaged._ends)
    for member, begin in zip(damaged.members, native, strict=True):
        expected = _python_offset(damaged, member)
        assert begin == (expected if isinstance(expected, int) else -1)


def test_a_local_name_longer_than_the_directorys_is_another_file() -> None:
    data = _small_zip(["a.so"])
    # the local header names "a.sox": its name length one more, the data one byte later
    grown = bytearray(data[:26] + (5).to_bytes(2, "little") + data[28:34] + b"x" + data[34:])
    eocd = grown.rindex(b"PK\x05\x06")  # the central directory starts a byte later too
    cd_offset = int.from_bytes(grown[eocd + 16 : eocd + 20], "little")
    grown[eocd + 16 : eocd + 20] = (cd_offset + 1).to_bytes(4, "little")
    local = bytes(grown)
    archive = WheelArchive(local)
    member = archive.members[0]
    assert local_data_offsets(memoryview(local), [member], archive._ends) == [-1]
    with pytest.raises(WheelError) as raised:
        archive.data_offset(member)
    assert raised.value.code == "local-header-mismatch"


def _zlib_is_elf(stream: bytes) -> bool | None:
    """What ``WheelArchive.is_elf`` makes of a deflated member (None: it raises)."""
    for window in (512, 64 * 1024):
        try:
            head = zlib.decompressobj(-15).decompress(stream[:window], 4)
        except zlib.error:
            return None
        if len(head) >= 4 or window >= len(stream):
            break
    return head == b"\x7fELF"


def _member_zip(stream: bytes) -> tuple[bytes, Any]:
    """A zip of one deflated member whose compressed bytes are ``stream``."""
    name = b"lib.so"
    local = struct.pack(
        "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0, 0, len(stream), 1 << 20, len(name), 0
    )
    central = struct.pack(
        "<4s4B4HL2L5H2L",
        b"PK\x01\x02",
        20,
        0,
        20,
        0,
        0,
        8,
        0,
        0,
        0,
        len(stream),
        1 << 20,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory = central + name
    eocd = struct.pack(
        "<4s4H2LH",
        b"PK\x05\x06",
        0,
        0,
        1,
        1,
        len(directory),
        len(local) + len(name) + len(stream),
        0,
    )
    data = local + name + stream + directory + eocd
    archive = WheelArchive(data, Limits(max_compression_ratio=1 << 30))
    return data, archive


@settings(max_examples=examples(400), deadline=None)
@given(
    st.binary(max_size=64),
    st.booleans(),
    st.sampled_from([0, 1, 6, 9]),
    st.sampled_from([zlib.Z_DEFAULT_STRATEGY, zlib.Z_FIXED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE]),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 7)), max_size=3),
)
def test_elf_heads_say_what_zlib_says(
    tail: bytes, magic: bool, level: int, strategy: int, flips: list[tuple[int, int]]
) -> None:
    """A member's first bytes sniffed natively: ELF or not exactly as zlib finds them, on
    sound streams of every kind of first block and on damaged ones; unsure (-1) whenever
    zlib would raise."""
    content = (b"\x7fELF" if magic else b"\x7fELG") + tail * 5 + bytes(range(40))
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    stream = bytearray(compressor.compress(content) + compressor.flush())
    for at, bit in flips:
        stream[at % len(stream)] ^= 1 << bit
    data, archive = _member_zip(bytes(stream))
    member = archive.members[0]
    archive.locate([member])
    [sniffed] = elf_heads(memoryview(data), [member], archive._begins)
    expected = _zlib_is_elf(bytes(stream))
    if expected is None:
        assert sniffed == -1
    else:
        assert sniffed in (-1, int(expected))
    if not flips and level > 0:
        assert sniffed == int(magic)  # a sound stream is never left to zlib


def test_a_zip64_size_that_wraps_is_not_vouched_for() -> None:
    """A ZIP64 compressed size near 2**64 made ``begin + size`` wrap to a small number in
    64-bit arithmetic (found by review): the native checks must refuse it as Python does,
    and never read past the file."""
    name = b"a.bin"
    local = (
        struct.pack(
            "<4sHHHHHIIIHH",
            *(b"PK\x03\x04", 20, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 0),
        )
        + name
    )
    body = local + bytes(20)
    extra = struct.pack("<HHQQ", 1, 16, 100, (1 << 64) - len(local))
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            *(b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF),
            *(len(name), len(extra), 0, 0, 0, 0, 0),
        )
        + name
        + extra
    )
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(body), 0)
    data = body + central + eocd
    archive = WheelArchive(data)
    [member] = archive.members
    assert member.compressed_size == (1 << 64) - len(local)
    assert local_data_offsets(memoryview(data), [member], archive._ends) == [-1]
    assert archive.sniff([member]) == [-1]
    with pytest.raises(WheelError) as raised:
        archive.data_offset(member)
    assert raised.value.code == "truncated"


def test_the_native_walk_refuses_a_member_type_of_another_arity() -> None:
    """Members are made by tuple.__new__, which checks no count: a Member grown an eighth
    field would come back a 7-tuple, and fail only where that field is read."""
    from collections import namedtuple

    from wheelscan._zipdir import central_entries
    from wheelscan.wheel.archive import Member

    assert len(Member._fields) == 7
    wider = namedtuple("wider", [*Member._fields, "extra"], defaults=[None])  # type: ignore[misc]
    with pytest.raises(TypeError, match="7 fields"):
        central_entries(b"", 0, 0, wider, ValueError, None, None)
