# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The native ELF core: one ELF file in a buffer in, one ``ElfFacts`` record out.

Two phases. The first runs without the GIL: it validates the header, walks the program
headers, the dynamic section, the hash tables and the version chains, and collects the
*offsets* of everything the record needs; every read is bounds-checked against the buffer
and every loop is bounded by the buffer's length. The second phase, with the GIL, turns those
offsets into Python strings and the typed record. The reading rules are written once, in
``wheelscan/elf/facts.py``; the pyelftools reader in ``wheelscan/elf/reference.py`` follows
the same rules and the tests hold the two to identical output.
"""

from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void* op)

from wheelscan.elf.facts import (
    BINDING_OF,
    DefinedSymbol,
    PYTHON_INIT_PREFIXES,
    ElfClass,
    ElfError,
    ElfFacts,
    Endianness,
    Machine,
    NeedBytes,
    TYPE_OF,
    UndefinedSymbol,
    VersionNeed,
)

# --- constants (gABI / GNU extensions) -----------------------------------------------------
cdef extern from *:
    """
    #define PT_LOAD (1)
    #define PT_DYNAMIC (2)
    #define PT_INTERP (3)
    #define PT_NOTE (4)
    #define PT_GNU_STACK (0x6474E551ULL)
    #define DT_NULL (0)
    #define DT_NEEDED (1)
    #define DT_HASH (4)
    #define DT_STRTAB (5)
    #define DT_SYMTAB (6)
    #define DT_STRSZ (10)
    #define DT_SYMENT (11)
    #define DT_SONAME (14)
    #define DT_RPATH (15)
    #define DT_RUNPATH (29)
    #define DT_FLAGS (30)
    #define DT_GNU_HASH (0x6FFFFEF5ULL)
    #define DT_VERSYM (0x6FFFFFF0ULL)
    #define DT_FLAGS_1 (0x6FFFFFFBULL)
    #define DT_VERDEF (0x6FFFFFFCULL)
    #define DT_VERDEFNUM (0x6FFFFFFDULL)
    #define DT_VERNEED (0x6FFFFFFEULL)
    #define DT_VERNEEDNUM (0x6FFFFFFFULL)
    #define EM_386 (3)
    #define EM_S390 (22)
    #define EM_X86_64 (62)
    #define NT_GNU_PROPERTY_TYPE_0 (5)
    #define GNU_PROPERTY_X86_ISA_1_NEEDED (0xC0008002ULL)
    #define GNU_PROPERTY_X86_FEATURE_1_AND (0xC0000002ULL)
    #define GNU_PROPERTY_1_NEEDED (0xB0008000ULL)
    #define STT_FUNC (2)
    #define MAX_SYMBOLS (1 << 24)
    #define MAX_UNDEFINED (1 << 18)
    #define SHARED_NAME (256)
    #define NAME_BYTES_FACTOR (16)
    #define NAME_BYTES_FLOOR (1 << 20)
    #define PAST_ANY_BUFFER (0xFFFFFFFFFFFFFFFFULL)
    #define E_OK (0)
    #define E_NOT_ELF (1)
    #define E_TRUNCATED (2)
    #define E_BAD_HEADER (3)
    #define E_BAD_OFFSET (4)
    #define E_BAD_TABLE (5)
    #define E_TOO_LARGE (6)
    #define E_NO_MEMORY (7)
    #define E_NEED_BYTES (8)
    #define E_AMBIGUOUS (9)
    #define VER_FLG_BASE (1)
    #define SMALLEST_PAGE (4096ULL)
    #define HAS_SONAME (1u << 0)
    #define HAS_RPATH (1u << 1)
    #define HAS_RUNPATH (1u << 2)
    #define HAS_STRTAB_ADDR (1u << 3)
    #define HAS_STRSZ (1u << 4)
    #define HAS_SYMTAB_ADDR (1u << 5)
    #define HAS_SYMENT (1u << 6)
    #define HAS_HASH_ADDR (1u << 7)
    #define HAS_GNU_HASH_ADDR (1u << 8)
    #define HAS_VERSYM_ADDR (1u << 9)
    #define HAS_VERNEED_ADDR (1u << 10)
    #define HAS_VERNEEDNUM (1u << 11)
    #define HAS_VERDEF_ADDR (1u << 12)
    #define HAS_VERDEFNUM (1u << 13)
    """
    int PT_LOAD
    int PT_DYNAMIC
    int PT_INTERP
    int PT_NOTE
    unsigned long long PT_GNU_STACK
    int DT_NULL
    int DT_NEEDED
    int DT_HASH
    int DT_STRTAB
    int DT_SYMTAB
    int DT_STRSZ
    int DT_SYMENT
    int DT_SONAME
    int DT_RPATH
    int DT_RUNPATH
    int DT_FLAGS
    unsigned long long DT_GNU_HASH
    unsigned long long DT_VERSYM
    unsigned long long DT_FLAGS_1
    unsigned long long DT_VERDEF
    unsigned long long DT_VERDEFNUM
    unsigned long long DT_VERNEED
    unsigned long long DT_VERNEEDNUM
    int EM_386
    int EM_S390
    int EM_X86_64
    int NT_GNU_PROPERTY_TYPE_0
    unsigned long long GNU_PROPERTY_X86_ISA_1_NEEDED
    unsigned long long GNU_PROPERTY_X86_FEATURE_1_AND
    unsigned long long GNU_PROPERTY_1_NEEDED
    int STT_FUNC
    unsigned long long MAX_SYMBOLS
    unsigned long long MAX_UNDEFINED
    unsigned long long SHARED_NAME
    unsigned long long NAME_BYTES_FACTOR
    unsigned long long NAME_BYTES_FLOOR
    unsigned long long PAST_ANY_BUFFER
    int E_OK
    int E_NOT_ELF
    int E_TRUNCATED
    int E_BAD_HEADER
    int E_BAD_OFFSET
    int E_BAD_TABLE
    int E_TOO_LARGE
    int E_NO_MEMORY
    int E_NEED_BYTES
    int E_AMBIGUOUS
    int VER_FLG_BASE
    unsigned long long SMALLEST_PAGE
    unsigned int HAS_SONAME
    unsigned int HAS_RPATH
    unsigned int HAS_RUNPATH
    unsigned int HAS_STRTAB_ADDR
    unsigned int HAS_STRSZ
    unsigned int HAS_SYMTAB_ADDR
    unsigned int HAS_SYMENT
    unsigned int HAS_HASH_ADDR
    unsigned int HAS_GNU_HASH_ADDR
    unsigned int HAS_VERSYM_ADDR
    unsigned int HAS_VERNEED_ADDR
    unsigned int HAS_VERNEEDNUM
    unsigned int HAS_VERDEF_ADDR
    unsigned int HAS_VERDEFNUM



# error codes, mapped to ElfError codes in one place (_ERROR_CODES)

_ERROR_CODES = {
    E_NOT_ELF: "not-elf",
    E_TRUNCATED: "truncated",
    E_BAD_HEADER: "bad-header",
    E_BAD_OFFSET: "bad-offset",
    E_BAD_TABLE: "bad-table",
    E_TOO_LARGE: "too-large",
    E_AMBIGUOUS: "ambiguous",
}

_INIT_PREFIXES = tuple(p.encode() for p in PYTHON_INIT_PREFIXES)


cdef struct Vec:
    # a growable array of int64 (string offsets, symbol indices, ...)
    int64_t* items
    Py_ssize_t length
    Py_ssize_t capacity


cdef int vec_push(Vec* v, int64_t item) noexcept nogil:
    cdef Py_ssize_t capacity
    cdef int64_t* grown
    if v.length == v.capacity:
        capacity = 16 if v.capacity == 0 else v.capacity * 2
        grown = <int64_t*>realloc(v.items, capacity * sizeof(int64_t))
        if grown == NULL:
            return -1
        v.items = grown
        v.capacity = capacity
    v.items[v.length] = item
    v.length += 1
    return 0


cdef struct Ctx:
    const uint8_t* data
    uint64_t size
    # When the buffer is only partly filled (a member being inflated as a stream), the
    # [start, end) pairs that hold real bytes; NULL when all of it does. A read outside them
    # stops the parse with E_NEED_BYTES and the range it wanted.
    const uint64_t* available
    Py_ssize_t available_count
    uint64_t need_start
    uint64_t need_end
    bint is64
    bint big
    int error
    char message[200]
    # header
    uint16_t elf_type
    uint16_t machine
    uint32_t flags
    uint8_t osabi
    uint64_t phoff
    uint64_t phentsize
    uint64_t phnum
    # segments
    int64_t interp_off
    uint64_t interp_len
    int64_t dynamic_off        # the PT_DYNAMIC the loader uses (read_segments): its p_offset,
    uint64_t dynamic_size      # p_filesz
    uint64_t dynamic_vaddr     # and p_vaddr, through which the loader reads it
    bint dynamic_differs       # another non-empty PT_DYNAMIC names other bytes
    int64_t stack_flags
    int64_t isa_needed
    bint property_note_seen  # only the first GNU property note glibc meets counts
    # dynamic tags, meaningful only when their HAS_ bit is set in `present` (a value may be
    # anything up to 2**64-1, so no value can stand for "absent")
    uint32_t present
    Vec needed            # string-table offsets
    uint64_t soname
    uint64_t rpath
    uint64_t runpath
    uint64_t dt_flags
    uint64_t dt_flags_1
    uint64_t strtab_addr
    uint64_t strsz
    uint64_t symtab_addr
    uint64_t syment
    uint64_t hash_addr
    uint64_t gnu_hash_addr
    uint64_t versym_addr
    uint64_t verneed_addr
    uint64_t verneednum
    uint64_t verdef_addr
    uint64_t verdefnum
    # resolved tables
    uint64_t strtab_off
    # the last NUL of the string table (-1: none): a string at `name` has a NUL iff
    # name <= last_nul, so checking one costs O(1), however many symbols share a long one
    int64_t last_nul
    uint64_t symtab_off
    int64_t versym_off
    uint64_t symbol_count
    # version needs: parallel vectors, one item per Vernaux
    Vec verneed_files      # string offset of each Verneed's file
    Vec need_name          # string offset of the version name
    Vec need_other         # vna_other
    Vec need_group         # index of the Verneed the Vernaux belongs to
    Vec def_name           # string offset of each Verdef's first Verdaux
    Vec def_index          # vd_ndx & 0x7fff
    Vec def_flags          # vd_flags
    # symbols to turn into Python objects
    Vec undefined          # symbol indices
    Vec init_functions     # symbol indices
    Vec python_defined     # symbol indices: defined, named Py* or _Py* (facts.py)


# --- bounds-checked reads -------------------------------------------------------------------

cdef inline bint fits(Ctx* c, uint64_t offset, uint64_t length) noexcept nogil:
    if not (offset <= c.size and length <= c.size - offset):
        return False
    # an empty read needs no bytes: asking for [offset, offset) would cost a streamed member
    # a pass for nothing
    return c.available == NULL or length == 0 or is_available(c, offset, length)


cdef bint is_available(Ctx* c, uint64_t offset, uint64_t length) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(c.available_count):
        if c.available[2 * i] <= offset and offset + length <= c.available[2 * i + 1]:
            return True
    c.error = E_NEED_BYTES
    c.need_start = offset
    c.need_end = offset + length
    return False


cdef inline uint16_t u16(const Ctx* c, uint64_t o) noexcept nogil:
    cdef const uint8_t* p = c.data + o
    if c.big:
        return (<uint16_t>p[0] << 8) | p[1]
    return (<uint16_t>p[1] << 8) | p[0]


cdef inline uint32_t u32(const Ctx* c, uint64_t o) noexcept nogil:
    cdef const uint8_t* p = c.data + o
    if c.big:
        return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint64_t u64(const Ctx* c, uint64_t o) noexcept nogil:
    cdef uint64_t hi, lo
    if c.big:
        hi = u32(c, o)
        lo = u32(c, o + 4)
    else:
        lo = u32(c, o)
        hi = u32(c, o + 4)
    return (hi << 32) | lo


cdef inline uint64_t word(const Ctx* c, uint64_t o) noexcept nogil:
    """An address-sized field: 4 bytes in ELF32, 8 in ELF64."""
    return u64(c, o) if c.is64 else u32(c, o)


cdef int fail(Ctx* c, int code, const char* what, uint64_t value) noexcept nogil:
    if c.error == E_NEED_BYTES:
        return -1  # not an error yet: the caller supplies the bytes and parses again
    c.error = code
    snprintf(c.message, sizeof(c.message), what, <unsigned long long>value)
    return -1


# --- phase 1: locate everything, without the GIL ----------------------------------------------

cdef int read_header(Ctx* c) noexcept nogil:
    if c.size < 4 or memcmp(c.data, b"\x7fELF", 4) != 0:
        return fail(c, E_NOT_ELF, "no ELF magic (%llu bytes)", c.size)
    if c.size < 16:
        return fail(c, E_TRUNCATED, "ELF identification cut at %llu bytes", c.size)
    if c.data[4] != 1 and c.data[4] != 2:
        return fail(c, E_BAD_HEADER, "EI_CLASS is %llu, not 1 or 2", c.data[4])
    if c.data[5] != 1 and c.data[5] != 2:
        return fail(c, E_BAD_HEADER, "EI_DATA is %llu, not 1 or 2", c.data[5])
    c.is64 = c.data[4] == 2
    c.big = c.data[5] == 2
    c.osabi = c.data[7]
    if c.size < (64 if c.is64 else 52):
        return fail(c, E_TRUNCATED, "ELF header cut at %llu bytes", c.size)
    c.elf_type = u16(c, 16)
    c.machine = u16(c, 18)
    if c.is64:
        c.phoff = u64(c, 32)
        c.flags = u32(c, 48)
        c.phentsize = u16(c, 54)
        c.phnum = u16(c, 56)
    else:
        c.phoff = u32(c, 28)
        c.flags = u32(c, 36)
        c.phentsize = u16(c, 42)
        c.phnum = u16(c, 44)
    if c.phnum == 0:
        return 0
    if c.phentsize < (56 if c.is64 else 32):
        return fail(c, E_BAD_OFFSET, "e_phentsize %llu is smaller than a program header",
                    c.phentsize)
    if c.phnum > c.size or not fits(c, c.phoff, c.phnum * c.phentsize):
        return fail(c, E_BAD_OFFSET, "program header table at %llu runs past the end", c.phoff)
    return 0


cdef inline void read_phdr(const Ctx* c, uint64_t i, uint32_t* p_type, uint64_t* offset,
                           uint64_t* vaddr, uint64_t* filesz, uint32_t* p_flags,
                           uint64_t* align) noexcept nogil:
    cdef uint64_t o = c.phoff + i * c.phentsize
    p_type[0] = u32(c, o)
    if c.is64:
        p_flags[0] = u32(c, o + 4)
        offset[0] = u64(c, o + 8)
        vaddr[0] = u64(c, o + 16)
        filesz[0] = u64(c, o + 32)
        align[0] = u64(c, o + 48)
    else:
        offset[0] = u32(c, o + 4)
        vaddr[0] = u32(c, o + 8)
        filesz[0] = u32(c, o + 16)
        p_flags[0] = u32(c, o + 24)
        align[0] = u32(c, o + 28)


cdef bint to_offset(const Ctx* c, uint64_t address, uint64_t* result,
                    uint64_t* room) noexcept nogil:
    """The file offset of a virtual address, through the PT_LOAD whose file image
    [p_vaddr, p_vaddr + p_filesz) holds it, and ``room``: how many bytes of that image follow
    it. The loader reads the tables in memory (l_addr + address, elf/get-dynamic-info.h):
    past the image lie zeros, a hole or another segment's bytes, never the next bytes of the
    file, so no table may run past ``room``. False if no PT_LOAD holds the address;
    check_loads has made sure no two overlap, so the first that holds it is the only one.
    An offset past 2**64 (a hostile p_offset) is PAST_ANY_BUFFER, as it is: wrapping
    around would land inside the buffer, and the reference, counting in Python ints, does not."""
    cdef uint32_t p_type, p_flags
    cdef uint64_t offset, vaddr, filesz, align, i, delta
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type == PT_LOAD and vaddr <= address and address - vaddr < filesz:
            delta = address - vaddr
            result[0] = offset + delta if delta <= PAST_ANY_BUFFER - offset else PAST_ANY_BUFFER
            room[0] = filesz - delta
            return True
    return False


cdef inline bint within(Ctx* c, uint64_t offset, uint64_t room, uint64_t length) noexcept nogil:
    """``length`` bytes at a translated ``offset``: inside their segment's image and the buffer."""
    return length <= room and fits(c, offset, length)


