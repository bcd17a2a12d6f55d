"""The reference ELF reader: :class:`ElfFacts` from a buffer, in pure Python over pyelftools.

The slow, easily checked twin of the Cython core in ``native/``. It follows the reading rules of
:mod:`wheelscan.elf.facts` (the tests hold both backends to equal records) and reads as the
dynamic loader does: program headers and dynamic tags, never section headers.

Specs: gABI https://www.sco.com/developers/gabi/latest/contents.html; symbol versioning
https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/symversion.html;
DT_GNU_HASH https://sourceware.org/legacy-ml/binutils/2006-10/msg00377.html; x86 ISA level
(GNU property notes) https://gitlab.com/x86-psABIs/x86-64-ABI.

pyelftools gives the header and the structs (``elf.structs``); its helpers break rules, so they
are not used: ``ELFFile.iter_segments`` reads section header 0 for PN_XNUM and builds a
``DynamicSegment`` that scans section headers for its string table; ``iter_tags`` reads past
p_filesz and strings past DT_STRSZ; ``num_symbols`` guesses when there is no hash table, and its
DT_HASH reader assumes 4-byte words (64-bit s390x has 8).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from elftools.common.exceptions import ELFError
from elftools.common.utils import struct_parse
from elftools.construct import Array, Construct, ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE, ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE

from wheelscan.elf.facts import (
    PYTHON_INIT_PREFIXES,
    PYTHON_SYMBOL_PREFIXES,
    DefinedSymbol,
    ElfClass,
    ElfError,
    ElfFacts,
    Endianness,
    Machine,
    SymbolBinding,
    SymbolType,
    UndefinedSymbol,
    VersionNeed,
)
from wheelscan.elf.types import Buffer

EHDR_SIZE = {1: 52, 2: 64}  # by EI_CLASS
DYN_SIZE = {1: 8, 2: 16}  # Elf_Dyn, by EI_CLASS
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_GNU_STACK = 1, 2, 3, 4, 0x6474E551
EM_386, EM_S390, EM_X86_64 = 3, 22, 62
NT_GNU_PROPERTY_TYPE_0, GNU_PROPERTY_X86_ISA_1_NEEDED = 5, 0xC0008002
# the properties glibc's x86 loader reads: GNU_PROPERTY_1_NEEDED, X86_FEATURE_1_AND, ISA_1_NEEDED
_GLIBC_PROPERTIES = (0xB0008000, 0xC0000002, GNU_PROPERTY_X86_ISA_1_NEEDED)
MAX_SYMBOLS = 1 << 24
# undefined symbols per file (each a record of ~140 bytes), as native/_native.pyx bounds them
MAX_UNDEFINED = 1 << 18
SMALLEST_PAGE = 4096  # of any Linux architecture
VER_FLG_BASE = 1


def parse_elf(buffer: Buffer) -> ElfFacts:
    """Read the facts of the ELF file in ``buffer``; raise :class:`ElfError` and nothing else."""
    data = bytes(buffer)
    # Magic first: a buffer too short to hold it has no magic, so it is not-elf.
    if data[:4] != b"\x7fELF":
        raise ElfError("not-elf", "no \\x7fELF magic")
    if len(data) < 16:
        raise ElfError("truncated", f"{len(data)} bytes: e_ident is cut off")
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ElfError("bad-header", f"EI_CLASS {data[4]}, EI_DATA {data[5]}")
    if len(data) < EHDR_SIZE[data[4]]:
        raise ElfError("truncated", f"{len(data)} bytes: the ELF header is cut off")
    return _Reader(data).facts()


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & -alignment


def _numbers(struct: Any, field: str) -> dict[str, int]:
    """pyelftools decodes enum fields to names; the rules speak of numbers, so map back."""
    adapter = next(sub for sub in struct.subcons if sub.name == field)
    return {name: value for name, value in adapter.encoding.items() if isinstance(value, int)}


def _number(value: Any, numbers: Mapping[str, int]) -> int:
    return numbers[value] if isinstance(value, str) else int(value)


# The bytes of names a record may hold, per byte of the file (facts.py, reading rules)
NAME_BYTES_FACTOR, NAME_BYTES_FLOOR = 16, 1 << 20
_INIT_PREFIXES = tuple(p.encode() for p in PYTHON_INIT_PREFIXES)
_PYTHON_PREFIXES = tuple(p.encode() for p in PYTHON_SYMBOL_PREFIXES)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)
        try:
            self.elf = ELFFile(io.BytesIO(data))
        except (ELFError, ConstructError) as e:  # the checks in parse_elf leave nothing to fail
            raise ElfError("bad-header", str(e)) from e
        self.s = self.elf.structs
        self.is64 = self.elf.elfclass == 64
        self.machine = _number(self.elf["e_machine"], ENUM_E_MACHINE)
        self.strtab: bytes | None = None

    # Every read is bounded by one of these.
    def require(self, offset: int, size: int, code: str, what: str) -> None:
        """[offset, offset + size) must lie inside the buffer (an empty range at its end does)."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfError(code, f"{what} [{offset:#x}, +{size:#x}) leaves the buffer")

    def parse(self, struct: Construct, offset: int, code: str, what: str) -> Any:
        self.require(offset, struct.sizeof(), code, what)
        try:
            return struct_parse(struct, self.elf.stream, offset)
        except (ELFError, ConstructError) as e:
            raise ElfError(code, f"{what} at {offset:#x}: {e}") from e

    def words(self, offset: int, count: int, word: Any, what: str, code: str) -> list[int]:
        return list(self.parse(Array(count, word("w")), offset, code, what))

    def string(self, offset: int, what: str) -> str:
        return self.strtab_bytes()[offset : self.string_end(offset, what)].decode(
            "utf-8", "backslashreplace"
        )

    def string_end(self, offset: int, what: str) -> int:
        """Where the string at ``offset`` ends (its NUL), checked to lie in the table."""
        # Not pyelftools' parse_cstring_from_stream: it runs past DT_STRSZ to the next NUL.
        strtab = self.strtab_bytes(what)
        end = strtab.find(b"\0", offset) if offset < len(strtab) else -1
        if end < 0:
            raise ElfError("bad-table", f"{what}: no string at {offset:#x} within DT_STRSZ")
        return end

    def strtab_bytes(self, what: str = "a name") -> bytes:
        if self.strtab is None:
            raise ElfError("bad-table", f"{what} needs a string but there is no DT_STRTAB")
        return self.strtab

    def facts(self) -> ElfFacts:
        phdrs = self.program_headers()
        interp = stack = None
        dynamics = []
        for ph in phdrs:
            # PT_GNU_STACK is left unchecked: only its p_flags are read, as by the loader.
            if ph.p_type == PT_INTERP and interp is None:
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", "PT_INTERP")
                interp = ph
            elif ph.p_type == PT_DYNAMIC:
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", "PT_DYNAMIC")
                dynamics.append(ph)
            elif ph.p_type == PT_GNU_STACK:
                stack = ph  # the last one, as glibc's dl-load.c keeps
            elif ph.p_type == PT_NOTE and self.machine in (EM_386, EM_X86_64):
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", "PT_NOTE")
        if interp is not None:  # the bytes up to the first NUL
            interp = self.data[interp.p_offset : interp.p_offset + interp.p_filesz].split(b"\0")[0]
        loads = self.loads(phdrs)
        dynamic = self.dynamic_segment(dynamics)
        isa = self.x86_isa_needed(phdrs, loads)
        d = _Dynamic(self, loads, dynamic)
        return ElfFacts(
            elf_class=ElfClass(self.data[4]),
            endianness=Endianness(self.data[5]),
            osabi=self.data[7],
            elf_type=_number(self.elf["e_type"], ENUM_E_TYPE),
            machine=Machine(self.machine),
            flags=self.elf["e_flags"],
            interpreter=None if interp is None else interp.decode("utf-8", "backslashreplace"),
            has_dynamic=bool(dynamics),
            needed=d.needed,
            soname=d.soname,
            rpath=d.rpath,
            runpath=d.runpath,
            dt_flags=d.tags.get("DT_FLAGS", 0),
            dt_flags_1=d.tags.get("DT_FLAGS_1", 0),
            stack_flags=None if stack is None else stack.p_flags,
            x86_isa_needed=isa,
            symbol_count=d.symbol_count,
            undefined_symbols=d.undefined,
            init_functions=d.init_functions,
            python_definitions=d.python_definitions,
            version_needs=d.version_needs,
            version_definitions=d.version_definitions,
        )

    def program_headers(self) -> list[Any]:
        """The table as is: e_phnum taken literally, stride e_phentsize, p_type a number."""
        phoff, count, entsize = self.elf["e_phoff"], self.elf["e_phnum"], self.elf["e_phentsize"]
        if count == 0:
            return []  # nothing to read, so e_phentsize (0 in .o files) does not matter
        if entsize < self.s.Elf_Phdr.sizeof():
            raise ElfError("bad-offset", f"e_phentsize {entsize} is too small")
        self.require(phoff, count * entsize, "bad-offset", "program header table")
        p_types = _numbers(self.s.Elf_Phdr, "p_type")
        phdrs = [
            self.parse(self.s.Elf_Phdr, phoff + i * entsize, "bad-offset", "program header")
            for i in range(count)
        ]
        for ph in phdrs:
            ph.p_type = _number(ph.p_type, p_types)
        return phdrs

    def loads(self, phdrs: list[Any]) -> list[Any]:
        """The PT_LOAD segments, checked to map each virtual address to one byte of the file
        as glibc maps them (dl-load.c, dl-map-segments.h): ascending p_vaddr, no overlap in
        memory, and two that meet in a page mapping it from the same place of the file (the
        later segment's bytes are what the loader sees there). The page is the largest the
        file loads with: the smallest of the p_align lowest set bits, 4 KiB at least."""
        loads = [ph for ph in phdrs if ph.p_type == PT_LOAD]
        page = min((max(ph.p_align & -ph.p_align, SMALLEST_PAGE) for ph in loads), default=0)
        previous = None
        for ph in loads:
            size = max(ph.p_filesz, ph.p_memsz)
            if size == 0:
                continue  # maps nothing
            end, at = ph.p_vaddr + size, f"PT_LOAD at {ph.p_vaddr:#x}"
            if end >= 1 << 64:
                raise ElfError("bad-offset", f"{at} runs past the address space")
            if previous is not None:
                if ph.p_vaddr < previous.vaddr:
                    raise ElfError("bad-offset", f"{at} is out of ascending order")
                if ph.p_vaddr < previous.end:
                    raise ElfError("bad-offset", f"{at} overlaps the one before")
                shares_page = ph.p_vaddr // page < -(-previous.end // page)
                if shares_page and ph.p_vaddr - ph.p_offset != previous.delta:
                    raise ElfError("bad-offset", f"{at} shares a page mapped from elsewhere")
            previous = _Mapped(ph.p_vaddr, end, ph.p_vaddr - ph.p_offset)
        return loads

    def dynamic_segment(self, dynamics: list[Any]) -> Any:
        """The PT_DYNAMIC glibc uses: the last non-empty one (since 2.35 it skips empty ones,
        which objcopy --only-keep-debug writes), else the last. Other readers take the first:
        two non-empty ones that differ are two readings."""
        full = [ph for ph in dynamics if ph.p_filesz]
        if any(
            (ph.p_offset, ph.p_vaddr, ph.p_filesz)
            != (full[-1].p_offset, full[-1].p_vaddr, full[-1].p_filesz)
            for ph in full
        ):
            raise ElfError("ambiguous", f"{len(full)} PT_DYNAMIC segments that differ")
        return (full or dynamics or [None])[-1]

    def x86_isa_needed(self, phdrs: list[Any], loads: list[Any]) -> int | None:
        """GNU_PROPERTY_X86_ISA_1_NEEDED as glibc's dl-load.c finds it (x86 only): the PT_NOTE
        segments from the last to the first, those aligned to the word size only, each read
        at its p_vaddr (p_memsz bytes), until one holds a GNU property note. The bytes at
        p_offset, which readelf and pyelftools read, must be the same."""
        if self.machine not in (EM_386, EM_X86_64):
            return None
        word = 8 if self.is64 else 4
        for ph in reversed(phdrs):
            if ph.p_type != PT_NOTE or ph.p_align != word:
                continue
            start, room = _translate(loads, ph.p_vaddr, "PT_NOTE")
            if ph.p_memsz > room:
                raise ElfError("bad-offset", f"PT_NOTE at {ph.p_vaddr:#x} runs past its PT_LOAD")
            self.require(start, ph.p_memsz, "bad-offset", "PT_NOTE")
            notes = self.data[start : start + ph.p_memsz]
            if (
                ph.p_memsz != ph.p_filesz
                or notes != self.data[ph.p_offset : ph.p_offset + ph.p_filesz]
            ):
                raise ElfError("ambiguous", "PT_NOTE's p_offset and p_vaddr name other bytes")
            found, level = self.property_notes(notes, word)
            if found:
                return level
        return None

    def property_notes(self, notes: bytes, word: int) -> tuple[bool, int | None]:
        """(a GNU property note is there, its ISA level) as glibc's _dl_process_property_note
        (sysdeps/x86/dl-prop.h) reads one PT_NOTE: the first GNU property note decides, a
        second one makes glibc drop both (two readings: ``ambiguous``); properties in
        ascending type order, the three glibc reads 4 bytes long, else no level."""
        # Not NoteSegment.iter_notes: it raises on a malformed note and aligns by its own rule.
        e = "<" if self.data[5] == 1 else ">"
        pos, found, level = 0, False, None
        while len(notes) - pos > 12:
            namesz, descsz, n_type = struct.unpack_from(e + "3I", notes, pos)
            if (
                n_type == NT_GNU_PROPERTY_TYPE_0
                and namesz == 4
                and notes[pos + 12 : pos + 16] == b"GNU\0"
            ):
                if found:
                    raise ElfError("ambiguous", "two GNU property notes in one PT_NOTE")
                found = True
                if descsz < 8 or descsz % word:
                    return True, None
                if pos + 16 + descsz > len(notes):
                    raise ElfError("bad-table", "GNU property note runs past its PT_NOTE")
                level, complete = self.isa_property(notes[pos + 16 : pos + 16 + descsz], e, word)
                if not complete:
                    return True, None
            pos += _align(12 + namesz, word) + _align(descsz, word)
        return found, level

    @staticmethod
    def isa_property(desc: bytes, e: str, word: int) -> tuple[int | None, bool]:
        """(the ISA level, whether glibc keeps the note's values) of one property array."""
        pos, last_type = 0, 0
        while len(desc) - pos >= 8:
            pr_type, datasz = struct.unpack_from(e + "2I", desc, pos)
            if pr_type < last_type or datasz > len(desc) - pos - 8:
                return None, False
            pos, last_type = pos + 8, pr_type
            if pr_type in _GLIBC_PROPERTIES:
                if datasz != 4:
                    return None, False
                if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                    return int(struct.unpack_from(e + "I", desc, pos)[0]), True
            elif pr_type > GNU_PROPERTY_X86_ISA_1_NEEDED:
                return None, True
            pos += _align(datasz, word)
        return None, True


def _translate(loads: list[Any], addr: int, what: str) -> tuple[int, int]:
    """(file offset, bytes of its segment's image from there) of a virtual address: the
    loader reads every table in memory, where past a segment's file image lie zeros, a
    hole or another segment, never the file's next bytes. ``loads`` overlap nowhere."""
    for ph in loads:
        if ph.p_vaddr <= addr < ph.p_vaddr + ph.p_filesz:
            return int(addr - ph.p_vaddr + ph.p_offset), int(ph.p_vaddr + ph.p_filesz - addr)
    raise ElfError("bad-offset", f"{what} {addr:#x} is in no PT_LOAD")


class _Mapped(NamedTuple):
    vaddr: int
    end: int  # p_vaddr + max(p_filesz, p_memsz)
    delta: int  # p_vaddr - p_offset


class _Dynamic:
    """Everything read through PT_DYNAMIC: tags, strings, symbols and versions."""

    def __init__(self, r: _Reader, loads: list[Any], segment: Any) -> None:
        self.r, self.s = r, r.s
        self.loads = loads
        self.needed_at: list[int] = []
        self.tags: dict[str, int] = {}
        if segment is not None and segment.p_filesz:
            self.read_tags(segment)
        if "DT_STRTAB" in self.tags:
            # No default size: without DT_STRSZ the table has no bound, so it cannot fit.
            start, room = self.offset("DT_STRTAB")
            size = self.tags.get("DT_STRSZ", r.size + 1)
            self.within(start, room, size, "bad-offset", "string table")
            r.strtab = r.data[start : start + size]
        self.needed = tuple(r.string(v, "DT_NEEDED") for v in self.needed_at)
        strings = {
            t: r.string(self.tags[t], t)
            for t in ("DT_SONAME", "DT_RPATH", "DT_RUNPATH")
            if t in self.tags
        }
        self.soname = strings.get("DT_SONAME")
        self.rpath, self.runpath = (
            tuple(strings[t].split(":")) if t in strings else () for t in ("DT_RPATH", "DT_RUNPATH")
        )
        self.symbol_count = self.count_symbols()
        # the version of each index, as glibc's l_versions (dl-version.c): every Vernaux in
        # chain order (the last with an index wins), then every Verdef but the base one
        self.by_index: dict[int, tuple[str, str | None]] = {}
        self.version_needs = self.read_version_needs()
        self.version_definitions = self.read_version_definitions()
        self.undefined, self.init_functions, self.python_definitions = self.read_symbols()

    def read_tags(self, ph: Any) -> None:
        """At p_vaddr, as the loader reads it (l_ld = l_addr + p_vaddr), up to DT_NULL, which
        must come within p_filesz (the loader reads on past it); the bytes at p_offset, which
        readelf, pyelftools and auditwheel read, must be the same."""
        start, room = self.translate(ph.p_vaddr, "PT_DYNAMIC's p_vaddr")
        self.within(start, room, ph.p_filesz, "bad-offset", "PT_DYNAMIC")
        data = self.r.data
        if data[start : start + ph.p_filesz] != data[ph.p_offset : ph.p_offset + ph.p_filesz]:
            raise ElfError("ambiguous", "PT_DYNAMIC's p_offset and p_vaddr name other bytes")
        size = self.s.Elf_Dyn.sizeof()
        for i in range(ph.p_filesz // size):
            entry = self.r.parse(self.s.Elf_Dyn, start + i * size, "bad-offset", "tag")
            if entry.d_tag == "DT_NULL":
                return
            if entry.d_tag == "DT_NEEDED":
                self.needed_at.append(entry.d_val)
            elif isinstance(entry.d_tag, str):  # tags pyelftools cannot name are never read
                self.tags[entry.d_tag] = entry.d_val  # single-valued: the last one wins
        raise ElfError("bad-table", f"no DT_NULL in PT_DYNAMIC's {ph.p_filesz} bytes")

    def translate(self, addr: int, what: str) -> tuple[int, int]:
        return _translate(self.loads, addr, what)

    def offset(self, tag: str) -> tuple[int, int]:
        """``translate`` of an address tag, only when the tag is used (as the loader does:
        an unused DT_HASH beside DT_GNU_HASH is never looked at)."""
        # Not ELFFile.address_offsets: it goes through iter_segments (see above).
        return self.translate(self.tags[tag], tag)

    def within(self, offset: int, room: int, size: int, code: str, what: str) -> None:
        if size > room:
            raise ElfError(code, f"{what} runs past its PT_LOAD")
        self.r.require(offset, size, code, what)

    def count_symbols(self) -> int:
        if "DT_GNU_HASH" in self.tags:
            count = self.gnu_hash_count(*self.offset("DT_GNU_HASH"))
        elif "DT_HASH" in self.tags:
            count = self.sysv_hash_count(*self.offset("DT_HASH"))
        else:
            count = 0
        if count > MAX_SYMBOLS:
            raise ElfError("too-large", f"{count} dynamic symbols")
        return count

    def gnu_hash_count(self, pos: int, room: int) -> int:
        """One past the highest index reachable: the highest bucket's chain to its end bit."""
        word, bloom_word = self.s.Elf_word, 8 if self.r.is64 else 4
        self.within(pos, room, 16, "bad-table", "GNU hash")
        nbuckets, symoffset, bloom_size, _ = self.r.words(pos, 4, word, "GNU hash", "bad-table")
        buckets = 16 + bloom_size * bloom_word  # from the table's start, as every part below
        self.within(pos + buckets, room - buckets, nbuckets * 4, "bad-table", "GNU hash buckets")
        top = max(
            self.r.words(pos + buckets, nbuckets, word, "GNU hash buckets", "bad-table"), default=0
        )
        if top < symoffset:
            return int(symoffset)
        chains = buckets + 4 * nbuckets
        while True:  # each step reads further on, so the segment's end stops a missing end bit
            at = chains + 4 * (top - symoffset)
            self.within(pos + at, room - at, 4, "bad-table", "GNU hash chain")
            if self.r.words(pos + at, 1, word, "GNU hash chain", "bad-table")[0] & 1:
                return int(top) + 1
            top += 1

    def sysv_hash_count(self, pos: int, room: int) -> int:
        wide = self.r.is64 and self.r.machine == EM_S390  # s390x: 8-byte DT_HASH words
        word = self.s.Elf_xword if wide else self.s.Elf_word
        # Only the header is read, as glibc's _dl_setup_hash does: nothing here needs the
        # buckets or chains, so they are not checked (and a huge nchain is too-large).
        self.within(pos, room, 16 if wide else 8, "bad-table", "DT_HASH header")
        return int(self.r.words(pos, 2, word, "DT_HASH header", "bad-table")[1])

    # The version chains are walked as glibc's _dl_check_map_versions walks them: in memory,
    # every link followed until one is 0, whatever DT_VERNEEDNUM, vn_cnt and DT_VERDEFNUM say
    # (the loader reads none of them). readelf, pyelftools and auditwheel count by them: where
    # counts and links disagree the file has two readings, which is an error.

    def visit(self) -> None:
        # At most buffer / 16 entries per chain, aux entries included: no more fit without
        # overlapping, so a looping chain ends here.
        self.visits += 1
        if self.visits > self.r.size // 16:
            raise ElfError("bad-table", "version chain longer than the buffer can hold")

    def entry(self, struct: Construct, addr: int, what: str) -> Any:
        """A version entry at a virtual address, translated on its own (the chains run in
        memory); outside every PT_LOAD's image or the buffer, bad-table."""
        if addr >= 1 << 64:
            raise ElfError("bad-table", f"{what} runs past the address space")
        for ph in self.loads:
            if ph.p_vaddr <= addr < ph.p_vaddr + ph.p_filesz:
                offset = addr - ph.p_vaddr + ph.p_offset
                self.within(
                    offset, ph.p_vaddr + ph.p_filesz - addr, struct.sizeof(), "bad-table", what
                )
                return self.r.parse(struct, offset, "bad-table", what)
        raise ElfError("bad-table", f"{what} at {addr:#x} is in no PT_LOAD")

    def read_version_needs(self) -> tuple[VersionNeed, ...]:
        needs: list[VersionNeed] = []
        if "DT_VERNEED" not in self.tags:
            return ()
        self.offset("DT_VERNEED")
        addr, self.visits = self.tags["DT_VERNEED"], 0
        while True:
            self.visit()
            vn = self.entry(self.s.Elf_Verneed, addr, "Verneed")
            file, versions, aux = self.r.string(vn.vn_file, "vn_file"), [], addr + vn.vn_aux
            while True:
                self.visit()
                vna = self.entry(self.s.Elf_Vernaux, aux, "Vernaux")
                versions.append(self.r.string(vna.vna_name, "vna_name"))
                self.by_index[vna.vna_other & 0x7FFF] = (versions[-1], file)  # the last wins
                if vna.vna_next == 0:
                    break
                aux += vna.vna_next
            if len(versions) != vn.vn_cnt:
                raise ElfError("ambiguous", f"vn_cnt {vn.vn_cnt}, {len(versions)} Vernaux linked")
            needs.append(VersionNeed(file, tuple(versions)))
            if vn.vn_next == 0:
                break
            addr += vn.vn_next  # unsigned, so a chain only moves on: it cannot loop
        if self.tags.get("DT_VERNEEDNUM", len(needs)) != len(needs):
            raise ElfError(
                "ambiguous", f"DT_VERNEEDNUM {self.tags['DT_VERNEEDNUM']}, {len(needs)} linked"
            )
        return tuple(needs)

    def read_version_definitions(self) -> tuple[str, ...]:
        names: list[str] = []
        if "DT_VERDEF" not in self.tags:
            return ()
        self.offset("DT_VERDEF")
        addr, self.visits = self.tags["DT_VERDEF"], 0
        while True:
            self.visit()
            vd = self.entry(self.s.Elf_Verdef, addr, "Verdef")
            # The first Verdaux is read whatever vd_cnt says, as glibc and readelf do.
            aux = self.entry(self.s.Elf_Verdaux, addr + vd.vd_aux, "Verdaux")
            names.append(self.r.string(aux.vda_name, "vda_name"))
            if not vd.vd_flags & VER_FLG_BASE:  # glibc leaves the base out
                self.by_index[vd.vd_ndx & 0x7FFF] = (names[-1], None)
            if vd.vd_next == 0:
                break
            addr += vd.vd_next
        if self.tags.get("DT_VERDEFNUM", len(names)) != len(names):
            raise ElfError(
                "ambiguous", f"DT_VERDEFNUM {self.tags['DT_VERDEFNUM']}, {len(names)} linked"
            )
        return tuple(names)

    def read_symbols(
        self,
    ) -> tuple[tuple[UndefinedSymbol, ...], tuple[str, ...], tuple[DefinedSymbol, ...]]:
        count, sym, size = self.symbol_count, self.s.Elf_Sym, self.s.Elf_Sym.sizeof()
        if count == 0:
            return (), (), ()
        if "DT_SYMTAB" not in self.tags or self.r.strtab is None:
            raise ElfError("bad-table", f"{count} symbols but no DT_SYMTAB or DT_STRTAB")
        if self.tags.get("DT_SYMENT", size) != size:  # the loader's stride is sizeof(Sym)
            raise ElfError("bad-table", f"DT_SYMENT {self.tags['DT_SYMENT']} is not {size}")
        symtab, room = self.offset("DT_SYMTAB")
        self.within(symtab, room, count * size, "bad-table", "symbol table")
        versym = None
        if "DT_VERSYM" in self.tags:
            versym, room = self.offset("DT_VERSYM")
            self.within(versym, room, count * 2, "bad-table", "versym array")
        strtab = self.r.strtab_bytes()
        kept: list[tuple[int, Any, int]] = []  # (index, entry, end of its name)
        for i in range(1, count):
            entry = self.r.parse(sym, symtab + i * size, "bad-table", "symbol")
            # Every name must be a string, as for auditwheel, which reads them all.
            end = self.r.string_end(entry.st_name, "st_name")
            kind = _number(entry.st_info.type, ENUM_ST_INFO_TYPE)
            if (
                entry.st_shndx == "SHN_UNDEF"
                or (kind == SymbolType.FUNC and strtab.startswith(_INIT_PREFIXES, entry.st_name))
                or strtab.startswith(_PYTHON_PREFIXES, entry.st_name)
            ):
                kept.append((i, entry, end))
        if sum(entry.st_shndx == "SHN_UNDEF" for _, entry, _ in kept) > MAX_UNDEFINED:
            raise ElfError("too-large", f"more than {MAX_UNDEFINED} undefined symbols")
        python_defined = sum(
            entry.st_shndx != "SHN_UNDEF" and strtab.startswith(_PYTHON_PREFIXES, entry.st_name)
            for _, entry, _ in kept
        )
        if python_defined > MAX_UNDEFINED:
            raise ElfError("too-large", f"more than {MAX_UNDEFINED} Python definitions")
        # the names the record holds, each string-table offset once, are bounded by the file
        cap = max(len(self.r.data) * NAME_BYTES_FACTOR, NAME_BYTES_FLOOR)
        ends = {entry.st_name: end for _, entry, end in kept}
        total = sum(end - offset for offset, end in ends.items())
        if total > cap:
            raise ElfError("too-large", f"symbol names add up to more than {cap} bytes")
        undefined: list[UndefinedSymbol] = []
        init_functions: list[str] = []
        python_definitions: list[DefinedSymbol] = []
        for i, entry, end in kept:
            name = strtab[entry.st_name : end].decode("utf-8", "backslashreplace")
            kind = SymbolType(_number(entry.st_info.type, ENUM_ST_INFO_TYPE))
            bind = SymbolBinding(_number(entry.st_info.bind, ENUM_ST_INFO_BIND))
            if entry.st_shndx == "SHN_UNDEF":
                undefined.append(UndefinedSymbol(name, bind, kind, *self.version_of(versym, i)))
                continue
            if kind == SymbolType.FUNC and name.startswith(PYTHON_INIT_PREFIXES):
                init_functions.append(name)
            if name.startswith(PYTHON_SYMBOL_PREFIXES):
                python_definitions.append(DefinedSymbol(name, bind, kind))
        return tuple(undefined), tuple(init_functions), tuple(python_definitions)

    def version_of(self, versym: int | None, i: int) -> tuple[str | None, str | None]:
        if versym is None:
            return None, None
        # Elf_Versym decodes 0 and 1 to names; the plain Elf_half gives the number.
        index = self.r.words(versym + 2 * i, 1, self.s.Elf_half, "versym", "bad-table")[0] & 0x7FFF
        # 0 and 1: local and global, unversioned
        return self.by_index.get(index, (None, None)) if index > 1 else (None, None)
