"""Wheels that install one library and show an auditor another (issue #14).

Each builder makes a wheel whose installed files (what Python's ``zipfile``, hence pip,
extracts) hold :func:`needs_glibc_238`, a library needing ``GLIBC_2.38``, while a reading
that differs from ``zipfile``'s in one place sees only :func:`benign`, whose needs a
``manylinux_2_28`` tag meets. The reading each one aims at is the one wheelscan made before
it read archives as ``zipfile`` does. ``stubbed`` is the other side: a sound wheel behind a
stub, which pip installs and an auditor must read.

Spec: PKWARE APPNOTE.TXT 4.3.14-4.3.16 (end records), 4.6.9 (Unicode Path field).
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import replace

from elfwriter import Sym, build_elf, sample_spec
from hostile.zipwriter import (
    CENTRAL,
    STORED,
    ZIP64_EOCD,
    ZIP64_LOCATOR,
    Entry,
    record_for,
    wheel_entries,
    write_zip,
)

EXT = "demo/_mod.cpython-312-x86_64-linux-gnu.so"  # an extension module
IMPL = "demo/_impl.so"  # a library beside it
DIST_INFO = "demo-1.0.dist-info"
GLIBC_238 = "GLIBC_2.38"


@functools.cache
def benign() -> bytes:
    return build_elf(sample_spec("x86_64", interpreter=None))


@functools.cache
def needs_glibc_238() -> bytes:
    spec = sample_spec("x86_64", interpreter=None)
    strlcpy = Sym("strlcpy", version=GLIBC_238, version_file="libc.so.6")
    return build_elf(replace(spec, symbols=[*spec.symbols, strlcpy]))


def _end_record(data: bytes | bytearray) -> int:
    return bytes(data).rindex(b"PK\x05\x06")


def shift_directory(directory: bytes, by: int) -> bytes:
    """A central directory whose local header offsets are ``by`` bytes further on."""
    out = bytearray(directory)
    pos = 0
    while pos < len(out):
        fields = CENTRAL.unpack_from(out, pos)
        struct.pack_into("<L", out, pos + 42, fields[-1] + by)
        pos += CENTRAL.size + fields[12] + fields[13] + fields[14]
    return bytes(out)


def stubbed(
    stub: bytes = b"#!/bin/sh\necho not a shell script\nexit 1\n", zip64: bool = False
) -> bytes:
    """A sound wheel behind bytes that are not its own: pip installs it (``zipfile`` finds
    the stub as the gap between the directory's written end and the end record)."""
    return stub + bytes(write_zip(wheel_entries([Entry(EXT, needs_glibc_238(), zip64=zip64)])).data)


def shadow_directory() -> bytes:
    """A stub that is a decoy zip, whose directory sits where the real end record's written
    offset points: a reader that takes the offset as written reads the decoy; ``zipfile``
    corrects it by the stub's length and reads the real directory."""
    filler = Entry("demo/filler.bin", bytes(4096), method=STORED)
    real = write_zip(wheel_entries([Entry(EXT, needs_glibc_238()), filler]))
    decoy = write_zip(wheel_entries([Entry(EXT, benign()), filler]))
    decoy_local = bytes(decoy.data[: decoy.cd_offset])
    decoy_directory = bytes(decoy.data[decoy.cd_offset : _end_record(decoy.data)])
    assert len(decoy_local) <= real.cd_offset
    stub = decoy_local + bytes(real.cd_offset - len(decoy_local)) + decoy_directory
    return stub + bytes(real.data)


def zip64_locator_decoy() -> bytes:
    """A ZIP64 locator that points at a decoy ZIP64 end record (carried in a stored member,
    with the decoy's members and directory), not at the real one just before it, where
    ``zipfile`` reads it."""
    decoy_entries = wheel_entries([Entry(EXT, benign())])
    decoy = write_zip(decoy_entries)
    decoy_local = bytes(decoy.data[: decoy.cd_offset])
    decoy_directory = bytes(decoy.data[decoy.cd_offset : _end_record(decoy.data)])
    count = len(decoy_entries)

    def real(carrier: bytes) -> bytearray:
        entries = [
            Entry(EXT, needs_glibc_238(), zip64=True),
            Entry("demo/data.bin", carrier, method=STORED),
        ]
        return write_zip(wheel_entries(entries)).data

    length = len(decoy_local) + len(decoy_directory) + ZIP64_EOCD.size
    base = bytes(real(bytes(length))).index(bytes(length))  # where the carrier's bytes land
    record_at = base + len(decoy_local) + len(decoy_directory)
    record = ZIP64_EOCD.pack(
        b"PK\x06\x06",
        ZIP64_EOCD.size - 12,
        45,
        45,
        0,
        0,
        count,
        count,
        len(decoy_directory),
        base + len(decoy_local),
    )
    data = real(decoy_local + shift_directory(decoy_directory, base) + record)
    locator = _end_record(data) - ZIP64_LOCATOR.size
    struct.pack_into("<Q", data, locator + 8, record_at)
    return bytes(data)


def hidden_by_count() -> bytes:
    """The end record counts one entry fewer than the directory holds: a reader that goes
    by the count misses the last; ``zipfile`` walks the directory by its size."""
    entries = [*wheel_entries([Entry(EXT, benign())]), Entry(IMPL, needs_glibc_238())]
    return bytes(write_zip(entries, count=len(entries) - 1).data)


def record_row_hidden(separator: str = "\x0c") -> bytes:
    """RECORD lists the library behind a line end of ``str.splitlines`` (pip's) that is not
    ``\\n``: a reader splitting at ``\\n`` only takes it for the end of the row before."""
    files = {EXT: benign(), IMPL: needs_glibc_238()}
    rows = record_for(files, DIST_INFO).decode().split("\n")
    text = rows[0] + separator + "\n".join(rows[1:])
    entries = [Entry(path, content) for path, content in files.items()]
    return bytes(write_zip([*entries, Entry(f"{DIST_INFO}/RECORD", text.encode())]).data)


def unlisted() -> bytes:
    """A library RECORD does not list: pip installs it all the same."""
    entries = [*wheel_entries([Entry(EXT, benign())]), Entry(IMPL, needs_glibc_238())]
    return bytes(write_zip(entries).data)


def unicode_path_rename() -> bytes:
    """A ``.py`` member (never an ELF file to auditwheel) whose Info-ZIP Unicode Path field
    names it ``_impl.so``: recent ``zipfile`` releases install it under that name."""
    name = "demo/_impl.py"
    renamed = IMPL.encode()
    field = struct.pack("<2HBL", 0x7075, 5 + len(renamed), 1, zlib.crc32(name.encode()))
    return bytes(
        write_zip(
            wheel_entries(
                [Entry(EXT, benign()), Entry(name, needs_glibc_238(), extra=field + renamed)]
            )
        ).data
    )


def duplicate_name() -> bytes:
    """Two entries of one name: ``zipfile`` extracts both, the last one stays."""
    entries = [Entry(EXT, benign()), Entry(EXT, needs_glibc_238())]
    return bytes(write_zip(wheel_entries(entries)).data)


def local_name_differs() -> bytes:
    """The directory names a text file, its local header the library (a reader walking local
    headers, as a streaming installer does, installs ``_impl.so``)."""
    entry = Entry("demo/notes.txt", needs_glibc_238(), local_name=IMPL.encode())
    return bytes(write_zip(wheel_entries([Entry(EXT, benign()), entry])).data)


# every wheel above that installs needs_glibc_238(): it must be judged by it, or refused
EVASIONS = {
    "shadow-directory": shadow_directory,
    "zip64-locator-decoy": zip64_locator_decoy,
    "hidden-by-count": hidden_by_count,
    "record-row-hidden": record_row_hidden,
    "unlisted-library": unlisted,
    "unicode-path-rename": unicode_path_rename,
    "duplicate-name": duplicate_name,
    "local-name-differs": local_name_differs,
}
