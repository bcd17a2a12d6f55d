# cython: language_level=3
"""The end of a raw deflate stream, inflated without its beginning.

A library's dynamic section lies near its end, behind megabytes of code that no verdict
needs; a deflate stream cannot be entered in the middle, since its blocks are not byte
aligned and a match may copy from up to 32 KiB before it. So, as rapidgzip does to inflate
one gzip file on many cores (Knespel & Brunst, 2023), ``block_starts`` looks for a block
header at a bit offset short of the part wanted and decodes from there to the stream's end,
counting the bytes it would put out but writing none. The stream's end is where the member
ends, so that count places every block header met on the way at its exact offset in the
member, whatever the compression ratio before. ``inflate_from`` then inflates from one of
those headers, as far as wanted, and marks every byte that copies, directly or through
another copy, from the unknown 32 KiB before it: those bytes are unknown, the rest exact.

A bit offset is taken for a block header only if the header is sound: for a dynamic block,
all three of its Huffman codes complete (zlib's always are; a random offset passes one time
in millions); for a stored one, zero bits to the byte and its length's complement after it,
and the decoding from it must then meet only sound block headers and end exactly at the
stream's last byte. Even then, offsets are offered only from the first stored or dynamic
block header after its first block (a false start may fall into a real block boundary by
chance, through a fixed-code block, whose header has nothing to check).
Whatever fails, the caller inflates the member from its start.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, UINT64_MAX
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcpy, memset

cdef enum:
    FAST_BITS = 10  # the bits a decoding table looks up at once
    # Block headers noted per decoding at most (an empty fixed block takes ten bits: a
    # stream of them would otherwise make a list of tens of millions)
    MAX_STARTS = 1 << 20
    # The bits decoded from the false starts of one search, at most, in streams' lengths
    # (a crafted stream could make each of thousands of them run nearly to its end)
    SEARCH_BUDGET = 4

include "deflate.pxi"

# What a decoding step ends with. The negative ones are failures: a caller tests ``< 0``
# where any failure is the same to it.
cdef enum Step:
    DONE = 0  # the block (or the stream) ended, or the step succeeded
    FULL = 1  # ``out`` is full: the last match cut to fit (``write_symbols``' truncate)
    STOPPED = 2  # a block header at or past the bit asked to stop at (``count_blocks``)
    UNSOUND = -1  # not valid deflate here (or a limit reached): no false start survives it
    NO_ROOM = -2  # ``out`` would overflow, and a cut was not asked for

# A block's kind, as its header's BTYPE bits give it (RFC 1951 3.2.3; 3 is reserved)
cdef enum BlockKind:
    STORED = 0
    FIXED = 1
    DYNAMIC = 2


cdef struct Huffman:
    Canonical code
    uint16_t fast[1 << FAST_BITS]  # symbol << 4 | length, 0: a longer code


# Each byte with its bits in reverse order
cdef uint8_t REVERSED[256]


cdef void _init_reversed() noexcept:
    cdef int byte, i, value
    for byte in range(256):
        value = 0
        for i in range(8):
            value = (value << 1) | ((byte >> i) & 1)
        REVERSED[byte] = <uint8_t>value


_init_reversed()


cdef int build(Huffman* h, const uint8_t* lengths, int n, bint allow_single) noexcept nogil:
    """The canonical code of code lengths (``canonical``) and its table of the codes up to
    FAST_BITS long. 0, or -1 for a code ``canonical`` refuses."""
    cdef int length, symbol, code, fill
    cdef uint32_t next_code[MAX_BITS + 2]
    if canonical(&h.code, lengths, n, allow_single) < 0:
        return UNSOUND
    memset(h.fast, 0, sizeof(h.fast))
    code = 0
    next_code[1] = 0
    for length in range(2, MAX_BITS + 1):
        code = (code + h.code.count[length - 1]) << 1
        next_code[length] = code
    for symbol in range(n):
        length = lengths[symbol]
        if length == 0 or length > FAST_BITS:
            if length:
                next_code[length] += 1
            continue
        code = next_code[length]
        next_code[length] += 1
        # deflate sends a code's bits last first: reversed by bytes (a loop over its bits
        # was a third of a block's table, 43 of them for an end, issue #15)
        fill = ((REVERSED[code & 0xFF] << 8) | REVERSED[(code >> 8) & 0xFF]) >> (16 - length)
        while fill < (1 << FAST_BITS):
            h.fast[fill] = <uint16_t>((symbol << 4) | length)
            fill += 1 << length
    return DONE


cdef inline int decode(Bits* b, const Huffman* h) noexcept nogil:
    """The next symbol; -1 for a code the table lacks."""
    cdef uint64_t bits = peek(b)
    cdef uint16_t entry = h.fast[bits & ((1 << FAST_BITS) - 1)]
    cdef int symbol, length = 0
    if entry:
        b.pos += entry & 15
        if b.pos > 8 * b.size:
            b.overrun = True
        return entry >> 4
    symbol = canonical_symbol(&h.code, bits, &length)  # a code longer than FAST_BITS
    if symbol >= 0:
        b.pos += length
        if b.pos > 8 * b.size:
            b.overrun = True
    return symbol


cdef Huffman FIXED_LITLEN
cdef Huffman FIXED_DIST
# Four 3-bit code lengths of a code-length code -> the share of the code space they take
# (128 >> length each, in the low 16 bits) and how many are not 0 (the high 16 bits): a
# header's completeness in five lookups, not a loop over up to 19 lengths
cdef uint32_t KRAFT[4096]


cdef void _init_tables():
    cdef int i
    cdef uint8_t lengths[288]
    cdef uint8_t dist_lengths[32]
    fixed_lengths(lengths, dist_lengths)
    build(&FIXED_LITLEN, lengths, 288, False)
    build(&FIXED_DIST, dist_lengths, 32, False)
    cdef int j, length
    for i in range(4096):
        KRAFT[i] = 0
        for j in range(4):
            length = (i >> (3 * j)) & 7
            if length:
                KRAFT[i] += (128 >> length) + (1 << 16)


_init_tables()


cdef struct Out:
    uint8_t* data
    uint8_t* known      # 1: the byte is exact; 0: it copies from before the start
    # for an unknown byte, which of the 32 KiB before ``data[window_base]`` it copies (NULL:
    # not kept); ``window_base`` is 0 (the start) until an end's inflation trusts its bytes
    # from a later block on (``inflate_blocks``)
    uint16_t* window
    uint64_t window_base
    uint64_t capacity
    uint64_t length


cdef inline void copy_match(Out* out, uint64_t distance, uint64_t length) noexcept nogil:
    """Append ``length`` bytes copied from ``distance`` back (the caller checked they fit);
    a byte from before the start is 0 and unknown, a copy is as known as its source (and
    copies the same byte of the window). (A match reaches at most 32 KiB back, and from
    ``window_base`` on nothing copies from before ``window_base - 32 KiB``: the byte of the
    window counted from there is never negative.)"""
    cdef uint64_t o = out.length, i = 0, n
    cdef uint8_t* d = out.data
    cdef uint8_t* k = out.known
    cdef uint16_t* w = out.window
    if distance > o:  # from the unknown window before the start
        i = min(length, distance - o)
        memset(d + o, 0, i)
        memset(k + o, 0, i)
        if w != NULL:
            for n in range(i):
                w[o + n] = <uint16_t>(32768 + o + n - distance - out.window_base)
    if i < length:
        if distance == 1:  # a run of one byte
            memset(d + o + i, d[o + i - 1], length - i)
            memset(k + o + i, k[o + i - 1], length - i)
            if w != NULL:
                for n in range(i, length):
                    w[o + n] = w[o + i - 1]
        elif distance >= 8 and o + length + 8 <= out.capacity:
            # eight at a time, the last copy running past ``length`` into bytes written
            # later (source and destination never overlap within eight)
            while i < length:
                memcpy(d + o + i, d + o + i - distance, 8)
                memcpy(k + o + i, k + o + i - distance, 8)
                if w != NULL:
                    memcpy(w + o + i, w + o + i - distance, 16)
                i += 8
        else:
            while i < length:
                d[o + i] = d[o + i - distance]
                k[o + i] = k[o + i - distance]
                if w != NULL:
                    w[o + i] = w[o + i - distance]
                i += 1
    out.length = o + length


cdef int read_dynamic_header(Bits* b, Huffman* litlen, Huffman* dist) noexcept nogil:
    """A dynamic block's codes (its three bits already taken); -1 if unsound.

    Strict: every code complete (a distance code may be a single one), which zlib always
    writes and random bits almost never make.
    """
    cdef uint8_t lengths[320]
    cdef int nlen, ndist
    if read_code_lengths(b, lengths, &nlen, &ndist) < 0:
        return UNSOUND
    if build(litlen, lengths, nlen, False) < 0 or build(dist, lengths + nlen, ndist, True) < 0:
        return UNSOUND
    return DONE


cdef inline bint plausible_header(Bits* b) noexcept nogil:
    """A cheap look at a block header at an offset ``maybe_headers`` took (most of them fail
    here): a dynamic block's type, counts and complete code-length code; a stored block's
    zero padding to the byte, and its length followed by its complement, within the stream
    (zlib writes stored blocks where the data does not compress: whole stretches of some
    libraries)."""
    cdef uint64_t bits = peek(b), more, pad, at
    cdef uint32_t length_field, total
    cdef int ncode
    if (bits & 6) == 4:
        # (HLIT and HDIST at most 29: ``maybe_headers`` took no offset where they are not)
        ncode = <int>((bits >> 13) & 15) + 4
        b.pos += 17
        more = peek(b) & ((1ULL << (3 * ncode)) - 1)  # the code lengths, 57 bits at most
        b.pos -= 17
        total = (KRAFT[more & 0xFFF] + KRAFT[(more >> 12) & 0xFFF] + KRAFT[(more >> 24) & 0xFFF]
                 + KRAFT[(more >> 36) & 0xFFF] + KRAFT[(more >> 48) & 0xFFF])
        return (total & 0xFFFF) == 128 and (total >> 16) >= 2
    if (bits & 6) == 0:
        pad = (8 - ((b.pos + 3) & 7)) & 7
        if (bits >> 3) & ((1ULL << pad) - 1):
            return False
        at = b.pos + 3 + pad
        if at + 32 > 8 * b.size:
            return False
        b.pos = at
        more = peek(b)
        b.pos = at - 3 - pad
        length_field = <uint32_t>(more & 0xFFFF)
        return (((more >> 16) & 0xFFFF) == (~length_field & 0xFFFF)
                and at // 8 + 4 + length_field <= b.size)
    return False


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil

cdef enum:
    # Offsets a search looks at together (``previous_plausible``): with the 13 bits after
    # the last of them, within the 57 that ``peek`` gives at least
    SEARCH_GROUP = 44

# Each offset of a group whose byte the third bit of a header starting there begins (``(p +
# 3) % 8 == 0``), for the group's first offset at each place in its byte: where a stored
# block's padding to the byte is empty
cdef uint64_t ALIGNED_THIRD[8]
# Each bit of a word read from a bit at each place in its byte that has another bit of its
# byte 1, 2 or 4 places above it: a bit that is 0 with all above it in its byte, found for
# all of them at once (``maybe_headers``)
cdef uint64_t SAME_BYTE_1[8]
cdef uint64_t SAME_BYTE_2[8]
cdef uint64_t SAME_BYTE_4[8]


cdef void _init_aligned() noexcept:
    cdef int first, i
    for first in range(8):
        ALIGNED_THIRD[first] = 0
        for i in range(SEARCH_GROUP):
            if (first + i + 3) % 8 == 0:
                ALIGNED_THIRD[first] |= 1ULL << i
        SAME_BYTE_1[first] = SAME_BYTE_2[first] = SAME_BYTE_4[first] = 0
        for i in range(64):
            if (first + i) % 8 + 1 <= 7:
                SAME_BYTE_1[first] |= 1ULL << i
            if (first + i) % 8 + 2 <= 7:
                SAME_BYTE_2[first] |= 1ULL << i
            if (first + i) % 8 + 4 <= 7:
                SAME_BYTE_4[first] |= 1ULL << i


_init_aligned()


cdef inline uint64_t maybe_headers(uint64_t bits, uint64_t first) noexcept nogil:
    """Of the offsets ``first`` + i (i < SEARCH_GROUP) whose bits from ``first`` on are
    ``bits``, those ``plausible_header`` may take (bit i set): read from all of them at
    once, they pass over most offsets for the cost of a few operations. A header it takes
    has 0 as its second bit (BTYPE 00 or 10, LSB first); of a dynamic one (third bit 1), HLIT
    and HDIST are at most 29 (not 1111x, x their lowest bit); of a stored one (third bit 0),
    its padding to the byte, if any, all 0s (where only its first bit was looked at here,
    19K offsets of onnxruntime 1.31.1's libonnxruntime.so's end went on to fail in
    ``plausible_header``, issue #15). (Its bits up to 55 at most are looked at: within the
    57 of ``peek``.)"""
    cdef uint64_t dynamic = bits >> 2
    cdef uint64_t counts_over = ((bits >> 4) & (bits >> 5) & (bits >> 6) & (bits >> 7)) | (
        (bits >> 9) & (bits >> 10) & (bits >> 11) & (bits >> 12))
    cdef uint64_t place = first & 7
    # each bit: any 1 from it to the end of its byte
    cdef uint64_t ones_above = bits | ((bits >> 1) & SAME_BYTE_1[place])
    ones_above |= (ones_above >> 2) & SAME_BYTE_2[place]
    ones_above |= (ones_above >> 4) & SAME_BYTE_4[place]
    cdef uint64_t padding_zero = ~(ones_above >> 3) | ALIGNED_THIRD[place]
    return ~(bits >> 1) & ((dynamic & ~counts_over) | (~dynamic & padding_zero))


cdef inline bint previous_plausible(Bits* b, uint64_t* start, uint64_t stop) noexcept nogil:
    """Move ``start`` back to the latest bit offset before it, down to ``stop``, where
    ``plausible_header`` holds (and ``b`` there); False if there is none. The offsets are
    looked at SEARCH_GROUP at a time (``maybe_headers``), and only those that may hold a
    header one by one: a search went through half a million offsets for onnxruntime 1.31.1's
    libonnxruntime.so's end, at 18 instructions each (issue #15)."""
    cdef uint64_t at = start[0], first, maybe
    cdef int i
    while at > stop:
        first = at - min(at - stop, <uint64_t>SEARCH_GROUP)
        b.pos = first
        maybe = maybe_headers(peek(b), first) & ((1ULL << (at - first)) - 1)
        while maybe:
            i = 63 - __builtin_clzll(maybe)
            maybe &= ~(1ULL << i)
            b.pos = first + <uint64_t>i
            if plausible_header(b):
                start[0] = b.pos
                b.overrun = False
                return True
        at = first
    start[0] = at
    return False


