"""The verdict on wheels the tests build: each criterion, the blame, the claims, the findings.

The ELF files come from the tests' own ELF writer; the wheels from ``wheelbuilder``. The real
wheels' verdicts are compared with auditwheel's in ``test_verdicts_vs_auditwheel.py``.
"""

from __future__ import annotations

import dataclasses

import pytest

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict

from elfwriter import MACHINES, STB_WEAK, Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"


def judge(files: dict[str, bytes], tag: str = "manylinux_2_17_x86_64", **kw: object) -> Verdict:
    filename = f"demo-1.0-cp312-cp312-{tag}.whl"
    result = audit(build_wheel(files), filename, **kw)  # type: ignore[arg-type]
    assert isinstance(result, Verdict), result
    return result


def ext(machine: str = "x86_64", extra: list[Sym] = (), **overrides: object) -> bytes:
    spec = sample_spec(machine, interpreter=None, **overrides)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))


def test_getrandom_needs_glibc_2_25_so_manylinux_2_26() -> None:
    # sample_spec needs GLIBC_2.25 (getrandom); the first policy that has it is manylinux_2_26
    v = judge({EXT: ext()}, "manylinux_2_28_x86_64")
    assert v.overall_tag == "manylinux_2_26_x86_64"
    assert v.criteria["symbol_versions"] == "manylinux_2_26_x86_64"
    assert v.over_claims == ()
    assert v.under_claim == "manylinux_2_26_x86_64"
    why_not_2_24 = next(c for c in v.upgrades if c.policy == "manylinux_2_24_x86_64")
    (blocker,) = why_not_2_24.blockers
    assert (blocker.kind, blocker.subject, blocker.symbols) == (
        "symbol-version",
        "GLIBC_2.25",
        ("getrandom",),
    )
    assert blocker.files == (EXT,)


def test_over_claim_names_the_symbol() -> None:
    v = judge(
        {EXT: ext(extra=[Sym("fmod", version="GLIBC_2.38", version_file="libc.so.6")])},
        "manylinux_2_17_x86_64",
    )
    assert v.overall_tag == "manylinux_2_38_x86_64"
    assert not v.declared[0].holds
    assert v.over_claims == ("manylinux_2_17_x86_64",)
    newest = {b.subject: b for b in v.newest_versions}
    assert newest["GLIBC_2.38"].symbols == ("fmod",)


def test_under_claim() -> None:
    old = [
        Sym(
            s.name,
            s.defined,
            s.binding,
            s.type,
            "GLIBC_2.2.5" if s.version and s.version.startswith("GLIBC") else s.version,
            s.version_file,
        )
        for s in sample_spec("x86_64").symbols
    ]
    v = judge({EXT: ext(symbols=old)}, "manylinux_2_28_x86_64")
    # CXXABI_1.3.8 (GCC 4.9) first appears in the manylinux_2_24 policy
    assert v.overall_tag == "manylinux_2_24_x86_64"
    assert v.under_claim == "manylinux_2_24_x86_64"
    assert {b.subject for c in v.upgrades for b in c.blockers} == {"CXXABI_1.3.8"}
    assert v.over_claims == ()


@pytest.mark.parametrize("machine", [m for m in MACHINES if m != "armv7l-softfloat"])
def test_every_architecture_gets_its_policies(machine: str) -> None:
    arch = {"ppc64": "ppc64"}.get(machine, machine)
    v = judge({"mod.so": ext(machine)}, f"manylinux_2_17_{arch}")
    assert v.architecture == arch
    assert v.overall_tag.endswith(f"_{arch}")
    assert v.overall_tag != f"linux_{arch}" or machine == "ppc64"  # ppc64: 2_17 only, 2_25 > it


def test_soft_float_arm_is_not_a_platform_wheel() -> None:
    result = audit(
        build_wheel({"mod.so": ext("armv7l-softfloat")}),
        "demo-1.0-cp312-cp312-manylinux_2_17_armv7l.whl",
    )
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"


def test_external_library_and_its_resolution_inside_the_wheel() -> None:
    lib = build_elf(
        dataclasses.replace(
            sample_spec("x86_64", interpreter=None), soname="libfoo.so.1", runpath=None, symbols=[]
        )
    )
    outside = judge({EXT: ext(needed=["libfoo.so.1", "libc.so.6"], runpath=None)})
    assert outside.overall_tag == "linux_x86_64"
    assert outside.external_libraries == ("libfoo.so.1",)
    assert outside.criteria["external_libraries"] == "linux_x86_64"
    vendored = judge(
        {
            EXT: ext(needed=["libfoo.so.1", "libc.so.6"], runpath="$ORIGIN/demo.libs"),
            "demo.libs/libfoo.so.1": lib,
        }
    )
    assert vendored.external_libraries == ()
    assert vendored.criteria["external_libraries"] == "manylinux_2_5_x86_64"


