"""The pure-Python reference reader (``wheelscan.elf.reference``) against real files.

The oracle is binutils' ``readelf``, an independent implementation: it reads through section
headers where ours reads through program headers, so agreement on a few hundred system files
means both views are right. Then: error codes on broken buffers, gcc-built extensions with each
linker option that changes a fact, and hand-built files for what gcc here cannot make (64-bit
s390x with its 8-byte DT_HASH words).
"""

from __future__ import annotations

import glob
import os
import random
import re
import shutil
import struct
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wheelscan.elf.facts import (
    PYTHON_INIT_PREFIXES,
    ElfClass,
    ElfError,
    ElfFacts,
    Endianness,
    Machine,
    SymbolBinding,
    SymbolType,
    VersionNeed,
)
from wheelscan.elf.reference import parse_elf

READELF = shutil.which("readelf")
GCC = shutil.which("gcc")
needs_readelf = pytest.mark.skipif(READELF is None, reason="readelf (binutils) is not installed")
needs_gcc = pytest.mark.skipif(GCC is None or READELF is None, reason="gcc/readelf not installed")

SAMPLE_SIZE = 300
SYSTEM_ROOTS = ["/usr/lib/x86_64-linux-gnu/**/*"]
DYNLOAD_ROOTS = sorted(
    {
        "/usr/lib/python3*/lib-dynload/*",
        os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload", "*"),
    }
)