cdef struct Starts:
    uint64_t* bits     # where a block header begins, in bits of the stream
    uint64_t* outputs  # how many bytes the inflation had put out there
    Py_ssize_t length
    Py_ssize_t capacity


cdef int starts_push(Starts* s, uint64_t bit, uint64_t output) noexcept nogil:
    cdef Py_ssize_t capacity
    cdef uint64_t* bits
    cdef uint64_t* outputs
    if s.length == s.capacity:
        capacity = 2 * s.capacity + 64
        bits = <uint64_t*>realloc(s.bits, capacity * sizeof(uint64_t))
        if bits == NULL:
            return UNSOUND
        s.bits = bits
        outputs = <uint64_t*>realloc(s.outputs, capacity * sizeof(uint64_t))
        if outputs == NULL:
            return UNSOUND
        s.outputs = outputs
        s.capacity = capacity
    s.bits[s.length] = bit
    s.outputs[s.length] = output
    s.length += 1
    return DONE


cdef struct Fast:
    uint64_t buf
    uint32_t count         # bits in ``buf``
    const uint8_t* data
    const uint8_t* next    # the next byte to load
    const uint8_t* end
    uint64_t padding       # zero bits added past the stream's end


cdef inline void refill(Fast* f) noexcept nogil:
    """At least 56 bits in the buffer (zeros past the stream's end, counted in padding)."""
    cdef uint64_t word
    if f.next + 8 <= f.end:
        memcpy(&word, f.next, 8)
        if WS_BIG_ENDIAN:
            word = __builtin_bswap64(word)
        f.buf |= word << f.count
        f.next += (63 - f.count) >> 3
        f.count |= 56
    else:
        while f.count <= 56:
            if f.next < f.end:
                f.buf |= (<uint64_t>f.next[0]) << f.count
                f.next += 1
            else:
                f.padding += 8
            f.count += 8