def test_libpython_makes_linux() -> None:
    v = judge({EXT: ext(needed=["libpython3.12.so.1.0", "libc.so.6"])})
    assert v.overall_tag == "linux_x86_64"
    assert "libpython3.12.so.1.0" in v.external_libraries


def test_blacklisted_symbol_and_weak_exemption() -> None:
    strong = Sym("zcalloc", version=None)
    v = judge({EXT: ext(needed=["libz.so.1", "libc.so.6"], extra=[strong])})
    assert v.criteria["blacklist"] == "linux_x86_64"
    weak = Sym("zcalloc", binding=STB_WEAK)
    v = judge({EXT: ext(needed=["libz.so.1", "libc.so.6"], extra=[weak])})
    assert v.criteria["blacklist"] == "manylinux_2_5_x86_64"


def test_isa_level_above_baseline_makes_linux() -> None:
    v = judge({EXT: ext(x86_isa_needed=0x1 | 0x4)})  # baseline + x86-64-v3
    assert v.criteria["isa"] == "linux_x86_64"
    assert any(b.kind == "isa" and b.subject == "x86_64_v3" for c in v.upgrades for b in c.blockers)


def test_pyfpe_and_ucs2() -> None:
    v = judge({EXT: ext(extra=[Sym("PyFPE_jbuf", type=1)])})  # OBJECT: not counted
    assert v.criteria["pyfpe"] != "linux_x86_64"
    v = judge({EXT: ext(extra=[Sym("PyFPE_jbuf")])})
    assert v.criteria["pyfpe"] == "linux_x86_64"
    py2 = "mod.so"
    v = judge(
        {py2: ext(symbols=[Sym("initmod", defined=True), Sym("PyUnicodeUCS2_FromString")])},
        "manylinux1_x86_64",
    )
    assert v.criteria["ucs2"] == "linux_x86_64"


def test_findings_auditwheel_does_not_make() -> None:
    v = judge(
        {
            EXT: ext(
                stack_flags=7,
                rpath="/home/build/lib:$ORIGIN",
                runpath=None,
                extra=[Sym("_dl_x", version="GLIBC_PRIVATE", version_file="libc.so.6")],
            )
        }
    )
    kinds = {f.kind for f in v.findings}
    assert {"executable-stack", "glibc-private", "build-dir-rpath"} <= kinds
    assert v.criteria["symbol_versions"] == "linux_x86_64"  # GLIBC_PRIVATE never passes


def test_musl_wheel_is_judged_on_every_musllinux_policy() -> None:
    spec = sample_spec(
        "x86_64",
        interpreter=None,
        needed=["libc.musl-x86_64.so.1"],
        symbols=[Sym("PyInit_mod", defined=True), Sym("malloc")],
        runpath=None,
    )
    files = {"mod.cpython-312-x86_64-linux-musl.so": build_elf(spec)}
    v = judge(files, "musllinux_1_2_x86_64")
    assert v.libc == "musl" and v.overall_tag == "musllinux_1_1_x86_64"
    v = judge(files, "musllinux_1_2_x86_64", musl_policy="musllinux_1_2")
    assert v.overall_tag == "musllinux_1_2_x86_64"


def test_elf_found_by_magic_not_by_name_and_only_through_record() -> None:
    files = {
        "data/blob.bin": ext(extra=[Sym("fmod", version="GLIBC_2.38", version_file="libc.so.6")]),
        EXT: ext(),
    }
    v = judge(files)
    assert "data/blob.bin" in v.elf_files and v.overall_tag == "manylinux_2_38_x86_64"


def test_static_binary_keeps_both_libc_promises() -> None:
    static = build_elf(
        dataclasses.replace(
            sample_spec("x86_64", interpreter=None), needed=[], symbols=[], runpath=None
        )
    )
    v = judge({"demo/bin/tool": static}, "manylinux_2_17_x86_64.musllinux_1_1_x86_64")
    assert v.overall_tag == "manylinux_2_5_x86_64"  # auditwheel's answer: glibc when unknown
    assert v.over_claims == ()
    assert {c.tag for c in v.declared if c.holds} == {
        "manylinux_2_17_x86_64",
        "musllinux_1_1_x86_64",
    }


def test_a_musl_tag_on_a_glibc_wheel_is_broken() -> None:
    v = judge({EXT: ext()}, "manylinux_2_28_x86_64.musllinux_1_1_x86_64")
    assert v.over_claims == ("musllinux_1_1_x86_64",)
