"""Rules of the verdict engine that a one-token change could break with no other test failing.

Each test here kills mutants that survived a mutation run of ``policy/evaluate.py`` and
``policy/resolve.py`` (issue #18, item 8): the claims against the computed policy, every
external library (not only the first), the verdict independent of the order of the files,
the libc of one ELF file (and a file's two libcs, the wheel's error), the Android policies a
tag picks, the library resolution (RPATH, RUNPATH, machine and class) and the
borrowing of ``fix_up_trees``. ``scripts/mutation.py`` measures what they kill.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from wheelscan.elf import ElfFacts, parse_elf
from wheelscan.engine.worker import audit
from wheelscan.policy.elfplatform import LibcConflict, elf_architecture, extended_architecture
from wheelscan.policy.evaluate import EvaluationError, elf_libc
from wheelscan.policy.policies import DATA_DIR, Architecture, Libc, load_policies
from wheelscan.policy.resolve import Resolver, compatible, fix_up_trees, search_dirs
from wheelscan.policy.verdict import AuditError, Verdict

from elfwriter import (
    EM_386,
    EM_AARCH64,
    EM_ARM,
    EM_X86_64,
    MACHINES,
    ElfSpec,
    Sym,
    build_elf,
    sample_spec,
)
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"


def judge(files: dict[str, bytes], tag: str = "manylinux_2_17_x86_64", **kw: object) -> Verdict:
    filename = f"demo-1.0-cp312-cp312-{tag}.whl"
    result = audit(build_wheel(files), filename, **kw)  # type: ignore[arg-type]
    assert isinstance(result, Verdict), result
    return result


def extension(module: str = "mod", extra: list[Sym] = (), **overrides: object) -> bytes:  # type: ignore[assignment]
    """An extension module ``module`` needing GLIBC_2.25 (so manylinux_2_26) and libstdc++."""
    spec = sample_spec("x86_64", **{"interpreter": None, "runpath": None, **overrides})
    symbols = [s for s in spec.symbols if s.name != "PyInit_mod"]
    if not any(s.defined for s in symbols):  # no init function of the caller's own
        symbols.append(Sym(f"PyInit_{module}", defined=True))
    return build_elf(dataclasses.replace(spec, symbols=[*symbols, *extra]))


def library(soname: str, **overrides: object) -> bytes:
    return build_elf(ElfSpec(soname=soname, **overrides))  # type: ignore[arg-type]


def facts(**overrides: object) -> ElfFacts:
    return parse_elf(build_elf(ElfSpec(**overrides)))  # type: ignore[arg-type]


# --- the claims against the computed policy (evaluate._claims)


def test_an_exact_tag_holds_and_is_no_under_claim() -> None:
    v = judge({EXT: extension()}, "manylinux_2_26_x86_64")
    assert v.overall_tag == "manylinux_2_26_x86_64"
    assert v.wheel == "demo-1.0-cp312-cp312-manylinux_2_26_x86_64.whl"
    assert (v.libc, v.architecture) == ("glibc", "x86_64")
    assert [(c.tag, c.holds) for c in v.declared] == [("manylinux_2_26_x86_64", True)]
    assert v.under_claim is None and v.over_claims == ()


def test_the_legacy_alias_of_the_computed_policy_is_exact_too() -> None:
    old = [Sym("fn", version="GLIBC_2.17", version_file="libc.so.6")]
    symbols = [Sym("PyInit_mod", defined=True), *old]
    v = judge({EXT: extension(symbols=symbols, needed=["libc.so.6"])}, "manylinux2014_x86_64")
    assert v.overall_tag == "manylinux_2_17_x86_64"
    assert v.declared[0].holds and v.under_claim is None


def test_under_claim_is_judged_on_the_most_compatible_glibc_tag() -> None:
    # 2_17 is an over-claim, 2_28 an under-claim: together they promise 2_17 and no less
    v = judge({EXT: extension()}, "manylinux_2_17_x86_64.manylinux_2_28_x86_64")
    assert {c.tag: c.holds for c in v.declared} == {
        "manylinux_2_17_x86_64": False,
        "manylinux_2_28_x86_64": True,
    }
    assert v.under_claim is None
    reason = next(c.reason for c in v.declared if not c.holds)
    assert reason == "content needs manylinux_2_26_x86_64"
    alone = judge({EXT: extension()}, "manylinux_2_28_x86_64.manylinux_2_34_x86_64")
    assert alone.under_claim == "manylinux_2_26_x86_64"


def test_claims_that_promise_nothing_or_another_platform() -> None:
    v = judge({EXT: extension()}, "linux_x86_64")
    assert [(c.tag, c.holds, c.reason) for c in v.declared] == [
        ("linux_x86_64", True, "linux_* promises nothing")
    ]
    assert v.under_claim is None
    v = judge({EXT: extension()}, "manylinux_2_28_aarch64.manylinux_2_28_x86_64")
    claims = {c.tag: (c.holds, c.reason) for c in v.declared}
    assert claims["manylinux_2_28_aarch64"] == (False, "the ELF files are glibc x86_64")
    assert claims["manylinux_2_28_x86_64"][0]
    v = judge({EXT: extension()}, "macosx_11_0_x86_64.manylinux_2_28_x86_64")
    claims = {c.tag: (c.holds, c.reason) for c in v.declared}
    assert claims["macosx_11_0_x86_64"] == (False, "not a Linux platform tag")
    assert v.architecture == "x86_64" and v.under_claim == "manylinux_2_26_x86_64"


def test_musl_has_no_under_claim() -> None:
    spec = dict(needed=["libc.musl-x86_64.so.1"], symbols=[Sym("PyInit_mod", defined=True)])
    v = judge({"mod.cpython-312-x86_64-linux-musl.so": extension(**spec)}, "musllinux_1_2_x86_64")
    assert v.overall_tag == "musllinux_1_1_x86_64"
    assert v.declared[0].holds and v.under_claim is None


def test_musl_policy_keeps_one_musl_policy_and_leaves_glibc_alone() -> None:
    spec = dict(needed=["libc.musl-x86_64.so.1"], symbols=[Sym("PyInit_mod", defined=True)])
    files = {"mod.cpython-312-x86_64-linux-musl.so": extension(**spec)}
    v = judge(files, "musllinux_1_2_x86_64", musl_policy="musllinux_1_2")
    assert v.overall_tag == "musllinux_1_2_x86_64" and v.upgrades == ()
    glibc = judge({EXT: extension()}, "manylinux_2_28_x86_64", musl_policy="musllinux_1_2")
    assert glibc == judge({EXT: extension()}, "manylinux_2_28_x86_64")


# --- the Android policies a wheel is judged on (evaluate._policy_set)

ANDROID_EXT = "spam.cpython-313-aarch64-linux-android.so"


def bionic_module(*needed: str) -> bytes:
    """An extension module as the NDK links it: Bionic's LIBC-versioned memcpy, and
    libpython, which on Android is never external (an app loads the interpreter)."""
    symbols = [
        Sym("memcpy", version="LIBC", version_file="libc.so"),
        Sym("PyInit_spam", defined=True),
    ]
    needed = ("libc.so", "libpython3.13.so", *needed)
    return build_elf(ElfSpec(machine=EM_AARCH64, needed=list(needed), symbols=symbols))


def judge_android(tag: str, module: bytes) -> Verdict | AuditError:
    return audit(build_wheel({ANDROID_EXT: module}), f"spam-1.0-cp313-cp313-{tag}.whl")


def test_an_android_tag_is_judged_on_its_one_policy_renamed_to_it() -> None:
    # API 25 has no policy of its own: android_24's, named as the tag, and linux_aarch64
    v = judge_android("android_25_arm64_v8a", bionic_module())
    assert isinstance(v, Verdict), v
    assert (v.libc, v.overall_tag, v.external_libraries) == ("android", "android_25_arm64_v8a", ())
    assert v.upgrades == () and [(c.tag, c.holds) for c in v.declared] == [
        ("android_25_arm64_v8a", True)
    ]
    # libaaudio.so came with API 26: the tag's policy does not allow it, no other is tried
    v = judge_android("android_25_arm64_v8a", bionic_module("libaaudio.so"))
    assert isinstance(v, Verdict), v
    assert v.overall_tag == "linux_aarch64"
    assert [c.policy for c in v.upgrades] == ["android_25_arm64_v8a"]


def test_bionic_under_a_linux_tag_is_judged_on_every_android_policy() -> None:
    v = judge_android("linux_aarch64", bionic_module("libaaudio.so"))
    assert isinstance(v, Verdict), v
    assert (v.libc, v.overall_tag) == ("android", "android_26_arm64_v8a")
    assert [c.policy for c in v.upgrades] == ["android_21_arm64_v8a", "android_24_arm64_v8a"]


def test_bionic_under_a_manylinux_tag_is_judged_as_glibc_as_auditwheel_does() -> None:
    # auditwheel sees no Bionic in an ELF file: the tag's libc judges it, libc.so is external
    v = judge_android("manylinux_2_17_aarch64", bionic_module())
    assert isinstance(v, Verdict), v
    assert (v.libc, v.overall_tag, v.ignored_elf_files) == ("glibc", "linux_aarch64", ())
    assert v.external_libraries == ("libc.so", "libpython3.13.so")


def test_android_tags_that_pick_no_policy_are_the_wheels_error() -> None:
    error = judge_android("android_21_arm64_v8a.android_24_arm64_v8a", bionic_module())
    assert isinstance(error, AuditError), error
    assert error.code == "android-platform-tags"
    assert error.reason == (
        "Android wheels must have exactly one platform tag, got"
        " ['android_21_arm64_v8a', 'android_24_arm64_v8a']"
    )


# --- external libraries: every one counts, and who links it is named


def test_every_external_library_counts() -> None:
    needed = ["libfoo.so.1", "libbar.so.2", "libbaz.so.3", "libc.so.6"]
    v = judge({EXT: extension(needed=needed)})
    assert v.external_libraries == ("libbar.so.2", "libbaz.so.3", "libfoo.so.1")
    (check, *_) = v.upgrades
    blocked = {b.subject: b.files for b in check.blockers if b.kind == "external-library"}
    assert blocked == {lib: (EXT,) for lib in v.external_libraries}


def test_a_vendored_library_that_links_outside_is_blamed() -> None:
    files = {
        EXT: extension(needed=["libvendored.so.1", "libc.so.6"], runpath="$ORIGIN/demo.libs"),
        "demo.libs/libvendored.so.1": library(
            "libvendored.so.1", needed=["libfoo.so.1", "libbar.so.1", "libc.so.6"]
        ),
    }
    v = judge(files)
    assert v.external_libraries == ("libbar.so.1", "libfoo.so.1")
    assert v.overall_tag == "linux_x86_64"
    blamed = {b.subject: b.files for c in v.upgrades for b in c.blockers}
    assert blamed["libfoo.so.1"] == ("demo.libs/libvendored.so.1",)
    # the vendored library is loaded by the extension: judged inside its tree, not as a root
    assert "demo.libs/libvendored.so.1" in v.elf_files


def test_whitelisted_and_loader_libraries_are_not_external() -> None:
    needed = ["libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libc.so.6"]
    v = judge({EXT: extension(needed=needed, symbols=[Sym("PyInit_mod", defined=True)])})
    assert v.external_libraries == () and v.overall_tag == "manylinux_2_5_x86_64"


# --- the verdict does not depend on the order of the files


def _python2(module: str, *extra: Sym) -> bytes:
    return extension(module, symbols=[Sym(f"init{module}", defined=True), *extra])


@pytest.mark.parametrize("first", ["a", "b"])
def test_pyfpe_counts_whichever_file_comes_first(first: str) -> None:
    files = {
        "a.cpython-312-x86_64-linux-gnu.so": extension("a", [Sym("PyFPE_jbuf")]),
        "b.cpython-312-x86_64-linux-gnu.so": extension("b"),
    }
    ordered = dict(sorted(files.items(), key=lambda kv: not kv[0].startswith(first)))
    v = judge(ordered)
    assert v.criteria["pyfpe"] == "linux_x86_64" and v.overall_tag == "linux_x86_64"
    pyfpe = {b.files for c in v.upgrades for b in c.blockers if b.kind == "pyfpe"}
    assert pyfpe == {("a.cpython-312-x86_64-linux-gnu.so",)}


@pytest.mark.parametrize("first", ["a", "b"])
def test_ucs2_counts_whichever_file_comes_first(first: str) -> None:
    files = {
        "a.so": _python2("a", Sym("PyUnicodeUCS2_FromString")),
        "b.so": _python2("b"),
    }
    ordered = dict(sorted(files.items(), key=lambda kv: not kv[0].startswith(first)))
    v = judge(ordered, "manylinux1_x86_64")
    assert v.criteria["ucs2"] == "linux_x86_64"
    ucs2 = {(b.subject, b.files) for c in v.upgrades for b in c.blockers if b.kind == "ucs2"}
    assert ucs2 == {("PyUnicodeUCS2_*", ("a.so",))}


def test_ucs2_only_in_python_2_modules_and_only_functions() -> None:
    v = judge({"a.so": extension("a", [Sym("PyUnicodeUCS2_FromString")])})
    assert v.criteria["ucs2"] != "linux_x86_64"  # a Python 3 module: not a UCS2 build
    v = judge({"a.so": _python2("a", Sym("PyUnicodeUCS2_Data", type=1))})  # OBJECT
    assert v.criteria["ucs2"] != "linux_x86_64"


@pytest.mark.parametrize("name", ["PyFPE_dummy", "PyFPE_counter"])
def test_every_pyfpe_symbol_counts_and_notype_too(name: str) -> None:
    v = judge({EXT: extension(extra=[Sym(name, type=0)])})  # NOTYPE
    assert v.criteria["pyfpe"] == "linux_x86_64"
    v = judge({"lib/helper.so": library("helper.so", symbols=[Sym("PyFPE_jbuf")])})
    assert v.criteria["pyfpe"] != "linux_x86_64"  # not an extension module


# --- the libc of one ELF file (elfplatform.elf_libc)


@pytest.mark.parametrize(
    ("interpreter", "needed", "libc"),
    [
        ("/lib/ld-musl-x86_64.so.1", [], Libc.MUSL),
        ("/lib64/ld-linux-x86-64.so.2", [], Libc.GLIBC),
        ("/opt/ld-musl/ld.so", [], Libc.GLIBC),  # the file's name decides, not its directory
        ("/system/bin/linker64", [], Libc.ANDROID),  # Bionic's loader, in its directory
        ("/system/bin/linker", [], Libc.ANDROID),
        ("/usr/bin/linker64", [], Libc.GLIBC),  # another directory: not Bionic's
        (None, ["libc.musl-x86_64.so.1"], Libc.MUSL),
        (None, ["ld-musl-x86_64.so.1"], Libc.MUSL),
        (None, ["libm.so.6", "libc.so.6"], Libc.GLIBC),
        (None, ["ld-linux-x86-64.so.2"], Libc.GLIBC),
        (None, ["ld64.so.2"], Libc.GLIBC),
        (None, ["libc.so"], None),
        (None, ["libm.so.6", "libc.so.7"], None),
        (None, [], None),
        ("/lib/ld-musl-x86_64.so.1", ["libc.musl-x86_64.so.1"], Libc.MUSL),
        ("/lib64/ld-linux-x86-64.so.2", ["libm.so.6", "libc.so.6"], Libc.GLIBC),
    ],
)
def test_libc_from_interpreter_and_needed(
    interpreter: str | None, needed: list[str], libc: Libc | None
) -> None:
    """An executable (ET_EXEC): its interpreter counts where its needs name no libc."""
    assert elf_libc("tool", facts(interpreter=interpreter, needed=needed, elf_type=2)) is libc
    # the file name is the last resort: an ELF that names its libc overrides it
    name = (
        "x.cpython-312-x86_64-linux-musl.so"
        if libc is Libc.GLIBC
        else "x.cpython-312-x86_64-linux-gnu.so"
    )
    found = elf_libc(name, facts(interpreter=interpreter, needed=needed, elf_type=2))
    assert found is (libc or elf_libc(name, facts()))


def test_a_loaded_file_s_interpreter_is_not_its_libc() -> None:
    """glibc's loader ignores PT_INTERP in a shared object it maps (issue #14)."""
    assert elf_libc("tool", facts(interpreter="/lib/ld-musl-x86_64.so.1")) is None


