"""The facts of one ELF file: the single record every later stage reads.

Both backends (the Cython core in ``native/`` and the pyelftools reference in
:mod:`wheelscan.elf.reference`) produce exactly this record, and the tests assert that they
produce *equal* records. Everything is read through program headers (the view the dynamic
loader has), so stripped files and files without section headers are judged correctly.

Spec: System V gABI (ELF header, program headers, dynamic section, hash tables) and the LSB
"Symbol Versioning" chapter (.gnu.version, .gnu.version_r, .gnu.version_d).

Reading rules, shared by both backends (so that "equal records" is a meaningful test). They
are glibc's loader's (elf/dl-load.c, elf/dl-map-segments.h, elf/get-dynamic-info.h,
elf/dl-version.c): a fact the loader would read differently is no fact. Where the loader and
the other readers (readelf, pyelftools, so auditwheel) would read one file two ways, the
file is ``ambiguous``, an error, never the milder reading (issue #14):

- Header: ``\x7fELF`` magic else ``not-elf``; EI_CLASS 1/2 and EI_DATA 1/2 else ``bad-header``;
  a buffer shorter than the header is ``truncated``. When e_phnum > 0 (``.o`` files have
  none), e_phentsize smaller than the class's Phdr, or a program-header table past the end,
  is ``bad-offset``; e_phnum is taken as is (PN_XNUM is not special-cased).
- Segments, in table order: the first PT_INTERP (bytes up to the first NUL); the last
  PT_GNU_STACK (its p_flags), as glibc; the last non-empty PT_DYNAMIC, else the last (glibc
  >= 2.35 skips empty ones, which objcopy --only-keep-debug writes). The first PT_INTERP,
  every PT_DYNAMIC and every scanned PT_NOTE whose [p_offset, p_offset + p_filesz) leaves
  the buffer is ``bad-offset``.
- PT_LOAD segments of non-zero size (max of p_filesz, p_memsz) must come in ascending
  p_vaddr order, none overlapping the one before in memory, and two that share a page must
  have the same p_vaddr - p_offset (glibc maps whole pages in table order: the later
  segment's file bytes would be what the loader sees of both); the page is the smallest of
  the PT_LOADs' p_align lowest set bits, 4096 at least. Else ``bad-offset``. Then two non-empty
  PT_DYNAMIC segments that differ (p_offset, p_vaddr or p_filesz) are ``ambiguous``.
- The dynamic section is read at its p_vaddr, through the PT_LOADs (below), as the loader
  does; [p_vaddr, p_vaddr + p_filesz) in no PT_LOAD's file image is ``bad-offset``; bytes
  there other than those at p_offset are ``ambiguous``; no DT_NULL within p_filesz (the
  loader reads on past it) is ``bad-table``.
- x86 ISA level: only for EM_386/EM_X86_64, as glibc's dl-load.c and sysdeps/x86/dl-prop.h
  find it: the PT_NOTE segments from the last to the first, only those whose p_align is the
  word size (8 in ELF64, 4 in ELF32), each read at its p_vaddr through the PT_LOADs (not
  in one PT_LOAD's image: ``bad-offset``; p_memsz other than p_filesz, or bytes other than
  those at p_offset: ``ambiguous``), until one holds a GNU ``NT_GNU_PROPERTY_TYPE_0`` note.
  Notes are aligned to the word size. A second GNU property note in that segment is
  ``ambiguous`` (glibc drops both); one running past its segment is ``bad-table``. In it,
  properties must come in ascending type order with GNU_PROPERTY_1_NEEDED,
  X86_FEATURE_1_AND and ``GNU_PROPERTY_X86_ISA_1_NEEDED`` (0xc0008002) 4 bytes long, and
  n_descsz a multiple of the word size (8 at least), else there is no level; the scan stops
  at the ISA property or past its type. Properties are aligned to the word size. Checked
  after the PT_LOAD and PT_DYNAMIC rules below.
- Dynamic tags: DT_NEEDED accumulate; every other tag is single-valued and the last one
  wins. Addresses (DT_STRTAB, DT_SYMTAB, DT_HASH, DT_GNU_HASH, DT_VERSYM, DT_VERNEED,
  DT_VERDEF) become file offsets through the PT_LOAD with
  ``p_vaddr <= addr < p_vaddr + p_filesz``; no such PT_LOAD is ``bad-offset``. A table
  read from an address must end inside that PT_LOAD's file image too (past it the loader
  sees zeros, a hole or another segment, not the file's next bytes): each table's own
  bounds error says so, as for running past the buffer. A tag is
  translated only when it is used, as the loader does: DT_HASH only without DT_GNU_HASH,
  DT_SYMTAB and DT_VERSYM only when the symbol count is above 0.
- Strings: the string table is [DT_STRTAB, DT_STRTAB + DT_STRSZ), which must lie inside the
  buffer (else ``bad-offset``; DT_STRTAB without DT_STRSZ too); a string offset outside it,
  or a string with no NUL inside it, is ``bad-table``. Names decode as UTF-8 with
  ``backslashreplace``. DT_NEEDED, DT_SONAME, DT_RPATH or DT_RUNPATH without DT_STRTAB is
  ``bad-table``.
- Symbol count: from DT_GNU_HASH if present (highest bucket's chain walked to its end bit;
  ``symoffset`` when every bucket is below it), else DT_HASH ``nchain`` (8-byte words in
  64-bit s390x files; only its two-word header is read, as glibc's ``_dl_setup_hash``), else
  0. A count above 1<<24 is ``too-large``, checked as soon as the count is known. DT_SYMENT,
  when present, must equal the class's Elf_Sym size (16/24), else ``bad-table``. The GNU hash
  header, buckets and walked chain, the symbol table and the versym array must lie inside
  the buffer, else ``bad-table``. Every symbol name (1..count-1) must be a valid string.
  The names the record holds (undefined symbols, init functions and Python definitions,
  each string-table offset counted once) may add up to at most 16 times the buffer's length
  (1 MiB at least), else ``too-large``: n symbols naming the suffixes of one long string
  would make a record of n x length / 2 bytes. This is checked after every other rule.
  More than 1<<18 undefined symbols, or more than 1<<18 Python definitions, is
  ``too-large`` too (each becomes a record of ~140 bytes).
  When a file breaks several rules, the first in this list decides the error.
- Symbols 1..count-1: ``st_shndx == SHN_UNDEF`` makes an UndefinedSymbol; a defined STT_FUNC
  named with a PYTHON_INIT_PREFIXES prefix goes to ``init_functions``; a defined symbol (any
  binding, any type) whose name starts with a PYTHON_SYMBOL_PREFIXES prefix makes a
  DefinedSymbol in ``python_definitions`` (so ``PyInit_x`` is in both). With the undefined
  ``Py*``/``_Py*`` symbols these are the facts the abi3 audit reads (issue #17): the
  module-init exports (``PyInit_*``, PEP 793's ``PyModExport_*``) and any other ``Py*``
  name the file defines.
- Versions, as glibc's ``_dl_check_map_versions``: versym index ``& 0x7fff``; 0 and 1 mean
  unversioned; else the version glibc's l_versions holds for it: filled from every Vernaux
  in chain order by ``vna_other & 0x7fff`` (so the last wins; version and file), then from
  every Verdef without VER_FLG_BASE by ``vd_ndx & 0x7fff`` (version, no file), which
  overrides; else unversioned. The chains are followed in memory (each entry's address
  translated on its own, the links added to it) until a link is 0: ``vn_next``,
  ``vna_next``, ``vd_next``; the name of a Verdef is its first Verdaux's. A vn_cnt other
  than the number of Vernaux linked, a DT_VERNEEDNUM other than the number of Verneed
  linked, a DT_VERDEFNUM other than the number of Verdef linked is ``ambiguous`` (checked
  once that list is walked). An entry outside every PT_LOAD's image or the buffer is
  ``bad-table``, and so is visiting more than length/16 entries in one table (Verneed and
  Vernaux counted together; Verdef): a real table cannot hold more, so a looping chain ends.
"""