cdef inline void fast_from(Fast* f, const Bits* b) noexcept nogil:
    f.data = b.data
    f.end = b.data + b.size
    f.next = b.data + min(b.pos >> 3, b.size)
    f.buf = 0
    f.count = 0
    f.padding = 0
    refill(f)
    f.buf >>= b.pos & 7
    f.count -= b.pos & 7


cdef inline void fast_to(const Fast* f, Bits* b) noexcept nogil:
    b.pos = 8 * <uint64_t>(f.next - f.data) + f.padding - f.count
    if b.pos > 8 * b.size:
        b.overrun = True


cdef inline int fast_symbol(Fast* f, const Huffman* h) noexcept nogil:
    """The next symbol (at least 15 bits in the buffer); -1 for a code the table lacks."""
    cdef uint16_t entry = h.fast[f.buf & ((1 << FAST_BITS) - 1)]
    cdef int symbol, length = 0
    if entry:
        f.buf >>= entry & 15
        f.count -= entry & 15
        return entry >> 4
    symbol = canonical_symbol(&h.code, f.buf, &length)
    if symbol >= 0:
        f.buf >>= length
        f.count -= length
    return symbol


cdef inline uint32_t fast_bits(Fast* f, uint32_t n) noexcept nogil:
    cdef uint32_t value = <uint32_t>(f.buf & ((1ULL << n) - 1))
    f.buf >>= n
    f.count -= n
    return value


# A block's codes turned into entries that say at once what a symbol is and takes.
# A literal/length entry: its code's length (bits 0-3), its kind (4-5), a length's extra
# bits (8-10), and the literal's byte or the length's base (12-20); SLOW (bit 6, of kind
# UNUSABLE, length 0): a code longer than FAST_BITS, decoded the slow way. (Not 0: a hot
# loop takes an entry's bits and tests for a literal before it tests for a slow code, one
# test less for each literal, the commonest symbol.) A distance entry: its code's length (0-3), its extra
# bits (4-7), its base (8-23) and the bits both take (24-28); 0: a longer code, or one no
# stream may use.
cdef enum:
    LITERAL = 0
    END_OF_BLOCK = 1 << 4
    LENGTH = 2 << 4
    UNUSABLE = 3 << 4
    KIND = 3 << 4
    SLOW = UNUSABLE | 1 << 6


