"""ELF files read as glibc's loader reads them (issue #14): where wheelscan and the loader
would read a file differently, the verdict is never milder than what the loader loads.

Each case is a file the loader reads one way and a naive reader (readelf, pyelftools, the old
wheelscan) another: the last PT_DYNAMIC, the dynamic section at p_vaddr, version chains
followed by their links past DT_VERNEEDNUM and vn_cnt, tables that end inside their PT_LOAD,
PT_LOADs that map one address to one byte, PT_INTERP ignored in a loaded library. The rules
are glibc's (elf/dl-load.c, elf/dl-version.c, elf/get-dynamic-info.h,
elf/dl-map-segments.h); ``test_loader_*`` check them against the host's loader itself.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from wheelscan._native import parse_elf as native
from wheelscan.elf import BACKEND_ENV, ElfError, ElfFacts
from wheelscan.elf.reference import parse_elf as reference
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict

from elfwriter import (
    BASE_VADDR,
    DT_NULL,
    DT_STRSZ,
    DT_VERDEFNUM,
    DT_VERNEED,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    PT_DYNAMIC,
    PT_GNU_STACK,
    PT_LOAD,
    PT_NOTE,
    ElfImage,
    ElfSpec,
    Sym,
    build_elf,
    build_image,
)
from wheelbuilder import build_wheel

PARSERS = {"native": native, "reference": reference}
NAME = "demo-1.0-cp312-cp312-manylinux_2_5_x86_64.whl"
INNOCENT_PATH = "demo/_ok.cpython-312-x86_64-linux-gnu.so"
EVASIVE_PATH = "demo/_mod.cpython-312-x86_64-linux-gnu.so"
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"
# What the evasive module really needs: a library no policy allows and GLIBC_2.38 (the
# newest policy of the bundled data allows less, so the truth is linux_x86_64 at best).
FORBIDDEN = "libforbidden.so.1"


def evasive_spec(**overrides: object) -> ElfSpec:
    """An extension module whose second Verneed (libc.so.6) asks for GLIBC_2.38, two
    Vernaux in it, and a DT_NEEDED no policy allows."""
    symbols = [
        Sym("_Unwind_Resume", version="GCC_3.0", version_file="libgcc_s.so.1"),
        Sym("puts", version="GLIBC_2.2.5", version_file="libc.so.6"),
        Sym("newest", version="GLIBC_2.38", version_file="libc.so.6"),
        Sym("forbidden_call"),
        Sym("PyInit__mod", defined=True),
    ]
    spec = ElfSpec(needed=["libgcc_s.so.1", FORBIDDEN, "libc.so.6"], symbols=symbols)
    return replace(spec, **overrides)  # type: ignore[arg-type]


def innocent() -> bytes:
    """A module the oldest policy allows: what makes the whole wheel look like manylinux_2_5."""
    symbols = [
        Sym("puts", version="GLIBC_2.2.5", version_file="libc.so.6"),
        Sym("PyInit__ok", True),
    ]
    return build_elf(ElfSpec(needed=["libc.so.6"], symbols=symbols))


def outcome(backend: str, data: bytes) -> ElfFacts | str:
    try:
        return PARSERS[backend](data)
    except ElfError as e:
        return e.code


def judged(data: bytes, backend: str, monkeypatch: pytest.MonkeyPatch) -> Verdict | AuditError:
    monkeypatch.setenv(BACKEND_ENV, backend)
    return audit(build_wheel({INNOCENT_PATH: innocent(), EVASIVE_PATH: data}), NAME)


def assert_not_milder(result: Verdict | AuditError) -> None:
    """The loader loads GLIBC_2.38 and libforbidden: linux_x86_64, or no verdict at all."""
    if isinstance(result, Verdict):
        assert result.overall_tag == "linux_x86_64", result
        assert EVASIVE_PATH not in result.ignored_elf_files


def patched(spec: ElfSpec, patch: Callable[[ElfImage], None]) -> bytes:
    image = build_image(spec)
    patch(image)
    return bytes(image.data)


def point_dynamic_at_decoy(image: ElfImage, field: str) -> None:
    off, _ = image.sections[".decoy.dynamic"]
    image.set_phdr(PT_DYNAMIC, field, off + (BASE_VADDR if field == "p_vaddr" else 0))


def second_dynamic(image: ElfImage) -> None:
    """The table's PT_DYNAMIC points at the decoy; a later one (the loader's) at the real."""
    real = image.segment(PT_DYNAMIC)
    point_dynamic_at_decoy(image, "p_offset")
    point_dynamic_at_decoy(image, "p_vaddr")
    image.set_segment(**real)


def verneed_count(image: ElfImage, count: int) -> None:
    image.set_field(image.s.verneed, image.verneed[1][0], "vn_cnt", count)


def cut_dynamic_before_verneed(image: ElfImage) -> None:
    """p_filesz ends before DT_VERNEED: the loader reads on to DT_NULL, past p_filesz."""
    start = image.segment(PT_DYNAMIC)["p_offset"]
    at = next(o for t, _, o in image.dynamic if t == DT_VERNEED)
    image.set_phdr(PT_DYNAMIC, "p_filesz", at - start)


def strtab_into_the_gap(image: ElfImage) -> None:
    """.dynstr ends its PT_LOAD; DT_STRSZ runs on into bytes the loader maps elsewhere."""
    image.set_dyn(DT_STRSZ, image.dyn(DT_STRSZ) + 8)


def overlapping_load(image: ElfImage) -> None:
    """A later PT_LOAD maps the decoy's bytes over the dynamic section's address."""
    dynamic = image.segment(PT_DYNAMIC)
    decoy, size = image.sections[".decoy.dynamic"]
    image.set_segment(
        p_type=PT_LOAD, p_flags=PF_R, p_offset=decoy, p_vaddr=dynamic["p_vaddr"],
        p_filesz=size, p_memsz=size, p_align=0x1000,
    )  # fmt: skip


def page_shared_from_elsewhere(image: ElfImage) -> None:
    """A PT_LOAD that starts in the page where the first ends, mapped from another place."""
    end = image.segment(PT_LOAD)["p_vaddr"] + image.segment(PT_LOAD)["p_filesz"]
    image.set_segment(
        p_type=PT_LOAD, p_flags=PF_R, p_offset=0, p_vaddr=end + 8, p_filesz=16, p_memsz=16,
        p_align=0x1000,
    )  # fmt: skip


def loads_out_of_order(image: ElfImage) -> None:
    first, second = (o for t, o in image.phdrs if t == PT_LOAD)
    size = image.s.phdr.size
    a, b = bytes(image.data[first : first + size]), bytes(image.data[second : second + size])
    image.data[first : first + size], image.data[second : second + size] = b, a


def stack_made_executable(image: ElfImage) -> None:
    image.set_segment(p_type=PT_GNU_STACK, p_flags=PF_R | PF_W | PF_X, p_align=16)


# name -> (the file, the error both backends must give: the loader's reading differs)
AMBIGUOUS = "ambiguous"
DISAGREEMENTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "two-pt-dynamic": (
        lambda: patched(evasive_spec(decoy_needed=["libc.so.6"], spare_segments=1), second_dynamic),
        AMBIGUOUS,
    ),
    "dynamic-p_offset-elsewhere": (
        lambda: patched(
            evasive_spec(decoy_needed=["libc.so.6"]),
            lambda im: point_dynamic_at_decoy(im, "p_offset"),
        ),
        AMBIGUOUS,
    ),
    "dynamic-p_vaddr-elsewhere": (
        lambda: patched(
            evasive_spec(decoy_needed=["libc.so.6"]),
            lambda im: point_dynamic_at_decoy(im, "p_vaddr"),
        ),
        AMBIGUOUS,
    ),
    "dt-null-past-p_filesz": (
        lambda: patched(evasive_spec(), cut_dynamic_before_verneed),
        "bad-table",
    ),
    "verneednum-short": (lambda: build_elf(evasive_spec(verneednum=1)), AMBIGUOUS),
    "verneednum-zero": (lambda: build_elf(evasive_spec(verneednum=0)), AMBIGUOUS),
    "verneednum-long": (lambda: build_elf(evasive_spec(verneednum=5)), AMBIGUOUS),
    "vn_cnt-short": (lambda: patched(evasive_spec(), lambda im: verneed_count(im, 1)), AMBIGUOUS),
    "vn_cnt-long": (lambda: patched(evasive_spec(), lambda im: verneed_count(im, 9)), AMBIGUOUS),
    "strtab-past-its-load": (
        lambda: patched(evasive_spec(second_load_from=".gnu.version"), strtab_into_the_gap),
        "bad-offset",
    ),
    "loads-overlap": (
        lambda: patched(
            evasive_spec(decoy_needed=["libc.so.6"], spare_segments=1), overlapping_load
        ),
        "bad-offset",
    ),
    "page-shared-from-elsewhere": (
        lambda: patched(evasive_spec(spare_segments=1), page_shared_from_elsewhere),
        "bad-offset",
    ),
    "loads-out-of-order": (
        lambda: patched(evasive_spec(second_load_from=".dynamic"), loads_out_of_order),
        "bad-offset",
    ),
}


@pytest.mark.parametrize("backend", sorted(PARSERS))
@pytest.mark.parametrize("case", sorted(DISAGREEMENTS))
def test_a_file_read_two_ways_is_an_error(case: str, backend: str) -> None:
    make, code = DISAGREEMENTS[case]
    assert outcome(backend, make()) == code


@pytest.mark.parametrize("backend", sorted(PARSERS))
@pytest.mark.parametrize("case", sorted(DISAGREEMENTS))
def test_an_evasive_wheel_is_never_judged_milder(
    case: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = judged(DISAGREEMENTS[case][0](), backend, monkeypatch)
    assert isinstance(result, AuditError), result
    assert (result.code, result.member) == (f"elf-{DISAGREEMENTS[case][1]}", EVASIVE_PATH)


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_the_plain_evasive_module_is_judged_by_what_it_needs(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = judged(build_elf(evasive_spec()), backend, monkeypatch)
    assert isinstance(result, Verdict)
    assert_not_milder(result)
    assert "GLIBC_2.38" in result.versioned_symbols["libc.so.6"]
    assert FORBIDDEN in result.external_libraries


@pytest.mark.parametrize("backend", sorted(PARSERS))
@pytest.mark.parametrize(
    "layout",
    [
        {"spare_segments": 1},  # a second PT_DYNAMIC naming the same bytes
        {"second_load_from": ".dynamic"},  # p_offset != p_vaddr - BASE_VADDR, consistently
        {"second_load_from": ".gnu.version_r"},  # the version chains in the second segment
    ],
)
def test_sound_layouts_read_as_the_plain_file(backend: str, layout: dict[str, object]) -> None:
    def same_dynamic_twice(image: ElfImage) -> None:
        image.set_segment(**image.segment(PT_DYNAMIC))

    plain = outcome(backend, build_elf(evasive_spec()))
    data = patched(evasive_spec(**layout), same_dynamic_twice if "spare_segments" in layout
                   else lambda im: None)  # fmt: skip
    assert outcome(backend, data) == plain
    assert isinstance(plain, ElfFacts)


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_an_empty_last_pt_dynamic_is_skipped(backend: str) -> None:
    """glibc >= 2.35 skips a PT_DYNAMIC with p_filesz 0 (objcopy --only-keep-debug)."""

    def empty_dynamic(image: ElfImage) -> None:
        image.set_segment(p_type=PT_DYNAMIC, p_offset=0, p_vaddr=BASE_VADDR, p_align=8)

    data = patched(evasive_spec(spare_segments=1), empty_dynamic)
    assert outcome(backend, data) == outcome(backend, build_elf(evasive_spec()))


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_the_last_pt_gnu_stack_decides(backend: str) -> None:
    facts = outcome(backend, patched(evasive_spec(spare_segments=1), stack_made_executable))
    assert isinstance(facts, ElfFacts)
    assert facts.executable_stack


def _vernaux(image: ElfImage, version: str) -> int:
    index = image.version_index[("libc.so.6", version)]
    for _, auxes in image.verneed:
        for aux in auxes:
            other = struct.unpack_from(image.s.e + "H", image.data, aux + 6)[0]
            if other == index:
                return aux
    raise AssertionError(version)


def _version_of(facts: ElfFacts | str, name: str) -> str | None:
    assert isinstance(facts, ElfFacts), facts
    return next(s.version for s in facts.undefined_symbols if s.name == name)


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_a_hidden_vna_other_still_names_its_version(backend: str) -> None:
    """dl-version.c indexes l_versions by ``vna_other & 0x7fff``."""

    def hide(image: ElfImage) -> None:
        aux = _vernaux(image, "GLIBC_2.38")
        index = image.version_index[("libc.so.6", "GLIBC_2.38")]
        image.set_field(image.s.vernaux, aux, "vna_other", index | 0x8000)

    assert _version_of(outcome(backend, patched(evasive_spec(), hide)), "newest") == "GLIBC_2.38"


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_the_last_vernaux_of_an_index_wins(backend: str) -> None:
    """dl-version.c fills l_versions[ndx] from every Vernaux in order: the last one stays."""

    def share_index(image: ElfImage) -> None:
        first = _vernaux(image, "GLIBC_2.2.5")
        index = image.version_index[("libc.so.6", "GLIBC_2.38")]
        image.set_field(image.s.vernaux, first, "vna_other", index)

    facts = outcome(backend, patched(evasive_spec(), share_index))
    assert _version_of(facts, "newest") == "GLIBC_2.38"
    assert _version_of(facts, "puts") is None  # its index now names nothing


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_verdefnum_must_agree_with_the_chain(backend: str) -> None:
    spec = evasive_spec(version_definitions=["mod.so", "MOD_1.0"])
    data = patched(spec, lambda im: im.set_dyn(DT_VERDEFNUM, 1))
    assert outcome(backend, data) == AMBIGUOUS


# --- the x86 ISA level: PT_NOTE read backward, at p_vaddr, word-aligned only -------------

V3 = 4  # GNU_PROPERTY_X86_ISA_1_V3


def isa_file(patch: Callable[[ElfImage], None], own: int | None = 1) -> bytes:
    """A module the oldest policy allows, its property note saying ``own`` (baseline; None:
    no note), and another GNU property note (v3) that the patch points a segment at."""
    symbols = [
        Sym("puts", version="GLIBC_2.2.5", version_file="libc.so.6"),
        Sym("PyInit__mod", True),
    ]
    spec = ElfSpec(
        needed=["libc.so.6"], symbols=symbols, x86_isa_needed=own, extra_isa_note=V3,
        spare_segments=1,
    )  # fmt: skip
    return patched(spec, patch)


def note_segment(image: ElfImage, align: int = 8) -> None:
    """A PT_NOTE after the file's own, over .note.extra."""
    off, size = image.sections[".note.extra"]
    image.set_segment(
        p_type=PT_NOTE, p_flags=PF_R, p_offset=off, p_vaddr=off + BASE_VADDR, p_filesz=size,
        p_memsz=size, p_align=align,
    )  # fmt: skip


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_the_last_pt_note_with_a_property_note_decides(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """glibc's dl-load.c processes PT_NOTE from the last program header to the first and
    keeps the first GNU property note it meets: the v3 one."""
    data = isa_file(note_segment)
    facts = outcome(backend, data)
    assert isinstance(facts, ElfFacts) and facts.x86_isa_needed == V3
    result = judged(data, backend, monkeypatch)
    assert isinstance(result, Verdict) and result.criteria["isa"] == "linux_x86_64"


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_a_pt_note_not_aligned_to_the_word_is_skipped(backend: str) -> None:
    """sysdeps/x86/dl-prop.h skips a PT_NOTE whose p_align is not 8 in ELF64."""
    facts = outcome(backend, isa_file(lambda im: note_segment(im, align=4), own=None))
    assert isinstance(facts, ElfFacts) and facts.x86_isa_needed is None


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_a_pt_note_read_two_ways_is_an_error(backend: str) -> None:
    """p_offset at the v3 note, p_vaddr at the baseline one: the loader reads p_vaddr."""

    def offset_elsewhere(image: ElfImage) -> None:
        image.set_phdr(PT_NOTE, "p_offset", image.sections[".note.extra"][0])

    assert outcome(backend, isa_file(offset_elsewhere)) == AMBIGUOUS


# --- PT_INTERP: the loader ignores it in a library it maps ----------------------------------


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_a_musl_interpreter_does_not_hide_a_glibc_module(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The study's module: GLIBC_2.38 and a forbidden library, a musl PT_INTERP and no
    DT_NEEDED libc.so.6 (Python has libc loaded already, so the loader finds it). The old
    reading took musl from PT_INTERP, ignored the file in a manylinux wheel and judged the
    wheel manylinux_2_5."""
    spec = evasive_spec(interpreter=MUSL_LOADER, needed=[FORBIDDEN])
    result = judged(build_elf(spec), backend, monkeypatch)
    assert isinstance(result, AuditError), result
    assert result.code == "interpreter-libc-mismatch"


@pytest.mark.parametrize("backend", sorted(PARSERS))
def test_a_musl_interpreter_in_a_module_needing_no_libc_is_ignored(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No libc named by what it needs: the module is judged with the wheel's libc, not
    dropped as a musl file."""
    spec = ElfSpec(
        interpreter=MUSL_LOADER, needed=[FORBIDDEN], symbols=[Sym("f"), Sym("PyInit__mod", True)]
    )
    result = judged(build_elf(spec), backend, monkeypatch)
    assert isinstance(result, Verdict), result
    assert_not_milder(result)
    assert FORBIDDEN in result.external_libraries


def test_an_executable_keeps_its_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file only run, never loaded (ET_EXEC): PT_INTERP says which libc runs it, as
    before; a musl one in a manylinux wheel is left out of the verdict."""
    spec = ElfSpec(elf_type=ET_EXEC, interpreter=MUSL_LOADER, needed=[FORBIDDEN])
    result = judged(build_elf(spec), "native", monkeypatch)
    assert isinstance(result, Verdict)
    assert result.ignored_elf_files == (EVASIVE_PATH,)


# --- against the host's loader ------------------------------------------------------------

GCC = shutil.which("gcc")
LOADER = Path("/lib64/ld-linux-x86-64.so.2")
needs_toolchain = pytest.mark.skipif(
    GCC is None or not LOADER.exists(), reason="gcc and an x86-64 glibc loader are needed"
)
SOURCE = """
#include <stdio.h>
#include <sys/random.h>
#include <math.h>
int answer(void) { return 42; }
int unused(double x) { char b[4]; return puts("x") + (int)getrandom(b, 4, 0) + (int)cos(x); }
"""


def _library(tmp_path: Path) -> bytes:
    """A real shared object: libm (GLIBC_2.2.5) and libc (GLIBC_2.25, GLIBC_2.2.5) needed."""
    src = tmp_path / "lib.c"
    src.write_text(SOURCE)
    out = tmp_path / "built.so"
    subprocess.run(
        [GCC or "gcc", "-shared", "-fPIC", "-O0", str(src), "-o", str(out), "-lm"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def _dlopen(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess[str]:
    """dlopen the file in a fresh interpreter and call answer(); its constructors do nothing."""
    path = tmp_path / "patched.so"
    path.write_bytes(data)
    code = (
        "import ctypes, os, sys\n"
        "lib = ctypes.CDLL(sys.argv[1], mode=os.RTLD_LAZY)\n"
        "print(lib.answer())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run(
        [sys.executable, "-c", code, str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )


class _Elf64:
    """Just enough of a little-endian ELF64 file to patch the gcc output."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        (self.phoff,) = struct.unpack_from("<Q", data, 32)
        (self.phnum,) = struct.unpack_from("<H", data, 56)

    def phdrs(self) -> list[tuple[int, list[int]]]:
        out = []
        for i in range(self.phnum):
            at = self.phoff + 56 * i
            out.append((at, list(struct.unpack_from("<IIQQQQQQ", self.data, at))))
        return out

    def offset(self, vaddr: int) -> int:
        for _, (p_type, _, off, va, _, filesz, _, _) in self.phdrs():
            if p_type == PT_LOAD and va <= vaddr < va + filesz:
                return vaddr - va + off
        raise AssertionError(hex(vaddr))

    def dynamic(self) -> list[tuple[int, int, int]]:
        ph = next(p for _, p in self.phdrs() if p[0] == PT_DYNAMIC)
        start, entries = self.offset(ph[3]), []
        for i in range(ph[5] // 16):
            tag, value = struct.unpack_from("<qQ", self.data, start + 16 * i)
            entries.append((tag, value, start + 16 * i))
            if tag == DT_NULL:
                break
        return entries

    def tag(self, tag: int) -> tuple[int, int]:
        return next((v, o) for t, v, o in self.dynamic() if t == tag)

    def verneed(self) -> list[tuple[int, list[int]]]:
        """(Verneed offset, [its Vernaux offsets]) by the links."""
        pos, out = self.offset(self.tag(DT_VERNEED)[0]), []
        while True:
            _, _, _, aux_off, nxt = struct.unpack_from("<HHIII", self.data, pos)
            auxes, aux = [], pos + aux_off
            while True:
                auxes.append(aux)
                (aux_next,) = struct.unpack_from("<I", self.data, aux + 12)
                if not aux_next:
                    break
                aux += aux_next
            out.append((pos, auxes))
            if not nxt:
                return out
            pos += nxt


@needs_toolchain
def test_loader_follows_verneed_links_past_dt_verneednum(tmp_path: Path) -> None:
    """The last Verneed's only version is made unmatchable (its vna_hash broken) and
    DT_VERNEEDNUM stops short of it: the loader still checks it and refuses the file."""
    elf = _Elf64(_library(tmp_path))
    chain = elf.verneed()
    assert len(chain) >= 2 and _dlopen(tmp_path, bytes(elf.data)).stdout.strip() == "42"
    struct.pack_into("<I", elf.data, chain[-1][1][0], 0x0BAD0BAD)  # vna_hash
    _, at = elf.tag(0x6FFFFFFF)  # DT_VERNEEDNUM
    struct.pack_into("<Q", elf.data, at + 8, len(chain) - 1)
    loaded = _dlopen(tmp_path, bytes(elf.data))
    assert loaded.returncode != 0 and "not found" in loaded.stderr
    for parse in PARSERS.values():
        with pytest.raises(ElfError) as info:
            parse(bytes(elf.data))
        assert info.value.code == AMBIGUOUS


@needs_toolchain
def test_loader_follows_vernaux_links_past_vn_cnt(tmp_path: Path) -> None:
    elf = _Elf64(_library(tmp_path))
    pos, auxes = next((p, a) for p, a in elf.verneed() if len(a) >= 2)
    struct.pack_into("<I", elf.data, auxes[-1], 0x0BAD0BAD)  # the last Vernaux's vna_hash
    struct.pack_into("<H", elf.data, pos + 2, len(auxes) - 1)  # vn_cnt
    loaded = _dlopen(tmp_path, bytes(elf.data))
    assert loaded.returncode != 0 and "not found" in loaded.stderr
    for parse in PARSERS.values():
        with pytest.raises(ElfError) as info:
            parse(bytes(elf.data))
        assert info.value.code == AMBIGUOUS


@needs_toolchain
def test_loader_reads_the_dynamic_section_at_p_vaddr(tmp_path: Path) -> None:
    """PT_DYNAMIC's p_offset pointed at the ELF header: the loader never looks there."""
    elf = _Elf64(_library(tmp_path))
    at, _ = next((a, p) for a, p in elf.phdrs() if p[0] == PT_DYNAMIC)
    struct.pack_into("<Q", elf.data, at + 8, 0)  # p_offset
    assert _dlopen(tmp_path, bytes(elf.data)).stdout.strip() == "42"
    for parse in PARSERS.values():
        with pytest.raises(ElfError) as info:
            parse(bytes(elf.data))
        assert info.value.code == AMBIGUOUS


@needs_toolchain
def test_loader_uses_the_last_pt_dynamic(tmp_path: Path) -> None:
    """A PT_DYNAMIC at the ELF header (no symbols there: d_tag 0 at byte 8) before the
    real one: the loader finds answer(), so it read the last one; then the order swapped:
    it finds nothing."""
    elf = _Elf64(_library(tmp_path))
    real_at, real = next((a, p) for a, p in elf.phdrs() if p[0] == PT_DYNAMIC)
    spare_at = next(a for a, p in elf.phdrs() if p[0] == 0x6474E550)  # PT_GNU_EH_FRAME
    assert spare_at > real_at
    header = [PT_DYNAMIC, PF_R, 0, 0, 0, 16, 16, 8]
    struct.pack_into("<IIQQQQQQ", elf.data, real_at, *header)
    struct.pack_into("<IIQQQQQQ", elf.data, spare_at, *real)
    assert _dlopen(tmp_path, bytes(elf.data)).stdout.strip() == "42"
    struct.pack_into("<IIQQQQQQ", elf.data, real_at, *real)
    struct.pack_into("<IIQQQQQQ", elf.data, spare_at, *header)
    assert _dlopen(tmp_path, bytes(elf.data)).returncode != 0
    for parse in PARSERS.values():
        with pytest.raises(ElfError) as info:
            parse(bytes(elf.data))
        assert info.value.code == AMBIGUOUS


INTERP_SOURCE = """
#include <stdio.h>
const char interp[] __attribute__((section(".interp"))) = "/lib/ld-musl-x86_64.so.1";
int answer(void) { return 42; }
int PyInit_interp(void) { return puts("x"); }
"""


@needs_toolchain
def test_loader_ignores_pt_interp_in_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The study's module, built for real: a musl PT_INTERP, glibc symbol versions and no
    DT_NEEDED libc.so.6 (turned into DT_DEBUG, which glibc reads only in the main program).
    The host's loader maps it and runs it in Python, whose libc provides GLIBC_2.2.5: it is
    a glibc module, which the old reading dropped as musl from a manylinux wheel."""
    src = tmp_path / "interp.c"
    src.write_text(INTERP_SOURCE)
    out = tmp_path / "interp.so"
    subprocess.run(
        [GCC or "gcc", "-shared", "-fPIC", "-O0", str(src), "-o", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    elf = _Elf64(out.read_bytes())
    strtab = elf.tag(5)[0]
    libc = next(
        o for t, v, o in elf.dynamic()
        if t == 1 and bytes(elf.data[elf.offset(strtab) + v :]).startswith(b"libc.so.6\0")
    )  # fmt: skip
    struct.pack_into("<q", elf.data, libc, 21)  # DT_NEEDED -> DT_DEBUG
    data = bytes(elf.data)
    assert _dlopen(tmp_path, data).stdout.strip() == "42"
    facts = native(data)
    assert facts.interpreter == MUSL_LOADER and "libc.so.6" not in facts.needed
    assert any(v.startswith("GLIBC_") for n in facts.version_needs for v in n.versions)
    monkeypatch.setenv(BACKEND_ENV, "native")
    path = "demo/interp.cpython-312-x86_64-linux-gnu.so"
    result = audit(build_wheel({INNOCENT_PATH: innocent(), path: data}), NAME)
    assert isinstance(result, AuditError), result
    assert (result.code, result.member) == ("interpreter-libc-mismatch", None)
