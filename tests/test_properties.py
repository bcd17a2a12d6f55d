"""Properties, over ELF files hypothesis makes: the native core and the pyelftools reference
agree (the same record or the same error code) on random specs and on random mutations of
them, and streamed parsing with a small ``keep`` equals whole-buffer parsing.

Mutations aim where a parser can go wrong: header, program-header, dynamic-entry, hash-table
and version-chain fields, overwritten with values at the edges (0, all ones, the file's
length and its neighbours, addresses just inside and outside the PT_LOAD), or a truncation.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wheelscan._native import parse_elf as native
from wheelscan.elf import ElfError, ElfFacts
from wheelscan.elf.reference import parse_elf as reference
from wheelscan.wheel.stream import StreamStats, parse_streamed

from elfwriter import (
    BASE_VADDR,
    ET_DYN,
    ET_EXEC,
    MACHINES,
    PF_R,
    PF_W,
    PF_X,
    PT_DYNAMIC,
    PT_GNU_STACK,
    PT_LOAD,
    PT_NOTE,
    SECOND_LOAD_SHIFT,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    ElfImage,
    ElfSpec,
    Sym,
    build_image,
)
from property_budget import examples

SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAME_CHARS = "abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789.$@é"
names = st.text(NAME_CHARS, min_size=1, max_size=14)
libraries = st.sampled_from(
    ["libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1"]
)
versions = st.sampled_from(
    ["GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.34", "GLIBCXX_3.4.21", "GCC_3.0", "V1"]
)
paths = st.lists(
    st.sampled_from(["$ORIGIN", "$ORIGIN/../lib", "/usr/lib", "", "build/x"]), max_size=3
)


@st.composite
def symbols(draw: Any, definitions: list[str]) -> Sym:
    defined = draw(st.booleans())
    binding = draw(st.sampled_from([STB_GLOBAL, STB_WEAK] + ([STB_LOCAL] if defined else [])))
    kind = draw(st.sampled_from([STT_NOTYPE, STT_OBJECT, STT_FUNC]))
    name = draw(
        st.one_of(names, names.map(lambda n: "PyInit_" + n), names.map(lambda n: "init" + n))
    )
    if defined:
        version = draw(st.none() | st.sampled_from(definitions)) if definitions else None
        hidden = version is not None and draw(st.booleans())
        return Sym(name, True, binding, kind, version, None, hidden)
    if draw(st.booleans()):
        return Sym(name, False, binding, kind, draw(versions), draw(libraries))
    return Sym(name, False, binding, kind)


@st.composite
def specs(draw: Any) -> ElfSpec:
    preset = MACHINES[draw(st.sampled_from(sorted(MACHINES)))]
    elf_class, little = preset.elf_class, preset.little_endian
    if draw(st.booleans()):  # any machine in any class and byte order
        elf_class, little = draw(st.sampled_from([32, 64])), draw(st.booleans())
    definitions = draw(st.sampled_from([[], ["libx.so"], ["libx.so", "X_1.0", "X_2.0"]]))
    syms = draw(st.lists(symbols(definitions), max_size=24, unique_by=lambda s: s.name))
    join = ":".join
    return ElfSpec(
        elf_class=elf_class,
        little_endian=little,
        machine=preset.machine,
        flags=draw(st.sampled_from([preset.flags, 0, 0xFFFFFFFF])),
        osabi=draw(st.sampled_from([0, 3])),
        elf_type=draw(st.sampled_from([ET_DYN, ET_EXEC])),
        interpreter=draw(st.none() | st.just(preset.interpreter) | names),
        needed=draw(st.lists(libraries, max_size=4)),
        soname=draw(st.none() | names),
        rpath=draw(st.none() | paths.map(join)),
        runpath=draw(st.none() | paths.map(join)),
        dt_flags=draw(st.none() | st.integers(0, 0xFF)),
        dt_flags_1=draw(st.none() | st.integers(0, 0xFFFF)),
        stack_flags=draw(st.sampled_from([None, PF_R | PF_W, PF_R | PF_W | PF_X])),
        x86_isa_needed=draw(st.none() | st.integers(0, 0xFF)),
        x86_feature_1_and=draw(st.none() | st.just(3)),
        symbols=syms,
        version_definitions=definitions,
        hash_style=draw(st.sampled_from(["sysv", "gnu", "both"])),
        hash_buckets=draw(st.none() | st.integers(1, 17)),
        section_headers=draw(st.booleans()),
        phdr_segment=draw(st.booleans()),
    )


def outcome(parse: object, data: bytes) -> ElfFacts | tuple[str, str]:
    try:
        return parse(data)  # type: ignore[operator, no-any-return]
    except ElfError as e:
        return ("error", e.code)


def assert_same(data: bytes) -> ElfFacts | tuple[str, str]:
    ours, theirs = outcome(native, data), outcome(reference, data)
    if isinstance(ours, ElfFacts) and isinstance(theirs, ElfFacts) and ours != theirs:
        differ = {
            f.name: (getattr(ours, f.name), getattr(theirs, f.name))
            for f in dataclasses.fields(ours)
            if getattr(ours, f.name) != getattr(theirs, f.name)
        }
        raise AssertionError(f"fields differ: {differ}")
    assert ours == theirs
    return ours


@SETTINGS
@given(specs())
def test_both_backends_read_a_built_file_alike(spec: ElfSpec) -> None:
    facts = assert_same(bytes(build_image(spec).data))
    assert isinstance(facts, ElfFacts)
    assert facts.needed == tuple(spec.needed)
    assert facts.soname == spec.soname
    assert facts.runpath == (tuple(spec.runpath.split(":")) if spec.runpath is not None else ())
    undefined = {s.name: (s.version, s.version_file) for s in spec.symbols if not s.defined}
    assert {s.name: (s.version, s.version_file) for s in facts.undefined_symbols} == undefined


def _targets(image: ElfImage) -> list[tuple[int, int]]:
    """(offset, width) of the fields worth breaking."""
    s, word = image.s, image.s.word
    ehdr, address = s.ehdr, "Q" if s.is64 else "I"
    fields = [
        (ehdr.offsets[n], struct.calcsize(ehdr.codes[n].replace("A", address)))
        for n in ("e_phoff", "e_phentsize", "e_phnum")
    ]
    for _, phdr in image.phdrs:
        for name in ("p_type", "p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_align"):
            code = s.phdr.codes[name]
            fields.append((phdr + s.phdr.offsets[name], 4 if code == "I" else 8))
    fields += [(entry + off, word) for _, _, entry in image.dynamic for off in (0, word)]
    for verneed, auxes in image.verneed:
        fields += [(verneed + 2, 2), (verneed + 4, 4), (verneed + 8, 4), (verneed + 12, 4)]
        fields += [(aux + o, w) for aux in auxes for o, w in ((6, 2), (8, 4), (12, 4))]
    for name in (".hash", ".gnu.hash", ".gnu.version_d", ".gnu.note.property", ".dynsym"):
        if name in image.sections:
            start, size = image.sections[name]
            fields += [(start + o, 4) for o in range(0, min(size, 32), 4)]
    return fields


@st.composite
def mutated(draw: Any) -> bytes:
    image = build_image(draw(specs()))
    data = bytearray(image.data)
    size = len(data)
    edges = [0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63, 2**64 - 1]
    values = [*edges, size - 1, size, size + 1, size // 2]
    values += [BASE_VADDR, BASE_VADDR + size - 1, BASE_VADDR + size]  # the PT_LOAD's edges
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 9)) == 0:
            offset, width = draw(st.integers(0, size - 1)), draw(st.sampled_from([1, 2, 4, 8]))
        else:
            offset, width = draw(st.sampled_from(_targets(image)))
        value = draw(st.sampled_from(values) | st.integers(0, 2**64 - 1)) % (1 << (8 * width))
        end = "<" if image.spec.little_endian else ">"
        if offset + width <= len(data):
            struct.pack_into(end + {1: "B", 2: "H", 4: "I", 8: "Q"}[width], data, offset, value)
    if draw(st.integers(0, 7)) == 0:
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@SETTINGS
@given(mutated())
def test_both_backends_agree_on_a_mutated_file(data: bytes) -> None:
    assert_same(data)


@SETTINGS
@given(st.one_of(specs().map(lambda s: bytes(build_image(s).data)), mutated()),
       st.sampled_from([16, 64, 256, 4096]), st.integers(0, 3 << 20))  # fmt: skip
def test_streamed_parsing_equals_whole_parsing(data: bytes, keep: int, tail: int) -> None:
    data += bytes(range(256)) * (tail // 256)  # a debug-info-like tail the parser never needs
    if len(data) < 64:
        return  # the stream is for members past a full header
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    payload = memoryview(compressor.compress(data) + compressor.flush())
    whole = outcome(native, data)
    stats = StreamStats()
    try:
        result: object = parse_streamed(
            payload, len(data), zlib.crc32(data), native, keep=keep, stats=stats
        )
    except ElfError as e:
        result = ("error", e.code)
    assert result == whole


@st.composite
def loader_mutated(draw: Any) -> bytes:
    """Files whose loader reading can differ from a naive one (issue #14): two PT_LOADs at
    different p_vaddr - p_offset, spare program headers filled with a copy of PT_DYNAMIC,
    PT_LOAD, PT_GNU_STACK or PT_NOTE with one field moved, a second property note, a decoy
    dynamic section, DT_VERNEEDNUM off by a little, vn_cnt and the version links moved;
    then the usual mutations."""
    spec = dataclasses.replace(
        draw(specs()),
        second_load_from=draw(st.sampled_from([None, ".dynstr", ".dynamic"])),
        decoy_needed=draw(st.none() | st.lists(libraries, max_size=2)),
        spare_segments=3,
        extra_isa_note=draw(st.none() | st.integers(0, 15)),
    )
    verneednum = draw(st.none() | st.integers(0, 3))
    if verneednum is not None:
        spec = dataclasses.replace(spec, verneednum=verneednum)
    image = build_image(spec)
    phdr, size = image.s.phdr, len(image.data)
    moves = [0, 1, 8, 16, 0x1000, size, SECOND_LOAD_SHIFT, -8, -0x1000]
    for _ in range(draw(st.integers(0, 2))):
        copied = draw(st.sampled_from([PT_DYNAMIC, PT_LOAD, PT_GNU_STACK, PT_NOTE]))
        if any(t == copied for t, _ in image.phdrs):
            fields = image.segment(copied)
            name = draw(st.sampled_from(["p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_flags"]))
            width = 4 if phdr.codes[name] == "I" else 8
            fields[name] = (fields[name] + draw(st.sampled_from(moves))) % (1 << (8 * width))
            image.set_segment(**fields)
    if spec.extra_isa_note is not None and draw(st.booleans()):
        note, note_size = image.sections[".note.extra"]
        image.set_segment(
            p_type=PT_NOTE, p_offset=note, p_vaddr=note + BASE_VADDR, p_filesz=note_size,
            p_memsz=note_size, p_align=draw(st.sampled_from([4, 8])),
        )  # fmt: skip
    if spec.decoy_needed is not None and draw(st.booleans()):
        decoy, _ = image.sections[".decoy.dynamic"]
        field = draw(st.sampled_from(["p_offset", "p_vaddr"]))
        image.set_phdr(PT_DYNAMIC, field, decoy + (0 if field == "p_offset" else BASE_VADDR))
    for verneed, auxes in image.verneed:
        if draw(st.integers(0, 3)) == 0:
            image.set_field(
                image.s.verneed, verneed, "vn_cnt", len(auxes) + draw(st.integers(-1, 1))
            )
        if draw(st.integers(0, 5)) == 0:
            image.set_field(image.s.vernaux, auxes[-1], "vna_next", draw(st.sampled_from([16, 32])))
    data = bytearray(image.data)
    for _ in range(draw(st.integers(0, 2))):
        offset, width = draw(st.sampled_from(_targets(image)))
        value = draw(st.sampled_from([0, 1, 0x1000, size, BASE_VADDR + size])) % (1 << (8 * width))
        end = "<" if image.spec.little_endian else ">"
        struct.pack_into(end + {1: "B", 2: "H", 4: "I", 8: "Q"}[width], data, offset, value)
    return bytes(data)


@SETTINGS
@given(loader_mutated())
def test_both_backends_read_a_loader_mutated_file_alike(data: bytes) -> None:
    assert_same(data)