from __future__ import annotations

import functools
import operator
import re
from enum import IntEnum
from typing import Any

from wheelscan.errors import ElfErrorCode, WheelscanError
from wheelscan.fast_enum import IntEnumBody, fast_enum
from wheelscan.fast_tuple import TupleBody, fast_tuple
from wheelscan.records import record


@fast_enum(IntEnum)
class ElfClass(IntEnumBody):
    ELF32 = 1
    ELF64 = 2


@fast_enum(IntEnum)
class Endianness(IntEnumBody):
    LITTLE = 1
    BIG = 2


@fast_enum(IntEnum)
class Machine(IntEnumBody):
    """``e_machine`` values; any other value becomes a pseudo-member ``UNKNOWN_<n>``."""

    NONE = 0
    SPARC = 2
    I386 = 3
    MIPS = 8
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    SPARCV9 = 43
    IA_64 = 50
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    LOONGARCH = 258

    @classmethod
    def _missing_(cls, value: object) -> Machine | None:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


@fast_enum(IntEnum)
class SymbolBinding(IntEnumBody):
    LOCAL = 0
    GLOBAL = 1
    WEAK = 2
    GNU_UNIQUE = 10

    @classmethod
    def _missing_(cls, value: object) -> SymbolBinding | None:
        if not isinstance(value, int) or not 0 <= value <= 15:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"BIND_{value}"
        member._value_ = value
        return member


