"""A small ELF writer for the tests: exact dynamic objects for every class, byte order and
machine, plus hostile variants (see ``CORRUPTIONS``).

Layout of ``build_elf(spec)`` (one file, one PT_LOAD with ``p_vaddr = p_offset + BASE_VADDR``
so that every address in the dynamic section differs from its file offset)::

    ELF header | program headers | .interp | .note.gnu.property | .hash | .gnu.hash | .dynsym
    | .dynstr | .gnu.version | .gnu.version_d | .gnu.version_r | .text | .dynamic
    | .decoy.dynamic | .shstrtab | section headers

With ``second_load_from`` the file is mapped by two PT_LOADs, the second (from that section
on) at ``p_vaddr = p_offset + BASE_VADDR + SECOND_LOAD_SHIFT``, as linkers map a data segment:
an address then names a file offset only through the right segment. ``decoy_needed`` adds
``.decoy.dynamic``, a dynamic section no program header points at (tests point one there):
the real one's tags with other DT_NEEDED and no version needs. ``spare_segments`` leaves
PT_NULL program headers at the end of the table for tests to fill (``ElfImage.set_segment``);
``extra_isa_note`` adds ``.note.extra``, a GNU property note no PT_NOTE points at yet.

Symbol order in .dynsym: the null symbol, LOCAL symbols, then (GNU hash) every undefined
symbol before ``symoffset`` and the defined ones sorted by GNU-hash bucket, as ld lays them
out; with ``hash_style="sysv"`` the spec order is kept (after the locals).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

ET_EXEC, ET_DYN = 2, 3
EM_386, EM_PPC64, EM_S390, EM_ARM, EM_X86_64 = 3, 21, 22, 40, 62
EM_AARCH64, EM_RISCV, EM_LOONGARCH = 183, 243, 258
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
PT_GNU_STACK, PT_GNU_PROPERTY = 0x6474E551, 0x6474E553
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS, SHT_STRTAB, SHT_HASH, SHT_DYNAMIC, SHT_NOTE, SHT_DYNSYM = 1, 3, 5, 6, 7, 11
SHT_GNU_HASH, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM = (
    0x6FFFFFF6,
    0x6FFFFFFD,
    0x6FFFFFFE,
    0x6FFFFFFF,
)
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS = 14, 15, 29, 30
DT_GNU_HASH, DT_VERSYM, DT_FLAGS_1 = 0x6FFFFEF5, 0x6FFFFFF0, 0x6FFFFFFB
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
DF_BIND_NOW, DF_1_NOW = 0x8, 0x1
NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_FEATURE_1_AND, GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0000002, 0xC0008002
VER_FLG_BASE = 1
BASE_VADDR = 0x10000
SECOND_LOAD_SHIFT = 0x200000  # a multiple of every page size: the mapping stays congruent
PT_NULL = 0

HashStyle = Literal["sysv", "gnu", "both"]


@dataclass(frozen=True)
class Sym:
    name: str
    defined: bool = False
    binding: int = STB_GLOBAL
    type: int = STT_FUNC
    version: str | None = None  # undefined: a Vernaux name; defined: a version_definitions name
    version_file: str | None = None  # undefined versioned symbols: the Verneed file
    hidden: bool = False  # defined versioned symbol as ``name@VER`` (versym bit 0x8000)


@dataclass
class ElfSpec:
    elf_class: Literal[32, 64] = 64
    little_endian: bool = True
    machine: int = EM_X86_64
    flags: int = 0
    osabi: int = 0
    elf_type: int = ET_DYN
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    dt_flags: int | None = None  # None: the tag is absent
    dt_flags_1: int | None = None
    stack_flags: int | None = PF_R | PF_W  # None: no PT_GNU_STACK
    x86_isa_needed: int | None = None  # GNU_PROPERTY_X86_ISA_1_NEEDED in PT_NOTE/PT_GNU_PROPERTY
    x86_feature_1_and: int | None = None  # an IBT/SHSTK property placed before it, as gcc does
    symbols: list[Sym] = field(default_factory=list)
    version_definitions: list[str] = field(default_factory=list)  # index 1 = the base
    hash_style: HashStyle = "gnu"
    hash_buckets: int | None = None  # force nbucket of both tables (None: ld's choice)
    section_headers: bool = True
    phdr_segment: bool = True  # emit PT_PHDR
    extra_dynamic: list[tuple[int, int | str]] = field(default_factory=list)  # before DT_NULL
    verneednum: int | None = None  # DT_VERNEEDNUM's value (None: the number of Verneed)
    second_load_from: str | None = None  # a section from which a second PT_LOAD maps the file
    decoy_needed: list[str] | None = None  # emit .decoy.dynamic with these DT_NEEDED
    spare_segments: int = 0  # PT_NULL program headers at the end of the table
    extra_isa_note: int | None = None  # .note.extra: another ISA property note, no segment


def elf_hash(name: str) -> int:
    h = 0
    for c in name.encode():
        h = (h << 4) + c
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def gnu_hash(name: str) -> int:
    h = 5381
    for c in name.encode():
        h = (h * 33 + c) & 0xFFFFFFFF
    return h


class _Struct:
    """A packed little/big-endian record; ``A`` in a field code is the class's address size."""

    def __init__(self, endian: str, is64: bool, fields: list[tuple[str, str]]) -> None:
        a = "Q" if is64 else "I"
        self.endian = endian
        self.codes = {n: c.replace("A", a) for n, c in fields}
        self.offsets: dict[str, int] = {}
        pos = 0
        for name, code in self.codes.items():
            self.offsets[name] = pos
            pos += struct.calcsize("<" + code)
        self.size = pos
        self._fmt = endian + "".join(self.codes.values())

    def pack(self, **values: int | bytes) -> bytes:
        return struct.pack(self._fmt, *(values.get(n, 0) for n in self.codes))