def _is_elf(path: str) -> bool:
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _sample_files() -> list[str]:
    """Every lib-dynload module, then system files evenly spread over the sorted list."""

    def elfs(patterns: list[str]) -> list[str]:
        found = {p for pat in patterns for p in glob.glob(pat, recursive=True)}
        return sorted(p for p in found if _is_elf(p))

    dynload = elfs(DYNLOAD_ROOTS)[:SAMPLE_SIZE]
    system = elfs(SYSTEM_ROOTS)
    room = min(SAMPLE_SIZE - len(dynload), len(system))
    return dynload + [system[i * len(system) // room] for i in range(room)] if room > 0 else dynload


SAMPLE = _sample_files()


# -- the readelf oracle ---------------------------------------------------------------------


@dataclass
class Readelf:
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    stack_flags: int | None = None
    isa_needed: int | None = None
    dynsym_count: int | None = None
    # (name, version, version index, binding, type, ndx) per .dynsym entry
    dynsym: list[tuple[str, str | None, int | None, str, str, str]] = field(default_factory=list)
    version_needs: list[tuple[str, list[str]]] = field(default_factory=list)
    vernaux: dict[int, tuple[str, str]] = field(default_factory=dict)  # vna_other -> (ver, file)
    version_definitions: list[str] = field(default_factory=list)


ISA_BITS = {"x86-64-baseline": 1, "x86-64-v2": 2, "x86-64-v3": 4, "x86-64-v4": 8}
SECTION_HEADS = {
    "Program Headers:": "phdr",
    "Dynamic section at offset": "dyn",
    "Symbol table '.dynsym'": "sym",
    "Symbol table for image": "sym",
    "Version symbols section": "versym",
    "Version definition section": "verdef",
    "Version needs section": "verneed",
    "Displaying notes": "notes",
}


DYN_STRING = re.compile(r"\((\w+)\)\s+(?:Shared library|Library \w+): \[(.*)\]$")
VERDEF = re.compile(r"Rev: \d+\s+Flags: .*?Index: \d+\s+Cnt: \d+\s+Name: (\S+)")


def run_readelf(path: str | Path, use_dynamic: bool = False) -> Readelf:
    """readelf's view; ``use_dynamic`` (``-D -s``) for files without section headers."""
    symbols = ["-D", "-s"] if use_dynamic else ["--dyn-syms"]
    out = subprocess.run(
        [READELF or "readelf", "-W", *symbols, "-V", "-d", "-l", "-n", str(path)],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    r, mode, file, note_text = Readelf(), "", "", None
    for line in out.splitlines():
        for head, name in SECTION_HEADS.items():
            if line.lstrip().startswith(head):
                mode = name
                if mode == "sym" and (m := re.search(r"contains (\d+) entr", line)):
                    r.dynsym_count = int(m[1])
        if m := re.search(r"\[Requesting program interpreter: (.*)\]$", line):
            r.interpreter = r.interpreter or m[1]
        elif mode == "phdr" and (m := re.match(r"\s+GNU_STACK\s+(?:0x\S+ ){5}(.{3}) 0x", line)):
            if r.stack_flags is None:
                r.stack_flags = sum(bit for c, bit in (("R", 4), ("W", 2), ("E", 1)) if c in m[1])
        elif mode == "dyn" and (m := DYN_STRING.search(line)):
            tag, value = m[1], m[2]
            if tag == "NEEDED":
                r.needed.append(value)
            elif tag == "SONAME":
                r.soname = value
            elif tag in ("RPATH", "RUNPATH"):
                setattr(r, tag.lower(), tuple(value.split(":")))
        elif mode == "sym" and re.match(r"\s*\d+: ", line):
            parts = line.split(None, 7)
            name = parts[7] if len(parts) == 8 else ""
            version = index = None
            if m := re.fullmatch(r"(.+?)@@?([^@\s]+)(?: \((\d+)\))?", name):
                name, version, index = m[1], m[2], int(m[3]) if m[3] else None
            r.dynsym.append((name, version, index, parts[4], parts[3], parts[6]))
        elif mode == "verdef" and (m := VERDEF.search(line)):
            r.version_definitions.append(m[1])
        elif mode == "verneed" and (m := re.search(r"Version: \d+\s+File: (\S+)\s+Cnt: \d+", line)):
            file = m[1]
            r.version_needs.append((file, []))
        elif mode == "verneed" and (m := re.search(r"Name: (\S+)\s+Flags: .*Version: (\d+)", line)):
            r.version_needs[-1][1].append(m[1])
            r.vernaux.setdefault(int(m[2]), (m[1], file))
        elif mode == "notes":
            if note_text is None and "NT_GNU_PROPERTY_TYPE_0" in line:
                note_text = line
            elif note_text is not None and line.startswith("\t") and r.isa_needed is None:
                note_text += line
    if note_text and (m := re.search(r"x86 ISA needed: ([^\t\n]*)", note_text)):
        r.isa_needed = sum(ISA_BITS.get(name.strip(), 0) for name in m[1].split(","))
    return r


READELF_BIND = {"UNIQUE": SymbolBinding.GNU_UNIQUE}
READELF_TYPE = {"IFUNC": SymbolType.GNU_IFUNC}


def assert_matches_readelf(facts: ElfFacts, path: str | Path, use_dynamic: bool = False) -> None:
    r = run_readelf(path, use_dynamic)
    assert facts.interpreter == r.interpreter
    assert facts.needed == tuple(r.needed)
    assert facts.soname == r.soname
    assert (facts.rpath, facts.runpath) == (r.rpath, r.runpath)
    assert (None if facts.stack_flags is None else facts.stack_flags & 7) == r.stack_flags
    # readelf -n reads notes through sections too; a relocatable object (crt1.o) has its
    # note only there, and the facts are read through program headers, which it has none of
    if facts.machine in (Machine.X86_64, Machine.I386) and facts.elf_type != 1:
        assert facts.x86_isa_needed == r.isa_needed
    assert facts.version_definitions == tuple(r.version_definitions)
    assert facts.version_needs == tuple(VersionNeed(f, tuple(v)) for f, v in r.version_needs)
    # readelf sizes .dynsym from its section header, we from the hash table
    assert facts.symbol_count == (r.dynsym_count or 0)
    expected_undefined = [
        (
            name,
            READELF_BIND.get(bind) or SymbolBinding[bind],
            READELF_TYPE.get(kind) or SymbolType[kind],
            version,
            None if index is None else r.vernaux.get(index, (None, None))[1],
        )
        for name, version, index, bind, kind, ndx in r.dynsym[1:]
        if ndx == "UND"
    ]
    got = [(s.name, s.binding, s.type, s.version, s.version_file) for s in facts.undefined_symbols]
    assert got == expected_undefined
    expected_init = [
        name
        for name, _, _, _, kind, ndx in r.dynsym[1:]
        if ndx != "UND" and kind == "FUNC" and name.startswith(PYTHON_INIT_PREFIXES)
    ]
    assert facts.init_functions == tuple(expected_init)


@needs_readelf
@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.replace("/", "_"))
def test_system_file_matches_readelf(path: str) -> None:
    data = Path(path).read_bytes()
    facts = parse_elf(data)
    assert facts.elf_class is ElfClass.ELF64 and facts.endianness is Endianness.LITTLE
    assert_matches_readelf(facts, path)
    # Program headers only: the record must not change when section headers vanish.
    assert parse_elf(without_section_headers(data)) == facts
    assert parse_elf(memoryview(bytearray(data))) == facts


def test_sample_is_big_enough() -> None:
    if READELF is None:
        pytest.skip("readelf (binutils) is not installed")
    assert len(SAMPLE) >= 100, SAMPLE


def without_section_headers(data: bytes) -> bytes:
    """The file with its section header table scribbled over and e_shoff, e_shnum and
    e_shstrndx pointing nowhere: any section-header read would fail or mislead."""
    buf = bytearray(data)
    end = "<" if buf[5] == 1 else ">"
    fmt, at = (end + "QIHHHHHH", 0x28) if buf[4] == 2 else (end + "IIHHHHHH", 0x20)
    shoff, flags, ehsize, phentsize, phnum, shentsize, shnum, _ = struct.unpack_from(fmt, buf, at)
    table_end = min(len(buf), shoff + shnum * shentsize)
    if shoff:
        buf[shoff:table_end] = b"\xff" * max(0, table_end - shoff)
    struct.pack_into(
        fmt, buf, at, len(buf) + 4096, flags, ehsize, phentsize, phnum, shentsize, 0xFFFF, 0xFFFF
    )
    return bytes(buf)


# -- errors: every broken buffer is an ElfError, nothing else --------------------------------


@pytest.mark.parametrize(
    "buffer",
    [
        b"",
        b"\x7f",
        b"\x7fEL",
        b"MZ\x90\x00" + bytes(60),
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        b"#!/bin/sh\n",
        b"\x7felf" + bytes(60),
    ],
)
def test_not_elf(buffer: bytes) -> None:
    with pytest.raises(ElfError) as info:
        parse_elf(buffer)
    assert info.value.code == "not-elf"


@pytest.mark.parametrize(
    ("buffer", "code"),
    [
        (b"\x7fELF", "truncated"),
        (b"\x7fELF\x02\x01\x01" + bytes(9), "truncated"),  # e_ident only
        (b"\x7fELF\x01\x01\x01" + bytes(40), "truncated"),  # 47 < 52 bytes of Elf32_Ehdr
        (b"\x7fELF\x03\x01\x01" + bytes(60), "bad-header"),
        (b"\x7fELF\x02\x00\x01" + bytes(60), "bad-header"),
    ],
)
def test_header_errors(buffer: bytes, code: str) -> None:
    with pytest.raises(ElfError) as info:
        parse_elf(buffer)
    assert info.value.code == code


def small_shared_object() -> bytes:
    candidates = [p for p in SAMPLE if p.endswith(".so")] or SAMPLE
    if not candidates:
        pytest.skip("no ELF file found on this system")
    return Path(min(candidates, key=os.path.getsize)).read_bytes()


ERROR_CODES = {
    "not-elf",
    "truncated",
    "bad-header",
    "bad-offset",
    "bad-table",
    "too-large",
    "ambiguous",
}


def parses_or_elf_error(buffer: bytes) -> ElfFacts | ElfError:
    try:
        return parse_elf(buffer)
    except ElfError as e:
        assert e.code in ERROR_CODES
        return e


def test_every_prefix_parses_or_raises_elf_error() -> None:
    data = small_shared_object()
    cuts = list(range(min(len(data), 2048) + 1))
    cuts += [len(data) * k // 64 for k in range(64)] + [len(data) - 1]
    outcomes = {type(parses_or_elf_error(data[:n])).__name__ for n in cuts}
    assert outcomes <= {"ElfFacts", "ElfError"}
    assert parse_elf(data).symbol_count > 0


@pytest.mark.slow
def test_random_corruption_parses_or_raises_elf_error() -> None:
    data = small_shared_object()
    rng = random.Random(20240601)
    hot = min(len(data), 4096)  # headers and dynamic tables live at the start
    for _ in range(1500):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(hot) if rng.random() < 0.8 else rng.randrange(len(buf))
            buf[at] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        parses_or_elf_error(bytes(buf))


# -- gcc-built extensions --------------------------------------------------------------------

TINY_C = r"""
#include <math.h>
#include <stdio.h>
extern int missing_symbol(int);
double tiny_helper(double x) { return cos(x); }
int PyInit_tiny(void) { return puts("tiny") + missing_symbol(1); }
"""


def build(tmp_path: Path, *ldflags: str, name: str = "tiny.so") -> Path:
    src = tmp_path / "tiny.c"
    src.write_text(TINY_C)
    out = tmp_path / name
    subprocess.run(
        [
            GCC or "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            str(src),
            "-o",
            str(out),
            "-lm",
            "-Wl,-soname,libtiny.so.1",
            *ldflags,
        ],
        check=True,
        capture_output=True,
    )
    return out


def dynamic_tag_names(path: Path) -> set[str]:
    out = subprocess.run(
        [READELF or "readelf", "-W", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"\((\w+)\)", out))


@needs_gcc
@pytest.mark.parametrize("style", ["gnu", "sysv"])
def test_gcc_extension_fields(tmp_path: Path, style: str) -> None:
    path = build(
        tmp_path, f"-Wl,--hash-style={style}", "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"
    )
    assert ("GNU_HASH" if style == "gnu" else "HASH") in dynamic_tag_names(path)
    assert ("HASH" if style == "gnu" else "GNU_HASH") not in dynamic_tag_names(path)
    facts = parse_elf(path.read_bytes())
    assert_matches_readelf(facts, path)
    assert facts.machine is Machine.X86_64 and facts.elf_type == 3  # ET_DYN
    assert facts.interpreter is None and facts.has_dynamic
    assert facts.needed == ("libm.so.6", "libc.so.6")
    assert facts.soname == "libtiny.so.1"
    assert facts.runpath == ("$ORIGIN/../lib",) and facts.rpath == ()
    assert facts.init_functions == ("PyInit_tiny",)
    assert not facts.executable_stack
    imports = {s.name: (s.version, s.version_file) for s in facts.undefined_symbols}
    assert imports["puts"] == ("GLIBC_2.2.5", "libc.so.6")
    assert imports["cos"] == ("GLIBC_2.2.5", "libm.so.6")  # same version, told apart by file
    assert imports["missing_symbol"] == (None, None)
    assert {n.file for n in facts.version_needs} == {"libc.so.6", "libm.so.6"}
    # no section headers, same record
    assert parse_elf(without_section_headers(path.read_bytes())) == facts


@needs_gcc
def test_gcc_hash_styles_agree(tmp_path: Path) -> None:
    gnu = parse_elf(build(tmp_path, "-Wl,--hash-style=gnu", name="gnu.so").read_bytes())
    sysv = parse_elf(build(tmp_path, "-Wl,--hash-style=sysv", name="sysv.so").read_bytes())
    both = parse_elf(build(tmp_path, "-Wl,--hash-style=both", name="both.so").read_bytes())
    assert gnu.symbol_count == sysv.symbol_count == both.symbol_count
    # GNU hash sorts the exported symbols, so compare as sets
    assert set(gnu.undefined_symbols) == set(sysv.undefined_symbols) == set(both.undefined_symbols)


@needs_gcc
def test_gcc_execstack_and_rpath(tmp_path: Path) -> None:
    path = build(
        tmp_path, "-Wl,-z,execstack", "-Wl,-rpath,$ORIGIN/../lib:/opt/x", "-Wl,--disable-new-dtags"
    )
    facts = parse_elf(path.read_bytes())
    assert_matches_readelf(facts, path)
    assert facts.stack_flags is not None and facts.stack_flags & 1 and facts.executable_stack
    assert facts.rpath == ("$ORIGIN/../lib", "/opt/x") and facts.runpath == ()


@needs_gcc
def test_gcc_version_definitions(tmp_path: Path) -> None:
    script = tmp_path / "tiny.map"
    script.write_text(
        "TINY_1.0 { global: tiny_helper; local: *; };\n"
        "TINY_2.0 { global: PyInit_tiny; } TINY_1.0;\n"
    )
    path = build(tmp_path, f"-Wl,--version-script={script}")
    facts = parse_elf(path.read_bytes())
    assert_matches_readelf(facts, path)
    assert facts.version_definitions == ("libtiny.so.1", "TINY_1.0", "TINY_2.0")
    assert facts.init_functions == ("PyInit_tiny",)


@needs_gcc
def test_gcc_elf32(tmp_path: Path) -> None:
    src = tmp_path / "x.c"
    src.write_text("extern int g(int); int PyInit_x(void) { return g(1); }\n")
    out = tmp_path / "x32.so"
    command = [GCC or "gcc", "-m32", "-shared", "-fPIC", "-nostdlib", str(src), "-o", str(out)]
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:
        pytest.skip("no 32-bit gcc support")
    facts = parse_elf(out.read_bytes())
    assert facts.elf_class is ElfClass.ELF32 and facts.machine is Machine.I386
    assert_matches_readelf(facts, out)
    assert [s.name for s in facts.undefined_symbols] == ["g"]
    assert facts.init_functions == ("PyInit_x",)


def _note_segments(data: bytes) -> list[tuple[int, int]]:
    """(p_offset, p_align) of each PT_NOTE of an x86-64 file, in table order."""
    phoff, phnum = struct.unpack_from("<Q", data, 0x20)[0], struct.unpack_from("<H", data, 0x38)[0]
    headers = [struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i) for i in range(phnum)]
    return [(h[2], h[7]) for h in headers if h[0] == 4]


@needs_gcc
def test_gcc_x86_isa_level(tmp_path: Path) -> None:
    path = build(tmp_path, "-Wl,-z,x86-64-v2")
    data = path.read_bytes()
    facts = parse_elf(data)
    assert_matches_readelf(facts, path)
    assert facts.x86_isa_needed == 2  # GNU_PROPERTY_X86_ISA_1_V2
    (prop, align8), (build_id, _) = _note_segments(data)  # property note first, then build-id
    assert align8 == 8

    def variant(first_owner: bytes, first_isa_type: int, second_props: bytes) -> int | None:
        """The property note's owner and ISA property type changed, and the build-id note
        turned into a second GNU property note holding ``second_props`` (20 bytes)."""
        buf = bytearray(data)
        buf[prop + 12 : prop + 16] = first_owner
        struct.pack_into("<I", buf, prop + 16, first_isa_type)
        struct.pack_into("<I", buf, build_id + 8, 5)  # NT_GNU_PROPERTY_TYPE_0
        buf[build_id + 16 : build_id + 36] = second_props
        return parse_elf(bytes(buf)).x86_isa_needed

    isa, v3 = 0xC0008002, 4
    good = struct.pack("<III8x", isa, 4, v3)  # ISA needed v3, padded to 8
    assert variant(b"GNU\0", isa, good) == 2  # the first note wins
    # Only the first GNU property note counts, even with no ISA property in it (glibc's
    # l_property): the later PT_NOTE is not looked at.
    assert variant(b"GNU\0", 0xC0008001, good) is None
    # Not named GNU: no property note in the first PT_NOTE, and the build-id's PT_NOTE is
    # aligned to 4, which glibc skips in an ELF64 file (sysdeps/x86/dl-prop.h).
    assert variant(b"GNX\0", isa, good) is None
    # An ISA property whose pr_datasz is not 4 is malformed: glibc keeps no level.
    buf = bytearray(data)
    struct.pack_into("<I", buf, prop + 20, 0)
    assert parse_elf(bytes(buf)).x86_isa_needed is None


# -- crafted tables: the rules a gcc-built file never exercises ------------------------------


def _section(path: Path, name: str) -> tuple[int, int]:
    out = subprocess.run(
        [READELF or "readelf", "-W", "-S", str(path)], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(rf"\s{re.escape(name)}\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", out)
    assert m, out
    return int(m[2], 16), int(m[3], 16)  # file offset, size


@needs_gcc
def test_gnu_hash_symoffset_too_large(tmp_path: Path) -> None:
    path = build(tmp_path, "-Wl,--hash-style=gnu")
    buf = bytearray(path.read_bytes())
    offset, _ = _section(path, ".gnu.hash")
    struct.pack_into("<I", buf, offset + 4, (1 << 24) + 1)  # symoffset above every bucket
    with pytest.raises(ElfError) as info:
        parse_elf(bytes(buf))
    assert info.value.code == "too-large"


@needs_gcc
def test_runaway_version_chain_is_bad_table(tmp_path: Path) -> None:
    path = build(tmp_path)
    buf = bytearray(path.read_bytes())
    offset, _ = _section(path, ".gnu.version_r")
    struct.pack_into("<I", buf, offset + 12, 0xFFFFFFF0)  # vn_next far past the end
    with pytest.raises(ElfError) as info:
        parse_elf(bytes(buf))
    assert info.value.code == "bad-table"


@needs_gcc
def test_string_outside_strsz_is_bad_table(tmp_path: Path) -> None:
    path = build(tmp_path)
    buf = bytearray(path.read_bytes())
    offset, size = _section(path, ".dynamic")
    tags = [(at, *struct.unpack_from("<qQ", buf, at)) for at in range(offset, offset + size, 16)]
    strsz = next(value for _, tag, value in tags if tag == 10)  # DT_STRSZ
    needed_at = next(at for at, tag, _ in tags if tag == 1)  # the first DT_NEEDED
    struct.pack_into("<qQ", buf, needed_at, 1, strsz)  # its string starts just past the table
    with pytest.raises(ElfError) as info:
        parse_elf(bytes(buf))
    assert info.value.code == "bad-table"


def _dynamic(path: Path) -> list[tuple[int, int, int]]:
    """(file offset, d_tag, d_val) of each entry of an x86-64 file's dynamic section."""
    offset, size = _section(path, ".dynamic")
    data = path.read_bytes()
    return [(at, *struct.unpack_from("<qQ", data, at)) for at in range(offset, offset + size, 16)]


def _set_tag(path: Path, tag: int, value: int, new_tag: int | None = None) -> bytes:
    buf = bytearray(path.read_bytes())
    at = next(at for at, t, _ in _dynamic(path) if t == tag)
    struct.pack_into("<qQ", buf, at, tag if new_tag is None else new_tag, value)
    return bytes(buf)


DT_STRSZ, DT_SYMTAB, DT_SYMENT, DT_SONAME, DT_DEBUG, DT_HASH, DT_GNU_HASH = (
    10,
    6,
    11,
    14,
    21,
    4,
    0x6FFFFEF5,
)


@needs_gcc
@pytest.mark.parametrize(
    ("tag", "value", "code"),
    [
        (DT_SONAME, 1 << 63, "bad-table"),  # a value with the top bit set is still present
        (DT_GNU_HASH, 1 << 63, "bad-offset"),  # an address in no PT_LOAD
        (DT_SYMTAB, 1 << 63, "bad-offset"),
        (DT_SYMENT, 16, "bad-table"),  # the loader's stride is sizeof(Elf64_Sym), 24
        (DT_STRSZ, None, "bad-offset"),  # no DT_STRSZ: the string table has no bound
    ],
)
def test_dynamic_tag_errors(tmp_path: Path, tag: int, value: int | None, code: str) -> None:
    path = build(tmp_path, "-Wl,--hash-style=gnu")
    # value None drops the tag: it becomes a DT_DEBUG, which nobody reads
    data = _set_tag(path, tag, value or 0, new_tag=DT_DEBUG if value is None else None)
    with pytest.raises(ElfError) as info:
        parse_elf(data)
    assert info.value.code == code


@needs_gcc
def test_unused_tags_and_segments_are_not_read(tmp_path: Path) -> None:
    path = build(tmp_path, "-Wl,--hash-style=both")
    facts = parse_elf(path.read_bytes())
    # DT_GNU_HASH wins, so DT_HASH is never translated, as in the loader
    assert parse_elf(_set_tag(path, DT_HASH, 1 << 40)) == facts
    # PT_GNU_STACK: only p_flags are read, its offset and size may be anything
    buf = bytearray(path.read_bytes())
    phoff, phnum = struct.unpack_from("<Q", buf, 0x20)[0], struct.unpack_from("<H", buf, 0x38)[0]
    stack = next(
        phoff + 56 * i
        for i in range(phnum)
        if struct.unpack_from("<I", buf, phoff + 56 * i)[0] == 0x6474E551
    )
    struct.pack_into("<QQQQQ", buf, stack + 8, 1 << 40, 0, 0, 1 << 40, 0)
    assert parse_elf(bytes(buf)) == facts


def make_elf(
    *, elf64: bool, big: bool, machine: int, hash_word: int, undefined: list[str]
) -> bytes:
    """A minimal shared object: one PT_LOAD (vaddr == offset), PT_DYNAMIC, DT_HASH, symbols."""
    e = ">" if big else "<"
    addr, ehsize, phsize, symsize, dynsize = (
        ("Q", 64, 56, 24, 16) if elf64 else ("I", 52, 32, 16, 8)
    )
    strtab = b"\0libfoo.so\0" + b"".join(n.encode() + b"\0" for n in undefined)
    name_at = [strtab.index(b"\0" + n.encode() + b"\0") + 1 for n in undefined]
    nsyms = len(undefined) + 1
    phoff = ehsize
    str_at = phoff + 2 * phsize
    sym_at = (str_at + len(strtab) + 7) & ~7
    hash_at = sym_at + nsyms * symsize
    hash_words = [1, nsyms, 0] + [0] * nsyms  # one empty bucket; the count is nchain
    dyn_at = (hash_at + len(hash_words) * hash_word + 7) & ~7
    dyn = [(4, hash_at), (5, str_at), (10, len(strtab)), (6, sym_at), (11, symsize), (1, 1), (0, 0)]
    size = dyn_at + len(dyn) * dynsize
    buf = bytearray(size)
    ident = b"\x7fELF" + bytes([2 if elf64 else 1, 2 if big else 1, 1]) + bytes(9)
    struct.pack_into(
        e + f"16sHHI{addr}{addr}{addr}IHHHHHH",
        buf,
        0,
        ident,
        3,
        machine,
        1,
        0,
        phoff,
        0,
        0,
        ehsize,
        phsize,
        2,
        0,
        0,
        0,
    )
    for i, (ptype, off, filesz) in enumerate([(1, 0, size), (2, dyn_at, len(dyn) * dynsize)]):
        at = phoff + i * phsize  # RW, p_vaddr == p_paddr == p_offset, p_align 8
        if elf64:
            struct.pack_into(e + "IIQQQQQQ", buf, at, ptype, 6, off, off, off, filesz, filesz, 8)
        else:
            struct.pack_into(e + "IIIIIIII", buf, at, ptype, off, off, off, filesz, filesz, 6, 8)
    buf[str_at : str_at + len(strtab)] = strtab
    for i, name in enumerate(name_at, start=1):  # GLOBAL FUNC, SHN_UNDEF
        if elf64:
            struct.pack_into(e + "IBBHQQ", buf, sym_at + i * symsize, name, 0x12, 0, 0, 0, 0)
        else:
            struct.pack_into(e + "IIIBBH", buf, sym_at + i * symsize, name, 0, 0, 0x12, 0, 0)
    word = {4: "I", 8: "Q"}[hash_word]
    struct.pack_into(e + word * len(hash_words), buf, hash_at, *hash_words)
    for i, (tag, value) in enumerate(dyn):
        struct.pack_into(e + ("qQ" if elf64 else "iI"), buf, dyn_at + i * dynsize, tag, value)
    return bytes(buf)


@pytest.mark.parametrize(
    ("elf64", "big", "machine", "hash_word"),
    [
        (True, True, 22, 8),  # s390x: 8-byte DT_HASH words
        (False, True, 22, 4),  # 31-bit s390: 4-byte words
        (True, False, 62, 4),
        (False, False, 3, 4),
        (True, True, 21, 4),
    ],
)
def test_crafted_sysv_hash_files(
    tmp_path: Path, elf64: bool, big: bool, machine: int, hash_word: int
) -> None:
    names = ["alpha", "beta", "gamma"]
    data = make_elf(elf64=elf64, big=big, machine=machine, hash_word=hash_word, undefined=names)
    facts = parse_elf(data)
    assert facts.elf_class is (ElfClass.ELF64 if elf64 else ElfClass.ELF32)
    assert facts.endianness is (Endianness.BIG if big else Endianness.LITTLE)
    assert facts.machine == machine and facts.needed == ("libfoo.so",)
    assert facts.symbol_count == len(names) + 1
    assert [(s.name, s.binding, s.type) for s in facts.undefined_symbols] == [
        (n, SymbolBinding.GLOBAL, SymbolType.FUNC) for n in names
    ]
    if READELF:
        (tmp_path / "crafted.so").write_bytes(data)
        assert_matches_readelf(facts, tmp_path / "crafted.so", use_dynamic=True)


def test_s390x_hash_words_are_eight_bytes() -> None:
    # pyelftools' ELFHashTable reads this table as 4-byte words: nchain is then the low half of
    # the 8-byte big-endian nbucket, 1, and the file seems to have no symbols but the null one.
    data = make_elf(elf64=True, big=True, machine=22, hash_word=8, undefined=["x"])
    assert parse_elf(data).symbol_count == 2
    # 4-byte words in an s390x file: the second 8-byte word, nchain, is the zero-filled first
    # bucket and chain entry, so the reader (rightly, by the rule) sees no symbols.
    wrong = make_elf(elf64=True, big=True, machine=22, hash_word=4, undefined=["x"])
    assert parse_elf(wrong).symbol_count == 0