@pytest.mark.parametrize(
    ("interpreter", "needed", "code", "reason"),
    [
        (None, ["libc.so.6", "libc.musl-x86_64.so.1"], "mixed-libc", "needs both glibc and musl"),
        (None, ["ld-musl-x86_64.so.1", "libc.so.6"], "mixed-libc", "needs both glibc and musl"),
        (
            "/lib/ld-musl-x86_64.so.1",
            ["libc.so.6"],
            "interpreter-libc-mismatch",
            "needs glibc but names a musl interpreter (/lib/ld-musl-x86_64.so.1)",
        ),
        (
            "/lib64/ld-linux-x86-64.so.2",
            ["libc.musl-x86_64.so.1"],
            "interpreter-libc-mismatch",
            "needs musl but names a glibc interpreter (/lib64/ld-linux-x86-64.so.2)",
        ),
    ],
)
def test_both_libcs_in_one_file_is_an_error(
    interpreter: str | None, needed: list[str], code: str, reason: str
) -> None:
    with pytest.raises(LibcConflict) as error:
        elf_libc("pkg/both.so", facts(interpreter=interpreter, needed=needed))
    assert error.value.code == code
    assert error.value.reason == f"pkg/both.so {reason}"


def versioned(file: str, version: str, needed: list[str]) -> ElfFacts:
    return facts(needed=needed, symbols=[Sym("fn", version=version, version_file=file)])


