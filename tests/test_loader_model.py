"""The native core against a small model of glibc's loader (issue #14), over files hypothesis
builds and mutates: whenever the core reads a file without error, what it reports as needed
(DT_NEEDED, the version needs) is what the loader would map and check.

The model maps the file as ``_dl_map_segments`` does (elf/dl-map-segments.h: each PT_LOAD's
pages in table order, the tail of the last file page zeroed and anonymous pages up to
p_memsz, holes unreadable), takes the last non-empty PT_DYNAMIC's p_vaddr (elf/dl-load.c),
reads tags up to DT_NULL (elf/get-dynamic-info.h: the last of each wins, DT_NEEDED all) and
walks the version chains by their links (elf/dl-version.c). It refuses what glibc refuses
(p_align not a multiple of the page, p_vaddr - p_offset not aligned, no PT_LOAD) and what
would crash it (a read of an unmapped byte): there any verdict is sound.
"""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from test_properties import SETTINGS, loader_mutated, mutated, specs
from wheelscan._native import parse_elf as native
from wheelscan.elf import ElfError, ElfFacts

from elfwriter import PT_DYNAMIC, PT_LOAD, build_image, sample_spec

PAGE = 4096  # the test machine's
DT_NULL, DT_NEEDED, DT_STRTAB, DT_VERNEED = 0, 1, 5, 0x6FFFFFFE
MAX_STEPS = 1 << 14


class Refused(Exception):
    """The loader would not load the file (or would crash reading it)."""


class Memory:
    def __init__(self, data: bytes) -> None:
        if (
            data[:4] != b"\x7fELF"
            or len(data) < 64
            or data[4] not in (1, 2)
            or data[5] not in (1, 2)
        ):
            raise Refused("header")
        self.is64, self.end = data[4] == 2, "<" if data[5] == 1 else ">"
        self.pages: dict[int, bytearray] = {}
        self.data = data
        self.phdrs = self.program_headers()

    def program_headers(self) -> list[tuple[int, ...]]:
        if self.is64:
            phoff, phentsize, phnum = self.unpack("Q", 32)[0], *self.unpack("HH", 54)
            fmt, order = "IIQQQQQQ", (0, 2, 3, 5, 6, 7)
        else:
            phoff, phentsize, phnum = self.unpack("I", 28)[0], *self.unpack("HH", 42)
            fmt, order = "8I", (0, 1, 2, 4, 5, 7)
        if phnum and (
            phentsize < struct.calcsize(fmt) or phoff + phnum * phentsize > len(self.data)
        ):
            raise Refused("program headers")
        out = []
        for i in range(phnum):
            raw = self.unpack(fmt, phoff + i * phentsize)
            out.append(tuple(raw[k] for k in order))  # type, offset, vaddr, filesz, memsz, align
        return out

    def unpack(self, fmt: str, at: int) -> tuple[int, ...]:
        return struct.unpack_from(self.end + fmt, self.data, at)

    def map(self) -> None:
        loads = [p for p in self.phdrs if p[0] == PT_LOAD]
        if not loads:
            raise Refused("no PT_LOAD")
        for _, offset, vaddr, filesz, memsz, align in loads:
            if align & (PAGE - 1) or (align and (vaddr - offset) & (align - 1)):
                raise Refused("alignment")
            start, stop = vaddr // PAGE * PAGE, -(-(vaddr + filesz) // PAGE) * PAGE
            if stop - start > 1 << 26:
                raise Refused("too big for the model")
            file_at = offset // PAGE * PAGE
            for page in range(start, stop, PAGE):
                chunk = self.data[file_at + page - start : file_at + page - start + PAGE]
                # past the end of the file the page's bytes are zeros, beyond it a SIGBUS
                self.pages[page] = bytearray(chunk.ljust(PAGE, b"\0"))
            zero, zero_end = vaddr + filesz, vaddr + memsz
            if zero_end > zero:
                for address in range(zero, min(-(-zero // PAGE) * PAGE, zero_end)):
                    self.pages[address // PAGE * PAGE][address % PAGE] = 0
                first_anon = -(-zero // PAGE) * PAGE
                if -(-zero_end // PAGE) * PAGE - first_anon > 1 << 26:
                    raise Refused("too big for the model")
                for page in range(first_anon, -(-zero_end // PAGE) * PAGE, PAGE):
                    self.pages[page] = bytearray(PAGE)

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        for a in range(address, address + size):
            page = self.pages.get(a // PAGE * PAGE)
            if page is None:
                raise Refused(f"unmapped {a:#x}")
            out.append(page[a % PAGE])
        return bytes(out)

    def word(self, fmt: str, address: int) -> int:
        return int(struct.unpack(self.end + fmt, self.read(address, struct.calcsize(fmt)))[0])

    def string(self, address: int) -> str:
        out = bytearray()
        while (byte := self.read(address + len(out), 1)) != b"\0":
            out += byte
            if len(out) > MAX_STEPS:
                raise Refused("runaway string")
        return out.decode("utf-8", "backslashreplace")


def loader_view(data: bytes) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """(DT_NEEDED, ((file, versions), ...)) as glibc's loader reads them."""
    memory = Memory(data)
    memory.map()
    dynamics = [p for p in memory.phdrs if p[0] == PT_DYNAMIC and p[3]]
    if not dynamics:
        raise Refused("no dynamic section")
    address, size = dynamics[-1][2], 16 if memory.is64 else 8
    tags: dict[int, int] = {}
    needed: list[int] = []
    for step in range(MAX_STEPS):
        tag = memory.word("q" if memory.is64 else "i", address + step * size)
        value = memory.word("Q" if memory.is64 else "I", address + step * size + size // 2)
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            needed.append(value)
        tags[tag] = value
    else:
        raise Refused("no DT_NULL")
    if DT_STRTAB not in tags:
        raise Refused("no string table")
    strtab = tags[DT_STRTAB]
    names = tuple(memory.string(strtab + n) for n in needed)
    needs = []
    if DT_VERNEED in tags:
        entry, steps = tags[DT_VERNEED], 0
        while True:
            file, aux_off, nxt = (memory.word("I", entry + o) for o in (4, 8, 12))
            versions, aux = [], entry + aux_off
            while True:
                steps += 1
                if steps > MAX_STEPS:
                    raise Refused("looping chain")
                versions.append(memory.string(strtab + memory.word("I", aux + 8)))
                aux_next = memory.word("I", aux + 12)
                if aux_next == 0:
                    break
                aux += aux_next
            needs.append((memory.string(strtab + file), tuple(versions)))
            if nxt == 0:
                break
            entry += nxt
    return names, tuple(needs)


def assert_core_reads_as_the_loader(data: bytes) -> None:
    try:
        facts: ElfFacts = native(data)
    except ElfError:
        return  # no verdict from a file the core refuses: never a milder one
    try:
        needed, needs = loader_view(data)
    except Refused:
        return
    assert facts.needed == needed
    assert tuple((n.file, n.versions) for n in facts.version_needs) == needs


@SETTINGS
@given(st.one_of(loader_mutated(), mutated(), specs().map(lambda s: bytes(build_image(s).data))))
def test_what_the_core_reads_is_what_the_loader_loads(data: bytes) -> None:
    assert_core_reads_as_the_loader(data)


def test_the_model_reads_a_built_file() -> None:
    """The model itself: it reads the needs of a plain file the writer built."""
    spec = sample_spec("x86_64")
    needed, needs = loader_view(bytes(build_image(spec).data))
    assert needed == tuple(spec.needed)
    assert {f for f, _ in needs} == {"libc.so.6", "libstdc++.so.6", "libgcc_s.so.1"}