cdef struct DecodeTable:
    uint32_t lit[1 << FAST_BITS]
    uint32_t dist[1 << FAST_BITS]


cdef DecodeTable FIXED_DECODE


cdef inline uint32_t lit_entry(int symbol) noexcept nogil:
    """A literal/length entry for ``symbol``, its code's length left 0 (already taken)."""
    if 0 <= symbol < 256:
        return LITERAL | (<uint32_t>symbol << 12)
    if symbol == 256:
        return END_OF_BLOCK
    if 256 < symbol < 286:
        return (LENGTH | (<uint32_t>LENGTH_EXTRA[symbol - 257] << 8)
                | (<uint32_t>LENGTH_BASE[symbol - 257] << 12))
    return UNUSABLE


# Each symbol's entry but for its code's length, looked up where a block's table is built
# (``lit_entry``'s tests and the distance tables' look-ups for each of its 2 x 1024 entries
# were 43K instructions a block); a distance's holds its extra bits in the bits-taken
# field too (the code's length is added to it), and is 0 for the two no stream may use
cdef uint32_t LIT_ENTRY[288]
cdef uint32_t DIST_ENTRY[32]


cdef void _init_entries() noexcept:
    cdef int symbol
    for symbol in range(288):
        LIT_ENTRY[symbol] = lit_entry(symbol)
    for symbol in range(32):
        DIST_ENTRY[symbol] = 0 if symbol >= 30 else (
            (<uint32_t>DIST_EXTRA[symbol] << 4) | (<uint32_t>DIST_BASE[symbol] << 8)
            | (<uint32_t>DIST_EXTRA[symbol] << 24))


_init_entries()


cdef void build_decode_table(DecodeTable* t, const Huffman* lit, const Huffman* dist) noexcept nogil:
    cdef int i
    cdef uint32_t entry, found
    for i in range(1 << FAST_BITS):
        entry = lit.fast[i]
        t.lit[i] = (LIT_ENTRY[entry >> 4] | (entry & 15)) if entry else SLOW
        entry = dist.fast[i]
        found = DIST_ENTRY[(entry >> 4) & 31]
        t.dist[i] = (found + (entry & 15) + ((entry & 15) << 24)) if entry and found else 0


build_decode_table(&FIXED_DECODE, &FIXED_LITLEN, &FIXED_DIST)


# A block's codes: a dynamic block's built into this, a fixed one's the shared ones
cdef struct BlockCodes:
    Huffman litlen_built
    Huffman dist_built
    DecodeTable table_built
    const Huffman* litlen
    const Huffman* dist
    const DecodeTable* table


cdef int block_tables(Bits* b, uint32_t kind, BlockCodes* c) noexcept nogil:
    if kind == FIXED:
        c.litlen, c.dist, c.table = &FIXED_LITLEN, &FIXED_DIST, &FIXED_DECODE
        return DONE
    if read_dynamic_header(b, &c.litlen_built, &c.dist_built) < 0:
        return UNSOUND
    build_decode_table(&c.table_built, &c.litlen_built, &c.dist_built)
    c.litlen, c.dist, c.table = &c.litlen_built, &c.dist_built, &c.table_built
    return DONE


cdef int stored_length(Bits* b) noexcept nogil:
    """A stored block's length (its three bits taken), -1 if unsound."""
    cdef uint32_t length
    b.pos = (b.pos + 7) & ~(<uint64_t>7)
    length = take(b, 16)
    if take(b, 16) != (~length & 0xFFFF) or b.overrun or b.pos // 8 + length > b.size:
        return -1
    return <int>length


cdef int read_block_header(Bits* b, BlockCodes* codes, uint32_t* final_block,
                           int* stored) noexcept nogil:
    """The next block's header: its kind (0: stored, its length in ``stored``; 1: fixed
    codes; 2: dynamic, its codes built into ``codes``) as a BlockKind, or UNSOUND."""
    cdef uint32_t kind
    final_block[0] = take(b, 1)
    kind = take(b, 2)
    if kind == STORED:
        stored[0] = stored_length(b)
        return <int>UNSOUND if stored[0] < 0 else <int>STORED
    if kind == FIXED or kind == DYNAMIC:
        return <int>UNSOUND if block_tables(b, kind, codes) < 0 else <int>kind
    return UNSOUND


cdef inline uint32_t next_entry(Fast* f, const DecodeTable* t, const Huffman* lit) noexcept nogil:
    """The next literal/length symbol's entry, its bits taken."""
    cdef uint32_t entry = t.lit[f.buf & ((1 << FAST_BITS) - 1)]
    if entry == SLOW:
        return lit_entry(fast_symbol(f, lit))
    f.buf >>= entry & 15
    f.count -= entry & 15
    return entry


cdef inline int64_t next_distance(Fast* f, const DecodeTable* t, const Huffman* dist) noexcept nogil:
    """The next distance, its bits taken; -1 for a code no stream may use."""
    cdef uint32_t entry = t.dist[f.buf & ((1 << FAST_BITS) - 1)]
    cdef int symbol
    cdef int64_t base
    if entry:
        f.buf >>= entry & 15
        f.count -= entry & 15
        return (entry >> 8 & 0xFFFF) + fast_bits(f, (entry >> 4) & 15)
    symbol = fast_symbol(f, dist)
    if symbol < 0 or symbol >= 30:
        return -1
    base = DIST_BASE[symbol]
    return base + fast_bits(f, DIST_EXTRA[symbol])