_EHDR = [
    ("e_ident", "16s"),
    ("e_type", "H"),
    ("e_machine", "H"),
    ("e_version", "I"),
    ("e_entry", "A"),
    ("e_phoff", "A"),
    ("e_shoff", "A"),
    ("e_flags", "I"),
    ("e_ehsize", "H"),
    ("e_phentsize", "H"),
    ("e_phnum", "H"),
    ("e_shentsize", "H"),
    ("e_shnum", "H"),
    ("e_shstrndx", "H"),
]
_PHDR64 = [
    ("p_type", "I"),
    ("p_flags", "I"),
    ("p_offset", "Q"),
    ("p_vaddr", "Q"),
    ("p_paddr", "Q"),
    ("p_filesz", "Q"),
    ("p_memsz", "Q"),
    ("p_align", "Q"),
]
_PHDR32 = [
    ("p_type", "I"),
    ("p_offset", "I"),
    ("p_vaddr", "I"),
    ("p_paddr", "I"),
    ("p_filesz", "I"),
    ("p_memsz", "I"),
    ("p_flags", "I"),
    ("p_align", "I"),
]
_SHDR = [
    ("sh_name", "I"),
    ("sh_type", "I"),
    ("sh_flags", "A"),
    ("sh_addr", "A"),
    ("sh_offset", "A"),
    ("sh_size", "A"),
    ("sh_link", "I"),
    ("sh_info", "I"),
    ("sh_addralign", "A"),
    ("sh_entsize", "A"),
]
_SYM64 = [
    ("st_name", "I"),
    ("st_info", "B"),
    ("st_other", "B"),
    ("st_shndx", "H"),
    ("st_value", "Q"),
    ("st_size", "Q"),
]
_SYM32 = [
    ("st_name", "I"),
    ("st_value", "I"),
    ("st_size", "I"),
    ("st_info", "B"),
    ("st_other", "B"),
    ("st_shndx", "H"),
]
_DYN = [("d_tag", "A"), ("d_val", "A")]
_VERNEED = [
    ("vn_version", "H"),
    ("vn_cnt", "H"),
    ("vn_file", "I"),
    ("vn_aux", "I"),
    ("vn_next", "I"),
]
_VERNAUX = [
    ("vna_hash", "I"),
    ("vna_flags", "H"),
    ("vna_other", "H"),
    ("vna_name", "I"),
    ("vna_next", "I"),
]
_VERDEF = [
    ("vd_version", "H"),
    ("vd_flags", "H"),
    ("vd_ndx", "H"),
    ("vd_cnt", "H"),
    ("vd_hash", "I"),
    ("vd_aux", "I"),
    ("vd_next", "I"),
]
_VERDAUX = [("vda_name", "I"), ("vda_next", "I")]


class _Structs:
    def __init__(self, little_endian: bool, is64: bool) -> None:
        e = "<" if little_endian else ">"
        self.e, self.is64, self.word = e, is64, 8 if is64 else 4
        self.ehdr, self.shdr, self.dyn = (_Struct(e, is64, f) for f in (_EHDR, _SHDR, _DYN))
        self.phdr = _Struct(e, is64, _PHDR64 if is64 else _PHDR32)
        self.sym = _Struct(e, is64, _SYM64 if is64 else _SYM32)
        self.verneed, self.vernaux, self.verdef, self.verdaux = (
            _Struct(e, is64, f) for f in (_VERNEED, _VERNAUX, _VERDEF, _VERDAUX)
        )

    def words(self, code: str, values: list[int]) -> bytes:
        return struct.pack(f"{self.e}{len(values)}{code}", *values)


class _StrTab:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


_ELF_BUCKETS = (1, 3, 17, 37, 67, 97, 131, 197, 263, 521, 1031, 2053, 4099, 8209, 16411, 32771)


def _nbuckets(n: int) -> int:
    """ld's choice (elf_buckets): the largest listed size not above the symbol count."""
    return max([b for b in _ELF_BUCKETS if b <= n] or [1])


def _sysv_hash(names: list[str], nbucket: int, s: _Structs, wide: bool) -> bytes:
    """DT_HASH over the whole table (names[0] is the null symbol)."""
    buckets, chains = [0] * nbucket, [0] * len(names)
    for i in range(1, len(names)):
        b = elf_hash(names[i]) % nbucket
        chains[i], buckets[b] = buckets[b], i
    return s.words("Q" if wide else "I", [nbucket, len(names), *buckets, *chains])


def _gnu_bloom_params(n: int, is64: bool) -> tuple[int, int]:
    """(bloom_size, bloom_shift) as bfd's elf_gnu_hash sizing computes them."""
    m = (n - 1).bit_length() + 1 if n > 1 else 1
    if m < 3:
        m = 5
    elif (1 << (m - 2)) & n:
        m += 3
    else:
        m += 2
    shift1 = 6 if is64 else 5
    m = max(m, shift1)
    return 1 << (m - shift1), m


