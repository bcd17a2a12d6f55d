"""A wheel read in place: the zip central directory walked once, ELF members found by magic.

Nothing is extracted to disk and no archive path is ever used as a file-system path. Stored
members are handed to the ELF parser as zero-copy views of the mapped file; deflated ones are
inflated into memory, bounded by the member size and compression-ratio limits.

Spec: PKWARE APPNOTE.TXT 6.3 (local header 4.3.7, central directory 4.3.12, end of central
directory 4.3.16, ZIP64 4.3.14-4.3.15, extra field 4.5.3).
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wheelscan._zipdir import central_entries, elf_heads, local_data_offsets
from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.fast_tuple import TupleBody, fast_tuple
from wheelscan.records import record
from wheelscan.wheel.identity import FileIdentity
from wheelscan.wheel.inflate import (
    InflateError,
    crc32,
    head_inflater,
    inflate_into,
)

if TYPE_CHECKING:
    from wheelscan.elf import ElfFacts
    from wheelscan.wheel.stream import Stream

ELF_MAGIC = b"\x7fELF"
STORED, DEFLATED = 0, 8
DATA_DESCRIPTOR = 0x08  # general purpose flag bit 3: the local header's CRC and sizes are 0

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
# A member's mapped bytes are given back once parsed from this size on (WheelArchive.done_with)
GIVE_BACK_ABOVE = 1 << 20
# a streamed member's pages go back this many bytes at a time (a call costs ~20 us)
GIVE_BACK_EVERY = 8 << 20


@record
class Limits:
    """Bounds on what one member may cost; a wheel over them gets an error, not an OOM."""

    max_member_size: int = 2 << 30
    max_compression_ratio: int = 1000  # zip bombs inflate ~1000x and more; real ELF ~2-10x


class WheelError(WheelscanError):
    """The archive cannot be read. ``code`` is stable; ``member`` names the entry if any."""

    code: ErrorCode


@fast_tuple
class Member(TupleBody):
    """A central directory entry. A tuple: wheels have thousands, made natively."""

    name: str
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    raw_name: bytes = b""  # as the central directory spells it: the local header must agree


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields by their ZIP64 extra values, exactly as ``zipfile`` does
    (``ZipInfo._decodeExtra``): every 0x0001 field in turn, in the order APPNOTE gives, and a
    field too short for a value it must hold is an error."""
    pos = 0
    while len(extra) - pos >= 4:  # each part's length was checked by the directory walker
        tag, length = struct.unpack_from("<2H", extra, pos)
        if tag == 0x0001:
            body = extra[pos + 4 : pos + 4 + length]
            values = iter([body[0:8], body[8:16], body[16:24]])  # short past the field's end
            if size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFFFFFF):
                size = _zip64_value(next(values))
            if compressed == 0xFFFFFFFF:
                compressed = _zip64_value(next(values))
            if offset == 0xFFFFFFFF:
                offset = _zip64_value(next(values))
        pos += 4 + length
    return size, compressed, offset


def _zip64_value(field: bytes) -> int:
    if len(field) < 8:
        raise WheelError("bad-zip", "a ZIP64 extra field too short for its values")
    return int.from_bytes(field, "little")


def _unicode_path(extra: bytes, raw_name: bytes, name: str) -> None:
    """Refuse an entry that an Info-ZIP Unicode Path field (0x7075) would rename.

    Recent ``zipfile`` releases read that field as the entry's name when its CRC-32 is that
    of the name; older ones ignore it. Such a wheel installs a file under one name with one
    Python and under another with the next (a ``.py`` file, never looked at, as a ``.so``).
    A field that would not rename the entry is let be; one that ``zipfile`` cannot read is
    refused, as it refuses it.
    """
    pos = 0
    while len(extra) - pos >= 4:
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if tag != 0x7075:
            continue
        if len(body) < 5:
            raise WheelError("bad-zip", "a Unicode Path extra field cut short", name)
        version, name_crc = struct.unpack_from("<BL", body)
        if version != 1 or name_crc != zlib.crc32(raw_name):
            continue
        try:
            other = body[5:].decode("utf-8")
        except UnicodeDecodeError:
            raise WheelError("bad-zip", "a Unicode Path extra field not UTF-8", name) from None
        if other and other.split("\0", 1)[0] != name.split("\0", 1)[0]:
            raise WheelError(
                "ambiguous-zip", f"a Unicode Path extra field renames it {other!r}", name
            )


