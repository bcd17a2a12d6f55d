"""Hostile ELF files beyond ``elfwriter.CORRUPTIONS``: inputs built to cost time or memory.

Each is a real dynamic object from ``elfwriter`` with tables appended past its end (the one
PT_LOAD is stretched over them) and dynamic tags pointed at them, so every other field stays
sound and the parser reaches the part under attack.
"""

from __future__ import annotations

import random
import struct

from wheelscan.wheel import stream

from elfwriter import (
    BASE_VADDR,
    DT_GNU_HASH,
    DT_HASH,
    DT_STRSZ,
    DT_STRTAB,
    DT_SYMTAB,
    DT_VERSYM,
    PT_LOAD,
    ElfImage,
    build_image,
    sample_spec,
)

UNKNOWN_TAG = 0x12345  # a d_tag no reader knows: the entry is skipped


def _image(**overrides: object) -> ElfImage:
    return build_image(sample_spec("x86_64", interpreter=None, **overrides))


def _retag(im: ElfImage, tag: int, new_tag: int) -> int:
    """Give the dynamic entry ``tag`` another tag; returns the entry's file offset."""
    offset = next(o for t, _, o in im.dynamic if t == tag)
    im.put(offset, "A", new_tag)
    return offset


def _append(im: ElfImage, data: bytes, align: int = 8) -> int:
    """Append ``data`` (aligned), stretch the PT_LOAD over it; returns its file offset."""
    im.data += bytes(-len(im.data) % align)
    offset = len(im.data)
    im.data += data
    im.set_phdr(PT_LOAD, "p_filesz", len(im.data))
    im.set_phdr(PT_LOAD, "p_memsz", len(im.data))
    return offset


def strsz_without_strtab() -> bytes:
    """DT_STRSZ but no DT_STRTAB, and a version-needs chain whose names need strings.

    A reader that takes a missing DT_STRTAB as offset 0 reads the names from the ELF header,
    and past the end of the buffer when an offset points at its last bytes.
    """
    im = _image(needed=[], runpath=None)
    _retag(im, DT_STRTAB, UNKNOWN_TAG)
    _retag(im, DT_GNU_HASH, UNKNOWN_TAG)  # no symbols: the version chains come first
    im.set_dyn(DT_STRSZ, 0x0FFFFFFF)
    im.data[-1] = ord("A")
    im.set_field(im.s.verneed, im.verneed[0][0], "vn_file", len(im.data) - 1)
    return bytes(im.data)


def long_gnu_chain(beyond: int = 32 << 20) -> bytes:
    """A DT_GNU_HASH chain with no end bit, running ``beyond`` bytes past what a streamed
    inflation keeps (``stream.DEFAULT_KEEP``) to the end of the file (then ``bad-table``).
    The walk reads it word by word: each word past the kept bytes, already streamed past,
    costs a new pass unless passes are bounded. Random bytes keep the deflate ratio under
    the default limit (1000), as an attacker would."""
    total = stream.DEFAULT_KEEP + beyond
    im = _image()
    _append(im, random.Random(0).randbytes(total // 800))
    table = _append(im, struct.pack("<4I", 1, 1, 0, 6) + struct.pack("<I", 1))
    _append(im, bytes(total - len(im.data)), align=1)
    im.set_dyn(DT_GNU_HASH, BASE_VADDR + table)
    return bytes(im.data)


def _symbol_table(im: ElfImage, strtab: bytes, names: list[int], undefined: bool) -> None:
    """Replace .dynstr, .dynsym and the hash tables: ``names`` are the st_name of symbols
    1..n, all STB_GLOBAL STT_OBJECT; version tables are dropped."""
    _retag(im, DT_VERSYM, UNKNOWN_TAG)
    hash_entry = _retag(im, DT_GNU_HASH, DT_HASH)  # DT_HASH: its nchain is the count
    count = len(names) + 1
    shndx = 0 if undefined else 1
    symbols = bytes(24) + b"".join(
        struct.pack("<IBBHQQ", name, 0x11, 0, shndx, 0, 0) for name in names
    )
    strings = _append(im, strtab)
    table = _append(im, symbols)
    hashes = _append(im, struct.pack("<3I", 1, count, 0) + bytes(4 * count))
    im.set_dyn(DT_STRTAB, BASE_VADDR + strings)
    im.set_dyn(DT_STRSZ, len(strtab))
    im.set_dyn(DT_SYMTAB, BASE_VADDR + table)
    im.put(hash_entry + im.s.word, "A", BASE_VADDR + hashes)


def string_scan_bomb(strsz: int = 4 << 20, count: int = 1 << 18, undefined: bool = False) -> bytes:
    """``count`` symbols all named by one ``strsz``-byte string: sound, but a reader that
    looks for each name's NUL afresh scans count x strsz bytes (10**12 here), and one that
    copies each undefined symbol's name holds as many (``undefined=True``: the fuzzer made
    this from the defined variant with one byte, 12 kB of wheel for 256 GB of names)."""
    im = _image(needed=[], runpath=None, soname=None)
    _symbol_table(im, b"A" * (strsz - 1) + b"\0", [0] * (count - 1), undefined=undefined)
    return bytes(im.data)


def name_amplification(strsz: int, count: int) -> bytes:
    """``count`` undefined symbols named by distinct offsets into one ``strsz``-byte string:
    each name is a suffix of it, so the record holds about count x strsz / 2 bytes of names
    from a file of strsz + 24 x count bytes."""
    im = _image(needed=[], runpath=None, soname=None)
    names = [i % (strsz - 1) for i in range(count - 1)]
    _symbol_table(im, b"A" * (strsz - 1) + b"\0", names, undefined=True)
    return bytes(im.data)