def test_libc_from_symbol_versions() -> None:
    # Bionic's versions from Bionic's libraries; a LIBC version of another library is not
    assert elf_libc("mod.so", versioned("libc.so", "LIBC_N", ["libc.so"])) is Libc.ANDROID
    assert elf_libc("mod.so", versioned("libfoo.so.1", "LIBC", ["libfoo.so.1"])) is None
    assert elf_libc("mod.so", versioned("libc.so.6", "GLIBC_2.17", [])) is Libc.GLIBC


@pytest.mark.parametrize(
    ("file", "version", "needed", "reason"),
    [
        ("libc.so.6", "GLIBC_2.17", ["libc.musl-x86_64.so.1"], "musl and glibc symbol versions"),
        ("libc.so", "LIBC", ["libc.so.6", "libc.so"], "glibc and Bionic symbol versions"),
        ("libm.so", "LIBC_O", ["libc.musl-x86_64.so.1"], "musl and Bionic symbol versions"),
    ],
)
def test_symbol_versions_of_another_libc_are_an_error(
    file: str, version: str, needed: list[str], reason: str
) -> None:
    with pytest.raises(LibcConflict) as error:
        elf_libc("pkg/both.so", versioned(file, version, needed))
    assert (error.value.code, error.value.reason) == ("mixed-libc", f"pkg/both.so needs {reason}")


