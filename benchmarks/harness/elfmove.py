"""Move an ELF file's dynamic segment behind a stretch of filler, keeping it findable.

wheelscan reads ELF files through program headers only, so a member whose PT_DYNAMIC lies a
gigabyte in is still read correctly if the headers say so: PT_DYNAMIC's p_offset/p_vaddr
point at the moved bytes and the PT_LOAD that held them is stretched (p_filesz, p_memsz) to
cover their new place, keeping vaddr - offset unchanged so a loader would map them where
PT_DYNAMIC says. The old bytes are zeroed: a reader that looked there (through the section
headers, say) would get different facts, and the comparison would show it. (A ``.bss`` at
the end of the stretched segment now maps file bytes instead of zeros: nothing a reader of
the headers looks at.)

Layout: ``[original file, old dynamic zeroed][filler][dynamic]``. The file is never held
whole: ``RelocatedElf`` is its head, the filler's length and its tail.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

PT_LOAD, PT_DYNAMIC = 1, 2
DYNAMIC_ALIGN = 16  # >= any p_align PT_DYNAMIC has (8 on 64-bit, 4 on 32-bit)


class RelocationError(ValueError):
    """The file's layout does not allow the move (e.g. PT_DYNAMIC not in the last PT_LOAD)."""


@dataclass(frozen=True)
class Segment:
    index: int
    type: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: int
    align: int


@dataclass(frozen=True)
class _Headers:
    is64: bool
    endian: str  # struct's "<" or ">"
    phoff: int
    phentsize: int
    segments: tuple[Segment, ...]

    @property
    def phdr(self) -> struct.Struct:
        # ELF64: p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align
        # ELF32: p_type p_offset p_vaddr p_paddr p_filesz p_memsz p_flags p_align
        return struct.Struct(self.endian + ("2I6Q" if self.is64 else "8I"))

    @property
    def address_limit(self) -> int:
        return 1 << (64 if self.is64 else 32)


def read_headers(elf: bytes) -> _Headers:
    if elf[:4] != b"\x7fELF" or elf[4] not in (1, 2) or elf[5] not in (1, 2):
        raise RelocationError("not an ELF file")
    is64, endian = elf[4] == 2, "<" if elf[5] == 1 else ">"
    if is64:
        (phoff,) = struct.unpack_from(endian + "Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "2H", elf, 0x36)
    else:
        (phoff,) = struct.unpack_from(endian + "I", elf, 0x1C)
        phentsize, phnum = struct.unpack_from(endian + "2H", elf, 0x2A)
    headers = _Headers(is64, endian, phoff, phentsize, ())
    if phoff + phnum * phentsize > len(elf) or phentsize < headers.phdr.size:
        raise RelocationError("program headers out of the file")
    segments = tuple(_unpack(headers, elf, i) for i in range(phnum))
    return replace(headers, segments=segments)


def _unpack(headers: _Headers, elf: bytes, index: int) -> Segment:
    fields = headers.phdr.unpack_from(elf, headers.phoff + index * headers.phentsize)
    if headers.is64:
        type_, flags, offset, vaddr, paddr, filesz, memsz, align = fields
    else:
        type_, offset, vaddr, paddr, filesz, memsz, flags, align = fields
    return Segment(index, type_, offset, vaddr, paddr, filesz, memsz, flags, align)


def _pack(headers: _Headers, buffer: bytearray, s: Segment) -> None:
    fields = (
        (s.type, s.flags, s.offset, s.vaddr, s.paddr, s.filesz, s.memsz, s.align)
        if headers.is64
        else (s.type, s.offset, s.vaddr, s.paddr, s.filesz, s.memsz, s.flags, s.align)
    )
    headers.phdr.pack_into(buffer, headers.phoff + s.index * headers.phentsize, *fields)


@dataclass(frozen=True)
class RelocatedElf:
    head: bytes  # the original file, headers patched, old dynamic bytes zeroed
    filler_size: int
    tail: bytes  # the dynamic segment, at ``dynamic_offset``

    @property
    def dynamic_offset(self) -> int:
        return len(self.head) + self.filler_size

    @property
    def size(self) -> int:
        return self.dynamic_offset + len(self.tail)


def _dynamic_and_load(headers: _Headers) -> tuple[Segment, Segment]:
    dynamics = [s for s in headers.segments if s.type == PT_DYNAMIC]
    loads = [s for s in headers.segments if s.type == PT_LOAD]
    if len(dynamics) != 1 or not loads:
        raise RelocationError("not one PT_DYNAMIC, or no PT_LOAD")
    dynamic = dynamics[0]
    last = max(loads, key=lambda s: s.vaddr)
    # only the highest PT_LOAD can grow without running into another segment's addresses
    end = dynamic.offset + dynamic.filesz
    if not last.offset <= dynamic.offset <= end <= last.offset + last.filesz:
        raise RelocationError("PT_DYNAMIC is not inside the last PT_LOAD")
    return dynamic, last


def relocate_dynamic(elf: bytes, size: int) -> RelocatedElf:
    """The file rebuilt as ``size`` bytes (about: rounded for alignment) with PT_DYNAMIC last."""
    headers = read_headers(elf)
    dynamic, load = _dynamic_and_load(headers)
    new_offset = (size - dynamic.filesz) // DYNAMIC_ALIGN * DYNAMIC_ALIGN
    if new_offset < len(elf):
        raise RelocationError(f"{size} bytes leave no room for filler")
    new_vaddr = load.vaddr + (new_offset - load.offset)
    new_filesz = new_offset + dynamic.filesz - load.offset
    if load.vaddr + max(new_filesz, load.memsz) >= headers.address_limit:
        raise RelocationError("the stretched PT_LOAD runs past the address space")
    head = bytearray(elf)
    tail = bytes(head[dynamic.offset : dynamic.offset + dynamic.filesz])
    head[dynamic.offset : dynamic.offset + dynamic.filesz] = bytes(dynamic.filesz)
    _pack(headers, head, replace(dynamic, offset=new_offset, vaddr=new_vaddr, paddr=new_vaddr))
    _pack(headers, head, replace(load, filesz=new_filesz, memsz=max(load.memsz, new_filesz)))
    return RelocatedElf(bytes(head), new_offset - len(elf), tail)
