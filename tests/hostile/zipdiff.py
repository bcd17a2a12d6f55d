"""Two readings of one archive: Python's ``zipfile`` (what pip extracts, hence installs) and
wheelscan's :class:`WheelArchive`. Whenever both read an archive they must see the same
members, at the same places, with the same bytes; where they would not, wheelscan must
refuse it. ``disagreements`` says where they differ (nothing, when they agree).

Used by ``tests/test_zip_as_installed.py`` (crafted archives, and hypothesis mutating sound
ones) and ``fuzz/fuzz_zip_differential.py`` (libFuzzer mutating them).
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass

from wheelscan.wheel.archive import Limits, WheelArchive, WheelError

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
        # a member wheelscan reads, zipfile must read alike (wheelscan may refuse more)
        if mine.data_offset is not None and mine.data_offset != other.data_offset:
            found.append(f"{mine.name}: data at {mine.data_offset}, zipfile {other.data_offset}")
        if mine.content is not None and mine.content != other.content:
            found.append(f"{mine.name}: content differs ({other.content is None=} in zipfile)")
    return found