@fast_enum(IntEnum)
class SymbolType(IntEnumBody):
    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    COMMON = 5
    TLS = 6
    GNU_IFUNC = 10

    @classmethod
    def _missing_(cls, value: object) -> SymbolType | None:
        if not isinstance(value, int) or not 0 <= value <= 15:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"TYPE_{value}"
        member._value_ = value
        return member


# Prefixes of defined functions that make a file a Python extension module (auditwheel
# ``elf_is_python_extension``): Python 3, Python 2 and PyPy's cffi entry points.
PYTHON_INIT_PREFIXES = ("PyInit_", "init", "_cffi_pypyinit_")
# Prefixes of the names in CPython's C API (and so of its stable ABI): a file's defined
# symbols with these names are kept in ``python_definitions`` for the abi3 audit.
PYTHON_SYMBOL_PREFIXES = ("Py", "_Py")
# Module-init exports: the classic init function, and PEP 793's export hook (Python 3.15)
MODULE_INIT_PREFIXES = ("PyInit_", "PyModExport_")
# DT_NEEDED of a version-specific libpython (libpython3.12.so.1.0, libpython3.15t.so.1.0):
# an extension linked to one loads only into that interpreter. Wider on purpose than
# policy/resolve.py's LIBPYTHON_RE, which is auditwheel's own (``m`` flag only, exact
# ``.so.N`` suffixes) so that the manylinux verdicts keep auditwheel's: this one is the
# abi3 audit's, and any ABI flag (``t``, ``d``, ``td``) still pins one interpreter; compiled
# on first use (the abi3 audit's), by re's own cache: a one-wheel ``show`` need not (issue #15)
_LIBPYTHON = r"libpython\d+\.\d+[a-z]*\.so(\.|$)"


@fast_tuple
class UndefinedSymbol(TupleBody):
    """A dynamic symbol the file imports (``st_shndx == SHN_UNDEF``, index > 0).

    A NamedTuple rather than a dataclass: files hold thousands, and tuples are built fast.
    """

    name: str
    binding: SymbolBinding
    type: SymbolType
    # From .gnu.version and .gnu.version_r: the version the symbol is bound to
    # (``GLIBC_2.29``) and the file that must provide it (``libc.so.6``); None when the
    # symbol is unversioned (index 0/1) or the file has no version table.
    version: str | None
    version_file: str | None


@fast_tuple
class DefinedSymbol(TupleBody):
    """A dynamic symbol the file defines (``st_shndx != SHN_UNDEF``, index > 0)."""

    name: str
    binding: SymbolBinding
    type: SymbolType


@fast_tuple
class VersionNeed(TupleBody):
    """One entry of the version-needs chain: a file and the versions needed from it."""

    file: str
    versions: tuple[str, ...]


