"""``wheelscan._inflate``'s interface over ISA-L, where libdeflate cannot be bound.

``wheelscan._inflate`` finds libdeflate in the ``deflate`` package when imported; where it
cannot, these give the same results and the same errors, a little slower: ISA-L inflates into a
bytes object, which is then copied into the caller's buffer. tests/test_inflate.py checks
both against zlib.
"""

from __future__ import annotations

from typing import Any, cast

from isal import isal_zlib

from wheelscan.errors import InflateError

_ISAL_ERROR = cast("type[Exception]", isal_zlib.error)

LIBDEFLATE_VERSION: str | None = None
# the extension's: a prefix is final but for this many bytes (here all of it is, but callers
# size their buffers by it, and must see the same counts either way)
PREFIX_SLACK = 65535


def _inflate(payload: Any, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the stream, and whether it ended within them."""
    inflater = isal_zlib.decompressobj(-15)
    try:
        data = inflater.decompress(payload, limit)
    except _ISAL_ERROR as e:
        raise InflateError("bad-deflate", "not a valid deflate stream") from e
    return data, inflater.eof


def _fill(out: Any, data: bytes) -> None:
    view = memoryview(out).cast("B")
    view[:] = memoryview(data)[: len(view)]


def inflate_into(payload: Any, out: Any, crc32: bool = True) -> int:
    """As ``wheelscan._inflate.inflate_into``: all of ``out``, exactly; its CRC-32."""
    size = len(memoryview(out).cast("B"))
    data, ended = _inflate(payload, size + 1)  # one byte more shows a stream that runs long
    if len(data) > size:
        raise InflateError(
            "size-mismatch", f"does not end within the {size} bytes the directory gives"
        )
    if not ended:
        raise InflateError("bad-deflate", "the deflate stream is cut short")
    if len(data) < size:
        raise InflateError("size-mismatch", f"inflates to {len(data)} bytes, directory says {size}")
    _fill(out, data)
    return int(isal_zlib.crc32(data)) if crc32 else 0


def inflate_prefix(payload: Any, out: Any) -> int:
    """As ``wheelscan._inflate.inflate_prefix``: the first bytes, into all of ``out``."""
    size = len(memoryview(out).cast("B"))
    data, ended = _inflate(payload, size + 1)
    if len(data) <= size:
        if ended:
            raise InflateError(
                "size-mismatch", f"inflates to {len(data)} bytes, fewer than the directory says"
            )
        raise InflateError("bad-deflate", "the deflate stream is cut short")
    _fill(out, data)
    return size - PREFIX_SLACK if size > PREFIX_SLACK else 0


def crc32(data: Any, value: int = 0) -> int:
    return int(isal_zlib.crc32(data, value))
