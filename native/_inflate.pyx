# cython: language_level=3
"""Member inflation with libdeflate, into the caller's buffer, the GIL released.

A zip member's raw deflate stream is inflated in one call straight into a buffer the caller
owns (wheelscan reuses one mapping per thread): no Python object per chunk, no copy. Whole
(``inflate_into``): the stream must inflate to exactly the size the central directory gives,
and its CRC-32 is computed over the output. A prefix (``inflate_prefix``): libdeflate stops
when the buffer is full, and nothing past it is decoded or checked.

libdeflate is the one the ``deflate`` package installs from the package index (its extension
links it in, public symbols and all): its functions are looked up in that extension when this
module is imported, through the C ABI libdeflate.h declares, stable since libdeflate 1.0. So
nothing is compiled against a system library, and the inflater is a recent libdeflate: 1.22
or newer, against Debian 12's 1.14, whose decompressor made a batch audit 5-12% slower. Where
the symbols cannot be found, importing this module fails and wheelscan inflates with ISA-L
(``wheel/inflate.py``); a test requires this module wherever ``deflate`` is installed.
"""

from libc.stdint cimport uint32_t

cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    char* dlerror()
    int RTLD_NOW
    int RTLD_LOCAL
    int RTLD_NOLOAD

# enum libdeflate_result
cdef enum:
    LIBDEFLATE_SUCCESS = 0
    LIBDEFLATE_BAD_DATA = 1
    LIBDEFLATE_SHORT_OUTPUT = 2
    LIBDEFLATE_INSUFFICIENT_SPACE = 3

ctypedef void* (*alloc_decompressor_t)() noexcept nogil
ctypedef void (*free_decompressor_t)(void* d) noexcept nogil
ctypedef int (*deflate_decompress_ex_t)(
    void* d, const void* in_, size_t in_nbytes, void* out, size_t out_nbytes_avail,
    size_t* actual_in_nbytes_ret, size_t* actual_out_nbytes_ret) noexcept nogil
ctypedef uint32_t (*crc32_t)(uint32_t crc, const void* buffer, size_t len) noexcept nogil

cdef alloc_decompressor_t libdeflate_alloc_decompressor = NULL
cdef free_decompressor_t libdeflate_free_decompressor = NULL
cdef deflate_decompress_ex_t libdeflate_deflate_decompress_ex = NULL
cdef crc32_t libdeflate_crc32 = NULL


cdef void* _symbol(void* handle, const char* name, str provider) except NULL:
    cdef void* found = dlsym(handle, name)
    if found == NULL:
        raise ImportError(f"{provider} does not export {name.decode()}")
    return found