cdef inline uint64_t phdr_memsz(const Ctx* c, uint64_t i) noexcept nogil:
    cdef uint64_t o = c.phoff + i * c.phentsize
    return u64(c, o + 40) if c.is64 else u32(c, o + 20)


cdef int check_loads(Ctx* c) noexcept nogil:
    """The PT_LOAD segments as glibc maps them (elf/dl-load.c, elf/dl-map-segments.h), so that
    one virtual address names one byte of the file: in ascending p_vaddr order (gABI), none
    overlapping another in memory, and two that meet in one page mapping it from the same
    place of the file. glibc maps each segment's whole pages in table order with MAP_FIXED:
    in a page two segments share, the later one's file bytes are what the loader sees of
    both, while a reader going through the earlier one's p_offset sees others. The page is
    the largest the file can be loaded with: glibc refuses a p_align that is no multiple of
    the page size, so the smallest of the PT_LOADs' p_align lowest set bits (4 KiB at least,
    the smallest page of any Linux architecture). Segments of no size map nothing: left out.
    Every real file of the test corpus keeps these rules."""
    cdef uint32_t p_type, p_flags
    cdef uint64_t i, offset, vaddr, filesz, align, size, end, low
    cdef uint64_t page = 0, prev_vaddr = 0, prev_end = 0, prev_page_end = 0, prev_delta = 0
    cdef bint seen = False
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type == PT_LOAD:
            low = align & (~align + 1)
            low = max(low, <uint64_t>SMALLEST_PAGE)
            page = low if page == 0 else min(page, low)
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type != PT_LOAD:
            continue
        size = max(filesz, phdr_memsz(c, i))
        if size == 0:
            continue
        if size > PAST_ANY_BUFFER - vaddr:
            return fail(c, E_BAD_OFFSET, "PT_LOAD at 0x%llx runs past the address space", vaddr)
        end = vaddr + size
        if seen:
            if vaddr < prev_vaddr:
                return fail(c, E_BAD_OFFSET, "PT_LOAD at 0x%llx is out of ascending order", vaddr)
            if vaddr < prev_end:
                return fail(c, E_BAD_OFFSET, "PT_LOAD at 0x%llx overlaps the one before", vaddr)
            if vaddr // page < prev_page_end and vaddr - offset != prev_delta:
                return fail(c, E_BAD_OFFSET,
                            "PT_LOAD at 0x%llx shares a page with one mapped from elsewhere", vaddr)
        seen = True
        prev_vaddr = vaddr
        prev_end = end
        prev_page_end = end // page + (1 if end % page else 0)
        prev_delta = vaddr - offset
    return 0