def test_both_libcs_in_a_wheels_file_is_the_wheels_error() -> None:
    both = build_elf(ElfSpec(needed=["libc.so.6", "libc.musl-x86_64.so.1"]))
    error = audit(build_wheel({"pkg/both.so": both}), "demo-1.0-py3-none-linux_x86_64.whl")
    assert isinstance(error, AuditError), error
    assert (error.code, error.reason) == ("mixed-libc", "pkg/both.so needs both glibc and musl")


@pytest.mark.parametrize(
    ("name", "libc"),
    [
        ("x.cpython-312-x86_64-linux-musl.so", Libc.MUSL),
        ("pkg/x.cpython-39-arm-linux-musleabihf.so", Libc.MUSL),
        ("x.cpython-313-aarch64-linux-android.so", Libc.ANDROID),
        ("pkg/x.cpython-313-arm-linux-androideabi.so", Libc.ANDROID),
        ("x.cpython-311-x86_64-linux-gnu.so", Libc.GLIBC),
        ("x.cpython-319-x86_64-linux-gnu.so", Libc.GLIBC),
        ("x.cpython-320-aarch64-linux-gnu.so", Libc.GLIBC),
        ("pkg/x.cpython-313t-arm-linux-gnueabihf.so", Libc.GLIBC),
        ("pkg.x.cpython-312-x86_64-linux-gnu.so", Libc.GLIBC),
        # before 3.11 a musl build had the gnu suffix too: no answer
        ("x.cpython-310-x86_64-linux-gnu.so", None),
        ("x.cpython-39-x86_64-linux-gnu.so", None),
        ("x.cpython-3-x86_64-linux-gnu.so", None),
        ("x.pypy311-pp73-x86_64-linux-gnu.so", None),
        ("x-cpython-312-x86_64-linux-gnu.so", None),
        ("x.cpython-312-x86_64-linux-gnu.so.1", None),
        ("x.abi3.so", None),
        ("x.so", None),
        ("cpython-312-x86_64-linux-gnu.so", None),  # a suffix with no module name before it
        ("cpython-312-x86_64-linux-musl/x.so", None),
    ],
)
def test_libc_from_the_file_name(name: str, libc: Libc | None) -> None:
    assert elf_libc(name, facts()) is libc


def test_libc_of_a_linux_tagged_wheel_comes_from_its_files() -> None:
    musl = extension(needed=["libc.musl-x86_64.so.1"], symbols=[Sym("PyInit_mod", defined=True)])
    v = judge({"mod.so": musl}, "linux_x86_64")
    assert v.libc == "musl" and v.overall_tag == "musllinux_1_1_x86_64"
    v = judge({"mod.cpython-312-x86_64-linux-musl.so": extension()}, "linux_x86_64")
    assert v.libc == "glibc"  # DT_NEEDED libc.so.6 beats the file name
    # GLIBC_* symbol versions name glibc too
    v = judge({"mod.cpython-312-x86_64-linux-musl.so": extension(needed=[])}, "linux_x86_64")
    assert v.libc == "glibc"
    bare = build_elf(ElfSpec(symbols=[Sym("PyInit_mod", defined=True)]))
    v = judge({"mod.cpython-312-x86_64-linux-musl.so": bare}, "linux_x86_64")
    assert v.libc == "musl"  # nothing else names one: the file name does


def test_a_file_of_the_other_libc_is_ignored() -> None:
    musl = library("libm.so", needed=["libc.musl-x86_64.so.1"])
    v = judge({EXT: extension(), "demo/musl.so": musl})
    assert v.libc == "glibc" and v.ignored_elf_files == ("demo/musl.so",)
    assert v.elf_files == (EXT,)


def test_an_evaluation_error_reads_as_its_code_and_reason() -> None:
    error = EvaluationError("mixed-libc", "x.so needs both glibc and musl")
    assert str(error) == "mixed-libc: x.so needs both glibc and musl"
    assert (error.code, error.reason) == ("mixed-libc", "x.so needs both glibc and musl")


def test_an_extension_without_a_libc_cannot_be_judged() -> None:
    bare = build_elf(ElfSpec(symbols=[Sym("PyInit_mod", defined=True)]))
    result = audit(build_wheel({"mod.so": bare}), "demo-1.0-cp312-cp312-linux_x86_64.whl")
    assert isinstance(result, AuditError)
    assert (result.code, result.reason) == (
        "unknown-libc",
        "couldn't detect libc for python extension mod.so",
    )


def test_elf_in_purelib_names_the_files() -> None:
    result = audit(
        build_wheel(
            {
                "demo-1.0.data/purelib/demo/mod.so": extension(),
                "demo/purelib.so": extension(),
                "demo-1.0.data/purelib/top.so": extension(),
            }
        ),
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
    )
    assert isinstance(result, AuditError) and result.code == "elf-in-purelib"
    assert result.reason == (
        "shared libraries in purelib:"
        " ['demo-1.0.data/purelib/demo/mod.so', 'demo-1.0.data/purelib/top.so']"
    )


