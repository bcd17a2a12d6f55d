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
from collections.abc import Mapping
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.common.utils import struct_parse
from elftools.construct import Array, Construct, ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE, ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE

from wheelscan.elf.facts import (
    PYTHON_INIT_PREFIXES,
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
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_GNU_STACK = 1, 2, 3, 4, 0x6474E551
EM_386, EM_S390, EM_X86_64 = 3, 22, 62
NT_GNU_PROPERTY_TYPE_0, GNU_PROPERTY_X86_ISA_1_NEEDED = 5, 0xC0008002
MAX_SYMBOLS = 1 << 24


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
        first: dict[int, Any] = {}
        for ph in phdrs:
            # PT_GNU_STACK is left unchecked: only its p_flags are read, as by the loader.
            if ph.p_type in (PT_INTERP, PT_DYNAMIC) and ph.p_type not in first:
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", f"segment {ph.p_type:#x}")
            first.setdefault(ph.p_type, ph)
        interp, stack = first.get(PT_INTERP), first.get(PT_GNU_STACK)
        if interp is not None:  # the bytes up to the first NUL
            interp = self.data[interp.p_offset : interp.p_offset + interp.p_filesz].split(b"\0")[0]
        isa = self.x86_isa_needed(phdrs)
        d = _Dynamic(self, phdrs, first.get(PT_DYNAMIC))
        return ElfFacts(
            elf_class=ElfClass(self.data[4]),
            endianness=Endianness(self.data[5]),
            osabi=self.data[7],
            elf_type=_number(self.elf["e_type"], ENUM_E_TYPE),
            machine=Machine(self.machine),
            flags=self.elf["e_flags"],
            interpreter=None if interp is None else interp.decode("utf-8", "backslashreplace"),
            has_dynamic=PT_DYNAMIC in first,
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

    def x86_isa_needed(self, phdrs: list[Any]) -> int | None:
        """From the first GNU NT_GNU_PROPERTY_TYPE_0 note of any PT_NOTE; x86 only."""
        # Not NoteSegment.iter_notes: it raises on a malformed note and aligns by its own rule.
        if self.machine not in (EM_386, EM_X86_64):
            return None
        nhdr, n_types = self.s.Elf_Nhdr, _numbers(self.s.Elf_Nhdr, "n_type")
        for ph in (ph for ph in phdrs if ph.p_type == PT_NOTE):
            self.require(ph.p_offset, ph.p_filesz, "bad-offset", "PT_NOTE segment")
            align, pos, end = 8 if ph.p_align == 8 else 4, ph.p_offset, ph.p_offset + ph.p_filesz
            while pos + nhdr.sizeof() <= end:
                note = self.parse(nhdr, pos, "bad-offset", "note header")
                name_at = pos + nhdr.sizeof()
                desc_at = _align(name_at + note.n_namesz, align)
                if desc_at + note.n_descsz > end:
                    break  # malformed: ends the scan of this segment, without error
                if (
                    _number(note.n_type, n_types) == NT_GNU_PROPERTY_TYPE_0
                    and self.data[name_at : name_at + note.n_namesz] == b"GNU\0"
                ):
                    # The first GNU property note in the file decides, with or without an
                    # ISA property: glibc processes only one (its l_property).
                    return self.isa_property(desc_at, desc_at + note.n_descsz)
                pos = _align(desc_at + note.n_descsz, align)
        return None

    def isa_property(self, pos: int, end: int) -> int | None:
        while pos + 8 <= end:
            pr_type, datasz = self.words(pos, 2, self.s.Elf_word, "property", "bad-offset")
            if pos + 8 + datasz > end:
                return None  # malformed property array
            if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                if datasz != 4:  # the first one decides; another size is malformed (glibc too)
                    return None
                return self.words(pos + 8, 1, self.s.Elf_word, "property", "bad-offset")[0]
            pos += 8 + _align(datasz, 8 if self.is64 else 4)
        return None


class _Dynamic:
    """Everything read through PT_DYNAMIC: tags, strings, symbols and versions."""

    def __init__(self, r: _Reader, phdrs: list[Any], segment: Any) -> None:
        self.r, self.s = r, r.s
        self.needed_at: list[int] = []
        self.tags: dict[str, int] = {}
        if segment is not None:
            self.read_tags(segment)
        self.loads = [ph for ph in phdrs if ph.p_type == PT_LOAD]
        if "DT_STRTAB" in self.tags:
            # No default size: without DT_STRSZ the table has no bound, so it cannot fit.
            start, size = self.offset("DT_STRTAB"), self.tags.get("DT_STRSZ", r.size + 1)
            r.require(start, size, "bad-offset", "string table")
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
        self.version_needs, self.needs_by_index = self.read_version_needs()
        self.version_definitions, self.defs_by_index = self.read_version_definitions()
        self.undefined, self.init_functions = self.read_symbols()

    def read_tags(self, ph: Any) -> None:
        size = self.s.Elf_Dyn.sizeof()
        for i in range(ph.p_filesz // size):  # up to DT_NULL or p_filesz, whichever is first
            entry = self.r.parse(self.s.Elf_Dyn, ph.p_offset + i * size, "bad-offset", "tag")
            if entry.d_tag == "DT_NULL":
                break
            if entry.d_tag == "DT_NEEDED":
                self.needed_at.append(entry.d_val)
            elif isinstance(entry.d_tag, str):  # tags pyelftools cannot name are never read
                self.tags[entry.d_tag] = entry.d_val  # single-valued: the last one wins

    def offset(self, tag: str) -> int:
        """The file offset of an address tag, translated only when the tag is used (as the
        loader does: an unused DT_HASH beside DT_GNU_HASH is never looked at)."""
        # Not ELFFile.address_offsets: it goes through iter_segments (see above).
        addr = self.tags[tag]
        for ph in self.loads:  # the first PT_LOAD whose file image holds the address
            if ph.p_vaddr <= addr < ph.p_vaddr + ph.p_filesz:
                return int(addr - ph.p_vaddr + ph.p_offset)
        raise ElfError("bad-offset", f"{tag} {addr:#x} is in no PT_LOAD")

    def count_symbols(self) -> int:
        if "DT_GNU_HASH" in self.tags:
            count = self.gnu_hash_count(self.offset("DT_GNU_HASH"))
        elif "DT_HASH" in self.tags:
            count = self.sysv_hash_count(self.offset("DT_HASH"))
        else:
            count = 0
        if count > MAX_SYMBOLS:
            raise ElfError("too-large", f"{count} dynamic symbols")
        return count

    def gnu_hash_count(self, pos: int) -> int:
        """One past the highest index reachable: the highest bucket's chain to its end bit."""
        word, bloom_word = self.s.Elf_word, 8 if self.r.is64 else 4
        nbuckets, symoffset, bloom_size, _ = self.r.words(pos, 4, word, "GNU hash", "bad-table")
        buckets_at = pos + 16 + bloom_size * bloom_word
        self.r.require(buckets_at, nbuckets * 4, "bad-table", "GNU hash buckets")
        top = max(
            self.r.words(buckets_at, nbuckets, word, "GNU hash buckets", "bad-table"), default=0
        )
        if top < symoffset:
            return int(symoffset)
        chain_at = buckets_at + 4 * (nbuckets - symoffset)
        while not self.r.words(chain_at + 4 * top, 1, word, "GNU hash chain", "bad-table")[0] & 1:
            top += 1  # each step reads further on, so the buffer's end stops a missing end bit
        return int(top) + 1

    def sysv_hash_count(self, pos: int) -> int:
        wide = self.r.is64 and self.r.machine == EM_S390  # s390x: 8-byte DT_HASH words
        word = self.s.Elf_xword if wide else self.s.Elf_word
        # Only the header is read, as glibc's _dl_setup_hash does: nothing here needs the
        # buckets or chains, so they are not checked (and a huge nchain is too-large).
        return int(self.r.words(pos, 2, word, "DT_HASH header", "bad-table")[1])

    def visit(self) -> None:
        # At most buffer / 16 entries per chain, aux entries included: no more fit without
        # overlapping, and overlapping chains could cost 65535 Vernaux per Verneed.
        self.visits += 1
        if self.visits > self.r.size // 16:
            raise ElfError("bad-table", "version chain longer than the buffer can hold")

    def read_version_needs(self) -> tuple[tuple[VersionNeed, ...], dict[int, tuple[str, str]]]:
        needs: list[VersionNeed] = []
        by_index: dict[int, tuple[str, str]] = {}  # vna_other -> (version, file), first wins
        pos, self.visits = self.offset("DT_VERNEED") if "DT_VERNEED" in self.tags else -1, 0
        # Without DT_VERNEEDNUM the visit cap (buffer / 16) is the bound.
        for _ in range(self.tags.get("DT_VERNEEDNUM", self.r.size) if pos >= 0 else 0):
            self.visit()
            vn = self.r.parse(self.s.Elf_Verneed, pos, "bad-table", "Verneed")
            file, versions, aux = self.r.string(vn.vn_file, "vn_file"), [], pos + vn.vn_aux
            for _ in range(vn.vn_cnt):
                self.visit()
                vna = self.r.parse(self.s.Elf_Vernaux, aux, "bad-table", "Vernaux")
                versions.append(self.r.string(vna.vna_name, "vna_name"))
                by_index.setdefault(vna.vna_other, (versions[-1], file))
                if vna.vna_next == 0:
                    break
                aux += vna.vna_next
            needs.append(VersionNeed(file, tuple(versions)))
            if vn.vn_next == 0:
                break
            pos += vn.vn_next  # unsigned, so a chain only moves on: it cannot loop
        return tuple(needs), by_index

    def read_version_definitions(self) -> tuple[tuple[str, ...], dict[int, str]]:
        names: list[str] = []
        by_index: dict[int, str] = {}  # vd_ndx -> version, first wins
        pos, self.visits = self.offset("DT_VERDEF") if "DT_VERDEF" in self.tags else -1, 0
        for _ in range(self.tags.get("DT_VERDEFNUM", self.r.size) if pos >= 0 else 0):
            self.visit()
            vd = self.r.parse(self.s.Elf_Verdef, pos, "bad-table", "Verdef")
            # The first Verdaux is read whatever vd_cnt says, as glibc and readelf do.
            aux = self.r.parse(self.s.Elf_Verdaux, pos + vd.vd_aux, "bad-table", "Verdaux")
            names.append(self.r.string(aux.vda_name, "vda_name"))
            by_index.setdefault(vd.vd_ndx, names[-1])
            if vd.vd_next == 0:
                break
            pos += vd.vd_next
        return tuple(names), by_index

    def read_symbols(self) -> tuple[tuple[UndefinedSymbol, ...], tuple[str, ...]]:
        count, sym, size = self.symbol_count, self.s.Elf_Sym, self.s.Elf_Sym.sizeof()
        if count == 0:
            return (), ()
        if "DT_SYMTAB" not in self.tags or self.r.strtab is None:
            raise ElfError("bad-table", f"{count} symbols but no DT_SYMTAB or DT_STRTAB")
        if self.tags.get("DT_SYMENT", size) != size:  # the loader's stride is sizeof(Sym)
            raise ElfError("bad-table", f"DT_SYMENT {self.tags['DT_SYMENT']} is not {size}")
        symtab = self.offset("DT_SYMTAB")
        self.r.require(symtab, count * size, "bad-table", "symbol table")
        versym = self.offset("DT_VERSYM") if "DT_VERSYM" in self.tags else None
        if versym is not None:
            self.r.require(versym, count * 2, "bad-table", "versym array")
        strtab = self.r.strtab_bytes()
        kept: list[tuple[int, Any, int]] = []  # (index, entry, end of its name)
        for i in range(1, count):
            entry = self.r.parse(sym, symtab + i * size, "bad-table", "symbol")
            # Every name must be a string, as for auditwheel, which reads them all.
            end = self.r.string_end(entry.st_name, "st_name")
            kind = _number(entry.st_info.type, ENUM_ST_INFO_TYPE)
            if entry.st_shndx == "SHN_UNDEF" or (
                kind == SymbolType.FUNC and strtab.startswith(_INIT_PREFIXES, entry.st_name)
            ):
                kept.append((i, entry, end))
        # the names the record holds, each string-table offset once, are bounded by the file
        cap = max(len(self.r.data) * NAME_BYTES_FACTOR, NAME_BYTES_FLOOR)
        ends = {entry.st_name: end for _, entry, end in kept}
        total = sum(end - offset for offset, end in ends.items())
        if total > cap:
            raise ElfError("too-large", f"symbol names add up to more than {cap} bytes")
        undefined: list[UndefinedSymbol] = []
        init_functions: list[str] = []
        for i, entry, end in kept:
            name = strtab[entry.st_name : end].decode("utf-8", "backslashreplace")
            kind = SymbolType(_number(entry.st_info.type, ENUM_ST_INFO_TYPE))
            if entry.st_shndx == "SHN_UNDEF":
                bind = SymbolBinding(_number(entry.st_info.bind, ENUM_ST_INFO_BIND))
                undefined.append(UndefinedSymbol(name, bind, kind, *self.version_of(versym, i)))
            else:
                init_functions.append(name)
        return tuple(undefined), tuple(init_functions)

    def version_of(self, versym: int | None, i: int) -> tuple[str | None, str | None]:
        if versym is None:
            return None, None
        # Elf_Versym decodes 0 and 1 to names; the plain Elf_half gives the number.
        index = self.r.words(versym + 2 * i, 1, self.s.Elf_half, "versym", "bad-table")[0] & 0x7FFF
        found = self.needs_by_index.get(index) or (self.defs_by_index.get(index), None)
        return found if index > 1 else (None, None)  # 0 and 1: local and global, unversioned
