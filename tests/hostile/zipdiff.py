"""Two readings of one archive: Python's ``zipfile`` (what pip extracts, hence installs) and
wheelscan's :class:`WheelArchive`. Whenever both read an archive they must see the same
members, at the same places, with the same bytes; where they would not, wheelscan must
refuse it. ``disagreements`` says where they differ (nothing, when they agree).

``mutate`` changes an archive where its structure is (a count, a size, an offset, bytes put
before it or in it), each choice taken from a :class:`Choices`: hypothesis draws them in
``tests/test_zip_as_installed.py``, libFuzzer's input gives them in ``fuzz/fuzz_zipdiff.py``.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from wheelscan.wheel.archive import Limits, WheelArchive, WheelError

from hostile.evasion import EXT, benign, stubbed
from hostile.zipwriter import DEFLATED, STORED, Entry, write_wheel

LIMITS = Limits(max_member_size=4 << 20, max_compression_ratio=1000)
_LOCAL = struct.Struct("<4s2B4HL2L2H")


@dataclass(frozen=True)
class Seen:
    """One member as a reader sees it: its name, sizes, where its bytes begin and what they
    inflate to (None where the reader refuses to go that far)."""

    name: str
    compressed_size: int
    size: int
    header_offset: int
    data_offset: int | None
    content: bytes | None


def as_zipfile_reads(data: bytes) -> list[Seen] | None:
    """The members ``zipfile`` lists; None when it cannot open the archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # the oracle: whatever it raises, pip could not install the wheel
        return None
    seen = []
    with archive:
        for info in archive.infolist():
            data_offset: int | None = None
            content: bytes | None = None
            try:
                with archive.open(info) as member:  # checks the local header as pip meets it
                    _, *_, name_length, extra_length = _LOCAL.unpack_from(data, info.header_offset)
                    data_offset = info.header_offset + _LOCAL.size + name_length + extra_length
                    if info.file_size <= LIMITS.max_member_size:
                        content = member.read()
            except Exception:
                pass
            seen.append(
                Seen(
                    info.orig_filename,
                    info.compress_size,
                    info.file_size,
                    info.header_offset,
                    data_offset,
                    content,
                )
            )
    return seen


def as_wheelscan_reads(data: bytes) -> list[Seen] | None:
    """The members wheelscan lists; None when it refuses the archive."""
    try:
        archive = WheelArchive(data, LIMITS)
    except WheelError:
        return None
    seen = []
    with archive:
        for member in archive.members:
            data_offset: int | None = None
            content: bytes | None = None
            try:
                data_offset = archive.data_offset(member)
                content = bytes(archive.read(member))
            except WheelError:
                pass
            seen.append(
                Seen(
                    member.name,
                    member.compressed_size,
                    member.size,
                    member.header_offset,
                    data_offset,
                    content,
                )
            )
    return seen


def disagreements(data: bytes) -> list[str]:
    """Where wheelscan reads ``data`` otherwise than ``zipfile``: empty when it refuses the
    archive, when ``zipfile`` cannot open it, or when both see the same."""
    theirs = as_zipfile_reads(data)
    ours = as_wheelscan_reads(data)
    if theirs is None or ours is None:
        return []
    listed = [(m.name, m.compressed_size, m.size, m.header_offset) for m in ours]
    expected = [(m.name, m.compressed_size, m.size, m.header_offset) for m in theirs]
    if listed != expected:
        return [f"members: wheelscan {listed}, zipfile {expected}"]
    found = []
    for mine, other in zip(ours, theirs, strict=True):
        # a member wheelscan reads, zipfile must read alike (wheelscan may refuse more); one
        # that both refuse (a compression method neither reads: zipfile opens no member of
        # it, wheelscan finds where its bytes begin, then refuses them) is read by neither
        refused_by_both = other.data_offset is None and mine.content is None
        if (
            mine.data_offset is not None
            and mine.data_offset != other.data_offset
            and not refused_by_both
        ):
            found.append(f"{mine.name}: data at {mine.data_offset}, zipfile {other.data_offset}")
        if mine.content is not None and mine.content != other.content:
            found.append(f"{mine.name}: content differs ({other.content is None=} in zipfile)")
    return found


# --- mutations where the structure is ---------------------------------------------------

# each record's fields after its signature: (offset, width), APPNOTE 4.3.7, 4.3.12-4.3.16
FIELDS = {
    b"PK\x03\x04": [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
    b"PK\x01\x02": [
        *[(4, 2), (6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4)],
        *[(28, 2), (30, 2), (32, 2), (34, 2), (42, 4)],
    ],
    b"PK\x05\x06": [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
    b"PK\x06\x06": [(4, 8), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8)],
    b"PK\x06\x07": [(4, 4), (8, 8), (16, 4)],
}
_SIGNATURE = re.compile(b"PK(?:\x03\x04|\x01\x02|\x05\x06|\x06\x06|\x06\x07)")
_MEANINGFUL = [0, 1, 0xFFFF, 0xFFFFFFFF, 0x02014B50, 0x06054B50, 0x06064B50]
T = TypeVar("T")


class Choices(Protocol):
    """Where the choices of a mutation come from."""

    def integer(self, low: int, high: int) -> int: ...

    def binary(self, max_size: int) -> bytes: ...  # 1 to max_size bytes


def _pick(choose: Choices, items: Sequence[T]) -> T:
    return items[choose.integer(0, len(items) - 1)]


def seeds() -> list[bytes]:
    """Sound wheels of every layout the reader knows: stored and deflated members, ZIP64
    fields and end records, a data descriptor, bytes before the archive."""
    return [
        write_wheel([Entry(EXT, benign()), Entry("demo/data.txt", b"text " * 40, method=STORED)]),
        write_wheel([Entry(EXT, benign(), zip64=True), Entry("demo/x.py", b"", method=DEFLATED)]),
        write_wheel([Entry(EXT, benign(), descriptor=True)]),
        stubbed(b"MZ" + bytes(30)),
        stubbed(b"#!", zip64=True),
    ]


def mutate(seed: bytes, choose: Choices) -> bytes:
    """``seed`` with one to three changes, most of them to a field of its records: a count,
    a size or an offset moved a little or set to a value that means something (0, all ones,
    a signature), or bytes put before it or in it, or one byte changed."""
    data = bytearray(seed)
    for _ in range(choose.integer(1, 3)):
        kind = _pick(choose, ["field", "field", "field", "byte", "insert", "prepend"])
        records = [(m.start(), m.group()) for m in _SIGNATURE.finditer(bytes(data))]
        if kind == "field" and records:
            start, signature = _pick(choose, records)
            offset, width = _pick(choose, FIELDS[signature])
            at = start + offset
            old = int.from_bytes(data[at : at + width], "little")
            how = choose.integer(0, 2)
            if how == 0:
                value = old + choose.integer(-3, 3)
            elif how == 1:
                value = _pick(choose, _MEANINGFUL)
            else:
                value = choose.integer(0, 1 << 16)
            blob = (value % (1 << (8 * width))).to_bytes(width, "little")
            data[at : at + width] = blob[: max(0, len(data) - at)]
        elif kind == "byte" and data:
            data[choose.integer(0, len(data) - 1)] = choose.integer(0, 255)
        elif kind == "insert":
            at = choose.integer(0, len(data))
            data[at:at] = choose.binary(64)
        elif kind == "prepend":
            data[0:0] = choose.binary(64)
    return bytes(data)
