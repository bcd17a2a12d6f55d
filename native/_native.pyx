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
    PYTHON_INIT_PREFIXES,
    ElfClass,
    ElfError,
    ElfFacts,
    Endianness,
    Machine,
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
    #define STT_FUNC (2)
    #define MAX_SYMBOLS (1 << 24)
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
    int STT_FUNC
    unsigned long long MAX_SYMBOLS
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
    int64_t dynamic_off
    uint64_t dynamic_size
    int64_t stack_flags
    int64_t isa_needed
    bint property_note_seen  # only the first GNU property note counts, as in glibc
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
    Vec def_index          # vd_ndx
    # symbols to turn into Python objects
    Vec undefined          # symbol indices
    Vec init_functions     # symbol indices


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


cdef bint to_offset(const Ctx* c, uint64_t address, uint64_t* result) noexcept nogil:
    """The file offset of a virtual address, through the first PT_LOAD holding it; False if
    none. An offset past 2**64 (a hostile p_offset) is PAST_ANY_BUFFER, as it is: wrapping
    around would land inside the buffer, and the reference, counting in Python ints, does not."""
    cdef uint32_t p_type, p_flags
    cdef uint64_t offset, vaddr, filesz, align, i, delta
    for i in range(c.phnum):
        read_phdr(c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type == PT_LOAD and vaddr <= address and address - vaddr < filesz:
            delta = address - vaddr
            result[0] = offset + delta if delta <= PAST_ANY_BUFFER - offset else PAST_ANY_BUFFER
            return True
    return False


cdef inline uint64_t align_up(uint64_t value, uint64_t alignment) noexcept nogil:
    return (value + alignment - 1) & ~(alignment - 1)


cdef void scan_note_segment(Ctx* c, uint64_t start, uint64_t length, uint64_t p_align) noexcept nogil:
    """Look for GNU_PROPERTY_X86_ISA_1_NEEDED; a malformed note just ends the scan."""
    cdef uint64_t align = 8 if p_align == 8 else 4
    cdef uint64_t prop_align = 8 if c.is64 else 4
    cdef uint64_t pos = 0, namesz, descsz, desc, end, ppos, datasz
    cdef uint32_t n_type, pr_type
    while not c.property_note_seen and pos <= length and length - pos >= 12:
        namesz = u32(c, start + pos)
        descsz = u32(c, start + pos + 4)
        n_type = u32(c, start + pos + 8)
        desc = align_up(pos + 12 + namesz, align)
        end = align_up(desc + descsz, align)
        if desc > length or descsz > length - desc:
            return
        if (n_type == NT_GNU_PROPERTY_TYPE_0 and namesz == 4
                and memcmp(c.data + start + pos + 12, b"GNU\0", 4) == 0):
            c.property_note_seen = True
            ppos = 0
            while ppos <= descsz and descsz - ppos >= 8:
                pr_type = u32(c, start + desc + ppos)
                datasz = u32(c, start + desc + ppos + 4)
                if datasz > descsz - ppos - 8:
                    return
                if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                    if datasz == 4:  # glibc ignores a malformed one, and looks no further
                        c.isa_needed = u32(c, start + desc + ppos + 8)
                    return
                ppos = align_up(ppos + 8 + datasz, prop_align)
            return  # only the first GNU property note counts
        if end <= pos:
            return
        pos = end


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
        elif p_type == PT_DYNAMIC and c.dynamic_off < 0:
            if not fits(c, offset, filesz):
                return fail(c, E_BAD_OFFSET, "PT_DYNAMIC at %llu runs past the end", offset)
            c.dynamic_off = offset
            c.dynamic_size = filesz
        elif p_type == PT_GNU_STACK and c.stack_flags < 0:
            c.stack_flags = p_flags
        elif p_type == PT_NOTE and x86 and not c.property_note_seen:
            if not fits(c, offset, filesz):
                return fail(c, E_BAD_OFFSET, "PT_NOTE at %llu runs past the end", offset)
            scan_note_segment(c, offset, filesz, align)
    return 0


cdef int read_dynamic(Ctx* c) noexcept nogil:
    cdef uint64_t entsize = 16 if c.is64 else 8
    cdef uint64_t count = c.dynamic_size // entsize, i, o
    cdef int64_t tag
    cdef uint64_t value
    for i in range(count):
        o = <uint64_t>c.dynamic_off + i * entsize
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


cdef int resolve(Ctx* c, uint64_t address, const char* what, uint64_t* result) noexcept nogil:
    """``to_offset``, or bad-offset when no PT_LOAD holds the address. The offset may lie
    outside the buffer: each table's own bounds check says so, with its own code."""
    if not to_offset(c, address, result):
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
    cdef uint64_t offset
    cdef uint64_t nbuckets, symoffset, bloom_size, buckets, chains, i, top, word_size, n
    if (c.present & HAS_GNU_HASH_ADDR):
        if resolve(c, c.gnu_hash_addr, "DT_GNU_HASH 0x%llx is in no PT_LOAD", &offset) < 0:
            return -1
        if not fits(c, offset, 16):
            return fail(c, E_BAD_TABLE, "DT_GNU_HASH header at %llu runs past the end", offset)
        nbuckets = u32(c, offset)
        symoffset = u32(c, offset + 4)
        bloom_size = u32(c, offset + 8)
        buckets = offset + 16 + bloom_size * (8 if c.is64 else 4)
        if not fits(c, buckets, nbuckets * 4):
            return fail(c, E_BAD_TABLE, "DT_GNU_HASH buckets at %llu run past the end", buckets)
        chains = buckets + nbuckets * 4
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
                if not fits(c, n, 4):
                    return fail(c, E_BAD_TABLE, "DT_GNU_HASH chain at %llu runs past the end", n)
                if u32(c, n) & 1:
                    break
                top += 1
            c.symbol_count = top + 1
    elif (c.present & HAS_HASH_ADDR):
        if resolve(c, c.hash_addr, "DT_HASH 0x%llx is in no PT_LOAD", &offset) < 0:
            return -1
        # 64-bit s390x (like Alpha) uses 8-byte hash words
        word_size = 8 if (c.machine == EM_S390 and c.is64) else 4
        if not fits(c, offset, 2 * word_size):
            return fail(c, E_BAD_TABLE, "DT_HASH at %llu runs past the end", offset)
        c.symbol_count = u64(c, offset + 8) if word_size == 8 else u32(c, offset + 4)
    else:
        c.symbol_count = 0
    if c.symbol_count > MAX_SYMBOLS:
        return fail(c, E_TOO_LARGE, "%llu dynamic symbols", c.symbol_count)
    return 0


cdef int read_versions(Ctx* c) noexcept nogil:
    cdef uint64_t cap = c.size // 16, visited = 0, i, j, pos, aux, count, cnt
    cdef uint32_t next_entry, aux_next, aux_off
    cdef uint64_t offset
    if (c.present & HAS_VERNEED_ADDR):
        if resolve(c, c.verneed_addr, "DT_VERNEED 0x%llx is in no PT_LOAD", &offset) < 0:
            return -1
        pos = offset
        count = <uint64_t>c.verneednum if (c.present & HAS_VERNEEDNUM) else cap + 1
        i = 0
        while i < count:
            visited += 1
            if visited > cap:
                return fail(c, E_BAD_TABLE, "version needs longer than the file (%llu)", visited)
            if not fits(c, pos, 16):
                return fail(c, E_BAD_TABLE, "Verneed at %llu runs past the end", pos)
            cnt = u16(c, pos + 2)
            if check_string(c, u32(c, pos + 4)) < 0:
                return -1
            if vec_push(&c.verneed_files, u32(c, pos + 4)) < 0:
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
            aux_off = u32(c, pos + 8)
            next_entry = u32(c, pos + 12)
            aux = pos + aux_off
            j = 0
            while j < cnt:
                visited += 1
                if visited > cap:
                    return fail(c, E_BAD_TABLE, "version needs longer than the file (%llu)",
                                visited)
                if not fits(c, aux, 16):
                    return fail(c, E_BAD_TABLE, "Vernaux at %llu runs past the end", aux)
                if check_string(c, u32(c, aux + 8)) < 0:
                    return -1
                if (vec_push(&c.need_name, u32(c, aux + 8)) < 0
                        or vec_push(&c.need_other, u16(c, aux + 6)) < 0
                        or vec_push(&c.need_group, c.verneed_files.length - 1) < 0):
                    return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
                aux_next = u32(c, aux + 12)
                if aux_next == 0:
                    break
                aux += aux_next
                j += 1
            if next_entry == 0:
                break
            pos += next_entry
            i += 1
    visited = 0
    if (c.present & HAS_VERDEF_ADDR):
        if resolve(c, c.verdef_addr, "DT_VERDEF 0x%llx is in no PT_LOAD", &offset) < 0:
            return -1
        pos = offset
        count = <uint64_t>c.verdefnum if (c.present & HAS_VERDEFNUM) else cap + 1
        i = 0
        while i < count:
            visited += 1
            if visited > cap:
                return fail(c, E_BAD_TABLE, "version definitions longer than the file (%llu)",
                            visited)
            if not fits(c, pos, 20):
                return fail(c, E_BAD_TABLE, "Verdef at %llu runs past the end", pos)
            aux = pos + u32(c, pos + 12)
            if not fits(c, aux, 8):
                return fail(c, E_BAD_TABLE, "Verdaux at %llu runs past the end", aux)
            if check_string(c, u32(c, aux)) < 0:
                return -1
            if (vec_push(&c.def_name, u32(c, aux)) < 0
                    or vec_push(&c.def_index, u16(c, pos + 4)) < 0):
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
            next_entry = u32(c, pos + 16)
            if next_entry == 0:
                break
            pos += next_entry
            i += 1
    return 0


cdef bint has_init_prefix(const Ctx* c, uint64_t name) noexcept nogil:
    cdef const char* text = <const char*>(c.data + c.strtab_off + name)
    cdef uint64_t room = <uint64_t>c.strsz - name
    # "PyInit_", "init", "_cffi_pypyinit_" (PYTHON_INIT_PREFIXES in facts.py)
    return ((room >= 7 and memcmp(text, b"PyInit_", 7) == 0)
            or (room >= 4 and memcmp(text, b"init", 4) == 0)
            or (room >= 15 and memcmp(text, b"_cffi_pypyinit_", 15) == 0))


cdef int read_symbols(Ctx* c) noexcept nogil:
    cdef uint64_t entsize = 24 if c.is64 else 16, i, o, name
    cdef uint8_t info
    cdef uint16_t shndx
    cdef uint64_t versym
    if c.symbol_count == 0:
        return 0
    if not (c.present & HAS_SYMTAB_ADDR):
        return fail(c, E_BAD_TABLE, "%llu symbols counted but no DT_SYMTAB", c.symbol_count)
    if (c.present & HAS_SYMENT) and <uint64_t>c.syment != entsize:
        return fail(c, E_BAD_TABLE, "DT_SYMENT is %llu", c.syment)
    if not (c.present & HAS_STRTAB_ADDR):
        return fail(c, E_BAD_TABLE, "symbols without DT_STRTAB (%llu)", c.symbol_count)
    if resolve(c, c.symtab_addr, "DT_SYMTAB 0x%llx is in no PT_LOAD", &c.symtab_off) < 0:
        return -1
    if not fits(c, c.symtab_off, c.symbol_count * entsize):
        return fail(c, E_BAD_TABLE, "%llu symbols run past the end", c.symbol_count)
    if (c.present & HAS_VERSYM_ADDR):
        if resolve(c, c.versym_addr, "DT_VERSYM 0x%llx is in no PT_LOAD", &versym) < 0:
            return -1
        if not fits(c, versym, c.symbol_count * 2):
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
            if vec_push(&c.undefined, i) < 0:
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
        elif (info & 0xF) == STT_FUNC and has_init_prefix(c, name):
            if vec_push(&c.init_functions, i) < 0:
                return fail(c, E_NO_MEMORY, "out of memory (%llu)", 0)
    return 0


cdef int locate(Ctx* c) noexcept nogil:
    cdef uint64_t offset
    cdef Py_ssize_t k
    if read_header(c) < 0 or read_segments(c) < 0:
        return -1
    if c.dynamic_off < 0:
        return 0
    if read_dynamic(c) < 0:
        return -1
    if (c.present & HAS_STRTAB_ADDR):
        if resolve(c, c.strtab_addr, "DT_STRTAB 0x%llx is in no PT_LOAD", &offset) < 0:
            return -1
        if not (c.present & HAS_STRSZ) or not fits(c, offset, <uint64_t>c.strsz):
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
    """The names the record will hold (undefined symbols and init functions, each string-table
    offset once) may not add up to more than NAME_BYTES_FACTOR times the file: n symbols naming
    the suffixes of one long string would otherwise make a record of n x length / 2 bytes."""
    cdef uint64_t entsize = 24 if c.is64 else 16, cap, total = 0, name, room, limit
    cdef Py_ssize_t k
    cdef const char* start
    cdef const char* end
    cdef set seen = set()
    cdef Vec* vec
    cdef int which
    cap = max(c.size * NAME_BYTES_FACTOR, NAME_BYTES_FLOOR)
    for which in range(2):
        vec = &c.undefined if which == 0 else &c.init_functions
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
    cdef dict need_versions = {}
    cdef dict def_versions = {}
    cdef list groups = []
    cdef dict shared = {}  # long symbol names by string-table offset (symbol_name)
    check_name_bytes(c)
    interpreter = None
    if c.interp_off >= 0:
        raw = bytes(c.data[c.interp_off:c.interp_off + c.interp_len])
        interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
    # version needs, grouped by Verneed; the first Vernaux with a given vna_other wins
    for k in range(c.verneed_files.length):
        groups.append((text(c, c.verneed_files.items[k]), []))
    for k in range(c.need_name.length):
        version = text(c, c.need_name.items[k])
        file_name, versions = groups[c.need_group.items[k]]
        versions.append(version)
        if c.need_other.items[k] not in need_versions:
            need_versions[c.need_other.items[k]] = (version, file_name)
    definitions = []
    for k in range(c.def_name.length):
        version = text(c, c.def_name.items[k])
        definitions.append(version)
        def_versions.setdefault(c.def_index.items[k], (version, None))
    undefined = []
    for k in range(c.undefined.length):
        index = c.undefined.items[k]
        o = c.symtab_off + index * entsize
        info = c.data[o + 4] if c.is64 else c.data[o + 12]
        version = version_file = None
        if c.versym_off >= 0:
            found = u16(c, c.versym_off + index * 2) & 0x7FFF
            if found > 1:
                version, version_file = need_versions.get(
                    found, def_versions.get(found, (None, None)))
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
    free(c.undefined.items)
    free(c.init_functions.items)


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
        if p_type == PT_DYNAMIC and not has_dynamic:
            has_dynamic = True
            dynamic = offset
    for i in range(c.phnum):
        read_phdr(&c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if (p_type == PT_DYNAMIC or p_type == PT_INTERP or p_type == PT_NOTE
                or (p_type == PT_LOAD and (not has_dynamic or offset > dynamic))):
            end = max(end, offset + filesz)
    return end


def dynamic_segment(buffer):
    """PT_DYNAMIC's file offset and size, from a prefix of the file holding its program headers; None
    when there is none, or the headers are not all there or not sound. Where the part of a
    library that the parser reads after its first tables begins (wheel/contents.py)."""
    cdef const uint8_t[::1] view = buffer
    cdef Ctx c
    cdef uint64_t i, offset, vaddr, filesz, align
    cdef uint32_t p_type, p_flags
    init_ctx(&c, &view[0] if view.shape[0] else NULL, view.shape[0])
    if read_header(&c) < 0:
        return None
    for i in range(c.phnum):
        read_phdr(&c, i, &p_type, &offset, &vaddr, &filesz, &p_flags, &align)
        if p_type == PT_DYNAMIC:
            return (offset, filesz) if offset + filesz >= offset else None
    return None


class NeedBytes(Exception):
    """``parse_elf`` needs the bytes [start, end), which the partly filled buffer lacks."""

    def __init__(self, start, end):
        super().__init__(f"need bytes [{start}, {end})")
        self.start = start
        self.end = end


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