cdef inline uint64_t align_up(uint64_t value, uint64_t alignment) noexcept nogil:
    return (value + alignment - 1) & ~(alignment - 1)


cdef int scan_note_segment(Ctx* c, uint64_t start, uint64_t size) noexcept nogil:
    """The x86 ISA level in one PT_NOTE's notes at file offset ``start``, as glibc's
    _dl_process_property_note (sysdeps/x86/dl-prop.h) reads them: notes aligned to the word
    size; the first GNU property note decides (a second one in the segment makes glibc drop
    both: two readings, ``ambiguous``); in it, properties in ascending type order, and
    GNU_PROPERTY_1_NEEDED, X86_FEATURE_1_AND and X86_ISA_1_NEEDED of 4 bytes, else glibc
    keeps no level; the scan stops past X86_ISA_1_NEEDED's type."""
    cdef uint64_t word = 8 if c.is64 else 4
    cdef uint64_t pos = 0, namesz, descsz, ptr, end, datasz, last_type = 0
    cdef uint32_t n_type, pr_type
    cdef int64_t level = -1
    cdef bint found = False
    while pos < size and size - pos > 12:
        namesz = u32(c, start + pos)
        descsz = u32(c, start + pos + 4)
        n_type = u32(c, start + pos + 8)
        if (n_type == NT_GNU_PROPERTY_TYPE_0 and namesz == 4 and size - pos >= 16
                and memcmp(c.data + start + pos + 12, b"GNU\0", 4) == 0):
            if found:
                return fail(c, E_AMBIGUOUS, "two GNU property notes in one PT_NOTE (at %llu)",
                            start + pos)
            found = True
            c.property_note_seen = True
            if descsz < 8 or descsz % word:
                return 0  # glibc: an invalid note, no level
            ptr = pos + 16
            if descsz > size - ptr:
                return fail(c, E_BAD_TABLE, "GNU property note runs past its PT_NOTE (%llu)",
                            start + pos)
            end = ptr + descsz
            while end - ptr >= 8:
                pr_type = u32(c, start + ptr)
                datasz = u32(c, start + ptr + 4)
                if pr_type < last_type:
                    return 0  # out of order: glibc keeps no level
                ptr += 8
                if datasz > end - ptr:
                    return 0
                last_type = pr_type
                if (pr_type == GNU_PROPERTY_1_NEEDED or pr_type == GNU_PROPERTY_X86_FEATURE_1_AND
                        or pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED):
                    if datasz != 4:
                        return 0
                    if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                        level = u32(c, start + ptr)
                        break
                elif pr_type > GNU_PROPERTY_X86_ISA_1_NEEDED:
                    break
                ptr += align_up(datasz, word)
        # ELF_NOTE_NEXT_OFFSET; never 0, so the scan moves on
        pos += align_up(12 + namesz, word) + align_up(descsz, word)
    c.isa_needed = level
    return 0