@record(slots=True)
class ElfFacts:
    """What the loader would read of one ELF file: the facts every verdict is made from."""

    elf_class: ElfClass
    endianness: Endianness
    osabi: int
    elf_type: int
    machine: Machine
    flags: int  # e_flags: ARM EABI version and float ABI, PPC64 ELFv1/ELFv2, RISC-V float ABI
    interpreter: str | None  # PT_INTERP, without the terminating NUL
    # PT_DYNAMIC
    has_dynamic: bool
    needed: tuple[str, ...]  # DT_NEEDED, in order
    soname: str | None  # DT_SONAME
    rpath: tuple[str, ...]  # the last DT_RPATH, split on ':' (empty entries kept)
    runpath: tuple[str, ...]  # the last DT_RUNPATH, split on ':'
    dt_flags: int  # DT_FLAGS, 0 when absent
    dt_flags_1: int  # DT_FLAGS_1, 0 when absent
    # PT_GNU_STACK: its p_flags, None when the segment is absent
    stack_flags: int | None
    # GNU_PROPERTY_X86_ISA_1_NEEDED from the first GNU property note (PT_NOTE), None if absent
    x86_isa_needed: int | None
    # The dynamic symbol table, sized from DT_HASH or DT_GNU_HASH
    symbol_count: int
    undefined_symbols: tuple[UndefinedSymbol, ...]  # in table order
    # Defined STT_FUNC symbols whose names start with one of PYTHON_INIT_PREFIXES, in order
    init_functions: tuple[str, ...]
    version_needs: tuple[VersionNeed, ...]  # .gnu.version_r, in chain order
    version_definitions: tuple[str, ...]  # .gnu.version_d: the name of each definition
    # Defined symbols named with a PYTHON_SYMBOL_PREFIXES prefix, in table order
    python_definitions: tuple[DefinedSymbol, ...] = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Workers send facts to the parent, which unpickles all of them on one core. The
        # symbols travel as columns (names, bindings and types as bytes, versions, files):
        # split and rebuilt by C-level map/zip, with no Python call per symbol, where one
        # tuple per symbol rebuilt through the NamedTuple's __new__ and EnumMeta cost the
        # parent more than parsing them cost a worker.
        fields = [getattr(self, name) for name in _FIELDS]
        symbols = self.undefined_symbols
        fields[_UNDEFINED] = (
            tuple(map(_NAME, symbols)),
            bytes(map(_BINDING, symbols)),
            bytes(map(_TYPE, symbols)),
            tuple(map(_VERSION, symbols)),
            tuple(map(_VERSION_FILE, symbols)),
        )
        fields[_NEEDS] = tuple((n.file, n.versions) for n in self.version_needs)
        for index in _ENUMS:
            fields[index] = int(fields[index])
        return (_rebuild_facts, tuple(fields))

    @property
    def executable_stack(self) -> bool:
        """True when PT_GNU_STACK asks for PF_X, or is missing (the loader's default then)."""
        return self.stack_flags is None or bool(self.stack_flags & 0x1)

    @property
    def links_libpython(self) -> bool:
        """DT_NEEDED names a version-specific libpython (``libpythonX.Y*.so*``)."""
        return self.linked_libpython is not None

    @property
    def linked_libpython(self) -> str | None:
        """The first DT_NEEDED that ``links_libpython`` matches, None if none does."""
        return next((name for name in self.needed if re.match(_LIBPYTHON, name)), None)

    @property
    def module_exports(self) -> tuple[str, ...]:
        """The module-init exports: defined, non-local ``PyInit_*`` and ``PyModExport_*``."""
        return tuple(
            s.name
            for s in self.python_definitions
            if s.binding != SymbolBinding.LOCAL and s.name.startswith(MODULE_INIT_PREFIXES)
        )

    @property
    def is_little_endian(self) -> bool:
        return self.endianness is Endianness.LITTLE


_FIELDS = tuple(f for f in ElfFacts.__dataclass_fields__)
_UNDEFINED = _FIELDS.index("undefined_symbols")
_NEEDS = _FIELDS.index("version_needs")
_ENUMS = {
    _FIELDS.index(n): cls
    for n, cls in (("elf_class", ElfClass), ("endianness", Endianness), ("machine", Machine))
}


def _member(cls: Any, value: int) -> Any:
    return cls._value2member_map_.get(value) or cls(value)


# Every st_info binding and type by number, built once: IntEnum construction costs
# microseconds, and files hold thousands of symbols (the native core uses these too)
BINDING_OF = tuple(SymbolBinding(i) for i in range(16))
TYPE_OF = tuple(SymbolType(i) for i in range(16))
_NAME, _BINDING, _TYPE, _VERSION, _VERSION_FILE = (operator.itemgetter(i) for i in range(5))
_NEW_SYMBOL = functools.partial(tuple.__new__, UndefinedSymbol)


def _rebuild_facts(*fields: Any) -> ElfFacts:
    values = list(fields)
    for index, cls in _ENUMS.items():
        values[index] = _member(cls, values[index])
    names, bindings, types, versions, files = values[_UNDEFINED]
    values[_UNDEFINED] = tuple(
        map(
            _NEW_SYMBOL,
            zip(
                names,
                map(BINDING_OF.__getitem__, bindings),
                map(TYPE_OF.__getitem__, types),
                versions,
                files,
                strict=True,
            ),
        )
    )
    values[_NEEDS] = tuple(VersionNeed(f, v) for f, v in values[_NEEDS])
    return ElfFacts(*values)


class ElfError(WheelscanError):
    """The buffer is not an ELF file wheelscan can read.

    ``code`` is stable (an ``ElfErrorCode``: ``not-elf``, ``truncated``, ``bad-header``,
    ``bad-offset``, ``bad-table``, ``too-large``, ``ambiguous``: glibc's loader and the other
    readers would read it two ways) so reports can group errors; ``reason`` says what
    exactly. Both backends raise it, with the same codes.
    """

    codes = ElfErrorCode
    code: ElfErrorCode


class NeedBytes(Exception):
    """The parser, given only some ranges of a buffer, needs the bytes [start, end) too.

    A request, not an error (so no WheelscanError): whoever hands the native parser part of
    a member (wheel/stream.py, wheel/ends.py, contents.py's prefix) catches it, provides the
    bytes or gives up on that reading, and it never leaves the reading. Defined here, beside
    ElfError, so that those readers name it and its fields are typed.
    """

    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"need bytes [{start}, {end})")
        self.start = start
        self.end = end

    def __reduce__(self) -> tuple[type[NeedBytes], tuple[int, int]]:
        return (type(self), (self.start, self.end))