def test_not_a_platform_wheel_names_what_it_ignored() -> None:
    arm = build_elf(sample_spec("aarch64", interpreter=None))
    result = audit(build_wheel({"mod.so": arm}), "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"
    assert result.reason == "no ELF file of a supported architecture (ignored: mod.so)"
    two = build_wheel({"a.so": arm, "b.so": arm})
    result = audit(two, "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert isinstance(result, AuditError)
    assert result.reason == "no ELF file of a supported architecture (ignored: a.so, b.so)"
    none = build_wheel({"demo/__init__.py": b""})
    result = audit(none, "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"
    assert result.reason == "no ELF file of a supported architecture"


def test_files_ignored_first_do_not_stop_the_others() -> None:
    arm = build_elf(sample_spec("aarch64", interpreter=None))
    musl = library("libm.so", needed=["libc.musl-x86_64.so.1"])
    v = judge({"demo/arm.so": arm, "demo/musl.so": musl, EXT: extension()})
    assert v.ignored_elf_files == ("demo/arm.so", "demo/musl.so")
    assert v.elf_files == (EXT,) and v.overall_tag == "manylinux_2_26_x86_64"


# --- resolution: RPATH, RUNPATH, the class and the machine (resolve.py)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({}, {}, True),
        ({}, {"elf_class": 32}, False),
        ({}, {"little_endian": False}, False),
        ({}, {"machine": EM_AARCH64}, False),
        ({"elf_class": 32, "machine": EM_386}, {"elf_class": 32, "machine": EM_386}, True),
        ({"osabi": 0}, {"osabi": 3}, True),
        ({"osabi": 3}, {"osabi": 3}, True),
        ({"osabi": 9}, {"osabi": 9}, True),
        ({"osabi": 0}, {"osabi": 9}, False),
        ({"osabi": 3}, {"osabi": 9}, False),
    ],
)
def test_compatible_is_class_byte_order_machine_and_abi(
    a: dict[str, object], b: dict[str, object], same: bool
) -> None:
    assert compatible(facts(**a), facts(**b)) is same
    assert compatible(facts(**b), facts(**a)) is same


@pytest.mark.parametrize(
    "wrong",
    [
        {"elf_class": 32, "machine": EM_386},
        {"machine": EM_AARCH64},
        {"elf_class": 32, "machine": EM_X86_64},
        {"little_endian": False},
        {"osabi": 9},
    ],
)
def test_a_library_of_another_platform_does_not_satisfy_dt_needed(wrong: dict[str, object]) -> None:
    needs = extension(needed=["libfoo.so.1", "libc.so.6"], runpath="$ORIGIN/demo.libs")
    right = judge({EXT: needs, "demo.libs/libfoo.so.1": library("libfoo.so.1")})
    assert right.external_libraries == ()
    v = judge({EXT: needs, "demo.libs/libfoo.so.1": library("libfoo.so.1", **wrong)})
    assert v.external_libraries == ("libfoo.so.1",) and v.overall_tag == "linux_x86_64"


def _tree_libraries(files: dict[str, ElfSpec], root: str) -> dict[str, str | None]:
    resolver = Resolver({path: parse_elf(build_elf(spec)) for path, spec in files.items()})
    return {s: lib.path for s, lib in resolver.tree(root).libraries.items()}


def test_runpath_hides_rpath_and_rpath_alone_is_searched() -> None:
    lib = ElfSpec(soname="libfoo.so.1")
    both = {
        "ext.so": ElfSpec(needed=["libfoo.so.1"], rpath="$ORIGIN/a", runpath="$ORIGIN/b"),
        "a/libfoo.so.1": lib,
    }
    assert _tree_libraries(both, "ext.so") == {"libfoo.so.1": None}
    both["b/libfoo.so.1"] = lib
    assert _tree_libraries(both, "ext.so") == {"libfoo.so.1": "b/libfoo.so.1"}
    rpath_only = {
        "ext.so": ElfSpec(needed=["libfoo.so.1"], rpath="$ORIGIN/a"),
        "a/libfoo.so.1": lib,
    }
    assert _tree_libraries(rpath_only, "ext.so") == {"libfoo.so.1": "a/libfoo.so.1"}
    v = judge(
        {
            EXT: extension(
                needed=["libfoo.so.1", "libc.so.6"], rpath="$ORIGIN/a", runpath="$ORIGIN/b"
            ),
            "a/libfoo.so.1": library("libfoo.so.1"),
        }
    )
    assert v.external_libraries == ("libfoo.so.1",)


def test_the_roots_paths_reach_its_dependencies_in_loader_order() -> None:
    # the root's RPATH comes first, then the library's own RPATH and RUNPATH, then the
    # root's RUNPATH (auditwheel lddtree): the first directory holding the soname wins
    for key in ("rpath", "runpath"):
        files = {
            "ext.so": ElfSpec(needed=["libA.so"], **{key: "$ORIGIN/root"}),  # type: ignore[arg-type]
            "root/libA.so": ElfSpec(soname="libA.so", needed=["libB.so"], rpath="$ORIGIN/own"),
            "root/libB.so": ElfSpec(soname="libB.so"),
            "root/own/libB.so": ElfSpec(soname="libB.so"),
        }
        found = _tree_libraries(files, "ext.so")
        expected = "root/libB.so" if key == "rpath" else "root/own/libB.so"
        assert found == {"libA.so": "root/libA.so", "libB.so": expected}, key
    own_runpath = {
        "ext.so": ElfSpec(needed=["libA.so"], runpath="$ORIGIN/root"),
        "root/libA.so": ElfSpec(soname="libA.so", needed=["libB.so"], runpath="$ORIGIN/own"),
        "root/libB.so": ElfSpec(soname="libB.so"),
        "root/own/libB.so": ElfSpec(soname="libB.so"),
    }
    assert _tree_libraries(own_runpath, "ext.so")["libB.so"] == "root/own/libB.so"


def test_a_library_found_once_is_walked_once_and_libpython_never() -> None:
    files = {
        "ext.so": ElfSpec(needed=["libpython3.12.so.1.0", "libA.so"], runpath="$ORIGIN"),
        "libA.so": ElfSpec(soname="libA.so", needed=["libA.so", "libB.so"]),  # a loop
        "libB.so": ElfSpec(soname="libB.so", needed=["libA.so"]),
        "libpython3.12.so.1.0": ElfSpec(soname="libpython3.12.so.1.0"),
    }
    resolver = Resolver({path: parse_elf(build_elf(spec)) for path, spec in files.items()})
    tree = resolver.tree("ext.so")
    assert {s: (lib.path, lib.needed) for s, lib in tree.libraries.items()} == {
        "libA.so": ("libA.so", ("libA.so", "libB.so")),
        "libB.so": ("libB.so", ("libA.so",)),
        "libpython3.12.so.1.0": (None, ()),
    }
    assert tree.needed == ("libpython3.12.so.1.0", "libA.so") and not tree.fully_resolved


@pytest.mark.parametrize(
    ("entries", "origin", "directories"),
    [
        (
            ("$ORIGIN/../lib", "${ORIGIN}/x", "$ORIGIN/../lib/"),
            "pkg/sub/m.so",
            ["pkg/lib", "pkg/sub/x"],
        ),
        (("$ORIGIN",), "m.so", ["."]),
        (("", "/usr/lib", "lib", "$ORIGIN/a"), "pkg/m.so", ["pkg/a"]),
        (("$ORIGIN/a:b",), "m.so", ["a:b"]),
    ],
)
def test_search_dirs(entries: tuple[str, ...], origin: str, directories: list[str]) -> None:
    assert search_dirs(entries, origin) == directories


# --- fix_up_trees: a library that cannot resolve alone borrows from a tree that loads it


def _trees(files: dict[str, ElfSpec], python: list[str]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    resolver = Resolver({path: parse_elf(build_elf(spec)) for path, spec in files.items()})
    trees = {path: resolver.tree(path) for path in files}
    python_trees = {p: t for p, t in trees.items() if p in python}
    other_trees = {p: t for p, t in trees.items() if p not in python}
    fix_up_trees(python_trees, other_trees)
    return python_trees, other_trees


def _paths(tree: object) -> dict[str, str | None]:
    return {s: lib.path for s, lib in tree.libraries.items()}  # type: ignore[attr-defined]


CHAIN = {
    "ext.so": ElfSpec(needed=["libA.so"], runpath="$ORIGIN/libs"),
    "libs/libA.so": ElfSpec(soname="libA.so", needed=["libB.so"]),
    "libs/libB.so": ElfSpec(soname="libB.so", needed=["libC.so"]),
    "libs/libC.so": ElfSpec(soname="libC.so", needed=["libD.so"]),
    "libs/libD.so": ElfSpec(soname="libD.so", needed=["libC.so"]),  # a loop back
}


def test_fix_up_borrows_a_whole_chain_from_the_loading_tree() -> None:
    python, other = _trees(CHAIN, ["ext.so"])
    assert _paths(python["ext.so"]) == {
        "libA.so": "libs/libA.so",
        "libB.so": "libs/libB.so",
        "libC.so": "libs/libC.so",
        "libD.so": "libs/libD.so",
    }
    assert _paths(other["libs/libA.so"]) == {
        "libB.so": "libs/libB.so",
        "libC.so": "libs/libC.so",
        "libD.so": "libs/libD.so",
    }
    assert other["libs/libA.so"].libraries["libB.so"].needed == ("libC.so",)
    assert _paths(other["libs/libC.so"]) == {"libD.so": "libs/libD.so", "libC.so": "libs/libC.so"}
    assert all(t.fully_resolved for t in other.values())
    # a tree keeps its own file's facts: only the libraries are borrowed
    assert other["libs/libA.so"].facts == parse_elf(build_elf(CHAIN["libs/libA.so"]))
    assert (
        other["libs/libA.so"].needed == ("libB.so",)
        and other["libs/libA.so"].path == "libs/libA.so"
    )


def test_fix_up_keeps_what_a_tree_resolved_alone() -> None:
    files = {
        "ext.so": ElfSpec(needed=["libD.so", "libA.so"], runpath="$ORIGIN/libs"),
        # libA finds its own libD, not the one ext loads; libB it cannot find alone
        "libs/libA.so": ElfSpec(
            soname="libA.so", needed=["libD.so", "libB.so"], runpath="$ORIGIN/own"
        ),
        "libs/libB.so": ElfSpec(soname="libB.so", needed=["libD.so"]),
        "libs/libD.so": ElfSpec(soname="libD.so"),
        "libs/own/libD.so": ElfSpec(soname="libD.so"),
    }
    _, other = _trees(files, ["ext.so"])
    assert _paths(other["libs/libA.so"]) == {
        "libD.so": "libs/own/libD.so",
        "libB.so": "libs/libB.so",
    }


def test_fix_up_needs_a_fully_resolved_reference_that_loads_the_tree() -> None:
    unresolved = {**CHAIN, "ext.so": ElfSpec(needed=["libA.so", "libX.so"], runpath="$ORIGIN/libs")}
    _, other = _trees(unresolved, ["ext.so"])
    assert _paths(other["libs/libA.so"]) == {"libB.so": None}
    # a tree that resolves alone is left as it is, and one no tree loads has no reference
    files = {"libs/lonely.so": ElfSpec(needed=["libB.so"]), **CHAIN}
    _, other = _trees(files, ["ext.so"])
    assert _paths(other["libs/lonely.so"]) == {"libB.so": None}
    assert _paths(other["libs/libA.so"])["libB.so"] == "libs/libB.so"  # the next one is
    # a non-extension tree serves as the reference as well as an extension does
    _, other = _trees(CHAIN, [])
    assert _paths(other["libs/libA.so"])["libD.so"] == "libs/libD.so"
    # a borrowed library the reference could not find stays missing
    partial = {
        "ext.so": ElfSpec(needed=["libA.so"], runpath="$ORIGIN/libs"),
        "libs/libA.so": ElfSpec(soname="libA.so", needed=["libB.so", "libpython3.12.so"]),
        "libs/libB.so": ElfSpec(soname="libB.so"),
    }
    python, other = _trees(partial, ["ext.so"])
    assert not python["ext.so"].fully_resolved
    assert _paths(other["libs/libA.so"]) == {"libB.so": None, "libpython3.12.so": None}


# --- the platform of one ELF file (elfplatform.py)


@pytest.mark.parametrize(
    ("isa_needed", "level"),
    [
        (None, None),
        (0x1, None),  # the baseline bit only
        (0x2, Architecture.x86_64_v2),
        (0x1 | 0x2, Architecture.x86_64_v2),
        (0x4, Architecture.x86_64_v3),
        (0x2 | 0x4, Architecture.x86_64_v3),
        (0x8, Architecture.x86_64_v4),
        (0x1 | 0x2 | 0x4 | 0x8, Architecture.x86_64_v4),
        (0x10, None),  # a bit no level names
    ],
)
def test_the_x86_64_level_is_the_highest_bit_needed(isa_needed: int | None, level: object) -> None:
    assert extended_architecture(facts(x86_isa_needed=isa_needed)) is level


def test_only_x86_64_has_levels() -> None:
    i686 = facts(elf_class=32, machine=EM_386, x86_isa_needed=0x4)
    assert elf_architecture(i686) is Architecture.i686
    assert extended_architecture(i686) is None


@pytest.mark.parametrize(
    ("flags", "arch"),
    [
        (0x05000400, Architecture.armv7l),  # EABI 5, hard float
        (0x05000400 | 0x2, Architecture.armv7l),  # other flag bits do not matter
        (0x05000200, None),  # soft float
        (0x04000400, None),  # EABI 4
        (0x00000400, None),
        (0x05000000, None),
    ],
)
def test_arm_needs_eabi_5_and_hard_float(flags: int, arch: object) -> None:
    assert elf_architecture(facts(elf_class=32, machine=EM_ARM, flags=flags)) is arch


@pytest.mark.parametrize("machine", [m for m in MACHINES if m != "armv7l-softfloat"])
def test_every_machine_has_its_architecture(machine: str) -> None:
    preset = MACHINES[machine]
    found = elf_architecture(
        facts(
            elf_class=preset.elf_class,
            little_endian=preset.little_endian,
            machine=preset.machine,
            flags=preset.flags,
        )
    )
    assert found is Architecture(machine)
    other_class = facts(
        elf_class=96 - preset.elf_class,  # type: ignore[arg-type]
        little_endian=preset.little_endian,
        machine=preset.machine,
        flags=preset.flags,
    )
    assert elf_architecture(other_class) is None


# --- symbol versions and module kinds


def test_a_version_is_bucketed_by_the_text_before_its_first_underscore() -> None:
    # CXXABI_ARM_1.3.3 is in the CXXABI list of armv7l policies, and of no x86_64 one
    arm = Sym("__aeabi_atexit", version="CXXABI_ARM_1.3.3", version_file="libstdc++.so.6")
    on_x86_64 = judge({EXT: extension(extra=[arm])})
    assert on_x86_64.criteria["symbol_versions"] == "linux_x86_64"
    assert "CXXABI_ARM_1.3.3" in on_x86_64.versioned_symbols["libstdc++.so.6"]
    spec = sample_spec("armv7l", interpreter=None, runpath=None)
    on_arm = judge(
        {"mod.so": build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, arm]))},
        "manylinux_2_17_armv7l",
    )
    assert on_arm.criteria["symbol_versions"] != "linux_armv7l"