def _bind():
    """Find libdeflate's functions in the ``deflate`` package's extension, loaded by Python
    (RTLD_NOLOAD: the same mapping, nothing loaded twice)."""
    global libdeflate_alloc_decompressor, libdeflate_free_decompressor
    global libdeflate_deflate_decompress_ex, libdeflate_crc32
    cdef void* handle
    cdef const char* why
    import deflate
    from deflate import _deflate

    provider = f"deflate {getattr(deflate, '__version__', '(unknown version)')}"
    handle = dlopen(_deflate.__file__.encode(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)
    if handle == NULL:
        why = dlerror()
        reason = why.decode("utf-8", "replace") if why != NULL else "not loaded"
        raise ImportError(f"{provider}: {reason}")
    libdeflate_alloc_decompressor = <alloc_decompressor_t>_symbol(
        handle, b"libdeflate_alloc_decompressor", provider)
    libdeflate_free_decompressor = <free_decompressor_t>_symbol(
        handle, b"libdeflate_free_decompressor", provider)
    libdeflate_deflate_decompress_ex = <deflate_decompress_ex_t>_symbol(
        handle, b"libdeflate_deflate_decompress_ex", provider)
    libdeflate_crc32 = <crc32_t>_symbol(handle, b"libdeflate_crc32", provider)
    return provider


# where the functions come from ("deflate 0.9.0"), for the benchmark's report
LIBDEFLATE_VERSION = _bind()


# a stream that is not valid deflate, or inflates to another size than declared: the one
# class wheel/inflate_isal.py raises too
from wheelscan.errors import InflateError


cdef int _inflate(
    const unsigned char[::1] payload, unsigned char[::1] out, size_t* produced
) except -1:
    """One libdeflate call over all of ``payload`` into all of ``out``, without the GIL."""
    cdef void* d = libdeflate_alloc_decompressor()
    cdef int result
    cdef size_t used = 0
    cdef const unsigned char* src = &payload[0] if payload.shape[0] else NULL
    cdef unsigned char* dst = &out[0] if out.shape[0] else NULL
    cdef size_t n_in = payload.shape[0], n_out = out.shape[0]
    if d == NULL:
        raise MemoryError()
    with nogil:
        result = libdeflate_deflate_decompress_ex(d, src, n_in, dst, n_out, &used, produced)
    libdeflate_free_decompressor(d)
    return result


def inflate_into(const unsigned char[::1] payload, unsigned char[::1] out, bint crc32=True):
    """Inflate the raw deflate ``payload`` into all of ``out``; return the output's CRC-32
    (0 with ``crc32=False``: the benchmark's floor inflates and nothing else).

    ``out`` must be exactly the size the stream inflates to: a stream that gives fewer bytes
    or would give more raises ``InflateError('size-mismatch')``, one that is not valid
    deflate ``InflateError('bad-deflate')``.
    """
    cdef size_t produced = 0, n_out = out.shape[0]
    cdef uint32_t crc = 0
    cdef int result = _inflate(payload, out, &produced)
    if crc32 and result == LIBDEFLATE_SUCCESS and produced == n_out and n_out:
        with nogil:
            crc = libdeflate_crc32(0, &out[0], n_out)
    if result == LIBDEFLATE_BAD_DATA:
        raise InflateError("bad-deflate", "not a valid deflate stream")
    if result == LIBDEFLATE_INSUFFICIENT_SPACE:
        raise InflateError("size-mismatch", f"does not end within the {n_out} bytes the directory gives")
    if produced != n_out:
        raise InflateError("size-mismatch", f"inflates to {produced} bytes, directory says {n_out}")
    return crc


# When the output buffer fills up, libdeflate stops before the literal, match (<= 258 bytes)
# or stored block (<= 65535 bytes) that does not fit: every byte before that is final.
PREFIX_SLACK = 65535


def inflate_prefix(const unsigned char[::1] payload, unsigned char[::1] out):
    """Inflate the first bytes of the raw deflate ``payload`` into ``out``, which must be
    shorter than what the stream inflates to; return how many leading bytes of ``out`` are
    final: all but the last ``PREFIX_SLACK`` at least. Nothing past them is decoded, so an
    error further on in the stream goes unseen, and no CRC-32 can be checked.

    Raises ``InflateError('bad-deflate')`` for a stream that is not valid deflate within
    those bytes, ``InflateError('size-mismatch')`` for one that ends within ``out``.
    """
    cdef size_t produced = 0, n_out = out.shape[0]
    cdef int result = _inflate(payload, out, &produced)
    if result == LIBDEFLATE_BAD_DATA:
        raise InflateError("bad-deflate", "not a valid deflate stream")
    if result != LIBDEFLATE_INSUFFICIENT_SPACE:
        raise InflateError("size-mismatch", f"inflates to {produced} bytes, fewer than the directory says")
    return n_out - PREFIX_SLACK if n_out > PREFIX_SLACK else 0


def crc32(const unsigned char[::1] data, uint32_t value=0):
    cdef uint32_t crc
    with nogil:
        crc = libdeflate_crc32(value, &data[0] if data.shape[0] else NULL, data.shape[0])
    return crc
