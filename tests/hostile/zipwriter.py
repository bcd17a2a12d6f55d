"""A zip writer that can lie: every field of every header is the caller's to set.

Python's ``zipfile`` writes only sound archives; hostile ones need their headers written by
hand. ``write_zip`` lays the entries out one after the other (local header, data), then the
central directory and the end record(s); each :class:`Entry` field left at None tells the
truth, any other value is written as given.

Spec: PKWARE APPNOTE.TXT 6.3 (local header 4.3.7, central directory 4.3.12, end of central
directory 4.3.16, ZIP64 4.3.14-4.3.15 and 4.5.3).
"""

from __future__ import annotations

import base64
import hashlib
import stat
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STORED, DEFLATED, BZIP2 = 0, 8, 12
UTF8_NAMES, DATA_DESCRIPTOR = 0x800, 0x08
UNIX = 3  # "version made by" host system: external attributes hold st_mode << 16

LOCAL = struct.Struct("<4s2B4HL2L2H")
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
EOCD = struct.Struct("<4s4H2LH")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
DESCRIPTOR = struct.Struct("<4s3L")


def deflate(data: bytes, level: int = 6) -> bytes:
    """Raw deflate, as zip members carry it."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def symlink_mode(permissions: int = 0o777) -> int:
    """External attributes of a unix symlink entry (Info-ZIP: st_mode in the high 16 bits)."""
    return (stat.S_IFLNK | permissions) << 16


@dataclass
class Entry:
    name: str | bytes
    data: bytes  # the content, uncompressed
    method: int = DEFLATED
    external_attr: int = (stat.S_IFREG | 0o644) << 16
    flags: int = UTF8_NAMES
    # lies, written in both headers unless a local_* value says otherwise
    payload: bytes | None = None  # the bytes stored (default: ``data`` stored or deflated)
    crc: int | None = None
    size: int | None = None  # declared uncompressed size
    compressed_size: int | None = None
    zip64: bool = False  # sizes and offset in a ZIP64 extra field (0xFFFFFFFF in the header)
    local_name: bytes | None = None
    local_method: int | None = None
    local_crc: int | None = None
    local_size: int | None = None
    local_compressed_size: int | None = None
    header_offset: int | None = None  # where the central directory says the local header is
    descriptor: bool = False  # sizes and CRC after the data (flag bit 3), zeros in the header
    extra: bytes = b""  # more extra fields, in both headers (after the ZIP64 one, if any)

    @property
    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode()

    def stored_bytes(self) -> bytes:
        if self.payload is not None:
            return self.payload
        return deflate(self.data) if self.method == DEFLATED else self.data


@dataclass
class Layout:
    """What ``write_zip`` wrote, for tests that patch it further."""

    data: bytearray
    local_offsets: list[int] = field(default_factory=list)
    data_offsets: list[int] = field(default_factory=list)
    cd_offset: int = 0


def _pick(value: int | None, default: int) -> int:
    return default if value is None else value


def write_zip(entries: Sequence[Entry], comment: bytes = b"", count: int | None = None) -> Layout:
    """Local headers and data, the central directory, the end record (and ZIP64 ones if any
    entry asks for them). ``count`` overrides the entry count of the end record."""
    out = Layout(bytearray())
    central = bytearray()
    need_zip64 = any(e.zip64 for e in entries)
    for e in entries:
        payload = e.stored_bytes()
        crc = _pick(e.crc, zlib.crc32(e.data))
        size = _pick(e.size, len(e.data))
        csize = _pick(e.compressed_size, len(payload))
        flags = e.flags | (DATA_DESCRIPTOR if e.descriptor else 0)
        offset = len(out.data)
        extra = struct.pack("<2H3Q", 1, 24, size, csize, offset) if e.zip64 else b""
        local_extra = struct.pack("<2H2Q", 1, 16, size, csize) if e.zip64 else b""
        extra, local_extra = extra + e.extra, local_extra + e.extra
        word = 0xFFFFFFFF if e.zip64 else None
        local_name = e.local_name if e.local_name is not None else e.raw_name
        zero = 0 if e.descriptor else None
        out.local_offsets.append(offset)
        out.data += LOCAL.pack(
            b"PK\x03\x04",
            45 if e.zip64 else 20,
            0,
            flags,
            _pick(e.local_method, e.method),
            0,
            0x21,
            _pick(e.local_crc, _pick(zero, crc)),
            _pick(e.local_compressed_size, _pick(zero, _pick(word, csize))),
            _pick(e.local_size, _pick(zero, _pick(word, size))),
            len(local_name),
            len(local_extra),
        )
        out.data += local_name + local_extra
        out.data_offsets.append(len(out.data))
        out.data += payload
        if e.descriptor:
            out.data += DESCRIPTOR.pack(b"PK\x07\x08", crc, csize, size)
        name = e.raw_name
        central += CENTRAL.pack(
            b"PK\x01\x02",
            45 if e.zip64 else 20,
            UNIX,
            45 if e.zip64 else 20,
            0,
            flags,
            e.method,
            0,
            0x21,
            crc,
            _pick(word, csize),
            _pick(word, size),
            len(name),
            len(extra),
            0,
            0,
            0,
            e.external_attr,
            _pick(word, _pick(e.header_offset, offset)),
        )
        central += name + extra
    out.cd_offset = len(out.data)
    out.data += central
    total = _pick(count, len(entries))
    if need_zip64:
        z64 = len(out.data)
        out.data += ZIP64_EOCD.pack(
            b"PK\x06\x06",
            ZIP64_EOCD.size - 12,
            45,
            45,
            0,
            0,
            total,
            total,
            len(central),
            out.cd_offset,
        )
        out.data += ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, z64, 1)
    words = 0xFFFF if need_zip64 else total
    out.data += EOCD.pack(
        b"PK\x05\x06",
        0,
        0,
        words,
        words,
        0xFFFFFFFF if need_zip64 else len(central),
        0xFFFFFFFF if need_zip64 else out.cd_offset,
        len(comment),
    )
    out.data += comment
    return out


def record_for(files: Mapping[str, bytes], dist_info: str) -> bytes:
    """RECORD rows for ``files`` (PEP 376 / 427), itself listed last without a hash."""
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{dist_info}/RECORD,,")
    return ("\n".join(rows) + "\n").encode()


def wheel_entries(
    entries: Sequence[Entry], name: str = "demo", version: str = "1.0", record: bool = True
) -> list[Entry]:
    """``entries`` plus WHEEL and a RECORD listing every entry by name (lies and all)."""
    dist_info = f"{name}-{version}.dist-info"
    wheel = Entry(f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: hostile\n")
    listed = {e.raw_name.decode("utf-8", "replace"): e.data for e in [*entries, wheel]}
    out = [*entries, wheel]
    if record:
        out.append(Entry(f"{dist_info}/RECORD", record_for(listed, dist_info)))
    return out


def write_wheel(entries: Sequence[Entry], **kw: object) -> bytes:
    return bytes(write_zip(wheel_entries(entries, **kw)).data)  # type: ignore[arg-type]