def test_a_cffi_pypy_module_is_judged_as_python_2_for_ucs2() -> None:
    symbols = [Sym("_cffi_pypyinit_a", defined=True), Sym("PyUnicodeUCS2_FromString")]
    v = judge({"a.so": extension("a", symbols=symbols)}, "manylinux1_x86_64")
    assert v.criteria["ucs2"] == "linux_x86_64"


# --- blacklisted symbols


def test_blacklists_of_every_needed_library_and_policy_count_together() -> None:
    # __cxa_thread_atexit_impl is blacklisted in libc.so.6 up to manylinux_2_17, and the
    # zlib lists of later policies must not hide it
    used = Sym("__cxa_thread_atexit_impl", version="GLIBC_2.18", version_file="libc.so.6")
    v = judge({EXT: extension(extra=[used], needed=["libz.so.1", "libc.so.6"])})
    assert v.criteria["blacklist"] == "manylinux_2_24_x86_64"
    blocked = {
        (c.policy, b.subject, b.files, b.symbols)
        for c in v.upgrades
        for b in c.blockers
        if b.kind == "blacklisted-symbol"
    }
    assert (
        "manylinux_2_17_x86_64",
        "libc.so.6",
        (EXT,),
        ("__cxa_thread_atexit_impl",),
    ) in blocked


