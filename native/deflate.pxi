# The parts of a raw deflate decoder (RFC 1951) that native/_tail.pyx and native/_zipdir.pyx
# share, included by both: a bit reader over a buffer, and the tables of the format itself.

cdef enum:
    MAX_BITS = 15  # the longest Huffman code

cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define WS_BIG_ENDIAN 1
    #else
    #define WS_BIG_ENDIAN 0
    #endif
    """
    int WS_BIG_ENDIAN
    unsigned long long __builtin_bswap64(unsigned long long) nogil


cdef struct Bits:
    const uint8_t* data
    uint64_t size       # bytes
    uint64_t pos        # bits consumed
    bint overrun        # a read past the last byte


cdef inline uint64_t peek(const Bits* b) noexcept nogil:
    """The next 57 or more bits, least significant first (zeros past the end)."""
    cdef uint64_t byte = b.pos >> 3, value = 0, i
    if byte + 8 <= b.size:
        memcpy(&value, b.data + byte, 8)
        if WS_BIG_ENDIAN:
            value = __builtin_bswap64(value)
    else:
        i = byte
        while i < b.size:
            value |= (<uint64_t>b.data[i]) << (8 * (i - byte))
            i += 1
    return value >> (b.pos & 7)


cdef inline uint32_t take(Bits* b, uint32_t count) noexcept nogil:
    cdef uint32_t value = <uint32_t>(peek(b) & ((1ULL << count) - 1))
    b.pos += count
    if b.pos > 8 * b.size:
        b.overrun = True
    return value


# Lengths 3-258 and distances 1-32768: each symbol's base and extra bits; the order in
# which a dynamic block gives its code-length code's lengths
cdef uint16_t LENGTH_BASE[29]
cdef uint8_t LENGTH_EXTRA[29]
cdef uint16_t DIST_BASE[30]
cdef uint8_t DIST_EXTRA[30]
cdef uint8_t ORDER[19]


cdef void _init_format():
    cdef int i
    cdef uint16_t lbase[29]
    cdef uint8_t lextra[29]
    cdef uint8_t order[19]
    lbase[:] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67,
                83, 99, 115, 131, 163, 195, 227, 258]
    lextra[:] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5,
                 5, 5, 0]
    order[:] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    for i in range(29):
        LENGTH_BASE[i] = lbase[i]
        LENGTH_EXTRA[i] = lextra[i]
    for i in range(19):
        ORDER[i] = order[i]
    for i in range(30):
        DIST_EXTRA[i] = 0 if i < 4 else (i - 2) >> 1
        DIST_BASE[i] = 1 if i == 0 else DIST_BASE[i - 1] + (1 << DIST_EXTRA[i - 1])


_init_format()


cdef inline void fixed_lengths(uint8_t* litlen, uint8_t* dist) noexcept nogil:
    """The code lengths of a fixed-code block (distance codes 30 and 31 exist, but no stream
    may use them)."""
    cdef int i
    for i in range(288):
        litlen[i] = 8 if i < 144 else (9 if i < 256 else (7 if i < 280 else 8))
    for i in range(32):
        dist[i] = 5


# A canonical Huffman code (RFC 1951 3.2.2), as puff.c keeps one: how many codes each length
# has, and the symbols in code order; enough to decode a symbol a bit at a time
cdef struct Canonical:
    uint16_t count[MAX_BITS + 1]
    uint16_t symbol[320]


cdef int canonical(Canonical* h, const uint8_t* lengths, int n, bint allow_single) noexcept nogil:
    """The code of ``n`` code lengths. 0: complete; -1: over-subscribed, or incomplete
    (allowed only for a single code of length 1 when ``allow_single``)."""
    cdef int offs[MAX_BITS + 2]
    cdef int length, symbol, left = 1, used = 0
    memset(h.count, 0, sizeof(h.count))
    for symbol in range(n):
        h.count[lengths[symbol]] += 1
    for length in range(1, MAX_BITS + 1):
        left = (left << 1) - h.count[length]
        if left < 0:
            return -1
        used += h.count[length]
    if left != 0 and not (allow_single and used == 1 and h.count[1] == 1):
        return -1
    offs[1] = 0
    for length in range(1, MAX_BITS):
        offs[length + 1] = offs[length] + h.count[length]
    for symbol in range(n):
        if lengths[symbol]:
            h.symbol[offs[lengths[symbol]]] = symbol
            offs[lengths[symbol]] += 1
    return 0


cdef inline int canonical_symbol(const Canonical* h, uint64_t bits, int* taken) noexcept nogil:
    """The symbol whose code begins ``bits`` (first bit least significant), read a bit at a
    time (puff's decoding), its code's length in ``taken``; -1 for a code ``h`` lacks."""
    cdef int code = 0, first = 0, index = 0, length, count
    for length in range(1, MAX_BITS + 1):
        code |= <int>(bits & 1)
        bits >>= 1
        count = h.count[length]
        if code - count < first:
            taken[0] = length
            return h.symbol[index + (code - first)]
        index += count
        first = (first + count) << 1
        code <<= 1
    return -1


cdef int read_code_lengths(Bits* b, uint8_t* lengths, int* nlen, int* ndist) noexcept nogil:
    """A dynamic block's code lengths (its three header bits already taken), RFC 1951
    3.2.7: ``nlen`` literal/length ones then ``ndist`` distance ones into ``lengths`` (320
    at least). 0, or -1 where zlib refuses the header before building those two codes (too
    many codes, a code-length code not complete, a repeat with nothing before it or past
    the last length, no end-of-block code) or the stream ends before a code-length symbol
    does. 0 with ``b.overrun`` set: only the last repeat's count ran past the end (a
    caller that takes that for a refusal checks it). Whether the two codes are complete is
    left to the caller, which builds them its way. ``b.pos`` is left where the tail
    decoder's reader of old left it, whatever the outcome (its search budget counts it).

    The code-length code, complete, becomes a 128-entry table (7 bits at most) read from a
    register refilled every few symbols: the one header reader of the sniffer and the tail
    decoder (a full decoding table per header cost the tail more than its few symbols)."""
    cdef Canonical lencode
    cdef uint16_t table[128]  # the code-length code: symbol << 3 | length
    cdef uint32_t next_code[8]
    cdef int total, index, symbol, repeat, previous, length, code, fill, i
    cdef uint16_t entry
    cdef uint64_t buffered, limit = 8 * b.size
    cdef int held
    nlen[0] = take(b, 5) + 257
    ndist[0] = take(b, 5) + 1
    index = take(b, 4) + 4  # how many code-length code lengths follow
    if nlen[0] > 286 or ndist[0] > 30:
        return -1
    memset(lengths, 0, 19)
    for i in range(index):
        lengths[ORDER[i]] = take(b, 3)
    if canonical(&lencode, lengths, 19, False) < 0:  # (an overrun: found at the first symbol)
        return -1
    # complete: every 7-bit pattern starts with exactly one code
    code = 0
    next_code[1] = 0
    for length in range(2, 8):
        code = (code + lencode.count[length - 1]) << 1
        next_code[length] = code
    for symbol in range(19):
        length = lengths[symbol]
        if not length:
            continue
        code = next_code[length]
        next_code[length] += 1
        fill = 0
        for i in range(length):  # deflate sends a code's bits last first
            fill = (fill << 1) | ((code >> i) & 1)
        while fill < 128:
            table[fill] = <uint16_t>((symbol << 3) | length)
            fill += 1 << length
    total = nlen[0] + ndist[0]
    index = 0
    buffered = peek(b)  # bits from b.pos on, refilled when fewer than a symbol may take
    held = 56
    while index < total:
        if held < 14:  # 7 bits of code, 7 of repeat count at most
            buffered = peek(b)
            held = 56
        entry = table[buffered & 127]
        length = entry & 7
        buffered >>= length
        held -= length
        b.pos += length
        if b.pos > limit:  # (bits past the end read as zeros)
            b.overrun = True
            return -1
        symbol = entry >> 3
        if symbol < 16:
            lengths[index] = symbol
            index += 1
            continue
        if symbol == 16:
            if index == 0:
                return -1
            previous = lengths[index - 1]
            length = 2
            repeat = 3
        elif symbol == 17:
            previous = 0
            length = 3
            repeat = 3
        else:
            previous = 0
            length = 7
            repeat = 11
        repeat += <int>(buffered & ((1 << length) - 1))
        buffered >>= length
        held -= length
        b.pos += length
        if index + repeat > total:
            return -1
        while repeat:
            lengths[index] = previous
            index += 1
            repeat -= 1
    if b.pos > limit:
        b.overrun = True
    return 0 if lengths[256] != 0 else -1
