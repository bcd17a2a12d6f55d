"""The inflaters: libdeflate for members up to 64 MiB, ISA-L (python-isal) for streams.

Measured on the benchmark corpus (348 ELF members, 650 MB out), one core, output GB/s:
python-isal streaming in 4 MiB chunks 0.58-0.68, python-isal one-shot 0.51, libdeflate one
call into a reused buffer, CRC-32 included, 0.81. Earlier, on libstdc++ x20: zlib 1.2.13
0.30, zlib-ng 0.52. On the 765 ELF members of today's corpus (1426 MB out, no CRC, best of
three): libdeflate 1.14 (Debian 12's) 0.89-0.91 GB/s, the ``deflate`` package's 0.94 GB/s
into the same reused buffer (0.91 through its own API, which allocates every output), ISA-L
one-shot 0.64; a batch audit alternating the two libdeflates was 5-12% faster with the
package's. So ``wheelscan._inflate`` calls the ``deflate`` package's libdeflate (GIL
released, no copy); where it cannot, ``inflate_isal`` gives the same interface.
libdeflate cannot stream, but it can stop: a member that fits the per-thread scratch mapping
(``WHOLE_MEMBER_LIMIT``: all real libraries but a handful) is inflated whole
(``inflate_into``) or up to its tables (``inflate_prefix``) in one call; a larger one is
streamed with ISA-L, keeping only what the parser asks for (wheel/stream.py), so memory stays
flat for a member of any size. ``benchmarks/`` measures the floor with this same split.
A member's first bytes (``head_inflater``) come from zlib.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from wheelscan.errors import InflateError  # what both raise
from wheelscan.wheel.scratch import RETAINED

# Why libdeflate could not be bound, if it could not: the commands that inflate say so on
# stderr (cli/main.py), since the fallback is correct but slower, and a silent slowdown is
# what a new ``deflate`` release that stops exporting libdeflate's symbols would cause
LIBDEFLATE_UNBOUND: str | None = None
try:  # libdeflate, bound in the deflate package's extension (native/_inflate.pyx)
    from wheelscan._inflate import LIBDEFLATE_VERSION, PREFIX_SLACK, inflate_into, inflate_prefix
except ImportError as unbound:  # the same, over ISA-L
    LIBDEFLATE_UNBOUND = str(unbound) or type(unbound).__name__
    from wheelscan.wheel.inflate_isal import (  # type: ignore[assignment]
        LIBDEFLATE_VERSION,
        PREFIX_SLACK,
        inflate_into,
        inflate_prefix,
    )

# ISA-L is imported where a stream or a CRC-32 of a stored member needs it: a wheel read
# without either (most: libdeflate inflates and checks the rest) spares its 1 ms of imports,
# before the first wheel's reading begins in ``show`` (issue #15)
if TYPE_CHECKING:
    # what a ``raw_inflater()`` raises (ISA-L's error, a stream's), not an InflateError
    RawInflaterError: type[Exception]
else:  # hidden from mypy: a module __getattr__ would make every name of this module Any

    def __getattr__(name: str) -> Any:
        """RawInflaterError, ISA-L's error, taken from it when first asked for."""
        if name == "RawInflaterError":
            from isal import isal_zlib

            return isal_zlib.error
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Members up to this size are inflated whole into the scratch mapping; larger ones streamed
WHOLE_MEMBER_LIMIT = RETAINED

__all__ = [
    "LIBDEFLATE_UNBOUND",
    "LIBDEFLATE_VERSION",
    "PREFIX_SLACK",
    "WHOLE_MEMBER_LIMIT",
    "InflateError",
    "RawInflaterError",
    "crc32",
    "head_inflater",
    "inflate_into",
    "inflate_prefix",
    "raw_inflater",
]


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    from isal import isal_zlib

    return int(isal_zlib.crc32(data, value))


def head_inflater() -> Any:
    """A raw deflate inflater for a member's first bytes (``WheelArchive.head``): zlib, whose
    set-up, all the work for a few bytes, costs half ISA-L's (2.6 against 4.8 us a member;
    every member but *.py is sniffed for the ELF magic, 15k of them on the benchmark corpus).
    Raises ``zlib.error``."""
    return zlib.decompressobj(-15)


def raw_inflater() -> Any:
    """A streaming inflater of raw deflate data (zip members carry no zlib header)."""
    from isal import isal_zlib

    return isal_zlib.decompressobj(-15)
