"""The reference ELF reader: :class:`ElfFacts` from a buffer, in pure Python over pyelftools.

This is the slow, easily checked twin of the Cython core in ``native/``. It follows the reading
rules in :mod:`wheelscan.elf.facts` to the letter, because the tests assert that both backends
give equal records. Everything is read the way the dynamic loader reads it: program headers and
dynamic tags only, never section headers.

Specs:

- System V gABI (ELF header, program headers, dynamic section, DT_HASH):
  https://www.sco.com/developers/gabi/latest/contents.html
- LSB symbol versioning (.gnu.version, .gnu.version_r, .gnu.version_d):
  https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/symversion.html
- DT_GNU_HASH: https://sourceware.org/legacy-ml/binutils/2006-10/msg00377.html
- GNU property notes, x86 ISA level: https://gitlab.com/x86-psABIs/x86-64-ABI

pyelftools supplies the header parse and the struct definitions (``elf.structs``). Its
higher-level helpers are avoided because each breaks a rule:

- ``ELFFile.iter_segments`` reads section header 0 when e_phnum is PN_XNUM, and builds each
  ``DynamicSegment`` by scanning the section headers for a string table;
- ``Dynamic.iter_tags`` reads past p_filesz until it meets DT_NULL, and its strings are neither
  bounded by DT_STRSZ nor decoded with ``backslashreplace``;
- ``DynamicSegment.num_symbols`` guesses from the nearest pointer when there is no hash table,
  and its ``ELFHashTable`` reads 4-byte words, wrong for 64-bit s390x (8-byte DT_HASH words).
"""

from __future__ import annotations

import io
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

MAGIC = b"\x7fELF"
EI_NIDENT = 16
EHDR_SIZE = {1: 52, 2: 64}  # by EI_CLASS
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_GNU_STACK = 1, 2, 3, 4, 0x6474E551
EM_386, EM_S390, EM_X86_64 = 3, 22, 62
NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
MAX_SYMBOLS = 1 << 24
# The dynamic tags holding addresses; each present one is translated through PT_LOAD.
ADDRESS_TAGS = ("DT_STRTAB", "DT_SYMTAB", "DT_HASH", "DT_GNU_HASH", "DT_VERSYM", "DT_VERNEED",
                "DT_VERDEF")


def parse_elf(buffer: bytes | bytearray | memoryview) -> ElfFacts:
    """Read the facts of the ELF file in ``buffer``; raise :class:`ElfError` and nothing else."""
    data = bytes(buffer)
    _check_ident(data)
    return _Reader(data).facts()


def _check_ident(data: bytes) -> None:
    # Order: magic, then e_ident present, then class/data, then the whole header. A buffer
    # too short to hold the magic has no magic, so it is not-elf rather than truncated.
    if data[:4] != MAGIC:
        raise ElfError("not-elf", "no \\x7fELF magic")
    if len(data) < EI_NIDENT:
        raise ElfError("truncated", f"{len(data)} bytes: e_ident is cut off")
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ElfError("bad-header", f"EI_CLASS {data[4]}, EI_DATA {data[5]}")
    if len(data) < EHDR_SIZE[data[4]]:
        raise ElfError("truncated", f"{len(data)} bytes: the ELF header is cut off")


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & -alignment


def _names_to_numbers(struct: Construct, field: str) -> dict[str, int]:
    """pyelftools decodes enum fields to names; the rules speak of numbers, so map back."""
    adapter = next(sub for sub in struct.subcons if sub.name == field)
    return {k: v for k, v in adapter.encoding.items() if isinstance(v, int)}