cdef int read_isa_level(Ctx* c) noexcept nogil:
    """GNU_PROPERTY_X86_ISA_1_NEEDED as glibc's dl-load.c finds it: the PT_NOTE segments from
    the last to the first, those aligned to the word size only, each read in memory at its
    p_vaddr (p_memsz bytes), until one holds a GNU property note. The bytes at p_offset,
    which readelf and pyelftools read, must be the same, or the file has two readings."""
    cdef uint32_t p_type, p_flags
    cdef uint64_t i, offset, vaddr, filesz, align, memsz, start, room
    if c.machine != EM_386 and c.machine != EM_X86_64:
        return 0
    i = c.phnum
    while i > 0 and not c.property_note_seen:
        i -= 1
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type != PT_NOTE or align != (8 if c.is64 else 4):
            continue
        memsz = phdr_memsz(c, i)
        if resolve(c, vaddr, "PT_NOTE 0x%llx is in no PT_LOAD", &start, &room) < 0:
            return -1
        if not within(c, start, room, memsz):
            return fail(c, E_BAD_OFFSET, "PT_NOTE at 0x%llx runs past its PT_LOAD", vaddr)
        if memsz != filesz or (start != offset and memcmp(c.data + start, c.data + offset,
                                                         memsz) != 0):
            return fail(c, E_AMBIGUOUS, "PT_NOTE's p_offset and p_vaddr (0x%llx) name other bytes",
                        vaddr)
        if scan_note_segment(c, start, memsz) < 0:
            return -1
    return 0


cdef int read_segments(Ctx* c) noexcept nogil:
    cdef uint32_t p_type, p_flags
    cdef uint64_t offset, vaddr, filesz, align, i
    cdef bint x86 = c.machine == EM_386 or c.machine == EM_X86_64
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type == PT_INTERP and c.interp_off < 0:
            if not fits(c, offset, filesz):
                return fail(c, E_BAD_OFFSET, "PT_INTERP at %llu runs past the end", offset)
            c.interp_off = offset
            c.interp_len = filesz
        elif p_type == PT_DYNAMIC:
            # glibc keeps the last PT_DYNAMIC, skipping empty ones (objcopy --only-keep-debug
            # writes one); other readers keep the first: two that differ are two readings
            if not fits(c, offset, filesz):
                return fail(c, E_BAD_OFFSET, "PT_DYNAMIC at %llu runs past the end", offset)
            if filesz != 0 and c.dynamic_size != 0 and (
                    offset != <uint64_t>c.dynamic_off or vaddr != c.dynamic_vaddr
                    or filesz != c.dynamic_size):
                c.dynamic_differs = True
            if filesz != 0 or c.dynamic_size == 0:
                c.dynamic_off = offset  # inside the buffer: far below 2**63
                c.dynamic_size = filesz
                c.dynamic_vaddr = vaddr
        elif p_type == PT_GNU_STACK:
            c.stack_flags = p_flags  # the last one, as glibc's dl-load.c keeps
        elif p_type == PT_NOTE and x86:
            if not fits(c, offset, filesz):
                return fail(c, E_BAD_OFFSET, "PT_NOTE at %llu runs past the end", offset)
    return 0


cdef int read_dynamic(Ctx* c) noexcept nogil:
    """The dynamic section as the loader reads it: at p_vaddr, in memory (dl-load.c sets
    l_ld = l_addr + p_vaddr), up to DT_NULL whatever p_filesz says (get-dynamic-info.h). A
    reader of p_offset (readelf, pyelftools, auditwheel) must see the same bytes, and the
    DT_NULL must come within p_filesz, or the file has two readings."""
    cdef uint64_t entsize = 16 if c.is64 else 8
    cdef uint64_t count = c.dynamic_size // entsize, i, o, start, room
    cdef int64_t tag
    cdef uint64_t value
    if c.dynamic_size == 0:
        return 0
    if resolve(c, c.dynamic_vaddr, "PT_DYNAMIC's p_vaddr 0x%llx is in no PT_LOAD", &start,
               &room) < 0:
        return -1
    if not within(c, start, room, c.dynamic_size):
        return fail(c, E_BAD_OFFSET, "PT_DYNAMIC at 0x%llx runs past its PT_LOAD",
                    c.dynamic_vaddr)
    if start != <uint64_t>c.dynamic_off and memcmp(
            c.data + start, c.data + c.dynamic_off, c.dynamic_size) != 0:
        return fail(c, E_AMBIGUOUS, "PT_DYNAMIC's p_offset and p_vaddr (0x%llx) name other bytes",
                    c.dynamic_vaddr)
    for i in range(count + 1):
        if i == count:
            return fail(c, E_BAD_TABLE, "no DT_NULL in PT_DYNAMIC's %llu bytes: the loader reads on",
                        c.dynamic_size)
        o = start + i * entsize
        if c.is64:
            tag = <int64_t>u64(c, o)
            value = u64(c, o + 8)
        else:
            tag = <int64_t>(<int>u32(c, o))
            value = u32(c, o + 4)
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            if vec_push(&c.needed, value) < 0:
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
        elif tag == DT_SONAME:
            c.soname = value
            c.present |= HAS_SONAME
        elif tag == DT_RPATH:
            c.rpath = value
            c.present |= HAS_RPATH
        elif tag == DT_RUNPATH:
            c.runpath = value
            c.present |= HAS_RUNPATH
        elif tag == DT_FLAGS:
            c.dt_flags = value
        elif tag == DT_FLAGS_1:
            c.dt_flags_1 = value
        elif tag == DT_STRTAB:
            c.strtab_addr = value
            c.present |= HAS_STRTAB_ADDR
        elif tag == DT_STRSZ:
            c.strsz = value
            c.present |= HAS_STRSZ
        elif tag == DT_SYMTAB:
            c.symtab_addr = value
            c.present |= HAS_SYMTAB_ADDR
        elif tag == DT_SYMENT:
            c.syment = value
            c.present |= HAS_SYMENT
        elif tag == DT_HASH:
            c.hash_addr = value
            c.present |= HAS_HASH_ADDR
        elif tag == DT_GNU_HASH:
            c.gnu_hash_addr = value
            c.present |= HAS_GNU_HASH_ADDR
        elif tag == DT_VERSYM:
            c.versym_addr = value
            c.present |= HAS_VERSYM_ADDR
        elif tag == DT_VERNEED:
            c.verneed_addr = value
            c.present |= HAS_VERNEED_ADDR
        elif tag == DT_VERNEEDNUM:
            c.verneednum = value
            c.present |= HAS_VERNEEDNUM
        elif tag == DT_VERDEF:
            c.verdef_addr = value
            c.present |= HAS_VERDEF_ADDR
        elif tag == DT_VERDEFNUM:
            c.verdefnum = value
            c.present |= HAS_VERDEFNUM
    return 0


cdef int resolve(Ctx* c, uint64_t address, const char* what, uint64_t* result,
                 uint64_t* room) noexcept nogil:
    """``to_offset``, or bad-offset when no PT_LOAD holds the address. The table may run past
    its segment or the buffer: each table's own bounds check (``within``) says so, with its
    own code."""
    if not to_offset(c, address, result, room):
        return fail(c, E_BAD_OFFSET, what, address)
    return 0


