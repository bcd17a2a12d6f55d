# cython: language_level=3
"""A zip central directory walked at C speed (APPNOTE 4.3.12).

``wheel/archive.py`` finds the directory and keeps every rule about it; this module only walks
its entries, the one loop that runs once per member of every wheel: 15k entries on the
benchmark corpus took 70 ms in Python (struct, slices, a frozen dataclass per entry), a
twentieth of a batch audit. Each entry becomes the caller's ``Member`` as is, and every check
of the Python loop it replaces is made here, with the same error codes and reasons.

``local_data_offsets`` checks the local headers of many members at once, the happy path only:
a member it cannot vouch for is left to the Python check, which says why.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memcmp, memcpy, memset

cdef enum:
    CENTRAL_SIZE = 46  # the fixed part of a central directory entry
    LOCAL_SIZE = 30  # the fixed part of a local file header
    DATA_DESCRIPTOR = 0x08  # general purpose flag bit 3: the local CRC and sizes are 0
    UTF8_NAME = 0x800  # general purpose flag bit 11: the name is UTF-8, else CP437
    ZIP64_FIELD = 0xFFFFFFFF  # a 32-bit size or offset that the ZIP64 extra field holds
    ZIP64_EXTRA = 0x0001  # the extra field's tag for ZIP64 sizes and offset
    UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP's Unicode Path field (APPNOTE 4.6.9)
    MAX_EXTRACT_VERSION = 63  # zipfile refuses an entry needing a later version
    # flag bits 0 (encrypted), 5 (compressed patched data), 6 (strong encryption): zipfile
    # cannot extract such a member, so pip cannot install the wheel
    UNEXTRACTABLE = 0x01 | 0x20 | 0x40


include "deflate.pxi"


cdef inline uint32_t _u16(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8)


cdef inline uint32_t _u32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline bint _ascii(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] & 0x80:
            return False
    return True


def central_entries(
    const uint8_t[::1] data, uint64_t cd_offset, concat,
    member_type, error_type, zip64_sizes, unicode_path,
):
    """Every entry of the directory ``data`` (its bytes, found at ``cd_offset``), walked as
    ``zipfile`` walks it: by the directory's size, not by an entry count (the caller compares
    the two), each as ``member_type(name, method, crc, compressed_size, size, header_offset,
    raw_name)`` with ``concat`` (the bytes before the archive) added to its header offset,
    made as a namedtuple's ``_make`` makes it (``member_type`` is one: its ``__new__``, a
    Python function, was 2.9K instructions a member, 1M of onnxruntime 1.31.1's 353 on
    ``show``'s reading thread, issue #15).

    What makes ``zipfile`` refuse the archive is refused here too, so that no archive is read
    when pip could not read it, or read otherwise than pip reads it: an extra field whose
    parts run past it, a name flagged UTF-8 that is not, a version needed above 6.3, an
    encrypted or patched member (pip cannot extract it).

    ``zip64_sizes(extra, size, compressed_size, offset)`` replaces the 32-bit fields a ZIP64
    extra field holds (called only for an entry with such a field and such a value);
    ``unicode_path(extra, raw_name, name)`` checks an entry with an Info-ZIP Unicode Path field
    (0x7075), which some ``zipfile`` versions read as the entry's name. Raises
    ``error_type(code, reason[, member])``: an entry cut short, a bad signature, two entries
    with one name, and the above.
    """
    cdef Py_ssize_t size = data.shape[0]
    cdef Py_ssize_t pos = 0, pos_name, name_end, extra_end, field
    cdef const uint8_t* entry
    cdef uint32_t flags, method, crc, name_len, extra_len, comment_len, tag, length
    cdef uint64_t csize, usize, offset
    cdef bint zip64_field, unicode_field
    cdef bytes raw_name
    cdef str name
    if len(member_type._fields) != 7:  # tuple.__new__ checks no count, as _make does
        raise TypeError(f"{member_type.__name__} has not the 7 fields a member is made of")
    members = []
    seen = set()
    while pos < size:
        if pos + CENTRAL_SIZE > size:
            raise error_type("bad-zip", "a central directory entry cut short")
        entry = &data[pos]
        if not (entry[0] == 0x50 and entry[1] == 0x4B and entry[2] == 1 and entry[3] == 2):
            raise error_type("bad-zip", f"bad central directory signature at {cd_offset + pos}")
        flags = _u16(entry + 8)
        method = _u16(entry + 10)
        crc = _u32(entry + 16)
        csize = _u32(entry + 20)
        usize = _u32(entry + 24)
        name_len = _u16(entry + 28)
        extra_len = _u16(entry + 30)
        comment_len = _u16(entry + 32)
        offset = _u32(entry + 42)
        pos_name = pos + CENTRAL_SIZE
        name_end = pos_name + name_len
        extra_end = name_end + extra_len
        pos = extra_end + comment_len
        if pos > size:
            raise error_type("bad-zip", "central directory entry runs past the directory")
        # (not ``bytes(data[pos_name:name_end])``: a memoryview made and freed per member)
        raw_name = PyBytes_FromStringAndSize(<const char*>entry + CENTRAL_SIZE, name_len)
        if _ascii(entry + CENTRAL_SIZE, name_len):  # what nearly every name is
            name = raw_name.decode("ascii")
        elif flags & UTF8_NAME:
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                raise error_type("bad-zip", f"a name flagged UTF-8 is not: {raw_name!r}") from None
        else:
            name = raw_name.decode("cp437")
        if entry[6] > MAX_EXTRACT_VERSION:
            raise error_type("bad-zip", f"needs zip version {entry[6] / 10.0:.1f}", name)
        if flags & UNEXTRACTABLE:
            raise error_type("bad-zip", f"an encrypted or patched member (flags {flags:#x})", name)
        # the extra field's parts, as zipfile's ZipInfo._decodeExtra walks them
        zip64_field = unicode_field = False
        field = name_end
        while extra_end - field >= 4:
            tag = _u16(&data[field])
            length = _u16(&data[field + 2])
            if field + 4 + length > extra_end:
                raise error_type("bad-zip", f"extra field {tag:#06x} runs past its entry", name)
            zip64_field |= tag == ZIP64_EXTRA
            unicode_field |= tag == UNICODE_PATH_EXTRA
            field += 4 + length
        if zip64_field and (
            csize == ZIP64_FIELD or usize == ZIP64_FIELD or offset == ZIP64_FIELD
        ):
            usize, csize, offset = zip64_sizes(bytes(data[name_end:extra_end]), usize, csize, offset)
        if unicode_field:
            unicode_path(bytes(data[name_end:extra_end]), raw_name, name)
        if name in seen:
            raise error_type("duplicate-member", "two central directory entries", name)
        seen.add(name)
        members.append(
            tuple.__new__(member_type, (name, method, crc, csize, usize, offset + concat, raw_name))
        )
    return members


def local_data_offsets(const uint8_t[::1] data, members, ends):
    """Where each of ``members``' compressed bytes begin in ``data`` (the whole zip file),
    for each whose local header passes every check of ``WheelArchive._local_header``, in
    its order: signature, the same name, method, CRC and sizes (unless a data descriptor
    holds them), and data that ends within the file and before ``ends[header_offset]`` (the
    next local header, or the directory). -1 for any other: the Python check then raises
    with its reason. (7k members of the benchmark corpus checked in Python took 18 ms.)"""
    return [_data_offset(data, m, m.header_offset, m.raw_name, ends) for m in members]


cdef int64_t _data_offset(const uint8_t[::1] data, member, uint64_t start, bytes raw,
                          ends) except? -2:
    cdef uint64_t size = data.shape[0]
    cdef uint64_t begin, end, csize, usize
    cdef uint32_t flags, method, name_len, extra_len
    cdef const uint8_t* h
    if start + LOCAL_SIZE + len(raw) > size:
        return -1
    h = &data[start]
    if not (h[0] == 0x50 and h[1] == 0x4B and h[2] == 3 and h[3] == 4):
        return -1
    flags = _u16(h + 6)
    method = _u16(h + 8)
    csize = _u32(h + 18)
    usize = _u32(h + 22)
    name_len = _u16(h + 26)
    extra_len = _u16(h + 28)
    if name_len != len(raw) or memcmp(h + LOCAL_SIZE, <const char*>raw, name_len) != 0:
        return -1
    if method != member.method:
        return -1
    if not flags & DATA_DESCRIPTOR and (
        _u32(h + 14) != member.crc
        or (csize != member.compressed_size and csize != ZIP64_FIELD)
        or (usize != member.size and usize != ZIP64_FIELD)
    ):
        return -1
    begin = start + LOCAL_SIZE + name_len + extra_len
    # compared before added: a ZIP64 size may be anything up to 2**64 - 1
    if begin > size or member.compressed_size > size - begin:
        return -1
    end = begin + <uint64_t>member.compressed_size
    if end > <uint64_t>ends.get(start, size):
        return -1
    return begin


# --- A member's first bytes: is it ELF? -------------------------------------------------
# Sniffing every member but *.py for the ELF magic (7k on the benchmark corpus) made a
# zlib inflater per member in Python (2.6 us each, a third of it set-up); here a deflate
# stream's first block is decoded just far enough, with canonical Huffman codes built
# from counts alone (no lookup tables: a few symbols are decoded, not thousands).

# What a sniff finds, as the list ``sniff`` returns gives it to wheel/archive.py
cdef enum Sniff:
    IS_ELF = 1
    NOT_ELF = 0
    ASK_ZLIB = -1  # not certain to find what zlib would: zlib is asked


cdef enum:
    HEAD = 4  # len(b"\x7fELF")
    SNIFF_WINDOW = 512  # the compressed bytes WheelArchive.head gives zlib first


cdef inline bint _complete(Canonical* h, const uint8_t* lengths, int n) noexcept nogil:
    """Build the canonical code of ``lengths``; whether it is complete (a code zlib might
    accept incomplete, or none at all, is left to zlib)."""
    return canonical(h, lengths, n, False) == 0


cdef int _decode(Bits* r, const Canonical* h) noexcept nogil:
    """The next symbol, read a bit at a time; -1 if bits run out."""
    cdef int length = 0
    cdef int symbol = canonical_symbol(h, peek(r), &length)
    if symbol < 0:
        return -1
    r.pos += length
    if r.pos > 8 * r.size:
        r.overrun = True
        return -1
    return symbol


cdef Canonical _FIXED_LITLEN
cdef Canonical _FIXED_DIST


cdef void _init_codes():
    cdef uint8_t lengths[288]
    cdef uint8_t dist_lengths[32]
    fixed_lengths(lengths, dist_lengths)
    _complete(&_FIXED_LITLEN, lengths, 288)
    _complete(&_FIXED_DIST, dist_lengths, 32)


_init_codes()


cdef bint _dynamic_codes(Bits* r, Canonical* litlen, Canonical* dist) noexcept nogil:
    """A dynamic block's codes (its type taken); False unless zlib would surely take them."""
    cdef uint8_t lengths[320]
    cdef int nlen, ndist
    return (read_code_lengths(r, lengths, &nlen, &ndist) == 0 and not r.overrun
            and _complete(litlen, lengths, nlen) and _complete(dist, lengths + nlen, ndist))