def _number(value: Any, numbers: dict[str, int]) -> int:
    return numbers[value] if isinstance(value, str) else int(value)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        try:
            self.elf = ELFFile(io.BytesIO(data))
        except (ELFError, ConstructError) as e:  # the checks above make this unreachable
            raise ElfError("bad-header", str(e)) from e
        self.s = self.elf.structs
        self.is64 = self.elf.elfclass == 64
        self.machine = _number(self.elf["e_machine"], ENUM_E_MACHINE)
        self.p_types = _names_to_numbers(self.s.Elf_Phdr, "p_type")
        self.strtab: bytes | None = None

    # -- bounded access: every read goes through these two ----------------------------------

    def require(self, offset: int, size: int, code: str, what: str) -> None:
        """[offset, offset + size) must lie inside the buffer (an empty range at its end does)."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfError(code, f"{what} [{offset:#x}, +{size:#x}) leaves the {self.size}-byte buffer")

    def parse(self, struct: Construct, offset: int, code: str, what: str) -> Any:
        self.require(offset, struct.sizeof(), code, what)
        try:
            return struct_parse(struct, self.elf.stream, offset)
        except (ELFError, ConstructError) as e:
            raise ElfError(code, f"{what} at {offset:#x}: {e}") from e

    def words(self, offset: int, count: int, word: Any, what: str, code: str = "bad-table") -> list[int]:
        return list(self.parse(Array(count, word("w")), offset, code, what))

    def string(self, offset: int, what: str) -> str:
        # Not pyelftools' parse_cstring_from_stream: that one runs past DT_STRSZ to any NUL.
        if self.strtab is None:
            raise ElfError("bad-table", f"{what} needs a string but there is no DT_STRTAB")
        end = self.strtab.find(b"\0", offset) if offset < len(self.strtab) else -1
        if end < 0:
            raise ElfError("bad-table", f"{what}: string at {offset:#x} has no NUL in DT_STRSZ")
        return self.strtab[offset:end].decode("utf-8", "backslashreplace")

    # -- the record -------------------------------------------------------------------------

    def facts(self) -> ElfFacts:
        phdrs = self.program_headers()
        first: dict[int, Any] = {}
        for ph in phdrs:
            first.setdefault(ph.p_type, ph)
            if ph.p_type in (PT_INTERP, PT_DYNAMIC, PT_GNU_STACK) and first[ph.p_type] is ph:
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", f"segment {ph.p_type:#x}")
        interp = first.get(PT_INTERP)
        stack = first.get(PT_GNU_STACK)
        isa = self.x86_isa_needed(phdrs)
        dyn = _Dynamic(self, phdrs, first.get(PT_DYNAMIC))
        header = self.elf.header
        return ElfFacts(
            elf_class=ElfClass(self.data[4]),
            endianness=Endianness(self.data[5]),
            osabi=self.data[7],
            elf_type=_number(header.e_type, ENUM_E_TYPE),
            machine=Machine(self.machine),
            flags=header.e_flags,
            interpreter=None if interp is None else self.interpreter(interp),
            has_dynamic=PT_DYNAMIC in first,
            needed=dyn.needed, soname=dyn.soname, rpath=dyn.rpath, runpath=dyn.runpath,
            dt_flags=dyn.tags.get("DT_FLAGS", 0), dt_flags_1=dyn.tags.get("DT_FLAGS_1", 0),
            stack_flags=None if stack is None else stack.p_flags,
            x86_isa_needed=isa,
            symbol_count=dyn.symbol_count, undefined_symbols=dyn.undefined,
            init_functions=dyn.init_functions,
            version_needs=dyn.version_needs, version_definitions=dyn.version_definitions,
        )

    def program_headers(self) -> list[Any]:
        """The table as is: e_phnum taken literally, stride e_phentsize, p_type as a number."""
        phoff, count, entsize = self.elf["e_phoff"], self.elf["e_phnum"], self.elf["e_phentsize"]
        if count == 0:
            return []  # nothing to read, so e_phentsize (0 in .o files) does not matter
        if entsize < self.s.Elf_Phdr.sizeof():
            raise ElfError("bad-offset", f"e_phentsize {entsize} is too small")
        self.require(phoff, count * entsize, "bad-offset", "program header table")
        phdrs = [self.parse(self.s.Elf_Phdr, phoff + i * entsize, "bad-offset", "program header")
                 for i in range(count)]
        for ph in phdrs:
            ph.p_type = _number(ph.p_type, self.p_types)
        return phdrs

    def interpreter(self, ph: Any) -> str:
        raw = self.data[ph.p_offset:ph.p_offset + ph.p_filesz]
        return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")

    def x86_isa_needed(self, phdrs: list[Any]) -> int | None:
        # pyelftools' NoteSegment.iter_notes raises on a malformed note and aligns by its own
        # rule; the rules want a silent stop and p_align 8 -> 8 else 4.
        if self.machine not in (EM_386, EM_X86_64):
            return None
        for ph in phdrs:
            if ph.p_type == PT_NOTE:
                self.require(ph.p_offset, ph.p_filesz, "bad-offset", "PT_NOTE segment")
                desc = self.gnu_property_note(ph)
                if desc is not None:  # only the first such note counts, as in glibc
                    return self.isa_property(*desc)
        return None

    def gnu_property_note(self, ph: Any) -> tuple[int, int] | None:
        """(offset, size) of the descriptor of the first GNU NT_GNU_PROPERTY_TYPE_0 note."""
        align = 8 if ph.p_align == 8 else 4
        pos, end = ph.p_offset, ph.p_offset + ph.p_filesz
        n_types = _names_to_numbers(self.s.Elf_Nhdr, "n_type")
        while pos + self.s.Elf_Nhdr.sizeof() <= end:
            note = self.parse(self.s.Elf_Nhdr, pos, "bad-offset", "note header")
            name_at = pos + self.s.Elf_Nhdr.sizeof()
            desc_at = _align(name_at + note.n_namesz, align)
            if desc_at + note.n_descsz > end:
                return None  # malformed: ends the scan of this segment, as the loader does
            if (_number(note.n_type, n_types) == NT_GNU_PROPERTY_TYPE_0
                    and self.data[name_at:name_at + note.n_namesz] == b"GNU\0"):
                return desc_at, note.n_descsz
            pos = _align(desc_at + note.n_descsz, align)
        return None

    def isa_property(self, pos: int, size: int) -> int | None:
        end, step = pos + size, 8 if self.is64 else 4
        while pos + 8 <= end:
            pr_type, datasz = self.words(pos, 2, self.s.Elf_word, "property", "bad-offset")
            if pos + 8 + datasz > end:
                return None  # malformed property array
            if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED:
                if datasz != 4:
                    return None
                return self.words(pos + 8, 1, self.s.Elf_word, "property", "bad-offset")[0]
            pos += 8 + _align(datasz, step)
        return None


class _Dynamic:
    """Everything read through PT_DYNAMIC: tags, strings, symbols and versions."""

    def __init__(self, r: _Reader, phdrs: list[Any], segment: Any) -> None:
        self.r, self.s = r, r.s
        self.half = r.s.Elf_half("ndx")
        self.loads = [ph for ph in phdrs if ph.p_type == PT_LOAD]
        self.needed_at: list[int] = []
        self.tags: dict[str, int] = {}
        if segment is not None:
            self.read_tags(segment)
        self.at = {tag: self.offset(tag) for tag in ADDRESS_TAGS if tag in self.tags}
        if "DT_STRTAB" in self.at:
            start, size = self.at["DT_STRTAB"], self.tags.get("DT_STRSZ", 0)
            r.require(start, size, "bad-offset", "string table")
            r.strtab = r.data[start:start + size]
        self.needed = tuple(r.string(v, "DT_NEEDED") for v in self.needed_at)
        self.soname = self.tag_string("DT_SONAME")
        self.rpath = self.path_list("DT_RPATH")
        self.runpath = self.path_list("DT_RUNPATH")
        self.symbol_count = self.count_symbols()
        self.version_needs, self.needs_by_index = self.read_version_needs()
        self.version_definitions, self.defs_by_index = self.read_version_definitions()
        self.undefined, self.init_functions = self.read_symbols()

    def read_tags(self, ph: Any) -> None:
        dyn_size = self.s.Elf_Dyn.sizeof()
        for i in range(ph.p_filesz // dyn_size):  # up to p_filesz, not to any DT_NULL
            entry = self.r.parse(self.s.Elf_Dyn, ph.p_offset + i * dyn_size, "bad-offset", "tag")
            if entry.d_tag in ("DT_NULL", 0):
                break
            if entry.d_tag == "DT_NEEDED":
                self.needed_at.append(entry.d_val)
            elif isinstance(entry.d_tag, str):  # unnamed tags are never read
                self.tags[entry.d_tag] = entry.d_val  # single-valued: the last one wins

    def offset(self, tag: str) -> int:
        # Not ELFFile.address_offsets: it walks iter_segments (see the module docstring) and
        # wants the whole [addr, addr + 1) in p_filesz; this is the rule's first PT_LOAD.
        addr = self.tags[tag]
        for ph in self.loads:
            if ph.p_vaddr <= addr < ph.p_vaddr + ph.p_filesz:
                return addr - ph.p_vaddr + ph.p_offset
        raise ElfError("bad-offset", f"{tag} {addr:#x} is in no PT_LOAD")

    def tag_string(self, tag: str) -> str | None:
        return self.r.string(self.tags[tag], tag) if tag in self.tags else None

    def path_list(self, tag: str) -> tuple[str, ...]:
        value = self.tag_string(tag)
        return () if value is None else tuple(value.split(":"))

    def count_symbols(self) -> int:
        if "DT_GNU_HASH" in self.at:
            count = self.gnu_hash_count(self.at["DT_GNU_HASH"])
        elif "DT_HASH" in self.at:
            count = self.sysv_hash_count(self.at["DT_HASH"])
        else:
            count = 0
        if count > MAX_SYMBOLS:
            raise ElfError("too-large", f"{count} dynamic symbols")
        return count

    def gnu_hash_count(self, pos: int) -> int:
        # One past the highest symbol index reachable: the last chain ends with bit 0 set.
        word, bloom_word = self.s.Elf_word, 8 if self.r.is64 else 4
        nbuckets, symoffset, bloom_size, _ = self.r.words(pos, 4, word, "DT_GNU_HASH header")
        buckets_at = pos + 16 + bloom_size * bloom_word
        self.r.require(buckets_at, nbuckets * 4, "bad-table", "DT_GNU_HASH buckets")
        top = max(self.r.words(buckets_at, nbuckets, word, "DT_GNU_HASH buckets"), default=0)
        if top < symoffset:
            return symoffset
        chain_at = buckets_at + nbuckets * 4 - symoffset * 4
        while not self.r.words(chain_at + top * 4, 1, word, "DT_GNU_HASH chain")[0] & 1:
            top += 1  # each step reads further on, so the buffer's end stops a missing end bit
        return top + 1

    def sysv_hash_count(self, pos: int) -> int:
        wide = self.r.is64 and self.r.machine == EM_S390  # s390x: 8-byte DT_HASH words
        word, size = (self.s.Elf_xword, 8) if wide else (self.s.Elf_word, 4)
        nbucket, nchain = self.r.words(pos, 2, word, "DT_HASH header")
        self.r.require(pos, (2 + nbucket + nchain) * size, "bad-table", "DT_HASH table")
        return nchain

    def read_version_needs(self) -> tuple[tuple[VersionNeed, ...], dict[int, tuple[str, str]]]:
        needs: list[VersionNeed] = []
        by_index: dict[int, tuple[str, str]] = {}  # vna_other -> (version, file), first wins
        pos = self.at.get("DT_VERNEED")
        limit = self.tags.get("DT_VERNEEDNUM", self.r.size // 16)
        for _ in range(limit if pos is not None else 0):
            need = self.r.parse(self.s.Elf_Verneed, pos, "bad-table", "Verneed")
            file = self.r.string(need.vn_file, "vn_file")
            versions, aux = [], pos + need.vn_aux
            for _ in range(need.vn_cnt):
                vna = self.r.parse(self.s.Elf_Vernaux, aux, "bad-table", "Vernaux")
                versions.append(self.r.string(vna.vna_name, "vna_name"))
                by_index.setdefault(vna.vna_other, (versions[-1], file))
                if vna.vna_next == 0:
                    break
                aux += vna.vna_next
            needs.append(VersionNeed(file, tuple(versions)))
            if need.vn_next == 0:
                break
            pos += need.vn_next
        return tuple(needs), by_index

    def read_version_definitions(self) -> tuple[tuple[str, ...], dict[int, str]]:
        names: list[str] = []
        by_index: dict[int, str] = {}  # vd_ndx -> version, first wins
        pos = self.at.get("DT_VERDEF")
        limit = self.tags.get("DT_VERDEFNUM", self.r.size // 16)
        for _ in range(limit if pos is not None else 0):
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
        count = self.symbol_count
        if count == 0:
            return (), ()
        sym_struct, entsize = self.s.Elf_Sym, self.tags.get("DT_SYMENT", self.s.Elf_Sym.sizeof())
        if "DT_SYMTAB" not in self.at or entsize < sym_struct.sizeof():
            raise ElfError("bad-table", f"{count} symbols but no DT_SYMTAB or DT_SYMENT {entsize}")
        symtab, versym = self.at["DT_SYMTAB"], self.at.get("DT_VERSYM")
        self.r.require(symtab, count * entsize, "bad-table", "symbol table")
        if versym is not None:
            self.r.require(versym, count * 2, "bad-table", "versym array")
        undefined: list[UndefinedSymbol] = []
        init_functions: list[str] = []
        for i in range(1, count):
            sym = self.r.parse(sym_struct, symtab + i * entsize, "bad-table", "symbol")
            kind = SymbolType(_number(sym.st_info.type, ENUM_ST_INFO_TYPE))
            if sym.st_shndx == "SHN_UNDEF":
                name = self.r.string(sym.st_name, "st_name")
                version, file = self.version_of(versym, i)
                bind = SymbolBinding(_number(sym.st_info.bind, ENUM_ST_INFO_BIND))
                undefined.append(UndefinedSymbol(name, bind, kind, version, file))
            elif kind is SymbolType.FUNC:
                name = self.r.string(sym.st_name, "st_name")
                if name.startswith(PYTHON_INIT_PREFIXES):
                    init_functions.append(name)
        return tuple(undefined), tuple(init_functions)

    def version_of(self, versym: int | None, i: int) -> tuple[str | None, str | None]:
        if versym is None:
            return None, None
        # Elf_Versym decodes 0/1 to names; the raw Elf_half is the number we need.
        index = self.r.parse(self.half, versym + 2 * i, "bad-table", "versym") & 0x7FFF
        if index in (0, 1):
            return None, None
        if index in self.needs_by_index:
            return self.needs_by_index[index]
        return self.defs_by_index.get(index), None