cdef int check_string(Ctx* c, uint64_t name) noexcept nogil:
    """A valid string: a string table, the offset inside it, a NUL after it inside it too."""
    if not (c.present & HAS_STRTAB_ADDR):
        # DT_STRSZ alone gives no table: strtab_off would be 0, the start of the file
        return fail(c, E_BAD_TABLE, "a string (at %llu) but no DT_STRTAB", name)
    if name >= c.strsz:
        return fail(c, E_BAD_TABLE, "string offset %llu outside the string table", name)
    if <int64_t>name > c.last_nul:
        return fail(c, E_BAD_TABLE, "string at %llu has no terminating NUL", name)
    return 0


cdef int count_symbols(Ctx* c) noexcept nogil:
    cdef uint64_t offset, room
    cdef uint64_t nbuckets, symoffset, bloom_size, buckets, chains, i, top, word_size, n
    if (c.present & HAS_GNU_HASH_ADDR):
        if resolve(c, c.gnu_hash_addr, "DT_GNU_HASH 0x%llx is in no PT_LOAD", &offset,
                   &room) < 0:
            return -1
        if not within(c, offset, room, 16):
            return fail(c, E_BAD_TABLE, "DT_GNU_HASH header at %llu runs past the end", offset)
        nbuckets = u32(c, offset)
        symoffset = u32(c, offset + 4)
        bloom_size = u32(c, offset + 8)
        # counted from the table's start, each part checked against the segment's room
        buckets = 16 + bloom_size * (8 if c.is64 else 4)
        if buckets > room or not within(c, offset + buckets, room - buckets, nbuckets * 4):
            return fail(c, E_BAD_TABLE, "DT_GNU_HASH buckets at %llu run past the end", buckets)
        chains = buckets + nbuckets * 4
        buckets += offset
        top = 0
        for i in range(nbuckets):
            n = u32(c, buckets + i * 4)
            if n > top:
                top = n
        if top < symoffset:
            c.symbol_count = symoffset
        else:
            # walk the last chain to the entry whose low bit ends it
            while True:
                n = chains + (top - symoffset) * 4
                if n > room or not within(c, offset + n, room - n, 4):
                    return fail(c, E_BAD_TABLE, "DT_GNU_HASH chain at %llu runs past the end", n)
                if u32(c, offset + n) & 1:
                    break
                top += 1
            c.symbol_count = top + 1
    elif (c.present & HAS_HASH_ADDR):
        if resolve(c, c.hash_addr, "DT_HASH 0x%llx is in no PT_LOAD", &offset, &room) < 0:
            return -1
        # 64-bit s390x (like Alpha) uses 8-byte hash words
        word_size = 8 if (c.machine == EM_S390 and c.is64) else 4
        if not within(c, offset, room, 2 * word_size):
            return fail(c, E_BAD_TABLE, "DT_HASH at %llu runs past the end", offset)
        c.symbol_count = u64(c, offset + 8) if word_size == 8 else u32(c, offset + 4)
    else:
        c.symbol_count = 0
    if c.symbol_count > MAX_SYMBOLS:
        return fail(c, E_TOO_LARGE, "%llu dynamic symbols", c.symbol_count)
    return 0


cdef int version_entry(Ctx* c, uint64_t address, uint64_t size, const char* what,
                       uint64_t* offset) noexcept nogil:
    """The file offset of a version entry at a virtual address: the loader follows vn_aux,
    vn_next, vna_next and vd_next in memory (elf/dl-version.c), so each entry is translated
    on its own. One outside every PT_LOAD's image, or past the buffer, is bad-table."""
    cdef uint64_t room
    if not to_offset(c, address, offset, &room) or not within(c, offset[0], room, size):
        return fail(c, E_BAD_TABLE, what, address)
    return 0


cdef inline int step(Ctx* c, uint64_t* address, uint64_t link) noexcept nogil:
    """Move a chain on by a link; a 64-bit address does not wrap round."""
    if link > PAST_ANY_BUFFER - address[0]:
        return fail(c, E_BAD_TABLE, "a version chain runs past the address space (%llu)", link)
    address[0] += link
    return 0


cdef int visit(Ctx* c, uint64_t* visited) noexcept nogil:
    # At most buffer / 16 entries per table, aux entries included: no more fit without
    # overlapping, so a looping chain ends here
    visited[0] += 1
    if visited[0] > c.size // 16:
        return fail(c, E_BAD_TABLE, "a version chain longer than the file (%llu entries)",
                    visited[0])
    return 0


cdef int read_version_needs(Ctx* c) noexcept nogil:
    """The Verneed chain as glibc's _dl_check_map_versions walks it: every link followed until
    one is 0, whatever DT_VERNEEDNUM and vn_cnt say (the loader reads neither). readelf,
    pyelftools and auditwheel count by them instead: where counts and links disagree the
    file has two readings, an error."""
    cdef uint64_t visited = 0, address, aux_address, pos, aux, cnt, auxes, needs = 0, offset, room
    cdef uint32_t next_entry, aux_next
    if resolve(c, c.verneed_addr, "DT_VERNEED 0x%llx is in no PT_LOAD", &offset, &room) < 0:
        return -1
    address = c.verneed_addr
    while True:
        if visit(c, &visited) < 0:
            return -1
        if version_entry(c, address, 16, "Verneed at 0x%llx is outside the loaded file",
                         &pos) < 0:
            return -1
        cnt = u16(c, pos + 2)
        if check_string(c, u32(c, pos + 4)) < 0:
            return -1
        if vec_push(&c.verneed_files, u32(c, pos + 4)) < 0:
            return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
        next_entry = u32(c, pos + 12)
        aux_address = address
        if step(c, &aux_address, u32(c, pos + 8)) < 0:
            return -1
        auxes = 0
        while True:
            if visit(c, &visited) < 0:
                return -1
            if version_entry(c, aux_address, 16, "Vernaux at 0x%llx is outside the loaded file",
                             &aux) < 0:
                return -1
            if check_string(c, u32(c, aux + 8)) < 0:
                return -1
            if (vec_push(&c.need_name, u32(c, aux + 8)) < 0
                    or vec_push(&c.need_other, u16(c, aux + 6) & 0x7FFF) < 0
                    or vec_push(&c.need_group, c.verneed_files.length - 1) < 0):
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
            auxes += 1
            aux_next = u32(c, aux + 12)
            if aux_next == 0:
                break
            if step(c, &aux_address, aux_next) < 0:
                return -1
        if auxes != cnt:
            return fail(c, E_AMBIGUOUS, "vn_cnt %llu but another number of Vernaux linked", cnt)
        needs += 1
        if next_entry == 0:
            break
        if step(c, &address, next_entry) < 0:
            return -1
    if (c.present & HAS_VERNEEDNUM) and c.verneednum != needs:
        return fail(c, E_AMBIGUOUS, "DT_VERNEEDNUM %llu but another number of Verneed linked",
                    c.verneednum)
    return 0