@record
class EndRecord:
    """Where the central directory is, as ``zipfile`` finds it (``_EndRecData``)."""

    location: int  # where the end record that describes the directory starts (ZIP64 or not)
    count: int  # entries in total
    count_here: int  # entries "on this disk": the same as count in a single-disk archive
    cd_size: int
    cd_offset: int  # as written: without the bytes prepended to the archive

    @property
    def concat(self) -> int:
        """Bytes before the archive (a self-extractor's stub): ``zipfile`` finds them as the
        gap between the directory's declared end and the end record, and adds them to every
        offset; 0 in an archive as written."""
        return self.location - self.cd_size - self.cd_offset


class ByteReader(Protocol):
    """Random access to a wheel's bytes: a mapped file, a buffer, or ranged HTTP reads."""

    size: int

    def read_at(self, offset: int, length: int) -> memoryview:
        """``length`` bytes at ``offset`` (fewer only past the end of the file)."""
        ...

    def close(self) -> None: ...


class BufferReader:
    """A wheel held in memory or mapped from disk: every read is a zero-copy view."""

    def __init__(self, data: bytes | mmap.mmap | memoryview) -> None:
        self._view = memoryview(data)
        self.size = len(self._view)

    def read_at(self, offset: int, length: int) -> memoryview:
        return self._view[offset : offset + length]

    @property
    def view(self) -> memoryview:
        """The whole file."""
        return self._view

    def done_with(self, offset: int, length: int) -> None:
        """Bytes read for the last time: a mapped file's pages leave this process (they stay
        in the page cache). Otherwise a worker's resident memory would hold every byte of the
        wheel it audits beside the member it inflates: 52 MB more at pyarrow's."""
        obj = self._view.obj
        # only a whole read-only mapping of a file: there the pages come back from the page
        # cache when read again, where a private writable mapping would read back zeros
        if not isinstance(obj, mmap.mmap):
            return
        if self._view.readonly and self.size == len(obj) and length > 0:
            start = offset & ~(mmap.PAGESIZE - 1)
            with contextlib.suppress(OSError, ValueError):  # a platform without madvise
                obj.madvise(mmap.MADV_DONTNEED, start, offset + length - start)

    def close(self) -> None:
        obj = self._view.obj
        self._view.release()
        if isinstance(obj, mmap.mmap):
            # A view may outlive the archive: the traceback of an error raised while reading a
            # member holds one. The mapping then goes with the last view, and the error stays
            # the one the caller sees (not a BufferError from here).
            with contextlib.suppress(BufferError):
                obj.close()


class _GivenBack:
    """A mapped member's compressed bytes as a stream takes them, in order: once the bytes
    before a slice not yet given back add up to GIVE_BACK_EVERY, their pages go back
    (``BufferReader.done_with``).
    A stream over a whole member otherwise leaves every page it read resident until the
    member is done: tensorflow-cpu's 172 MB stream took ``show`` to 345 MB, 200 MB of it the
    wheel's mapped pages. A new pass, back at the start, reads them again from the cache."""

    def __init__(self, reader: BufferReader, offset: int, length: int) -> None:
        self._reader, self._offset, self._length = reader, offset, length
        self._given = 0  # bytes from the member's start already given back

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, span: slice, /) -> memoryview:
        start = min(span.start or 0, self._length)
        stop = self._length if span.stop is None else min(span.stop, self._length)
        if start < self._given:  # a new pass
            self._given = 0
        if start - self._given >= GIVE_BACK_EVERY:
            self._reader.done_with(self._offset + self._given, start - self._given)
            self._given = start
        return self._reader.read_at(self._offset + start, stop - start)