def test_a_library_blacklisted_whole_by_a_policy_file(tmp_path: Path) -> None:
    entries = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    oldest = next(e for e in entries if e["name"] == "manylinux_2_5")
    oldest["blacklist"]["libm.so.6"] = ["*", *oldest["blacklist"]["libm.so.6"]]
    path = tmp_path / "manylinux-policy.json"
    path.write_text(json.dumps(entries))
    database = load_policies(path)
    plain = extension(needed=["libm.so.6", "libc.so.6"], symbols=[Sym("PyInit_mod", defined=True)])
    also_listed = extension(
        needed=["libm.so.6", "libc.so.6"],
        symbols=[Sym("PyInit_mod", defined=True), Sym("__issignaling")],
    )
    # __issignaling is blacklisted up to manylinux_2_17 anyway
    for so, symbols, best in [
        (plain, ("*",), "manylinux_2_12_x86_64"),
        (also_listed, ("*", "__issignaling"), "manylinux_2_24_x86_64"),
    ]:
        v = judge({EXT: so}, database=database)
        assert v.criteria["blacklist"] == best
        (check,) = [c for c in v.upgrades if c.policy == "manylinux_2_5_x86_64"]
        blacklisted = {b.subject: b.symbols for b in check.blockers}
        assert blacklisted["libm.so.6"] == symbols
    assert judge({EXT: plain}).criteria["blacklist"] == "manylinux_2_5_x86_64"


def test_only_the_files_that_link_a_library_are_blamed() -> None:
    files = {
        EXT: extension(
            needed=["libclean.so.1", "libfoo.so.1", "libc.so.6"], runpath="$ORIGIN/demo.libs"
        ),
        "demo.libs/libclean.so.1": library("libclean.so.1", needed=["libc.so.6"]),
    }
    v = judge(files)
    blamed = {b.subject: b.files for c in v.upgrades for b in c.blockers}
    assert blamed["libfoo.so.1"] == (EXT,)