cdef int read_version_definitions(Ctx* c) noexcept nogil:
    """The Verdef chain, by its links as glibc walks it (DT_VERDEFNUM must agree, as above);
    the name is the first Verdaux's, the only one glibc reads, whatever vd_cnt says."""
    cdef uint64_t visited = 0, address, aux_address, pos, aux, defs = 0, offset, room
    cdef uint32_t next_entry
    if resolve(c, c.verdef_addr, "DT_VERDEF 0x%llx is in no PT_LOAD", &offset, &room) < 0:
        return -1
    address = c.verdef_addr
    while True:
        if visit(c, &visited) < 0:
            return -1
        if version_entry(c, address, 20, "Verdef at 0x%llx is outside the loaded file",
                         &pos) < 0:
            return -1
        aux_address = address
        if step(c, &aux_address, u32(c, pos + 12)) < 0:
            return -1
        if version_entry(c, aux_address, 8, "Verdaux at 0x%llx is outside the loaded file",
                         &aux) < 0:
            return -1
        if check_string(c, u32(c, aux)) < 0:
            return -1
        if (vec_push(&c.def_name, u32(c, aux)) < 0
                or vec_push(&c.def_index, u16(c, pos + 4) & 0x7FFF) < 0
                or vec_push(&c.def_flags, u16(c, pos + 2)) < 0):
            return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
        defs += 1
        next_entry = u32(c, pos + 16)
        if next_entry == 0:
            break
        if step(c, &address, next_entry) < 0:
            return -1
    if (c.present & HAS_VERDEFNUM) and c.verdefnum != defs:
        return fail(c, E_AMBIGUOUS, "DT_VERDEFNUM %llu but another number of Verdef linked",
                    c.verdefnum)
    return 0


cdef int read_versions(Ctx* c) noexcept nogil:
    if (c.present & HAS_VERNEED_ADDR) and read_version_needs(c) < 0:
        return -1
    if (c.present & HAS_VERDEF_ADDR) and read_version_definitions(c) < 0:
        return -1
    return 0


cdef bint has_init_prefix(const Ctx* c, uint64_t name) noexcept nogil:
    cdef const char* text = <const char*>(c.data + c.strtab_off + name)
    cdef uint64_t room = <uint64_t>c.strsz - name
    # "PyInit_", "init", "_cffi_pypyinit_" (PYTHON_INIT_PREFIXES in facts.py)
    return ((room >= 7 and memcmp(text, b"PyInit_", 7) == 0)
            or (room >= 4 and memcmp(text, b"init", 4) == 0)
            or (room >= 15 and memcmp(text, b"_cffi_pypyinit_", 15) == 0))


cdef bint has_python_prefix(const Ctx* c, uint64_t name) noexcept nogil:
    cdef const char* text = <const char*>(c.data + c.strtab_off + name)
    cdef uint64_t room = <uint64_t>c.strsz - name
    # "Py", "_Py" (PYTHON_SYMBOL_PREFIXES in facts.py)
    return ((room >= 2 and memcmp(text, b"Py", 2) == 0)
            or (room >= 3 and memcmp(text, b"_Py", 3) == 0))


cdef int read_symbols(Ctx* c) noexcept nogil:
    cdef uint64_t entsize = 24 if c.is64 else 16, i, o, name
    cdef uint8_t info
    cdef uint16_t shndx
    cdef uint64_t versym, room
    # counted to the end, kept only up to MAX_UNDEFINED: the bounds are checked after the
    # loop, so that a bad name further on decides the error (facts.py: the first rule broken)
    cdef uint64_t undefined_count = 0, python_defined_count = 0
    if c.symbol_count == 0:
        return 0
    if not (c.present & HAS_SYMTAB_ADDR):
        return fail(c, E_BAD_TABLE, "%llu symbols counted but no DT_SYMTAB", c.symbol_count)
    if (c.present & HAS_SYMENT) and <uint64_t>c.syment != entsize:
        return fail(c, E_BAD_TABLE, "DT_SYMENT is %llu", c.syment)
    if not (c.present & HAS_STRTAB_ADDR):
        return fail(c, E_BAD_TABLE, "symbols without DT_STRTAB (%llu)", c.symbol_count)
    if resolve(c, c.symtab_addr, "DT_SYMTAB 0x%llx is in no PT_LOAD", &c.symtab_off,
               &room) < 0:
        return -1
    if not within(c, c.symtab_off, room, c.symbol_count * entsize):
        return fail(c, E_BAD_TABLE, "%llu symbols run past the end", c.symbol_count)
    if (c.present & HAS_VERSYM_ADDR):
        if resolve(c, c.versym_addr, "DT_VERSYM 0x%llx is in no PT_LOAD", &versym, &room) < 0:
            return -1
        if not within(c, versym, room, c.symbol_count * 2):
            return fail(c, E_BAD_TABLE, "versym array at %llu runs past the end", versym)
        c.versym_off = <int64_t>versym  # inside the buffer: far below 2**63
    for i in range(1, c.symbol_count):
        o = c.symtab_off + i * entsize
        name = u32(c, o)
        if c.is64:
            info = c.data[o + 4]
            shndx = u16(c, o + 6)
        else:
            info = c.data[o + 12]
            shndx = u16(c, o + 14)
        if check_string(c, name) < 0:
            return -1
        if shndx == 0:
            # each undefined symbol becomes a record of ~140 bytes: 8M of them in a small
            # file took 1.2 GB. The largest of the test corpus's files has 1,738; a wheel's
            # total is bounded too (wheel/contents.py)
            undefined_count += 1
            if undefined_count <= MAX_UNDEFINED and vec_push(&c.undefined, i) < 0:
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
        else:
            if (info & 0xF) == STT_FUNC and has_init_prefix(c, name):
                if vec_push(&c.init_functions, i) < 0:
                    return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
            if has_python_prefix(c, name):
                # bounded as the undefined symbols are, for the same reason
                python_defined_count += 1
                if (python_defined_count <= MAX_UNDEFINED
                        and vec_push(&c.python_defined, i) < 0):
                    return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
    if undefined_count > MAX_UNDEFINED:
        return fail(c, E_TOO_LARGE, "more than %llu undefined symbols", MAX_UNDEFINED)
    if python_defined_count > MAX_UNDEFINED:
        return fail(c, E_TOO_LARGE, "more than %llu Python definitions", MAX_UNDEFINED)
    return 0


cdef int locate(Ctx* c) noexcept nogil:
    cdef uint64_t offset, room
    cdef Py_ssize_t k
    if read_header(c) < 0 or read_segments(c) < 0 or check_loads(c) < 0:
        return -1
    if c.dynamic_differs:
        return fail(c, E_AMBIGUOUS, "PT_DYNAMIC segments that differ (the last at 0x%llx)",
                    c.dynamic_vaddr)
    if read_isa_level(c) < 0:
        return -1
    if c.dynamic_off < 0:
        return 0
    if read_dynamic(c) < 0:
        return -1
    if (c.present & HAS_STRTAB_ADDR):
        if resolve(c, c.strtab_addr, "DT_STRTAB 0x%llx is in no PT_LOAD", &offset, &room) < 0:
            return -1
        if not (c.present & HAS_STRSZ) or not within(c, offset, room, <uint64_t>c.strsz):
            return fail(c, E_BAD_OFFSET, "string table at %llu runs past the end", offset)
        c.strtab_off = offset
        c.last_nul = <int64_t>c.strsz - 1
        while c.last_nul >= 0 and c.data[c.strtab_off + c.last_nul] != 0:
            c.last_nul -= 1
    elif c.needed.length or (c.present & HAS_SONAME) or (c.present & HAS_RPATH) or (c.present & HAS_RUNPATH):
        return fail(c, E_BAD_TABLE, "dynamic strings without DT_STRTAB (%llu)", 0)
    for k in range(c.needed.length):
        if check_string(c, c.needed.items[k]) < 0:
            return -1
    if (((c.present & HAS_SONAME) and check_string(c, c.soname) < 0)
            or ((c.present & HAS_RPATH) and check_string(c, c.rpath) < 0)
            or ((c.present & HAS_RUNPATH) and check_string(c, c.runpath) < 0)):
        return -1
    if count_symbols(c) < 0 or read_versions(c) < 0 or read_symbols(c) < 0:
        return -1
    return 0