cdef int count_symbols(Bits* b, const BlockCodes* c, uint64_t* o) noexcept nogil:
    """Decode one block's symbols to its end, counting what they put out. DONE, or UNSOUND.
    (``write_symbols``' twin, kept apart so that neither hot loop tests which it is.)"""
    cdef Fast f
    cdef int symbol
    cdef uint32_t entry, skip
    cdef uint64_t produced = o[0]
    cdef const DecodeTable* t = c.table
    cdef const Huffman* lit = c.litlen
    cdef const Huffman* dist = c.dist
    fast_from(&f, b)
    while True:
        refill(&f)
        if f.padding > 64:
            return UNSOUND
        # up to three literals per refill (15 bits each at most, of 56 or more)
        entry = next_entry(&f, t, lit)
        if entry & KIND == LITERAL:
            produced += 1
            entry = next_entry(&f, t, lit)
            if entry & KIND == LITERAL:
                produced += 1
                entry = next_entry(&f, t, lit)
                if entry & KIND == LITERAL:
                    produced += 1
                    continue
            refill(&f)  # for the length's extra bits and the distance
        if entry & KIND != LENGTH:
            if entry & KIND == END_OF_BLOCK:
                break
            return UNSOUND
        produced += (entry >> 12) + fast_bits(&f, (entry >> 8) & 7)
        skip = t.dist[f.buf & ((1 << FAST_BITS) - 1)] >> 24
        if skip:
            f.buf >>= skip
            f.count -= skip
        else:
            symbol = fast_symbol(&f, dist)
            if symbol < 0 or symbol >= 30:
                return UNSOUND
            fast_bits(&f, DIST_EXTRA[symbol])
    fast_to(&f, b)
    o[0] = produced
    return <int>UNSOUND if b.overrun else <int>DONE


cdef int write_symbols(Bits* b, const BlockCodes* c, Out* out, bint truncate) noexcept nogil:
    """Inflate one block's symbols into ``out``. DONE at the block's end; FULL when ``out``
    is full (``truncate``: the last match cut to fit; else NO_ROOM instead); UNSOUND.
    (``count_symbols``' twin; its common cases are written out here, not called: up to
    three literals per refill while ``out`` has room, each taken before a slow code is
    tested for (SLOW); a distance and its extra bits taken at once; a match that copies
    only what was put out, in whole words, the first one unconditionally (a match is 3
    bytes at least); the stream's end tested for only where the refill meets it.
    ``out``'s fields are held in locals, which the compiler keeps in registers: through
    the pointer, every byte stored reloaded them. 17 instructions a byte before, on
    onnxruntime 1.31.1's libonnxruntime.so's end, issue #15.)"""
    cdef Fast f
    cdef int result = DONE
    cdef uint32_t entry, skip
    cdef int64_t found
    cdef uint64_t length, distance, i, word
    cdef const DecodeTable* t = c.table
    cdef const Huffman* lit = c.litlen
    cdef const Huffman* dist = c.dist
    cdef uint64_t o = out.length
    cdef uint64_t capacity = out.capacity
    cdef uint8_t* data = out.data
    cdef uint8_t* known = out.known
    cdef uint16_t* window = out.window
    fast_from(&f, b)
    while True:
        if f.next + 8 <= f.end:  # ``refill``'s common case, written out
            memcpy(&word, f.next, 8)
            if WS_BIG_ENDIAN:
                word = __builtin_bswap64(word)
            f.buf |= word << f.count
            f.next += (63 - f.count) >> 3
            f.count |= 56
        else:
            refill(&f)
            if f.padding > 64:
                result = UNSOUND
                break
        entry = t.lit[f.buf & ((1 << FAST_BITS) - 1)]
        f.buf >>= entry & 15  # (a slow code's entry takes none)
        f.count -= entry & 15
        if entry & KIND == LITERAL:
            if o + 3 > capacity:  # near the end: one at a time, checked
                if o >= capacity:
                    result = <int>FULL if truncate else <int>NO_ROOM
                    break
                data[o] = <uint8_t>(entry >> 12)
                known[o] = 1
                o += 1
                continue
            # 15 bits a code at most: three fit in the 56 or more bits a refill leaves
            data[o] = <uint8_t>(entry >> 12)
            known[o] = 1
            o += 1
            entry = t.lit[f.buf & ((1 << FAST_BITS) - 1)]
            f.buf >>= entry & 15
            f.count -= entry & 15
            if entry & KIND == LITERAL:
                data[o] = <uint8_t>(entry >> 12)
                known[o] = 1
                o += 1
                entry = t.lit[f.buf & ((1 << FAST_BITS) - 1)]
                f.buf >>= entry & 15
                f.count -= entry & 15
                if entry & KIND == LITERAL:
                    data[o] = <uint8_t>(entry >> 12)
                    known[o] = 1
                    o += 1
                    continue
            if f.count < 33:  # a length's extra bits, a distance's code and extra bits
                refill(&f)
        if entry == SLOW:  # a code longer than FAST_BITS (15 bits at most: they are there)
            entry = lit_entry(fast_symbol(&f, lit))
            if entry & KIND == LITERAL:
                if o >= capacity:
                    result = <int>FULL if truncate else <int>NO_ROOM
                    break
                data[o] = <uint8_t>(entry >> 12)
                known[o] = 1
                o += 1
                continue
            refill(&f)
        if entry & KIND != LENGTH:
            if entry & KIND != END_OF_BLOCK:
                result = UNSOUND
            break
        length = (entry >> 12) + fast_bits(&f, (entry >> 8) & 7)
        entry = t.dist[f.buf & ((1 << FAST_BITS) - 1)]
        if entry:  # the code's and the extra bits' lengths, and the base, at once
            distance = (entry >> 8 & 0xFFFF) + (
                (f.buf >> (entry & 15)) & ((1ULL << ((entry >> 4) & 15)) - 1))
            skip = entry >> 24
            f.buf >>= skip
            f.count -= skip
        else:
            found = next_distance(&f, t, dist)
            if found < 0:
                result = UNSOUND
                break
            distance = <uint64_t>found
        if 8 <= distance <= o and o + length + 8 <= capacity:
            # the common match: from bytes already put out, in whole words
            i = 0
            while True:
                memcpy(data + o + i, data + o + i - distance, 8)
                memcpy(known + o + i, known + o + i - distance, 8)
                i += 8
                if i >= length:
                    break
            if window != NULL:
                i = 0
                while i < length:
                    memcpy(window + o + i, window + o + i - distance, 16)
                    i += 8
            o += length
            continue
        out.length = o
        if o + length > capacity:
            if not truncate:
                result = NO_ROOM
                break
            copy_match(out, distance, capacity - o)
            o = out.length
            result = FULL
            break
        copy_match(out, distance, length)
        o = out.length
    out.length = o
    if result == UNSOUND:
        return UNSOUND  # (b not moved on: a search's budget counts what it decoded, as before)
    fast_to(&f, b)
    if b.overrun:
        return UNSOUND
    return result