def _gnu_hash(hashed: list[str], symoffset: int, nbucket: int, s: _Structs) -> bytes:
    """DT_GNU_HASH; ``hashed`` (the symbols from ``symoffset`` on) must be bucket-sorted."""
    c = 64 if s.is64 else 32
    bloom_size, shift2 = _gnu_bloom_params(len(hashed), s.is64)
    bloom, buckets, chains = [0] * bloom_size, [0] * nbucket, []
    hashes = [gnu_hash(n) for n in hashed]
    for i, h in enumerate(hashes):
        bloom[(h // c) % bloom_size] |= (1 << (h % c)) | (1 << ((h >> shift2) % c))
        b = h % nbucket
        if buckets[b] == 0:
            buckets[b] = symoffset + i
        last = i + 1 == len(hashes) or hashes[i + 1] % nbucket != b
        chains.append((h & ~1) | last)
    return (
        s.words("I", [nbucket, symoffset, bloom_size, shift2])
        + s.words("Q" if s.is64 else "I", bloom)
        + s.words("I", buckets + chains)
    )


def _gnu_property_note(spec: ElfSpec, s: _Structs) -> bytes:
    props = []
    for pr_type, value in (
        (GNU_PROPERTY_X86_FEATURE_1_AND, spec.x86_feature_1_and),
        (GNU_PROPERTY_X86_ISA_1_NEEDED, spec.x86_isa_needed),
    ):
        if value is not None:
            prop = s.words("I", [pr_type, 4, value])
            props.append(prop + b"\0" * (-len(prop) % s.word))  # pr_data padded to 8 / 4
    desc = b"".join(props)
    return s.words("I", [4, len(desc), NT_GNU_PROPERTY_TYPE_0]) + b"GNU\0" + desc


@dataclass
class _Sec:
    name: str
    sh_type: int
    flags: int
    align: int
    data: bytes
    entsize: int = 0
    link: str | None = None
    info: int = 0
    offset: int = 0


@dataclass
class ElfImage:
    """A built file plus where everything is, for tests and corruptions to patch."""

    data: bytearray
    spec: ElfSpec
    s: _Structs
    sections: dict[str, tuple[int, int]]  # name -> (file offset, size), also when not emitted
    symbols: list[Sym | None]  # the .dynsym order, [0] is the null symbol
    phdrs: list[tuple[int, int]]  # (p_type, file offset of the Phdr)
    dynamic: list[tuple[int, int, int]]  # (d_tag, d_val, file offset of the entry)
    verneed: list[tuple[int, list[int]]]  # (Verneed offset, [its Vernaux offsets])
    version_index: dict[tuple[str | None, str], int]  # (file or None for verdef, version)

    def put(self, offset: int, code: str, *values: int) -> None:
        struct.pack_into(
            self.s.e + code.replace("A", "Q" if self.s.is64 else "I"), self.data, offset, *values
        )

    def set_field(self, st: _Struct, base: int, name: str, value: int) -> None:
        self.put(base + st.offsets[name], st.codes[name], value)

    def set_ehdr(self, name: str, value: int) -> None:
        self.set_field(self.s.ehdr, 0, name, value)

    def set_phdr(self, p_type: int, name: str, value: int) -> None:
        self.set_field(self.s.phdr, next(o for t, o in self.phdrs if t == p_type), name, value)

    def segment(self, p_type: int) -> dict[str, int]:
        """The fields of the first program header of that type."""
        at = next(o for t, o in self.phdrs if t == p_type)
        fmt = self.s.phdr._fmt
        return dict(zip(self.s.phdr.codes, struct.unpack_from(fmt, self.data, at), strict=True))

    def set_segment(self, **fields: int) -> None:
        """Fill the first spare (PT_NULL) program header; unnamed fields are 0."""
        index = next(i for i, (t, _) in enumerate(self.phdrs) if t == PT_NULL)
        at = self.phdrs[index][1]
        self.data[at : at + self.s.phdr.size] = self.s.phdr.pack(**fields)
        self.phdrs[index] = (fields.get("p_type", PT_NULL), at)

    def set_dyn(self, tag: int, value: int) -> None:
        self.set_field(self.s.dyn, next(o for t, _, o in self.dynamic if t == tag), "d_val", value)

    def dyn(self, tag: int) -> int:
        return next(v for t, v, _ in self.dynamic if t == tag)

    def __bytes__(self) -> bytes:
        return bytes(self.data)


def _order_symbols(spec: ElfSpec) -> tuple[list[Sym], int, int]:
    """(.dynsym order without the null symbol, GNU symoffset, GNU nbucket)."""
    local = [x for x in spec.symbols if x.binding == STB_LOCAL]
    rest = [x for x in spec.symbols if x.binding != STB_LOCAL]
    if spec.hash_style == "sysv":
        return local + rest, 0, 0
    undef, hashed = [x for x in rest if not x.defined], [x for x in rest if x.defined]
    nbucket = spec.hash_buckets or _nbuckets(len(hashed))
    hashed.sort(key=lambda x: gnu_hash(x.name) % nbucket)  # stable
    return local + undef + hashed, 1 + len(local) + len(undef), nbucket


def _version_indices(
    spec: ElfSpec, syms: list[Sym]
) -> tuple[dict[tuple[str | None, str], int], dict[str, list[str]]]:
    """Verdef indices 1..n keyed (None, name); then Vernaux indices keyed (file, name), in
    chain order from max(2, n + 1) so they never collide. Also {file: [versions]}."""
    index: dict[tuple[str | None, str], int] = {
        (None, v): i + 1 for i, v in enumerate(spec.version_definitions)
    }
    needs: dict[str, list[str]] = {}
    for x in syms:
        if x.version is None:
            continue
        if x.defined and (None, x.version) not in index:
            raise ValueError(f"{x.name}: {x.version} is not in version_definitions")
        if not x.defined:
            if x.version_file is None:
                raise ValueError(f"{x.name}: an undefined versioned symbol needs version_file")
            vs = needs.setdefault(x.version_file, [])
            vs += [] if x.version in vs else [x.version]
    nxt = max(2, len(spec.version_definitions) + 1)
    for file, vs in needs.items():
        for v in vs:
            index[(file, v)], nxt = nxt, nxt + 1
    return index, needs


def _version_sections(
    spec: ElfSpec,
    s: _Structs,
    syms: list[Sym],
    dynstr: _StrTab,
    index: dict[tuple[str | None, str], int],
    needs: dict[str, list[str]],
) -> tuple[list[_Sec], list[tuple[int, list[int]]]]:
    """.gnu.version, .gnu.version_d, .gnu.version_r (entries laid out as ld does: each Verneed
    followed by its Vernaux), and the Verneed/Vernaux offsets inside .gnu.version_r."""
    if not (needs or spec.version_definitions):
        return [], []
    versym = [0]
    for x in syms:
        if x.version is None:  # ld: 0 (*local*) for unversioned imports, 1 (*global*) exports
            versym.append(1 if x.defined and x.binding != STB_LOCAL else 0)
        else:
            ndx = index[(None if x.defined else x.version_file, x.version)]
            versym.append(ndx | (0x8000 if x.hidden else 0))
    secs = [_Sec(".gnu.version", SHT_GNU_VERSYM, SHF_ALLOC, 2, s.words("H", versym), 2, ".dynsym")]
    vd, n = bytearray(), len(spec.version_definitions)
    for i, v in enumerate(spec.version_definitions):
        vd += s.verdef.pack(
            vd_version=1,
            vd_flags=VER_FLG_BASE if i == 0 else 0,
            vd_ndx=i + 1,
            vd_cnt=1,
            vd_hash=elf_hash(v),
            vd_aux=s.verdef.size,
            vd_next=0 if i == n - 1 else s.verdef.size + s.verdaux.size,
        )
        vd += s.verdaux.pack(vda_name=dynstr.index[v])
    if n:
        secs.append(
            _Sec(".gnu.version_d", SHT_GNU_VERDEF, SHF_ALLOC, s.word, bytes(vd), 0, ".dynstr", n)
        )
    vn, offsets = bytearray(), []
    for fi, (file, vs) in enumerate(needs.items()):
        offsets.append((len(vn), [len(vn) + s.verneed.size * (1 + k) for k in range(len(vs))]))
        vn += s.verneed.pack(
            vn_version=1,
            vn_cnt=len(vs),
            vn_file=dynstr.index[file],
            vn_aux=s.verneed.size,
            vn_next=0 if fi == len(needs) - 1 else s.verneed.size * (1 + len(vs)),
        )
        for k, v in enumerate(vs):
            vn += s.vernaux.pack(
                vna_hash=elf_hash(v),
                vna_other=index[(file, v)],
                vna_name=dynstr.index[v],
                vna_next=0 if k == len(vs) - 1 else s.vernaux.size,
            )
    if needs:
        secs.append(
            _Sec(
                ".gnu.version_r",
                SHT_GNU_VERNEED,
                SHF_ALLOC,
                s.word,
                bytes(vn),
                0,
                ".dynstr",
                len(needs),
            )
        )
    return secs, offsets


def _dynamic_tags(
    spec: ElfSpec, s: _Structs, dynstr: _StrTab, secs: list[_Sec], needs: dict[str, list[str]]
) -> list[tuple[int, int | str]]:
    """The dynamic entries; a str value is a section name whose address goes there."""
    tags: list[tuple[int, int | str]] = [(DT_NEEDED, dynstr.index[n]) for n in spec.needed]
    for tag, value in (
        (DT_SONAME, spec.soname),
        (DT_RPATH, spec.rpath),
        (DT_RUNPATH, spec.runpath),
        (DT_FLAGS, spec.dt_flags),
        (DT_FLAGS_1, spec.dt_flags_1),
    ):
        if value is not None:
            tags.append((tag, dynstr.index[value] if isinstance(value, str) else value))
    tags += [
        (DT_STRTAB, ".dynstr"),
        (DT_STRSZ, len(dynstr.data)),
        (DT_SYMTAB, ".dynsym"),
        (DT_SYMENT, s.sym.size),
    ]
    present = {x.name for x in secs}
    tags += [
        (t, n)
        for t, n in ((DT_HASH, ".hash"), (DT_GNU_HASH, ".gnu.hash"), (DT_VERSYM, ".gnu.version"))
        if n in present
    ]
    if needs:
        count = len(needs) if spec.verneednum is None else spec.verneednum
        tags += [(DT_VERNEED, ".gnu.version_r"), (DT_VERNEEDNUM, count)]
    if spec.version_definitions:
        tags += [(DT_VERDEF, ".gnu.version_d"), (DT_VERDEFNUM, len(spec.version_definitions))]
    extra = [(t, dynstr.index[v] if isinstance(v, str) else v) for t, v in spec.extra_dynamic]
    return [*tags, *extra, (DT_NULL, 0)]


_SEGMENT_SECTION = {
    PT_INTERP: ".interp",
    PT_DYNAMIC: ".dynamic",
    PT_NOTE: ".note.gnu.property",
    PT_GNU_PROPERTY: ".note.gnu.property",
}


def build_image(spec: ElfSpec) -> ElfImage:
    s, a = _Structs(spec.little_endian, spec.elf_class == 64), 8 if spec.elf_class == 64 else 4
    syms, symoffset, gnu_nbucket = _order_symbols(spec)
    vindex, needs = _version_indices(spec, syms)
    dynstr = _StrTab()  # the soname goes last (string-unterminated relies on it)
    for text in [
        *spec.needed,
        *(spec.decoy_needed or []),
        *needs,
        *spec.version_definitions,
        *(v for vs in needs.values() for v in vs),
        *(x.name for x in syms),
        spec.rpath,
        spec.runpath,
        spec.soname,
        *(v for _, v in spec.extra_dynamic),
    ]:
        if isinstance(text, str):
            dynstr.add(text)

    # 1. Every section's bytes (.dynsym, .dynamic: placeholders until addresses are known).
    secs: list[_Sec] = []
    if spec.interpreter is not None:
        secs.append(_Sec(".interp", SHT_PROGBITS, SHF_ALLOC, 1, spec.interpreter.encode() + b"\0"))
    if spec.x86_isa_needed is not None or spec.x86_feature_1_and is not None:
        secs.append(_Sec(".note.gnu.property", SHT_NOTE, SHF_ALLOC, a, _gnu_property_note(spec, s)))
    if spec.extra_isa_note is not None:
        note = _gnu_property_note(replace(spec, x86_isa_needed=spec.extra_isa_note), s)
        secs.append(_Sec(".note.extra", SHT_NOTE, SHF_ALLOC, a, note))
    names = [""] + [x.name for x in syms]
    if spec.hash_style in ("sysv", "both"):
        wide = s.is64 and spec.machine == EM_S390  # s390x: 8-byte hash words
        data = _sysv_hash(names, spec.hash_buckets or _nbuckets(len(names)), s, wide)
        secs.append(
            _Sec(".hash", SHT_HASH, SHF_ALLOC, 8 if wide else 4, data, 8 if wide else 4, ".dynsym")
        )
    if spec.hash_style in ("gnu", "both"):
        data = _gnu_hash(names[symoffset:], symoffset, gnu_nbucket, s)
        secs.append(_Sec(".gnu.hash", SHT_GNU_HASH, SHF_ALLOC, a, data, 0, ".dynsym"))
    nlocal = 1 + sum(x.binding == STB_LOCAL for x in syms)  # sh_info: first non-local
    secs += [
        _Sec(
            ".dynsym",
            SHT_DYNSYM,
            SHF_ALLOC,
            a,
            bytes(s.sym.size * len(names)),
            s.sym.size,
            ".dynstr",
            nlocal,
        ),
        _Sec(".dynstr", SHT_STRTAB, SHF_ALLOC, 1, bytes(dynstr.data)),
    ]
    vsecs, verneed_rel = _version_sections(spec, s, syms, dynstr, vindex, needs)
    secs += vsecs
    ndef = sum(x.defined for x in syms)
    if ndef:
        secs.append(_Sec(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 16, bytes(16 * ndef)))
    tags = _dynamic_tags(spec, s, dynstr, secs, needs)
    secs.append(
        _Sec(
            ".dynamic",
            SHT_DYNAMIC,
            SHF_ALLOC | SHF_WRITE,
            a,
            bytes(s.dyn.size * len(tags)),
            s.dyn.size,
            ".dynstr",
        )
    )
    decoy: list[tuple[int, int | str]] = []
    if spec.decoy_needed is not None:
        hidden = (DT_NEEDED, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM)
        decoy = [(DT_NEEDED, dynstr.index[n]) for n in spec.decoy_needed]
        decoy += [(t, v) for t, v in tags if t not in hidden]
        # as long as the real one, so that the segment's p_filesz fits both
        decoy += [(DT_NULL, 0)] * (len(tags) - len(decoy))
        secs.append(
            _Sec(".decoy.dynamic", SHT_PROGBITS, SHF_ALLOC, a, bytes(s.dyn.size * len(decoy)))
        )
    shstr = _StrTab()
    if spec.section_headers:
        for name in [x.name for x in secs] + [".shstrtab"]:
            shstr.add(name)
        secs.append(_Sec(".shstrtab", SHT_STRTAB, 0, 1, bytes(shstr.data)))

    # 2. Layout: header, program headers, the sections in order, the section header table.
    has_note = any(x.name == ".note.gnu.property" for x in secs)
    ptypes = (
        ([PT_PHDR] if spec.phdr_segment else [])
        + ([PT_INTERP] if spec.interpreter is not None else [])
        + [PT_LOAD, PT_DYNAMIC]
        + ([PT_NOTE, PT_GNU_PROPERTY] if has_note else [])
        + ([PT_GNU_STACK] if spec.stack_flags is not None else [])
        + [PT_NULL] * spec.spare_segments
    )
    if spec.second_load_from is not None:
        ptypes.insert(ptypes.index(PT_LOAD) + 1, PT_LOAD)
    pos = s.ehdr.size + s.phdr.size * len(ptypes)
    for x in secs:
        x.offset = pos = pos + (-pos % x.align)
        pos += len(x.data)
    nsec = len(secs) + 1 if spec.section_headers else 0
    shoff = pos + (-pos % a) if nsec else 0
    size = shoff + s.shdr.size * nsec if nsec else pos
    where = {x.name: x for x in secs}
    index = {x.name: i + 1 for i, x in enumerate(secs)}  # st_shndx also without headers
    out = bytearray(size)

    split = where[spec.second_load_from].offset if spec.second_load_from else size

    def vaddr_of(offset: int) -> int:
        return offset + BASE_VADDR + (SECOND_LOAD_SHIFT if offset >= split else 0)

    def addr(name: str) -> int:
        return vaddr_of(where[name].offset)

    # 3. Contents, then the tables that hold addresses.
    for x in secs:
        out[x.offset : x.offset + len(x.data)] = x.data
    p, text = where[".dynsym"].offset + s.sym.size, addr(".text") if ndef else 0
    for x in syms:
        value, text = (text, text + 16) if x.defined else (0, text)
        out[p : p + s.sym.size] = s.sym.pack(
            st_name=dynstr.index[x.name],
            st_info=(x.binding << 4) | x.type,
            st_value=value,
            st_size=16 if x.defined else 0,
            st_shndx=index[".text"] if x.defined else 0,
        )
        p += s.sym.size
    dynamic, p = [], where[".dynamic"].offset
    for tag, v in tags:
        value = addr(v) if isinstance(v, str) else v
        out[p : p + s.dyn.size] = s.dyn.pack(d_tag=tag, d_val=value)
        dynamic.append((tag, value, p))
        p += s.dyn.size
    p = where[".decoy.dynamic"].offset if decoy else 0
    for tag, v in decoy:
        out[p : p + s.dyn.size] = s.dyn.pack(d_tag=tag, d_val=addr(v) if isinstance(v, str) else v)
        p += s.dyn.size
    phdrs, p, loads = [], s.ehdr.size, 0
    for t in ptypes:
        if t == PT_NULL:
            off = fsz = align = flags = 0
        elif t in _SEGMENT_SECTION:
            sec = where[_SEGMENT_SECTION[t]]
            off, fsz, align = sec.offset, len(sec.data), sec.align
            flags = PF_R | PF_W if t == PT_DYNAMIC else PF_R
        elif t == PT_PHDR:
            off, fsz, align, flags = s.ehdr.size, s.phdr.size * len(ptypes), a, PF_R
        elif t == PT_LOAD:  # the whole file, RWX, at BASE_VADDR (or up to the split, and on)
            off, fsz = (0, split) if loads == 0 else (split, size - split)
            align, flags, loads = 0x1000, PF_R | PF_W | PF_X, loads + 1
        else:  # PT_GNU_STACK
            off, fsz, align, flags = 0, 0, 16, spec.stack_flags or 0
        vaddr = 0 if t in (PT_GNU_STACK, PT_NULL) else vaddr_of(off)
        out[p : p + s.phdr.size] = s.phdr.pack(
            p_type=t,
            p_flags=flags,
            p_offset=off,
            p_vaddr=vaddr,
            p_paddr=vaddr,
            p_filesz=fsz,
            p_memsz=fsz,
            p_align=align,
        )
        phdrs.append((t, p))
        p += s.phdr.size
    for i, x in enumerate(secs if nsec else []):
        alloc = x.flags & SHF_ALLOC
        p = shoff + s.shdr.size * (i + 1)
        out[p : p + s.shdr.size] = s.shdr.pack(
            sh_name=shstr.index[x.name],
            sh_type=x.sh_type,
            sh_flags=x.flags,
            sh_addr=addr(x.name) if alloc else 0,
            sh_offset=x.offset,
            sh_size=len(x.data),
            sh_link=index[x.link] if x.link else 0,
            sh_info=x.info,
            sh_addralign=x.align,
            sh_entsize=x.entsize,
        )
    ident = bytes(
        [0x7F, 0x45, 0x4C, 0x46, 2 if s.is64 else 1, 1 if spec.little_endian else 2, 1, spec.osabi]
    ) + bytes(8)
    out[: s.ehdr.size] = s.ehdr.pack(
        e_ident=ident,
        e_type=spec.elf_type,
        e_machine=spec.machine,
        e_version=1,
        e_phoff=s.ehdr.size,
        e_shoff=shoff,
        e_flags=spec.flags,
        e_ehsize=s.ehdr.size,
        e_phentsize=s.phdr.size,
        e_phnum=len(ptypes),
        e_shentsize=s.shdr.size,
        e_shnum=nsec,
        e_shstrndx=nsec - 1 if nsec else 0,
    )
    vr = where[".gnu.version_r"].offset if needs else 0
    return ElfImage(
        out,
        spec,
        s,
        {x.name: (x.offset, len(x.data)) for x in secs},
        [None, *syms],
        phdrs,
        dynamic,
        [(vr + o, [vr + q for q in aux]) for o, aux in verneed_rel],
        vindex,
    )


def build_elf(spec: ElfSpec) -> bytes:
    return bytes(build_image(spec).data)


# --- realistic presets --------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    elf_class: Literal[32, 64]
    little_endian: bool
    machine: int
    flags: int
    interpreter: str
    glibc: str  # the architecture's oldest symbol version
    gcc_s: str = "GCC_3.0"

    @property
    def loader(self) -> str:
        return self.interpreter.rsplit("/", 1)[1]


MACHINES: dict[str, Preset] = {
    "x86_64": Preset(64, True, EM_X86_64, 0, "/lib64/ld-linux-x86-64.so.2", "GLIBC_2.2.5"),
    "i686": Preset(32, True, EM_386, 0, "/lib/ld-linux.so.2", "GLIBC_2.0"),
    "aarch64": Preset(64, True, EM_AARCH64, 0, "/lib/ld-linux-aarch64.so.1", "GLIBC_2.17"),
    "ppc64le": Preset(64, True, EM_PPC64, 2, "/lib64/ld64.so.2", "GLIBC_2.17"),
    "ppc64": Preset(64, False, EM_PPC64, 1, "/lib64/ld64.so.1", "GLIBC_2.3"),
    "s390x": Preset(64, False, EM_S390, 0, "/lib/ld64.so.1", "GLIBC_2.2"),
    "armv7l": Preset(
        32, True, EM_ARM, 0x05000400, "/lib/ld-linux-armhf.so.3", "GLIBC_2.4", "GCC_3.5"
    ),
    "armv7l-softfloat": Preset(
        32, True, EM_ARM, 0x05000200, "/lib/ld-linux.so.3", "GLIBC_2.4", "GCC_3.5"
    ),
    "riscv64": Preset(64, True, EM_RISCV, 5, "/lib/ld-linux-riscv64-lp64d.so.1", "GLIBC_2.27"),
    "loongarch64": Preset(
        64, True, EM_LOONGARCH, 0x43, "/lib64/ld-linux-loongarch-lp64d.so.1", "GLIBC_2.36"
    ),
}


def _glibc_max(a: str, b: str) -> str:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.removeprefix("GLIBC_").split("."))

    return max(a, b, key=key)


def sample_spec(machine_name: str = "x86_64", **overrides: object) -> ElfSpec:
    """An extension-module-like spec (plus PT_INTERP; pass ``interpreter=None`` to drop it)."""
    m = MACHINES[machine_name]
    libc, cxx, gcc = "libc.so.6", "libstdc++.so.6", "libgcc_s.so.1"
    size_t = "m" if m.elf_class == 64 else "j"

    def u(name: str, version: str | None = None, file: str | None = None, **kw: int) -> Sym:
        return Sym(name, False, version=version, version_file=file, **kw)  # type: ignore[arg-type]

    symbols = [
        u("__gmon_start__", binding=STB_WEAK, type=STT_NOTYPE),
        u("_ITM_deregisterTMCloneTable", binding=STB_WEAK, type=STT_NOTYPE),
        u("__cxa_finalize", m.glibc, libc, binding=STB_WEAK),
        u("printf", m.glibc, libc),
        u("malloc", m.glibc, libc),
        u("free", m.glibc, libc),
        u("memcpy", "GLIBC_2.14" if machine_name == "x86_64" else m.glibc, libc),
        u("getrandom", _glibc_max(m.glibc, "GLIBC_2.25"), libc),
        u("_ZNSt8ios_base4InitC1Ev", "GLIBCXX_3.4", cxx),
        u(
            f"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE9_M_createER{size_t}{size_t}",
            "GLIBCXX_3.4.21",
            cxx,
        ),
        u("__gxx_personality_v0", "CXXABI_1.3", cxx),
        u("__cxa_begin_catch", "CXXABI_1.3", cxx),
        u("__cxa_throw_bad_array_new_length", "CXXABI_1.3.8", cxx),
        u("_Unwind_Resume", m.gcc_s, gcc),
        u("PyModule_Create2"),
        u("PyLong_FromLong"),
        u("_Py_NoneStruct", type=STT_OBJECT),
        Sym("PyInit_mod", defined=True),
    ]
    spec = ElfSpec(
        elf_class=m.elf_class,
        little_endian=m.little_endian,
        machine=m.machine,
        flags=m.flags,
        interpreter=m.interpreter,
        needed=[cxx, gcc, libc],
        runpath="$ORIGIN/../mod.libs",
        dt_flags=DF_BIND_NOW,
        dt_flags_1=DF_1_NOW,
        symbols=symbols,
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


# --- corruptions --------------------------------------------------------------------------


def truncate(data: bytes, at: int) -> bytes:
    return bytes(data[:at])


def _patched(spec: ElfSpec, patch: Callable[[ElfImage], None]) -> bytes:
    image = build_image(spec)
    patch(image)
    return bytes(image.data)


def _unterminated_string(im: ElfImage) -> None:
    """The soname is the last .dynstr string: overwrite its NUL and shrink DT_STRSZ past it."""
    off, size = im.sections[".dynstr"]
    im.data[off + size - 1] = ord("X")
    im.set_dyn(DT_STRSZ, size - 1)


def _verneed_loop(im: ElfImage) -> None:
    """The last Verneed's vn_next points back at the chain head (an unsigned 32-bit offset
    cannot go backwards: it is ``(head - last) mod 2**32``, i.e. a jump far past the end for a
    64-bit reader, an exact loop for a 32-bit modular one); DT_VERNEEDNUM = 0xffffffff."""
    head, last = im.verneed[0][0], im.verneed[-1][0]
    im.set_field(im.s.verneed, last, "vn_next", (head - last) & 0xFFFFFFFF)
    im.set_dyn(DT_VERNEEDNUM, 0xFFFFFFFF)


def _vernaux_loop(im: ElfImage) -> None:
    """The first Verneed with 2+ Vernaux: its last vna_next points back at its first one
    (mod 2**32, as above) and vn_cnt = 0xffff."""
    vn, aux = next((vn, aux) for vn, aux in im.verneed if len(aux) > 1)
    im.set_field(im.s.vernaux, aux[-1], "vna_next", (aux[0] - aux[-1]) & 0xFFFFFFFF)
    im.set_field(im.s.verneed, vn, "vn_cnt", 0xFFFF)


def _hash_word(im: ElfImage, index: int, value: int) -> None:
    off, _ = im.sections[".hash"]
    wide = im.s.is64 and im.spec.machine == EM_S390
    im.put(off + index * (8 if wide else 4), "Q" if wide else "I", value)


def _gnu_symoffset_beyond(im: ElfImage) -> None:
    """Every bucket 0 (below symoffset) and symoffset = 0x100000: the count is symoffset."""
    off, _ = im.sections[".gnu.hash"]
    nbucket, _, bloom_size, _ = struct.unpack_from(im.s.e + "4I", im.data, off)
    buckets = off + 16 + bloom_size * im.s.word
    im.data[buckets : buckets + 4 * nbucket] = bytes(4 * nbucket)
    im.put(off + 4, "I", 0x100000)


def _vn_cnt_short(im: ElfImage) -> None:
    """The first Verneed with 2+ Vernaux counts one fewer than its links (glibc follows links)."""
    vn, aux = next((vn, aux) for vn, aux in im.verneed if len(aux) > 1)
    im.set_field(im.s.verneed, vn, "vn_cnt", len(aux) - 1)


def _dynamic_at_decoy(im: ElfImage) -> None:
    """PT_DYNAMIC's p_offset at .decoy.dynamic, its p_vaddr (the loader's) at the real one."""
    im.set_phdr(PT_DYNAMIC, "p_offset", im.sections[".decoy.dynamic"][0])


def _second_dynamic(im: ElfImage) -> None:
    """The first PT_DYNAMIC (readelf's) at the decoy, a last one (the loader's) at the real."""
    real = im.segment(PT_DYNAMIC)
    decoy = im.sections[".decoy.dynamic"][0]
    im.set_phdr(PT_DYNAMIC, "p_offset", decoy)
    im.set_phdr(PT_DYNAMIC, "p_vaddr", decoy + BASE_VADDR)
    im.set_segment(**real)


def _load_over_dynamic(im: ElfImage) -> None:
    """A later PT_LOAD maps the decoy's bytes over the dynamic section's addresses."""
    decoy, size = im.sections[".decoy.dynamic"]
    im.set_segment(
        p_type=PT_LOAD, p_flags=PF_R, p_offset=decoy, p_vaddr=im.segment(PT_DYNAMIC)["p_vaddr"],
        p_filesz=size, p_memsz=size, p_align=0x1000,
    )  # fmt: skip


def make_corruptions(machine_name: str = "x86_64") -> dict[str, Callable[[], bytes]]:
    """Hostile variants of ``sample_spec(machine_name)``, each a zero-argument builder."""
    base = sample_spec(machine_name, soname="libcorrupt.so")
    sysv = replace(base, hash_style="sysv")
    decoy = replace(base, decoy_needed=["libc.so.6"], spare_segments=1)
    split = replace(base, second_load_from=".gnu.version")
    ehdr, phdr = build_image(base).s.ehdr, build_image(base).s.phdr

    def good() -> bytes:
        return build_elf(base)

    def at(name: str) -> int:
        return build_image(base).sections[name][0]

    def p(patch: Callable[[ElfImage], None], spec: ElfSpec = base) -> Callable[[], bytes]:
        return lambda: _patched(spec, patch)

    return {
        "bad-magic": lambda: b"\x7fELG" + good()[4:],
        "bad-class": lambda: good()[:4] + b"\x03" + good()[5:],
        "wrong-endian": lambda: good()[:5] + bytes([3 - good()[5]]) + good()[6:],
        "truncated-in-ident": lambda: truncate(good(), 10),
        "truncated-in-header": lambda: truncate(good(), ehdr.size - 4),
        "truncated-in-phdrs": lambda: truncate(good(), ehdr.size + phdr.size + 8),
        "truncated-in-dynstr": lambda: truncate(good(), at(".dynstr") + 5),
        "truncated-in-dynamic": lambda: truncate(good(), at(".dynamic") + 12),
        "phoff-past-end": p(lambda im: im.set_ehdr("e_phoff", len(im.data) + 8)),
        "phnum-past-end": p(
            lambda im: im.set_ehdr("e_phnum", (len(im.data) - ehdr.size) // phdr.size + 1)
        ),
        "huge-phnum": p(lambda im: im.set_ehdr("e_phnum", 0xFFFF)),
        "phentsize-too-small": p(lambda im: im.set_ehdr("e_phentsize", 8)),
        "dynamic-past-end": p(lambda im: im.set_phdr(PT_DYNAMIC, "p_offset", len(im.data) + 64)),
        "dynamic-filesz-past-end": p(lambda im: im.set_phdr(PT_DYNAMIC, "p_filesz", len(im.data))),
        # DT_STRTAB holds .dynstr's *file offset*: right for a parser that forgets the
        # address translation, outside every PT_LOAD (which starts at BASE_VADDR) otherwise.
        "strtab-not-in-load": p(lambda im: im.set_dyn(DT_STRTAB, im.sections[".dynstr"][0])),
        "strsz-past-end": p(lambda im: im.set_dyn(DT_STRSZ, len(im.data))),
        "string-unterminated": p(_unterminated_string),
        "needed-offset-outside-strtab": p(lambda im: im.set_dyn(DT_NEEDED, im.dyn(DT_STRSZ) + 3)),
        "verneed-loop": p(_verneed_loop),
        "vernaux-loop": p(_vernaux_loop),
        "hash-nchain-beyond-file": p(lambda im: _hash_word(im, 1, 0x100000), sysv),
        "hash-nchain-huge": p(lambda im: _hash_word(im, 1, 0xFFFFFFFF), sysv),
        "gnu-hash-symoffset-beyond-file": p(_gnu_symoffset_beyond),
        "gnu-hash-nbuckets-beyond-file": p(
            lambda im: im.put(im.sections[".gnu.hash"][0], "I", 0x0FFFFFFF)
        ),
        # read otherwise by glibc's loader than by readelf (issue #14)
        "verneednum-short": p(lambda im: im.set_dyn(DT_VERNEEDNUM, len(im.verneed) - 1)),
        "vn-cnt-short": p(_vn_cnt_short),
        "dynamic-offset-elsewhere": p(_dynamic_at_decoy, decoy),
        "second-pt-dynamic": p(_second_dynamic, decoy),
        "strtab-past-its-load": p(lambda im: im.set_dyn(DT_STRSZ, im.dyn(DT_STRSZ) + 8), split),
        "load-over-dynamic": p(_load_over_dynamic, decoy),
    }


CORRUPTIONS: dict[str, Callable[[], bytes]] = make_corruptions("x86_64")