# --- phase 2: build the record, with the GIL --------------------------------------------------

cdef inline str text(const Ctx* c, int64_t name):
    cdef const char* start = <const char*>(c.data + c.strtab_off + name)
    cdef const char* end = <const char*>memchr(start, 0, <uint64_t>c.strsz - <uint64_t>name)
    return PyUnicode_DecodeUTF8(start, end - start, "backslashreplace")


cdef str symbol_name(const Ctx* c, uint64_t name, dict shared):
    """A symbol's name; one of SHARED_NAME bytes or more is decoded once per string-table
    offset and the str shared. Many symbols may name one long string (a hostile file: 2**17
    symbols on one 2 MiB name would be 256 GB of copies, and as many bytes scanned). Shorter
    ones are decoded each time, the usual and cheap case: a file of n bytes has at most n / 16
    symbols, so their names add up to at most 16 n bytes."""
    cdef const char* start = <const char*>(c.data + c.strtab_off + name)
    cdef uint64_t room = <uint64_t>c.strsz - name
    cdef const char* end = <const char*>memchr(start, 0, min(room, SHARED_NAME))
    if end != NULL:
        return PyUnicode_DecodeUTF8(start, end - start, "backslashreplace")
    found = shared.get(name)
    if found is None:
        end = <const char*>memchr(start, 0, room)
        found = shared[name] = PyUnicode_DecodeUTF8(start, end - start, "backslashreplace")
    return found


cdef tuple path_list(const Ctx* c, uint64_t name, bint present):
    if not present:
        return ()
    return tuple(text(c, name).split(":"))


cdef int check_name_bytes(Ctx* c) except -1:
    """The names the record will hold (undefined symbols, init functions and Python
    definitions, each string-table offset once) may not add up to more than NAME_BYTES_FACTOR times the file: n symbols naming
    the suffixes of one long string would otherwise make a record of n x length / 2 bytes."""
    cdef uint64_t entsize = 24 if c.is64 else 16, cap, total = 0, name, room, limit
    cdef Py_ssize_t k
    cdef const char* start
    cdef const char* end
    cdef set seen = set()
    cdef Vec* vec
    cdef int which
    cap = max(c.size * NAME_BYTES_FACTOR, NAME_BYTES_FLOOR)
    for which in range(3):
        vec = (&c.undefined if which == 0 else
               &c.init_functions if which == 1 else &c.python_defined)
        for k in range(vec.length):
            name = u32(c, c.symtab_off + vec.items[k] * entsize)
            if name in seen:
                continue
            seen.add(name)
            start = <const char*>(c.data + c.strtab_off + name)
            room = c.strsz - name
            limit = min(room, cap - total + 1)
            end = <const char*>memchr(start, 0, limit)
            if end == NULL:
                raise ElfError("too-large", f"symbol names add up to more than {cap} bytes")
            total += <uint64_t>(end - start)
    return 0


cdef object build(Ctx* c):
    cdef Py_ssize_t k
    cdef uint64_t entsize = 24 if c.is64 else 16, o, index
    cdef uint8_t info
    cdef dict by_index = {}
    cdef list groups = []
    cdef dict shared = {}  # long symbol names by string-table offset (symbol_name)
    check_name_bytes(c)
    interpreter = None
    if c.interp_off >= 0:
        raw = bytes(c.data[c.interp_off:c.interp_off + c.interp_len])
        interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
    # the version of each index, as glibc's l_versions (dl-version.c): filled from every
    # Vernaux in chain order, so the last with an index wins, then from every Verdef but
    # the base one, which overrides a Vernaux
    for k in range(c.verneed_files.length):
        groups.append((text(c, c.verneed_files.items[k]), []))
    for k in range(c.need_name.length):
        version = text(c, c.need_name.items[k])
        file_name, versions = groups[c.need_group.items[k]]
        versions.append(version)
        by_index[c.need_other.items[k]] = (version, file_name)
    definitions = []
    for k in range(c.def_name.length):
        version = text(c, c.def_name.items[k])
        definitions.append(version)
        if not (c.def_flags.items[k] & VER_FLG_BASE):
            by_index[c.def_index.items[k]] = (version, None)
    undefined = []
    for k in range(c.undefined.length):
        index = c.undefined.items[k]
        o = c.symtab_off + index * entsize
        info = c.data[o + 4] if c.is64 else c.data[o + 12]
        version = version_file = None
        if c.versym_off >= 0:
            found = u16(c, c.versym_off + index * 2) & 0x7FFF
            if found > 1:
                version, version_file = by_index.get(found, (None, None))
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python function, and a
        # library imports thousands of symbols
        symbol = tuple.__new__(UndefinedSymbol, (
            symbol_name(c, u32(c, o), shared), BINDING_OF[info >> 4], TYPE_OF[info & 0xF],
            version, version_file))
        # out of the cycle collector's sight: it holds strings, None and enum members, none
        # of which can lead back to it, so it can be in no cycle; tracked, each of a batch's
        # hundred thousand symbols was walked by the collection after its wheel (gc's
        # own rule for tuples, applied when it first walks one, spares none of these: an
        # enum member is a tracked object)
        PyObject_GC_UnTrack(<PyObject*>symbol)
        undefined.append(symbol)
    init_functions = tuple(
        symbol_name(c, u32(c, c.symtab_off + c.init_functions.items[k] * entsize), shared)
        for k in range(c.init_functions.length))
    python_definitions = []
    for k in range(c.python_defined.length):
        o = c.symtab_off + c.python_defined.items[k] * entsize
        info = c.data[o + 4] if c.is64 else c.data[o + 12]
        python_definitions.append(tuple.__new__(DefinedSymbol, (
            symbol_name(c, u32(c, o), shared), BINDING_OF[info >> 4], TYPE_OF[info & 0xF])))
    return ElfFacts(
        elf_class=ElfClass.ELF64 if c.is64 else ElfClass.ELF32,
        endianness=Endianness.BIG if c.big else Endianness.LITTLE,
        osabi=c.osabi,
        elf_type=c.elf_type,
        machine=Machine(c.machine),
        flags=c.flags,
        interpreter=interpreter,
        has_dynamic=c.dynamic_off >= 0,
        needed=tuple(text(c, c.needed.items[k]) for k in range(c.needed.length)),
        soname=text(c, c.soname) if c.present & HAS_SONAME else None,
        rpath=path_list(c, c.rpath, c.present & HAS_RPATH),
        runpath=path_list(c, c.runpath, c.present & HAS_RUNPATH),
        dt_flags=c.dt_flags,
        dt_flags_1=c.dt_flags_1,
        stack_flags=c.stack_flags if c.stack_flags >= 0 else None,
        x86_isa_needed=c.isa_needed if c.isa_needed >= 0 else None,
        symbol_count=c.symbol_count,
        undefined_symbols=tuple(undefined),
        init_functions=init_functions,
        version_needs=tuple(VersionNeed(f, tuple(v)) for f, v in groups),
        version_definitions=tuple(definitions),
        python_definitions=tuple(python_definitions),
    )