cdef int count_blocks(Bits* b, Starts* starts, uint64_t* produced, uint64_t stop,
                      bint trusted) noexcept nogil:
    """Decode from a block header to the stream's end, counting the bytes put out but
    writing none (a fraction of inflating them), and noting where each block begins from
    the first checked header after the first block on (see ``block_starts``; from the
    first block on if ``trusted``: a header another decoding reached). DONE when the final
    block ends at the stream's last byte; STOPPED at the first block header at or past bit
    ``stop`` (``b.pos`` there, ``produced`` the bytes before it, the header not noted);
    else UNSOUND."""
    cdef BlockCodes codes
    cdef uint32_t final_block
    cdef int kind, length = 0
    cdef uint64_t o = 0, blocks = 0, header, first = b.pos
    cdef bint trusting = trusted
    if trusted:
        blocks = 1
    while True:
        header = b.pos
        if header >= stop and header != first:
            produced[0] = o
            return STOPPED
        kind = read_block_header(b, &codes, &final_block, &length)
        if kind < 0:
            return UNSOUND
        # a fixed block's header has nothing to check: a false start may run through one
        # into a real boundary, so offsets count from a stored or dynamic header on
        if blocks and (trusting or kind != FIXED):
            trusting = True
            if starts.length >= MAX_STARTS or starts_push(starts, header, o) < 0:
                return UNSOUND
        if kind == STORED:
            o += length
            b.pos += 8 * <uint64_t>length
        elif count_symbols(b, &codes, &o) < 0:
            return UNSOUND
        blocks += 1
        if final_block:
            produced[0] = o
            return <int>DONE if (b.pos + 7) // 8 == b.size else <int>UNSOUND


