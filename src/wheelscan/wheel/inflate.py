"""The inflater: ISA-L (python-isal), measured the fastest streaming one that installs.

Measured on libstdc++ x20 (44 MB out), one core, output GB/s: zlib 1.2.13 0.30, zlib-ng 0.52,
ISA-L 0.58, libdeflate 0.70 (whole buffers only: it cannot stream, so it would hold a whole
member in memory). ISA-L's CRC-32 runs at ~20 GB/s against zlib's 2.8, which makes checking
every inflated member's CRC nearly free. ``benchmarks/`` measures the floor with this same
inflater.
"""

from __future__ import annotations

from typing import Any, cast

from isal import isal_zlib

InflateError: type[Exception] = cast("type[Exception]", isal_zlib.error)


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    return int(isal_zlib.crc32(data, value))


NAME = "isal"


def raw_inflater() -> Any:
    """A streaming inflater of raw deflate data (zip members carry no zlib header)."""
    return isal_zlib.decompressobj(-15)
