"""The test ELF writer against two independent readers: binutils ``readelf`` and pyelftools.

Every preset x hash style must read back, without a single readelf warning, as exactly what
its spec says, through section headers and through program headers alone.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.construct.lib.container import Container
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection, GNUVerSymSection
from elftools.elf.hash import ELFHashSection, GNUHashSection

import elfwriter as w

HASH_STYLES = ("sysv", "gnu", "both")
CASES = [(m, h) for m in w.MACHINES for h in HASH_STYLES]
needs_readelf = pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils readelf")


def full_spec(machine: str, hash_style: str, **overrides: object) -> w.ElfSpec:
    """The sample spec plus everything optional: soname, rpath, Verdefs, exported versions."""
    x86 = w.MACHINES[machine].machine in (w.EM_X86_64, w.EM_386)
    symbols = [
        *w.sample_spec(machine).symbols,
        w.Sym("mod_api", True, version="MOD_1.0"),
        w.Sym("mod_api_old", True, version="MOD_0.9", hidden=True),
        w.Sym("mod_table", True, type=w.STT_OBJECT),
        w.Sym("initmod", True, binding=w.STB_WEAK),
    ]
    spec = w.sample_spec(
        machine,
        hash_style=hash_style,
        soname="libmod.so.1",
        rpath="/opt/a::/opt/b",
        version_definitions=["libmod.so.1", "MOD_0.9", "MOD_1.0"],
        symbols=symbols,
        x86_isa_needed=0x3 if x86 else None,
        x86_feature_1_and=0x3 if x86 else None,
    )
    return w.replace(spec, **overrides)  # type: ignore[arg-type]


def expected_names(spec: w.ElfSpec) -> dict[str, str]:
    """name -> how readelf prints it (``printf@GLIBC_2.2.5``, ``f@@V``, ``f@V`` hidden)."""
    out = {}
    for x in spec.symbols:
        sep = "@" if not x.defined or x.hidden else "@@"
        out[x.name] = x.name if x.version is None else f"{x.name}{sep}{x.version}"
    return out


def expected_needs(spec: w.ElfSpec) -> list[tuple[str, list[str]]]:
    needs: dict[str, list[str]] = {}
    for x in spec.symbols:
        if not x.defined and x.version:
            vs = needs.setdefault(x.version_file or "", [])
            vs += [] if x.version in vs else [x.version]
    return list(needs.items())


def readelf(path: Path, *args: str) -> str:
    proc = subprocess.run(
        ["readelf", "-W", *args, str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"readelf {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def parse_dyn_syms(text: str) -> list[tuple[str, str, str, str]]:
    """(type, bind, ndx, name without the ' (n)' version index) for every symbol row."""
    row = r"^\s*\d+: [0-9a-f]+\s+\d+ (\w+)\s+(\w+)\s+\w+\s+(\w+) ?(.*)$"
    rows = re.findall(row, text, re.MULTILINE)
    return [(t, b, n, re.sub(r" \(\d+\)$", "", name)) for t, b, n, name in rows]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elf")


@needs_readelf
@pytest.mark.parametrize(("machine", "hash_style"), CASES)
def test_readelf_reads_what_the_spec_says(tmp: Path, machine: str, hash_style: str) -> None:
    spec = full_spec(machine, hash_style)
    preset = w.MACHINES[machine]
    path = tmp / f"{machine}-{hash_style}.so"
    path.write_bytes(w.build_elf(spec))

    text = readelf(path, "-h", "-l", "-S", "-d", "--dyn-syms", "-V", "-n", "-I")
    header = dict(re.findall(r"^\s{2}([\w ()/-]+):\s+(.*?)\s*$", text, re.MULTILINE))
    assert header["Class"] == f"ELF{preset.elf_class}"
    assert header["Data"].endswith("little endian" if preset.little_endian else "big endian")
    assert header["Type"].startswith("DYN")
    assert int(header["Flags"].split(",")[0], 16) == preset.flags
    assert f"[Requesting program interpreter: {preset.interpreter}]" in text
    assert re.search(r"^\s+GNU_STACK(\s+0x0+){5}\s+RW\s+0x10$", text, re.MULTILINE)
    assert re.search(r"^\s+LOAD\s+0x0+ 0x0*10000 ", text, re.MULTILINE)  # p_vaddr = offset + base

    dyn = re.findall(r"\((\w+)\)\s+(.*)$", text, re.MULTILINE)
    assert [v for t, v in dyn if t == "NEEDED"] == [f"Shared library: [{n}]" for n in spec.needed]
    assert ("SONAME", "Library soname: [libmod.so.1]") in dyn
    assert ("RPATH", "Library rpath: [/opt/a::/opt/b]") in dyn
    assert ("RUNPATH", "Library runpath: [$ORIGIN/../mod.libs]") in dyn
    assert ("FLAGS", "BIND_NOW") in dyn and ("FLAGS_1", "Flags: NOW") in dyn
    tags = {t for t, _ in dyn}
    assert ("HASH" in tags) == (hash_style != "gnu")
    assert ("GNU_HASH" in tags) == (hash_style != "sysv")
    assert {"VERSYM", "VERNEED", "VERNEEDNUM", "VERDEF", "VERDEFNUM"} <= tags

    syms = parse_dyn_syms(text)
    names = expected_names(spec)
    assert syms[0] == ("NOTYPE", "LOCAL", "UND", "")
    assert sorted(s[3] for s in syms[1:]) == sorted(names.values())
    assert f"printf@{preset.glibc}" in names.values()
    for typ, bind, ndx, name in syms[1:]:
        sym = next(x for x in spec.symbols if names[x.name] == name)
        assert (ndx == "UND") == (not sym.defined)
        assert bind == {w.STB_GLOBAL: "GLOBAL", w.STB_WEAK: "WEAK"}[sym.binding]
        assert typ == {w.STT_FUNC: "FUNC", w.STT_OBJECT: "OBJECT", w.STT_NOTYPE: "NOTYPE"}[sym.type]
    if hash_style != "sysv":  # GNU hash: the imports first, the exports after them
        defined = [ndx != "UND" for _, _, ndx, _ in syms[1:]]
        assert defined == sorted(defined)

    files = re.findall(r"Version: 1\s+File: (\S+)\s+Cnt: (\d+)", text)
    vernaux = re.findall(r"Name: (\S+)\s+Flags: none\s+Version: (\d+)", text)
    need = expected_needs(spec)
    assert [(f, int(c)) for f, c in files] == [(f, len(vs)) for f, vs in need]
    assert [v for v, _ in vernaux] == [v for _, vs in need for v in vs]
    assert [int(i) for _, i in vernaux] == list(range(4, 4 + len(vernaux)))  # after 3 Verdefs
    verdefs = re.findall(r"Flags: (\w+)\s+Index: (\d+)\s+Cnt: 1\s+Name: (\S+)", text)
    assert verdefs == [
        ("BASE", "1", "libmod.so.1"),
        ("none", "2", "MOD_0.9"),
        ("none", "3", "MOD_1.0"),
    ]
    if preset.machine in (w.EM_X86_64, w.EM_386):
        assert "x86 feature: IBT, SHSTK, x86 ISA needed: x86-64-baseline, x86-64-v2" in text


@needs_readelf
@pytest.mark.parametrize(("machine", "hash_style"), CASES)
def test_readelf_without_section_headers(tmp: Path, machine: str, hash_style: str) -> None:
    """``readelf -D`` sizes the symbol table from the hash table alone (8-byte on s390x)."""
    spec = full_spec(machine, hash_style, section_headers=False)
    path = tmp / f"{machine}-{hash_style}-nosections.so"
    path.write_bytes(w.build_elf(spec))
    text = readelf(path, "-D", "-h", "-l", "-d", "-n", "-I")
    assert "Number of section headers:         0" in text
    assert re.findall(r"Shared library: \[(.*)\]", text) == spec.needed
    symtext = readelf(path, "-D", "-s")  # (-D with --dyn-syms, or with -d, prints no symbols)
    assert f"Symbol table for image contains {len(spec.symbols) + 1} entries" in symtext
    syms = parse_dyn_syms(symtext)
    assert sorted(s[3] for s in syms[1:]) == sorted(expected_names(spec).values())


def pyelf(data: bytes) -> ELFFile:
    return ELFFile(io.BytesIO(data))


def needs_of(section: GNUVerNeedSection) -> list[tuple[str, list[str]]]:
    return [(vn.name, [aux.name for aux in auxs]) for vn, auxs in section.iter_versions()]


@pytest.mark.parametrize(("machine", "hash_style"), CASES)
def test_pyelftools_through_sections(machine: str, hash_style: str) -> None:
    spec = full_spec(machine, hash_style)
    image = w.build_image(spec)
    elf = pyelf(bytes(image.data))
    preset = w.MACHINES[machine]
    assert elf.elfclass == preset.elf_class and elf.little_endian == preset.little_endian
    machine_value = elf["e_machine"]
    if isinstance(machine_value, str):
        machine_value = ENUM_E_MACHINE[machine_value]
    assert machine_value == preset.machine and elf["e_flags"] == preset.flags

    dynsym = elf.get_section_by_name(".dynsym")
    symbols = list(dynsym.iter_symbols())
    assert [s.name for s in symbols] == [""] + [x.name for x in image.symbols[1:]]
    versym = elf.get_section_by_name(".gnu.version")
    verneed = elf.get_section_by_name(".gnu.version_r")
    verdef = elf.get_section_by_name(".gnu.version_d")
    assert isinstance(versym, GNUVerSymSection) and isinstance(verneed, GNUVerNeedSection)
    assert isinstance(verdef, GNUVerDefSection)
    assert needs_of(verneed) == expected_needs(spec)
    assert [next(auxs).name for _, auxs in verdef.iter_versions()] == spec.version_definitions
    for i, sym in enumerate(image.symbols[1:], start=1):
        ndx = versym.get_symbol(i)["ndx"]
        if sym.version is None:
            assert ndx in ("VER_NDX_LOCAL", "VER_NDX_GLOBAL")
        elif sym.defined:
            _, auxs = verdef.get_version(ndx & 0x7FFF)
            assert next(auxs).name == sym.version and bool(ndx & 0x8000) == sym.hidden
        else:
            vn, aux = verneed.get_version(ndx)
            assert (vn.name, aux.name) == (sym.version_file, sym.version)

    dynamic = elf.get_section_by_name(".dynamic")
    assert [t.needed for t in dynamic.iter_tags("DT_NEEDED")] == spec.needed
    assert next(dynamic.iter_tags("DT_SONAME")).soname == spec.soname

    defined = [x.name for x in spec.symbols if x.defined]
    if hash_style != "sysv":  # GNUHashTable.get_symbol consults the bloom filter first
        gnu = elf.get_section_by_name(".gnu.hash")
        assert isinstance(gnu, GNUHashSection)
        assert gnu.get_number_of_symbols() == len(symbols)
        assert all(gnu.get_symbol(name).name == name for name in defined)
        assert gnu.get_symbol("not_there") is None
    if hash_style != "gnu" and not (preset.machine == w.EM_S390 and preset.elf_class == 64):
        sysv = elf.get_section_by_name(".hash")  # pyelftools reads 4-byte words only
        assert isinstance(sysv, ELFHashSection)
        assert sysv.get_number_of_symbols() == len(symbols)
        assert all(sysv.get_symbol(s.name).name == s.name for s in symbols[1:])


@pytest.mark.parametrize("section_headers", [True, False], ids=["sections", "sectionless"])
@pytest.mark.parametrize(("machine", "hash_style"), CASES)
def test_pyelftools_through_segments(machine: str, hash_style: str, section_headers: bool) -> None:
    spec = full_spec(machine, hash_style, section_headers=section_headers)
    image = w.build_image(spec)
    elf = pyelf(bytes(image.data))
    assert (elf.num_sections() > 0) == section_headers
    interp = next(s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP")
    assert interp.get_interp_name() == spec.interpreter
    stack = next(s for s in elf.iter_segments() if s["p_type"] == "PT_GNU_STACK")
    assert stack["p_flags"] == spec.stack_flags
    seg = next(s for s in elf.iter_segments() if isinstance(s, DynamicSegment))
    assert [t.needed for t in seg.iter_tags("DT_NEEDED")] == spec.needed
    assert next(seg.iter_tags("DT_SONAME")).soname == spec.soname
    assert next(seg.iter_tags("DT_RUNPATH")).runpath == spec.runpath

    # Addresses are not offsets: DT_STRTAB goes through the PT_LOAD translation.
    strtab_addr, strtab_off = seg.get_table_offset("DT_STRTAB")
    assert strtab_off == image.sections[".dynstr"][0] == strtab_addr - w.BASE_VADDR

    names = [""] + [x.name for x in image.symbols[1:]]
    wide_hash = hash_style == "sysv" and machine == "s390x"
    if wide_hash:  # pyelftools reads s390x's 8-byte DT_HASH words as 4-byte ones:
        nbucket = struct.unpack_from(">Q", image.data, image.sections[".hash"][0])[0]
        assert seg.num_symbols() == nbucket  # (0, nbucket) read as (nbucket, nchain)
        assert [seg.get_symbol(i).name for i in range(len(names))] == names
    else:
        assert [s.name for s in seg.iter_symbols()] == names

    # .gnu.version_r read from DT_VERNEED/DT_VERNEEDNUM alone.
    header = Container(
        sh_name=0,
        sh_type="SHT_GNU_verneed",
        sh_flags=0,
        sh_addr=0,
        sh_offset=seg.get_table_offset("DT_VERNEED")[1],
        sh_size=0,
        sh_link=0,
        sh_info=next(seg.iter_tags("DT_VERNEEDNUM"))["d_val"],
        sh_addralign=0,
        sh_entsize=0,
    )
    verneed = GNUVerNeedSection(header, ".gnu.version_r", elf, seg._get_stringtable())
    assert needs_of(verneed) == expected_needs(spec)


def test_gnu_hash_layout_matches_ld() -> None:
    """Imports before symoffset, exports bucket-sorted, one end bit per non-empty bucket."""
    spec = full_spec("x86_64", "gnu", hash_buckets=3)
    image = w.build_image(spec)
    off, _ = image.sections[".gnu.hash"]
    nbucket, symoffset, bloom_size, shift = struct.unpack_from("<4I", image.data, off)
    nundef = sum(not x.defined for x in spec.symbols)
    assert (nbucket, symoffset) == (3, 1 + nundef)
    assert bloom_size & (bloom_size - 1) == 0 and shift >= 6
    hashed = image.symbols[symoffset:]
    buckets = struct.unpack_from(f"<{nbucket}I", image.data, off + 16 + 8 * bloom_size)
    chains = struct.unpack_from(
        f"<{len(hashed)}I", image.data, off + 16 + 8 * bloom_size + 4 * nbucket
    )
    which = [w.gnu_hash(x.name) % nbucket for x in hashed]
    assert which == sorted(which)
    for b in range(nbucket):
        members = [i for i, h in enumerate(which) if h == b]
        assert buckets[b] == (symoffset + members[0] if members else 0)
        assert [chains[i] & 1 for i in members] == [0] * (len(members) - 1) + [1] * bool(members)
    assert all(c & ~1 == w.gnu_hash(x.name) & ~1 for c, x in zip(chains, hashed, strict=False))


def test_s390x_sysv_hash_uses_8_byte_words() -> None:
    image = w.build_image(full_spec("s390x", "sysv"))
    off, size = image.sections[".hash"]
    nbucket, nchain = struct.unpack_from(">QQ", image.data, off)
    assert nchain == len(image.symbols) and size == 8 * (2 + nbucket + nchain)
    x86 = w.build_image(full_spec("x86_64", "sysv"))
    assert struct.unpack_from("<I", x86.data, x86.sections[".hash"][0] + 4)[0] == len(x86.symbols)


@pytest.mark.parametrize(("elf_class", "align"), [(64, 8), (32, 4)])
def test_gnu_property_note_alignment(elf_class: int, align: int) -> None:
    machine = "x86_64" if elf_class == 64 else "i686"
    image = w.build_image(w.sample_spec(machine, x86_isa_needed=0x2))
    off, size = image.sections[".note.gnu.property"]
    namesz, descsz, ntype = struct.unpack_from("<3I", image.data, off)
    assert (namesz, ntype, bytes(image.data[off + 12 : off + 16])) == (4, 5, b"GNU\0")
    assert descsz == 8 + align and size == 16 + descsz and off % align == 0
    assert struct.unpack_from("<3I", image.data, off + 16) == (0xC0008002, 4, 0x2)
    note = next(s for s in pyelf(bytes(image.data)).iter_segments() if s["p_type"] == "PT_NOTE")
    assert note["p_align"] == align
    props = next(note.iter_notes())["n_desc"]
    assert [(p.pr_type, p.pr_data) for p in props] == [("GNU_PROPERTY_X86_ISA_1_NEEDED", 2)]


def test_minimal_spec_has_no_optional_parts() -> None:
    spec = w.ElfSpec(stack_flags=None, symbols=[w.Sym("PyInit_x", True)])
    elf = pyelf(w.build_elf(spec))
    types = [s["p_type"] for s in elf.iter_segments()]
    assert types == ["PT_PHDR", "PT_LOAD", "PT_DYNAMIC"]
    assert elf.get_section_by_name(".gnu.version") is None
    tags = [t.entry.d_tag for t in elf.get_section_by_name(".dynamic").iter_tags()]
    assert tags == ["DT_STRTAB", "DT_STRSZ", "DT_SYMTAB", "DT_SYMENT", "DT_GNU_HASH", "DT_NULL"]


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="version_file"):
        w.build_elf(w.ElfSpec(symbols=[w.Sym("f", version="V")]))
    with pytest.raises(ValueError, match="version_definitions"):
        w.build_elf(w.ElfSpec(symbols=[w.Sym("f", True, version="V")]))


# --- corruptions ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(w.CORRUPTIONS))
def test_corruptions_differ_from_the_good_file(name: str) -> None:
    data = w.CORRUPTIONS[name]()
    assert isinstance(data, bytes) and data
    assert data == w.CORRUPTIONS[name]()  # deterministic
    good = w.build_elf(w.sample_spec("x86_64", soname="libcorrupt.so"))
    good_sysv = w.build_elf(w.sample_spec("x86_64", soname="libcorrupt.so", hash_style="sysv"))
    assert data not in (good, good_sysv)


def test_corruption_details() -> None:
    image = w.build_image(w.sample_spec("x86_64", soname="libcorrupt.so"))
    good = bytes(image.data)

    assert w.CORRUPTIONS["wrong-endian"]()[5] == 2 and good[5] == 1
    assert w.truncate(good, 7) == good[:7]

    # The soname is the last .dynstr string; its NUL is gone and DT_STRSZ stops before it.
    bad = w.build_image(w.sample_spec("x86_64", soname="libcorrupt.so"))
    bad.data[:] = w.CORRUPTIONS["string-unterminated"]()
    off, size = image.sections[".dynstr"]
    assert bytes(image.data[off + size - 15 : off + size]) == b"\0libcorrupt.so\0"
    assert bad.data[off + size - 1] == ord("X")
    strsz = struct.unpack_from(
        "<Q", bad.data, next(o for t, _, o in image.dynamic if t == w.DT_STRSZ) + 8
    )[0]
    assert strsz == size - 1

    # The Verneed chain's last vn_next wraps back (mod 2**32) to the chain head.
    loop = w.CORRUPTIONS["verneed-loop"]()
    (head, _), (last, _) = image.verneed[0], image.verneed[-1]
    vn_next = struct.unpack_from("<I", loop, last + 12)[0]
    assert (last + vn_next) % 2**32 == head
    assert (
        struct.unpack_from(
            "<I", loop, next(o for t, _, o in image.dynamic if t == w.DT_VERNEEDNUM) + 8
        )[0]
        == 0xFFFFFFFF
    )

    # DT_STRTAB holds the file offset, which no PT_LOAD maps.
    elf = pyelf(w.CORRUPTIONS["strtab-not-in-load"]())
    seg = next(s for s in elf.iter_segments() if isinstance(s, DynamicSegment))
    assert seg.get_table_offset("DT_STRTAB") == (off, None)

    # symoffset far past the file and every bucket below it.
    data = w.CORRUPTIONS["gnu-hash-symoffset-beyond-file"]()
    goff, _ = image.sections[".gnu.hash"]
    nbucket, symoffset, bloom_size, _ = struct.unpack_from("<4I", data, goff)
    assert symoffset == 0x100000
    assert set(struct.unpack_from(f"<{nbucket}I", data, goff + 16 + 8 * bloom_size)) == {0}