cdef inline void put_stored(Bits* b, Out* out, uint64_t n, int stored) noexcept nogil:
    """The first ``n`` bytes of a stored block of ``stored`` (all of them exact) put out, and
    the block passed."""
    memcpy(out.data + out.length, b.data + b.pos // 8, n)
    memset(out.known + out.length, 1, n)
    out.length += n
    b.pos += 8 * <uint64_t>stored


cdef int write_blocks(Bits* b, Out* out) noexcept nogil:
    """Inflate from a block header until ``out`` is full or the stream ends, marking each
    byte copied from before the start as unknown. DONE, or UNSOUND."""
    cdef BlockCodes codes
    cdef uint32_t final_block
    cdef int kind, stored = 0, result
    while out.length < out.capacity:
        kind = read_block_header(b, &codes, &final_block, &stored)
        if kind < 0:
            return UNSOUND
        if kind == STORED:
            put_stored(b, out, min(<uint64_t>stored, out.capacity - out.length), stored)
        else:
            result = write_symbols(b, &codes, out, True)
            if result < 0:
                return UNSOUND
            if result == FULL:
                return DONE
        if final_block:
            break
    return DONE


def block_starts(const uint8_t[::1] stream, uint64_t search_from, uint64_t search_to):
    """See ``_block_starts``: to the stream's end."""
    return _block_starts(stream, search_from, search_to, UINT64_MAX)


cdef _block_starts(const uint8_t[::1] stream, uint64_t search_from, uint64_t search_to,
                   uint64_t stop):
    """Find a block header at a bit offset in [search_to, search_from], the latest first,
    from which the stream decodes soundly to its end, and count what it inflates to,
    writing nothing. Returns ``(length, starts)``: the stream's last ``length`` bytes come
    from there, and ``starts`` holds ``(bit, output)`` for each block header from the first
    stored or dynamic one after the first block on (where the block begins in the stream,
    and how many of those ``length`` bytes come before it). None when no offset there does.

    The first block is left out: a false start that decoded into a real block boundary by
    chance would be wrong until that boundary, and right from it on; and so are fixed-code
    blocks until a checked header, since a false start can run through one to a real
    boundary. The search gives up after decoding SEARCH_BUDGET times the stream's length.
    """
    cdef Bits b
    cdef Starts starts
    cdef uint64_t start, produced = 0, spent = 0
    cdef int result = UNSOUND
    cdef Py_ssize_t i
    if stream.shape[0] == 0:
        return None
    b.data = &stream[0]
    b.size = stream.shape[0]
    starts.bits = NULL
    starts.outputs = NULL
    starts.length = starts.capacity = 0
    search_from = min(search_from, 8 * b.size - 1)
    try:
        with nogil:
            start = search_from + 1
            while spent <= SEARCH_BUDGET * 8 * b.size:
                if not previous_plausible(&b, &start, search_to):
                    break
                starts.length = 0
                result = count_blocks(&b, &starts, &produced, stop, False)
                if result == DONE or result == STOPPED:
                    break
                spent += b.pos - start
        if result < 0:
            return None
        found = [(starts.bits[i], starts.outputs[i]) for i in range(starts.length)]
        if result == STOPPED:
            return produced, found, b.pos
        return produced, found
    finally:
        free(starts.bits)
        free(starts.outputs)


def block_starts_until(const uint8_t[::1] stream, uint64_t search_from, uint64_t search_to,
                       uint64_t stop):
    """``block_starts``, each offset tried decoded only as far as the first block header at
    or past bit ``stop``: ``(length, starts, bit)`` where it stopped there (``length`` the
    bytes put out before that header, which is not in ``starts``), as ``block_starts``
    where the stream ended first; None where no offset decodes soundly that far. With
    ``count_from``, the count of one long end split at ``stop`` over two threads."""
    return _block_starts(stream, search_from, search_to, stop)


def count_from(const uint8_t[::1] stream, uint64_t bit):
    """Count from the block header at ``bit`` (one that a decoding from an earlier header
    reached, so trusted: every header noted, its own first) to the stream's end:
    ``(length, starts)`` as ``block_starts`` gives them, or None where the stream is unsound
    from there or does not end at its last byte."""
    cdef Bits b
    cdef Starts starts
    cdef uint64_t produced = 0
    cdef int result
    cdef Py_ssize_t i
    if stream.shape[0] == 0 or bit >= 8 * <uint64_t>stream.shape[0]:
        return None
    b.data = &stream[0]
    b.size = stream.shape[0]
    b.pos = bit
    b.overrun = False
    starts.bits = NULL
    starts.outputs = NULL
    starts.length = starts.capacity = 0
    try:
        with nogil:
            result = count_blocks(&b, &starts, &produced, UINT64_MAX, True)
        if result != DONE:
            return None
        return produced, [(starts.bits[i], starts.outputs[i]) for i in range(starts.length)]
    finally:
        free(starts.bits)
        free(starts.outputs)


def inflate_from(const uint8_t[::1] stream, uint64_t bit, uint8_t[::1] out, uint8_t[::1] known,
                 uint16_t[::1] window=None):
    """Inflate from the block header at ``bit`` into ``out`` until it is full or the stream
    ends; ``known`` (as long) gets 1 for each byte that is exact, 0 for one that copies,
    directly or through other copies, from the 32 KiB before ``bit``, and ``window`` (as
    long, if given) which of those 32 KiB such a byte is (0: the first). Returns how many
    bytes were put out; None if the stream is unsound there."""
    cdef Bits b
    cdef Out o
    cdef int result
    if out.shape[0] != known.shape[0] or (window is not None and window.shape[0] != out.shape[0]):
        raise ValueError("out, known and window differ in length")
    if stream.shape[0] == 0 or out.shape[0] == 0 or bit >= 8 * <uint64_t>stream.shape[0]:
        return None
    b.data = &stream[0]
    b.size = stream.shape[0]
    b.pos = bit
    b.overrun = False
    o.data = &out[0]
    o.known = &known[0]
    o.window = &window[0] if window is not None else NULL
    o.window_base = 0
    o.capacity = out.shape[0]
    o.length = 0
    with nogil:
        result = write_blocks(&b, &o)
    return None if result < 0 else o.length


cdef int inflate_blocks(Bits* b, Out* out, uint64_t stop, uint64_t* trusted_from,
                        uint64_t* trusted_bit) noexcept nogil:
    """Inflate from a block header to the stream's final block, or up to the block header at
    bit ``stop`` (UINT64_MAX: none); ``trusted_from``: where the first stored or dynamic block
    after the first block begins in ``out`` (its header at bit ``trusted_bit``), everything
    before it marked unknown (and so every copy of it), as ``block_starts`` counts. Where
    ``out`` keeps windows, they count from there on: each byte of the 32 KiB before it is,
    from then on, the byte of that window that it is. DONE at the stream's end; STOPPED at
    ``stop``; UNSOUND (``stop`` passed over, or the stream ended before it, too); NO_ROOM
    when ``out`` is full first."""
    cdef BlockCodes codes
    cdef uint32_t final_block
    cdef int kind, result, length = 0
    cdef uint64_t blocks = 0, header, i
    cdef bint trusting = False
    while True:
        header = b.pos
        if blocks and header >= stop:
            if not trusting:
                # no block trusted: the first began where a search found a header, maybe a
                # false start; none of its bytes is known (``inflate_until``'s look-up takes
                # ``known`` as it is)
                trusted_from[0] = out.length
                trusted_bit[0] = header
                memset(out.known, 0, out.length)
            return <int>STOPPED if header == stop else <int>UNSOUND
        kind = read_block_header(b, &codes, &final_block, &length)
        if kind < 0:
            return UNSOUND
        if blocks and not trusting and kind != FIXED:
            trusting = True
            trusted_from[0] = out.length
            trusted_bit[0] = header
            memset(out.known, 0, out.length)
            if out.window != NULL:
                for i in range(out.length - min(out.length, 32768), out.length):
                    out.window[i] = <uint16_t>(32768 + i - out.length)
                out.window_base = out.length
        if kind == STORED:
            if out.length + <uint64_t>length > out.capacity:
                return NO_ROOM
            put_stored(b, out, length, length)
        else:
            result = write_symbols(b, &codes, out, False)
            if result < 0:
                return result
        blocks += 1
        if final_block:
            if not trusting:
                trusted_from[0] = out.length
                trusted_bit[0] = b.pos
            if stop != UINT64_MAX:
                return UNSOUND
            return <int>DONE if (b.pos + 7) // 8 == b.size else <int>UNSOUND


cdef struct Found:
    uint64_t start         # the block header the inflation began with, in bits
    uint64_t trusted_from  # as ``inflate_blocks`` gives them
    uint64_t trusted_bit
    int result             # ``inflate_blocks``' for it; NO_ROOM only where ``out`` filled
                           # from a trusted block on (an earlier start would not fit either)


cdef Found search_inflate(Bits* b, Out* o, uint64_t search_from, uint64_t search_to,
                          uint64_t stop) noexcept nogil:
    """Inflate into ``o`` from the latest bit offset in [search_to, search_from] where a
    block header starts an inflation that ``inflate_blocks`` takes to its end (``stop``'s
    header, or the stream's end), giving up after SEARCH_BUDGET times the stream's bits."""
    cdef Found found
    cdef uint64_t spent = 0
    found.result = UNSOUND
    found.trusted_from = found.trusted_bit = 0
    found.start = min(search_from, 8 * b.size - 1) + 1
    while spent <= SEARCH_BUDGET * 8 * b.size:
        if not previous_plausible(b, &found.start, search_to):
            break
        o.length = 0
        o.window_base = 0
        found.trusted_from = 0
        found.result = inflate_blocks(b, o, stop, &found.trusted_from, &found.trusted_bit)
        if found.result == NO_ROOM and found.trusted_from != 0:
            break
        if found.result == DONE or found.result == STOPPED:
            break
        found.result = UNSOUND
        spent += b.pos - found.start
    return found


def inflate_tail(const uint8_t[::1] stream, uint64_t search_from, uint64_t search_to,
                 uint8_t[::1] out, uint8_t[::1] known, uint16_t[::1] window=None):
    """Inflate the end of a raw deflate stream from a block header found at a bit offset in
    [search_to, search_from], trying the latest first, into ``out`` (``known`` as long, set
    to 1 for each exact byte). Returns ``(length, trusted_from, start, trusted_bit)``: the
    stream's last ``length`` bytes are ``out[:length]``, the bytes from ``trusted_from`` on
    are certain wherever ``known`` says so, the block header was at bit ``start``, and the
    header of the block at ``trusted_from`` at bit ``trusted_bit``. ``window`` (as long, if
    given) gets, for each unknown byte from ``trusted_from`` on, which of the 32 KiB before
    ``out[trusted_from]`` it copies: ``inflate_until`` inflates them. ``(None, start,
    stop)`` when a sound inflation from bit ``start`` filled ``out`` at bit ``stop``, a
    whole block into it (an earlier start would not fit either); None when no offset there
    starts a sound inflation to the stream's end.
    """
    cdef Bits b
    cdef Out o
    cdef Found found
    if out.shape[0] != known.shape[0] or (window is not None and window.shape[0] != out.shape[0]):
        raise ValueError("out, known and window differ in length")
    if stream.shape[0] == 0 or out.shape[0] == 0:
        return None
    b.data = &stream[0]
    b.size = stream.shape[0]
    o.data = &out[0]
    o.known = &known[0]
    o.window = &window[0] if window is not None else NULL
    o.capacity = out.shape[0]
    with nogil:
        found = search_inflate(&b, &o, search_from, search_to, UINT64_MAX)
    if found.result == NO_ROOM:
        return None, found.start, b.pos
    if found.result < 0:
        return None
    return o.length, found.trusted_from, found.start, found.trusted_bit


def inflate_until(const uint8_t[::1] stream, uint64_t search_from, uint64_t search_to,
                  uint64_t stop, uint8_t[::1] out, uint8_t[::1] known,
                  uint16_t[::1] window=None):
    """Inflate from a block header found at a bit offset in [search_to, search_from], trying
    the latest first, up to the block header at bit ``stop`` (one an inflation of the end
    trusted: ``inflate_tail``'s ``trusted_bit``), into ``out`` (``known`` as long). Returns
    ``(length, trusted_from, start, trusted_bit)``: ``out[:length]`` are the ``length`` bytes
    before that block, certain from ``trusted_from`` on wherever ``known`` says so, from the
    block header at bit ``start``, the header of the block at ``trusted_from`` at bit
    ``trusted_bit``; None where no offset there inflates soundly to exactly ``stop`` within
    ``out``. ``window`` (as long, if given) gets, as ``inflate_tail``'s, for each unknown
    byte from ``trusted_from`` on, which of the 32 KiB before ``out[trusted_from]`` it
    copies: an inflation further back, up to ``trusted_bit``, holds them (a chain of
    look-ups, wheel/end_lookup.py).
    """
    cdef Bits b
    cdef Out o
    cdef Found found
    if out.shape[0] != known.shape[0] or (window is not None and window.shape[0] != out.shape[0]):
        raise ValueError("out, known and window differ in length")
    if stream.shape[0] == 0 or out.shape[0] == 0 or not 0 < stop < 8 * <uint64_t>stream.shape[0]:
        return None
    b.data = &stream[0]
    b.size = stream.shape[0]
    o.data = &out[0]
    o.known = &known[0]
    o.window = &window[0] if window is not None else NULL
    o.capacity = out.shape[0]
    with nogil:
        found = search_inflate(&b, &o, min(search_from, stop - 1), search_to, stop)
    if found.result != STOPPED:
        return None
    return o.length, found.trusted_from, found.start, found.trusted_bit


# Eight known bytes at once (``known`` holds 0 or 1 per byte)
cdef uint64_t ALL_KNOWN = 0x0101010101010101


cdef inline uint64_t load8(const uint8_t* p) noexcept nogil:
    cdef uint64_t value
    memcpy(&value, p, 8)
    return value


cdef int find_runs(const uint8_t* k, uint64_t i, uint64_t n, uint64_t min_length,
                   Starts* runs) noexcept nogil:
    """Each run of 1s in ``k[i:n]`` at least ``min_length`` long, as (begin, end) pairs in
    ``runs`` (its ``bits`` and ``outputs``). A run of 15 bytes or more holds a whole
    aligned word of them, so for such lengths only the words are looked at, eight bytes at
    a time, and a run is grown from a whole word to its ends; the short runs between are
    never walked (an end's known bytes come in runs of a few bytes between the unknown ones,
    most of them too short: walked one by one, with memchr, they took 2.9 ms of the 5.6 MB
    of onnxruntime 1.31.1's pybind11 module's three ends, holding the GIL). DONE, or
    UNSOUND where memory ran out."""
    cdef uint64_t word, begin, end
    cdef const void* found
    if min_length < 15:
        while i < n:
            found = memchr(k + i, 1, n - i)  # the next known byte
            if found == NULL:
                break
            begin = <const uint8_t*>found - k
            found = memchr(k + begin, 0, n - begin)  # the next unknown one
            i = n if found == NULL else <uint64_t>(<const uint8_t*>found - k)
            if i - begin >= min_length and starts_push(runs, begin, i) < 0:
                return UNSOUND
        return DONE
    word = (i + 7) & ~(<uint64_t>7)
    while word + 8 <= n:
        if load8(k + word) != ALL_KNOWN:
            word += 8
            continue
        begin = word
        while begin > i and k[begin - 1] == 1:
            begin -= 1
        end = word + 8
        while end + 8 <= n and load8(k + end) == ALL_KNOWN:
            end += 8
        while end < n and k[end] == 1:
            end += 1
        if end - begin >= min_length and starts_push(runs, begin, end) < 0:
            return UNSOUND
        i = end
        word = (end + 7) & ~(<uint64_t>7)
    return DONE


def known_ranges(const uint8_t[::1] known, uint64_t start, uint64_t offset,
                 uint64_t min_length=64, stop=None):
    """The runs of exact bytes in ``known[start:stop]`` of at least ``min_length`` bytes, as
    ``(begin, end)`` pairs shifted by ``offset`` (the member offset of ``known[0]``); found
    without the GIL (``find_runs``)."""
    cdef uint64_t n = known.shape[0]
    cdef const uint8_t* k = &known[0] if n else NULL
    cdef Starts runs
    cdef int result = DONE
    cdef Py_ssize_t i
    if stop is not None:
        n = min(n, <uint64_t>stop)
    runs.bits = NULL
    runs.outputs = NULL
    runs.length = runs.capacity = 0
    try:
        if start < n:
            with nogil:
                result = find_runs(k, start, n, max(min_length, 1), &runs)
        if result < 0:
            raise MemoryError()
        return [(runs.bits[i] + offset, runs.outputs[i] + offset) for i in range(runs.length)]
    finally:
        free(runs.bits)
        free(runs.outputs)