class WheelArchive:
    """A wheel's central directory, and its members read through a :class:`ByteReader`."""

    # Whether each byte read is fetched over a network (wheel/http.py): a byte left unread
    # is then one not fetched too, and reading a member by its ends pays from smaller
    # members on (wheel/ends.py, ``ends_costs``)
    fetched: bool = False

    def __init__(
        self,
        data: bytes | mmap.mmap | memoryview | ByteReader,
        limits: Limits = Limits(),
        file: FileIdentity | None = None,
    ) -> None:
        # the local file mapped as ``data``, if any: lets a member be read again later
        self.file = file
        if isinstance(data, bytes | mmap.mmap | memoryview):
            self.reader: ByteReader = BufferReader(data)
        else:
            self.reader = data
        self.limits = limits
        # header offset -> where the member's bytes must end: the next local header, or the
        # central directory (see _read_central_directory); in the order of the offsets
        # (``_member_ends`` builds it from them sorted: wheel/http.py takes them so)
        self._ends: dict[int, int] = {}
        # header offset -> where the member's bytes begin, once its local header was checked
        # (a member's is asked for by its sniff, its first 4 KiB and its payload)
        self._begins: dict[int, int] = {}
        self.members = self._read_central_directory()

    @classmethod
    def open(cls, path: Path, limits: Limits = Limits()) -> WheelArchive:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                raise WheelError("not-zip", "empty file")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            return cls(data, limits, FileIdentity.of(path, os.fstat(f.fileno())))

    @property
    def size(self) -> int:
        return self.reader.size

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> WheelArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_central_directory(self) -> list[Member]:
        """The members that ``zipfile`` lists, hence pip installs, read from the directory
        where ``zipfile`` finds it; an archive that another reading would see otherwise is
        refused (``ambiguous-zip``)."""
        end = self._end_record()
        concat = end.concat
        if concat < 0:
            raise WheelError("truncated", "central directory runs past its end record")
        start = end.cd_offset + concat
        data = self.reader.read_at(start, end.cd_size)
        # every entry checked and made a Member natively: the loop runs once per member
        members: list[Member] = central_entries(
            data, start, concat, Member, WheelError, _zip64_sizes, _unicode_path
        )
        if concat and bytes(self.reader.read_at(end.cd_offset, 4)) == b"PK\x01\x02":
            # a reader that takes the offset as written finds another directory there
            raise WheelError(
                "ambiguous-zip",
                f"two central directories: at {end.cd_offset} as written, at {start} "
                f"before the end record ({concat} bytes before the archive)",
            )
        walked = len(members)
        if walked != end.count or walked != end.count_here:
            counted = min(end.count, end.count_here)
            if walked > counted:  # a reader that goes by the count misses entries
                raise WheelError(
                    "ambiguous-zip",
                    f"the end record counts {counted} entries, the directory holds {walked}",
                )
            raise WheelError(
                "bad-zip",
                f"the end record counts {max(end.count, end.count_here)} entries, "
                f"the directory holds {walked}",
            )
        self._ends = self._member_ends(members, start)
        return members

    def _end_record(self) -> EndRecord:
        """The end of central directory record, found as ``zipfile`` finds it: the last 22
        bytes when they are one with no comment, else the last signature in the last 64 KiB
        + 22 bytes; then its ZIP64 record (``_end_record64``)."""
        size = self.size
        tail_start = max(0, size - (0xFFFF + _EOCD.size))
        tail = bytes(self.reader.read_at(tail_start, size - tail_start))
        last = len(tail) - _EOCD.size
        if last >= 0 and tail[last : last + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
            eocd = last
        else:
            eocd = tail.rfind(b"PK\x05\x06")
            if eocd < 0:
                raise WheelError("not-zip", "no end-of-central-directory record")
            if eocd + _EOCD.size > len(tail):
                raise WheelError("truncated", "end-of-central-directory record cut short")
        _, _, _, count_here, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, eocd)
        record = EndRecord(tail_start + eocd, count, count_here, cd_size, cd_offset)
        return self._end_record64(record) or record

    def _end_record64(self, end: EndRecord) -> EndRecord | None:
        """The ZIP64 end record, if a locator precedes the end record.

        Python's ``zipfile`` reads it immediately before the locator and ignores the
        locator's offset; recent releases (the fix of CVE-2025-8291) read it at the locator's
        offset first and check that the two agree. So that record is read, and no other: one
        anywhere else, a locator pointing at another record, or 32-bit fields that say
        something else than the ZIP64 ones (a reader without ZIP64 takes those) make
        readings differ, and the archive is refused.
        """
        at = end.location - _ZIP64_LOCATOR.size
        if at < 0:
            return None
        locator = bytes(self.reader.read_at(at, _ZIP64_LOCATOR.size))
        signature, disk, record_offset, disks = _ZIP64_LOCATOR.unpack(locator)
        if signature != b"PK\x06\x07":
            return None
        if disk != 0 or disks > 1:
            raise WheelError("bad-zip", "an archive that spans several disks")
        location = at - _ZIP64_EOCD.size
        record = bytes(self.reader.read_at(location, _ZIP64_EOCD.size)) if location >= 0 else b""
        if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            raise WheelError(
                "ambiguous-zip", "a ZIP64 locator without its end record just before it"
            )
        fields = _ZIP64_EOCD.unpack(record)
        record_size, count_here, count, cd_size, cd_offset = fields[1], *fields[6:]
        if record_offset > location or (
            record_offset != location
            and bytes(self.reader.read_at(record_offset, 4)) == b"PK\x06\x06"
        ):
            raise WheelError("ambiguous-zip", "the ZIP64 locator points at another end record")
        if record_size != _ZIP64_EOCD.size - 12 or cd_offset + cd_size != record_offset:
            raise WheelError("bad-zip", "the ZIP64 end record and its locator disagree")
        for narrow, wide, saturated in (
            (end.count_here, count_here, 0xFFFF),
            (end.count, count, 0xFFFF),
            (end.cd_size, cd_size, 0xFFFFFFFF),
            (end.cd_offset, cd_offset, 0xFFFFFFFF),
        ):
            if narrow not in (wide, saturated):
                raise WheelError(
                    "ambiguous-zip", "the end record and the ZIP64 end record disagree"
                )
        return EndRecord(location, count, count_here, cd_size, cd_offset)

    @staticmethod
    def _member_ends(members: list[Member], cd_offset: int) -> dict[int, int]:
        """Each member's bytes end before the next local header, the last before the directory.

        Members never share bytes in a zip that one tool wrote. A "quoted-overlap" zip bomb
        (Fifield, 2019) makes each member's data hold the next member, so that a few kilobytes
        inflate to gigabytes, each member within any per-member limit; and two central
        directory entries on one local header show two names for one content. Both are refused,
        as CPython's zipfile does since 3.11.8 and 3.12.2 (gh-109858).
        """
        offsets = sorted(m.header_offset for m in members)
        if not offsets:
            return {}
        for first, second in itertools.pairwise(offsets):
            if first == second:
                raise WheelError("overlapping-members", f"two entries at offset {first}")
        if offsets[-1] >= cd_offset:
            raise WheelError("overlapping-members", "a local header inside the central directory")
        return dict(zip(offsets, [*offsets[1:], cd_offset], strict=True))

    def data_offset(self, member: Member) -> int:
        """Where the member's compressed bytes start (``_local_header``), checked once."""
        begin = self._begins.get(member.header_offset)
        if begin is None:
            begin = self._begins[member.header_offset] = self._local_header(member)
        return begin

    def _local_header(self, member: Member) -> int:
        """Where the member's compressed bytes start, read from its local header.

        The local header must tell what the central directory tells (name, method, and CRC
        and sizes unless a data descriptor holds them): a reader that walks local headers, as
        a streaming installer does, would otherwise see another file than this audit.
        """
        start = member.header_offset
        header = self.reader.read_at(start, _LOCAL.size + len(member.raw_name))
        if len(header) < _LOCAL.size:
            raise WheelError("truncated", "local header past the end of the file", member.name)
        fields = _LOCAL.unpack_from(header)
        if fields[0] != b"PK\x03\x04":
            raise WheelError("bad-zip", "bad local header signature", member.name)
        flags, method, crc, csize, usize, name_len, extra_len = fields[3:5] + fields[7:]
        if name_len != len(member.raw_name) or header[_LOCAL.size :] != member.raw_name:
            raise WheelError(
                "local-header-mismatch", "the local header names another file", member.name
            )
        if method != member.method:
            raise WheelError("local-header-mismatch", f"local method {method}", member.name)
        if not flags & DATA_DESCRIPTOR and (
            crc != member.crc
            or csize not in (member.compressed_size, 0xFFFFFFFF)
            or usize not in (member.size, 0xFFFFFFFF)
        ):
            raise WheelError("local-header-mismatch", "local CRC or sizes differ", member.name)
        begin = start + _LOCAL.size + name_len + extra_len
        end = begin + member.compressed_size
        if end > self.size:
            raise WheelError("truncated", "member data runs past the end of the file", member.name)
        if end > self._ends.get(start, self.size):
            raise WheelError("overlapping-members", "data runs into the next entry", member.name)
        return int(begin)

    def payload(self, member: Member) -> memoryview:
        """The member's compressed bytes."""
        return self.reader.read_at(self.data_offset(member), member.compressed_size)

    def streamed_payload(self, member: Member) -> Stream:
        """The member's compressed bytes for a streamed reading, which takes them in order
        (wheel/stream.py); over HTTP they are fetched as the stream reaches them, and not
        kept (wheel/http.py); from a mapped file, given back as the stream leaves them."""
        if member.compressed_size >= GIVE_BACK_ABOVE and isinstance(self.reader, BufferReader):
            return _GivenBack(self.reader, self.data_offset(member), member.compressed_size)
        return self.payload(member)

    def payload_starts(self, member: Member, inflated: int) -> Iterator[memoryview]:
        """Starts of the member's compressed bytes, each longer than the last, to inflate its
        first ``inflated`` bytes from: the caller takes the next one while a start proves too
        short, and the last one is the whole payload. Here (the file at hand) it is the first.
        A remote archive fetches only as much as each start holds (wheel/http.py)."""
        yield self.payload(member)

    def payload_from(self, member: Member, start: int) -> memoryview:
        """The member's compressed bytes, of which only those from ``start`` on are promised:
        before it, a remote archive leaves zeros where it fetched nothing. For decoders that
        never look before ``start`` (the end's, wheel/ends.py)."""
        return self.payload(member)

    def done_with(self, member: Member) -> None:
        """The member's bytes will not be read again (``BufferReader.done_with``). Only a
        large member's: a call costs ~20 us, and a wheel's small members weigh little."""
        if member.compressed_size >= GIVE_BACK_ABOVE and isinstance(self.reader, BufferReader):
            self.reader.done_with(self.data_offset(member), member.compressed_size)

    def reused_facts(self, member: Member) -> ElfFacts | None:
        """The facts a twin of ``member`` in another wheel of its release settled, if any
        (only a remote wheel trusts such a twin: wheel/dedupe.py's ``ReleaseScope``)."""
        return None

    def parsed(self, member: Member, facts: ElfFacts) -> None:
        """``member``'s facts, once read (a remote wheel keeps them for its release's twins)."""

    def check_limits(self, member: Member) -> None:
        if member.size > self.limits.max_member_size:
            raise WheelError("too-large", f"{member.size} bytes uncompressed", member.name)
        if member.size > max(member.compressed_size, 1) * self.limits.max_compression_ratio:
            raise WheelError(
                "zip-bomb", f"ratio {member.size}/{member.compressed_size}", member.name
            )

    def head(self, member: Member, length: int = 4) -> bytes:
        """The first ``length`` bytes of a member, inflating no more than needed."""
        begin = self.data_offset(member)
        if member.method == STORED:
            return bytes(self.reader.read_at(begin, min(length, member.compressed_size)))
        if member.method == DEFLATED:
            # a few hundred compressed bytes always yield the first bytes of a deflate stream,
            # unless its first block is a long stored one: then read more. 16 KiB next: a
            # remote reader has fetched that much of a member read in part (wheel/http.py's
            # HEAD_FETCH), and the 4 KiB of headers its plan needs are mostly in it; going to
            # 64 KiB straight cost a request per library while planning
            for window in (512, 16 * 1024, 64 * 1024):
                chunk = self.reader.read_at(begin, min(window, member.compressed_size))
                try:
                    head = head_inflater().decompress(chunk, length)
                except zlib.error as e:
                    raise WheelError("bad-deflate", str(e), member.name) from e
                if len(head) >= length or window >= member.compressed_size:
                    break
            return bytes(head)
        raise WheelError("unsupported-compression", f"method {member.method}", member.name)

    def read(self, member: Member) -> memoryview | bytes:
        """The whole member: a zero-copy view when stored, inflated bytes when deflated."""
        self.check_limits(member)
        payload = self.payload(member)
        if member.method == STORED:
            content: memoryview | bytes = payload
            if member.compressed_size != member.size:
                raise WheelError("bad-zip", "stored member with two sizes", member.name)
        elif member.method == DEFLATED:
            out = bytearray(member.size)
            try:
                crc = inflate_into(payload, out)
            except InflateError as e:
                raise WheelError(e.code, e.reason, member.name) from e
            if crc != member.crc:
                raise WheelError("crc-mismatch", "CRC-32 differs from the directory's", member.name)
            return memoryview(out)
        else:
            raise WheelError("unsupported-compression", f"method {member.method}", member.name)
        if crc32(content) != member.crc:
            raise WheelError("crc-mismatch", "CRC-32 differs from the directory's", member.name)
        return content

    def find(self, name: str) -> Member | None:
        for member in self.members:
            if member.name == name:
                return member
        return None

    def elf_members(self) -> Iterator[Member]:
        """Members whose content starts with the ELF magic (found by magic, not by name).

        ``*.py`` members are never looked at: auditwheel skips them too, and in a large wheel
        they are most members (reading each one's first bytes was a tenth of a scan).
        """
        candidates = [m for m in self.members if self.may_be_elf(m)]
        for member, sniffed in zip(candidates, self.sniff(candidates), strict=True):
            if self.is_elf(member, sniffed):
                yield member

    def sniff(self, members: list[Member]) -> list[int]:
        """Per member, natively where it can (a file in memory): 1 if it is ELF, 0 if not,
        -1 for ``is_elf`` to find out (one by one in Python, with a zlib inflater each, the 7k
        candidates of the benchmark corpus took 40 ms). Their local headers are checked
        too (``locate``)."""
        self.locate(members)
        held = self.held()
        if held is None:
            return [-1] * len(members)
        return elf_heads(held, members, self._begins)

    def locate(self, members: list[Member]) -> None:
        """Check the local headers of ``members`` at once, natively, in a file held in
        memory: those that pass have their data offsets known, and ``data_offset`` checks
        the rest one by one, raising for an unsound one when it is asked for (one by one in
        Python, the 7k candidates of the benchmark corpus took 18 ms)."""
        held = self.held()
        if held is None:
            return
        offsets = local_data_offsets(held, members, self._ends)
        for member, begin in zip(members, offsets, strict=True):
            if begin >= 0:
                self._begins[member.header_offset] = begin

    def held(self) -> memoryview | None:
        """The whole file, where it is in memory (a local file mapped; over HTTP, a wheel
        fetched whole): what ``sniff`` and ``locate`` read natively. None otherwise."""
        return self.reader.view if isinstance(self.reader, BufferReader) else None

    @staticmethod
    def may_be_elf(member: Member) -> bool:
        """Not ruled out by its name or size (a directory, ``*.py``, fewer than 4 bytes)."""
        return not member.name.endswith(("/", ".py")) and member.size >= len(ELF_MAGIC)

    def is_elf(self, member: Member, sniffed: int = -1) -> bool:
        """Whether the member's first bytes are the ELF magic (inflating no more than them),
        unless ``sniff`` already said (``sniffed``: 1 or 0)."""
        if sniffed >= 0:
            return sniffed == 1
        return self.head(member) == ELF_MAGIC