cdef void init_ctx(Ctx* c, const uint8_t* data, uint64_t size) noexcept nogil:
    cdef Py_ssize_t i
    cdef char* raw = <char*>c
    for i in range(sizeof(Ctx)):
        raw[i] = 0
    c.data = data
    c.size = size
    c.interp_off = c.dynamic_off = c.stack_flags = c.isa_needed = -1
    c.versym_off = c.last_nul = -1


cdef void free_ctx(Ctx* c) noexcept nogil:
    free(c.needed.items)
    free(c.verneed_files.items)
    free(c.need_name.items)
    free(c.need_other.items)
    free(c.need_group.items)
    free(c.def_name.items)
    free(c.def_index.items)
    free(c.def_flags.items)
    free(c.undefined.items)
    free(c.init_functions.items)
    free(c.python_defined.items)


cdef bint chosen_dynamic(const Ctx* c, uint64_t* offset, uint64_t* filesz) noexcept nogil:
    """The PT_DYNAMIC read_segments keeps: the last non-empty one, else the last."""
    cdef uint32_t p_type, p_flags
    cdef uint64_t i, o, vaddr, size, align
    cdef bint found = False
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &o, &vaddr, &size, &p_flags, &align)
        if p_type == PT_DYNAMIC and (size != 0 or not found or filesz[0] == 0):
            offset[0] = o
            filesz[0] = size
            found = True
    return found


def facts_end(buffer):
    """Where, in a library laid out as linkers and patchelf lay them out, the last byte the
    parser reads lies: the end of PT_DYNAMIC, PT_INTERP and PT_NOTE, and of any PT_LOAD that
    starts past PT_DYNAMIC (patchelf moves the tables it grows, .dynstr and the version
    tables, to a segment it appends at the end of the file). The symbol and version tables
    a linker writes come before PT_DYNAMIC, in the first segment. With no PT_DYNAMIC: the
    end of every PT_LOAD too. Never before the end of the program header table.

    ``buffer`` may be a prefix of the file: None when the ELF header or the program headers
    are not all in it, or are not sound. A guess that decides how far a member is inflated
    first (wheel/contents.py): the parser asks for whatever else it needs, never a reading rule.
    """
    cdef const uint8_t[::1] view = buffer
    cdef Ctx c
    cdef uint64_t i, offset, vaddr, filesz, align, end, dynamic = 0
    cdef uint32_t p_type, p_flags
    cdef bint has_dynamic = False
    init_ctx(&c, &view[0] if view.shape[0] else NULL, view.shape[0])
    if read_header(&c) < 0:
        return None
    end = c.phoff + c.phnum * c.phentsize
    for i in range(c.phnum):
        read_phdr(&c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if offset + filesz < offset:
            return None
    if chosen_dynamic(&c, &dynamic, &filesz):
        has_dynamic = True
    for i in range(c.phnum):
        read_phdr(&c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if (p_type == PT_DYNAMIC or p_type == PT_INTERP or p_type == PT_NOTE
                or (p_type == PT_LOAD and (not has_dynamic or offset > dynamic))):
            end = max(end, offset + filesz)
    return end


def tables_bound(buffer):
    """Where a linker's first tables (symbols, strings, versions) end at the latest, from a
    prefix of the file holding its program headers: the end of the first PT_LOAD where it
    maps no code (ld's ``-z separate-code``, lld: headers, tables and relocations), else
    the entry point's offset where it lies in that segment past its start (ld places the
    tables and relocations before .text, and an entry point at .text's start where none is
    named). None where neither holds, or the headers are not all there or not sound.

    A guess that decides how far a start is fetched at first over a far link (wheel/http.py):
    the parser asks for whatever else it needs, never a reading rule.
    """
    cdef const uint8_t[::1] view = buffer
    cdef Ctx c
    cdef uint64_t i, offset, vaddr, filesz, align, entry
    cdef uint32_t p_type, p_flags
    init_ctx(&c, &view[0] if view.shape[0] else NULL, view.shape[0])
    if read_header(&c) < 0:
        return None
    entry = u64(&c, 24) if c.is64 else u32(&c, 24)
    for i in range(c.phnum):
        read_phdr(&c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type != PT_LOAD:
            continue
        if offset + filesz < offset:
            return None
        if not p_flags & 1:  # PF_X
            return offset + filesz
        if vaddr < entry and entry - vaddr < filesz:
            return offset + (entry - vaddr)
        return None
    return None


def dynamic_segment(buffer):
    """PT_DYNAMIC's file offset and size, from a prefix of the file holding its program headers; None
    when there is none, or the headers are not all there or not sound. Where the part of a
    library that the parser reads after its first tables begins (wheel/contents.py)."""
    cdef const uint8_t[::1] view = buffer
    cdef Ctx c
    cdef uint64_t i, offset, vaddr, filesz, align
    cdef uint32_t p_type, p_flags
    init_ctx(&c, &view[0] if view.shape[0] else NULL, view.shape[0])
    if read_header(&c) < 0 or not chosen_dynamic(&c, &offset, &filesz):
        return None
    return (offset, filesz) if offset + filesz >= offset else None


def parse_elf(buffer, available=None):
    """Parse the ELF file in ``buffer`` (bytes, bytearray, mmap, memoryview) without copying.

    Returns an :class:`~wheelscan.elf.facts.ElfFacts`; raises
    :class:`~wheelscan.elf.facts.ElfError` with a stable code when the file cannot be read.
    ``available`` — sorted, disjoint ``(start, end)`` pairs — says which bytes of a partly
    filled buffer are real; a read elsewhere raises :class:`NeedBytes` (see wheel/stream.py).
    """
    cdef const uint8_t[::1] view = buffer
    cdef Ctx* c = <Ctx*>malloc(sizeof(Ctx))
    cdef uint64_t* ranges = NULL
    cdef Py_ssize_t i
    cdef int status
    if c == NULL:
        raise MemoryError()
    try:
        init_ctx(c, &view[0] if view.shape[0] else NULL, view.shape[0])
        if available is not None:
            ranges = <uint64_t*>malloc((2 * len(available) + 1) * sizeof(uint64_t))
            if ranges == NULL:
                raise MemoryError()
            for i, (start, end) in enumerate(available):
                ranges[2 * i] = start
                ranges[2 * i + 1] = end
            c.available = ranges
            c.available_count = len(available)
            if not (c.size == 0 or is_available(c, 0, min(c.size, 64))):
                raise NeedBytes(0, min(c.size, 64))
        with nogil:
            status = locate(c)
        if status < 0:
            if c.error == E_NO_MEMORY:
                raise MemoryError()
            if c.error == E_NEED_BYTES:
                raise NeedBytes(c.need_start, c.need_end)
            raise ElfError(_ERROR_CODES[c.error], c.message.decode("utf-8", "replace"))
        return build(c)
    finally:
        free_ctx(c)
        free(c)
        free(ranges)


def same_bytes(const unsigned char[::1] a, const unsigned char[::1] b):
    """Whether two buffers hold the same bytes: memcmp, the GIL released (comparing a
    memoryview with ``==`` goes item by item, ~3 ns a byte)."""
    cdef size_t n = a.shape[0]
    cdef int differ = 0
    if b.shape[0] != a.shape[0]:
        return False
    if n == 0:
        return True
    with nogil:
        differ = memcmp(&a[0], &b[0], n)
    return differ == 0