cdef int _deflate_head_is_elf(const uint8_t* stream, uint64_t size) noexcept nogil:
    """IS_ELF if the raw deflate stream's first four bytes are the ELF magic, NOT_ELF if
    they are not, exactly as zlib's ``decompressobj(-15).decompress(stream[:512], 4)``
    finds; ASK_ZLIB when it is not certain to (any unsound or unusual stream, or one zlib would read
    past, after the fourth byte, further than its first 512 bytes): then ask zlib.

    zlib, its output full, still decodes the next symbol if the fourth byte ended one
    (a literal's or a match's), and fails there if it is unsound; so is it decoded here.
    Where zlib would read a next block's header, this says ASK_ZLIB."""
    cdef Bits r
    cdef Canonical litlen, dist
    cdef const Canonical* lit_code
    cdef const Canonical* dist_code
    cdef uint8_t out[HEAD]
    cdef int produced = 0, final_block, kind, symbol, length
    cdef uint32_t stored, distance
    r.data = stream
    r.size = min(size, <uint64_t>SNIFF_WINDOW)
    r.pos = 0
    r.overrun = False
    while True:
        final_block = take(&r, 1)
        kind = take(&r, 2)
        if r.overrun:
            return ASK_ZLIB
        if kind == 0:
            r.pos = (r.pos + 7) & ~(<uint64_t>7)
            stored = take(&r, 16)
            if r.overrun or take(&r, 16) != (~stored & 0xFFFF) or r.overrun:
                return ASK_ZLIB
            if <uint64_t>stored <= <uint64_t>(HEAD - produced):
                return ASK_ZLIB  # the block ends at or before the fourth byte: unusual, zlib's
            if r.pos // 8 + HEAD - produced > r.size:
                return ASK_ZLIB
            while produced < HEAD:
                out[produced] = r.data[r.pos // 8]
                r.pos += 8
                produced += 1
            break  # zlib stops inside the stored block
        if kind == 1:
            lit_code, dist_code = &_FIXED_LITLEN, &_FIXED_DIST
        elif kind == 2:
            if not _dynamic_codes(&r, &litlen, &dist):
                return ASK_ZLIB
            lit_code, dist_code = &litlen, &dist
        else:
            return ASK_ZLIB
        while True:
            symbol = _decode(&r, lit_code)
            if symbol < 0 or symbol > 285:
                return ASK_ZLIB
            if symbol == 256:
                return ASK_ZLIB  # a block that ends this soon (and zlib reads the next header)
            if produced == HEAD:  # zlib's look at the symbol after the fourth byte
                if symbol > 256:
                    take(&r, LENGTH_EXTRA[symbol - 257])
                    symbol = _decode(&r, dist_code)
                    if symbol < 0 or symbol >= 30 or r.overrun:
                        return ASK_ZLIB
                break
            if symbol < 256:
                out[produced] = <uint8_t>symbol
                produced += 1
                continue
            length = LENGTH_BASE[symbol - 257] + take(&r, LENGTH_EXTRA[symbol - 257])
            symbol = _decode(&r, dist_code)
            if symbol < 0 or symbol >= 30:
                return ASK_ZLIB
            distance = DIST_BASE[symbol] + take(&r, DIST_EXTRA[symbol])
            if r.overrun or distance > <uint32_t>produced:
                return ASK_ZLIB  # zlib: "invalid distance too far back"
            while length > 0 and produced < HEAD:
                out[produced] = out[produced - distance]
                produced += 1
                length -= 1
            if length > 0:
                break  # zlib stops inside the match
        break
    return <int>IS_ELF if (out[0] == 0x7F and out[1] == 0x45 and out[2] == 0x4C and out[3] == 0x46) else <int>NOT_ELF


def elf_heads(const uint8_t[::1] data, members, begins):
    """For each of ``members`` (of the zip file ``data``), IS_ELF (1) if its first bytes are
    the ELF magic, NOT_ELF (0) if not, ASK_ZLIB (-1) where this cannot say as
    ``WheelArchive.is_elf`` would (its local
    header not checked yet: not in ``begins``; a method other than stored and deflated;
    an unusual deflate stream): ``is_elf`` then decides."""
    cdef uint64_t begin, csize
    found = []
    for member in members:
        at = begins.get(member.header_offset)
        if at is None or member.method not in (0, 8) or member.compressed_size >= 1 << 64:
            found.append(ASK_ZLIB)
            continue
        csize = member.compressed_size
        begin = at
        if begin > <uint64_t>data.shape[0] or csize > <uint64_t>data.shape[0] - begin:
            found.append(ASK_ZLIB)
        elif member.method == 0:
            found.append(IS_ELF if csize >= HEAD and data[begin] == 0x7F and data[begin + 1] == 0x45
                         and data[begin + 2] == 0x4C and data[begin + 3] == 0x46 else NOT_ELF)
        elif csize == 0:
            found.append(ASK_ZLIB)
        else:
            found.append(_deflate_head_is_elf(&data[begin], csize))
    return found