def test_the_symbols_behind_a_version_are_found_in_every_file() -> None:
    # a file needing no version comes first: it must not end the search
    v = judge({"demo/plain.so": library("plain.so"), EXT: extension()})
    newest = {b.subject: (b.files, b.symbols) for b in v.newest_versions}
    assert newest["GLIBC_2.25"] == ((EXT,), ("getrandom",))


def test_symbols_bound_to_the_loader_are_not_blamed() -> None:
    # the same version name needed from libc.so.6 and from the loader: only libc's counts
    tls = Sym("__tls_get_addr", version="GLIBC_2.25", version_file="ld-linux-x86-64.so.2")
    v = judge({EXT: extension(extra=[tls], needed=["libc.so.6", "ld-linux-x86-64.so.2"])})
    newest = {b.subject: b.symbols for b in v.newest_versions}
    assert newest["GLIBC_2.25"] == ("getrandom",)
    assert "ld-linux-x86-64.so.2" not in v.versioned_symbols


def test_the_other_libc_is_judged_on_the_same_policy_files(tmp_path: Path) -> None:
    entries = json.loads((DATA_DIR / "musllinux-policy.json").read_text())
    path = tmp_path / "musllinux-policy.json"
    path.write_text(json.dumps([e for e in entries if e["name"] != "musllinux_1_1"]))
    static = build_elf(ElfSpec(needed=[], symbols=[]))
    tags = "manylinux_2_17_x86_64.musllinux_1_2_x86_64"
    v = judge({"demo/bin/tool": static}, tags, database=load_policies(path))
    assert {c.tag: c.holds for c in v.declared} == {
        "manylinux_2_17_x86_64": True,
        "musllinux_1_2_x86_64": True,
    }


def test_tags_are_read_with_the_aliases_of_the_policy_file(tmp_path: Path) -> None:
    entries = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    for entry in entries:
        entry["aliases"] = []  # manylinux2014 is an alias of the built-in file only
    path = tmp_path / "manylinux-policy.json"
    path.write_text(json.dumps(entries))
    v = judge({EXT: extension()}, "manylinux2014_x86_64", database=load_policies(path))
    assert [(c.tag, c.holds, c.reason) for c in v.declared] == [
        ("manylinux2014_x86_64", False, "not a Linux platform tag")
    ]


def test_the_blockers_say_what_and_where() -> None:
    v = judge({EXT: extension(x86_isa_needed=0x4, extra=[Sym("PyFPE_jbuf")])})
    blockers = {(b.kind, b.subject, b.files) for c in v.upgrades for b in c.blockers}
    assert ("isa", "x86_64_v3", (EXT,)) in blockers
    assert ("pyfpe", "PyFPE_jbuf", (EXT,)) in blockers
    assert {b.kind for b in v.newest_versions} == {"newest-version"}
    assert {b.subject for b in v.newest_versions} >= {"GLIBC_2.25", "CXXABI_1.3.8"}


def test_a_future_glibc_major_version_is_compared_whole() -> None:
    # PEP 600 allows manylinux_3_1: glibc 3.1 is newer than 2.26, whatever the minor says
    v = judge({EXT: extension()}, "manylinux_3_1_x86_64")
    assert [(c.tag, c.holds) for c in v.declared] == [("manylinux_3_1_x86_64", True)]
    assert v.under_claim == "manylinux_2_26_x86_64"


def test_a_linux_tag_does_not_end_the_claims() -> None:
    # linux_x86_64 sorts before manylinux_*: the claims after it are judged too
    v = judge({EXT: extension()}, "linux_x86_64.manylinux_2_17_x86_64")
    assert {c.tag: c.holds for c in v.declared} == {
        "linux_x86_64": True,
        "manylinux_2_17_x86_64": False,
    }
    assert v.over_claims == ("manylinux_2_17_x86_64",)


# --- the platform the file name names (evaluate._filename_platform)


@pytest.mark.parametrize(
    "tags",
    [
        "any.manylinux_2_17_x86_64",  # "any": no architecture of its own
        "linux_armv6l.manylinux_2_17_x86_64",  # an architecture no policy knows
        "manylinux_2_17_x86_64.manylinux_2_17_i686",  # two architectures
    ],
)
def test_a_file_name_naming_no_single_architecture_leaves_it_to_the_files(tags: str) -> None:
    arm = build_elf(sample_spec("aarch64", interpreter=None, runpath=None))
    v = judge({"mod.so": arm}, tags)
    assert v.architecture == "aarch64" and v.elf_files == ("mod.so",)
    assert {c.reason for c in v.declared if "x86_64" in c.tag} == {
        "the ELF files are glibc aarch64"
    }


def test_the_libc_of_the_file_name_beside_any() -> None:
    static = build_elf(ElfSpec(needed=[], symbols=[]))
    v = judge({"demo/bin/tool": static}, "any.musllinux_1_2_x86_64")
    assert v.libc == "musl" and v.architecture == "x86_64"


def test_an_android_policy_under_an_alias_judges_a_wheel_of_no_libc(tmp_path: Path) -> None:
    """A policy file may give an Android policy an alias that no PEP 738 tag spells: a
    static tool under ``droid_x86_64`` has no libc of its own, and is judged on that policy
    beside the other libc's; its file name goes to the Android lookup either way (kills
    ``x_evaluate__mutmut_233``, once named equivalent on the built-in policies alone)."""
    entries = json.loads((DATA_DIR / "android-policy.json").read_text())
    for entry in entries:
        if entry["name"] == "android_24":
            entry["aliases"] = ["droid"]
    path = tmp_path / "android-policy.json"
    path.write_text(json.dumps(entries))
    static = build_elf(ElfSpec(needed=[], symbols=[]))
    v = audit(
        build_wheel({"demo/bin/tool": static}),
        "demo-1.0-py3-none-droid_x86_64.whl",
        database=load_policies(path),
    )
    assert isinstance(v, Verdict), v
    assert [(c.tag, c.holds) for c in v.declared] == [("droid_x86_64", True)]
