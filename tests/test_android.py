"""Android wheels (PEP 738): Bionic found in the ELF facts, auditwheel 6.8.2's verdict.

auditwheel reads Android from the wheel's tag only and judges it against one policy: the
highest API level not above the tag's, renamed to the tag. Its verdict is the tag or
``linux_<arch>``. The wheels here are built by the tests' ELF writer and compared with the real
``auditwheel show --json --ldpaths ""`` (a subprocess); real Android wheels (auditwheel's own
bundled test wheel, taken out of its pinned sdist, and markupsafe's) are compared the same way.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from auditwheel.architecture import Architecture as AwArchitecture
from auditwheel.libc import Libc as AwLibc
from auditwheel.policy import WheelPolicies

from test_verdicts_vs_auditwheel import _auditwheel_view
from wheelscan.elf import parse_elf
from wheelscan.engine.worker import audit
from wheelscan.policy.android import AndroidTagError, policies_for_tags
from wheelscan.policy.elfplatform import LibcConflict, elf_libc
from wheelscan.policy.policies import DATA_DIR, Architecture, Libc, load_policies
from wheelscan.policy.verdict import AuditError, Verdict

from corpus import oracle
from corpus.fetch import fetch, load_entries
from corpus.members import fetch_member
from elfwriter import (
    EM_AARCH64,
    EM_X86_64,
    ET_EXEC,
    STB_WEAK,
    STT_OBJECT,
    ElfSpec,
    Sym,
    build_elf,
    sample_spec,
)
from inprocess import wheelscan
from wheelbuilder import build_wheel

CORPUS = Path(__file__).parent / "corpus"
# the NDK's own sonames, as an extension module links them (cibuildwheel's test_libcxx)
NDK_NEEDED = ["libm.so", "libpython3.13.so", "libdl.so", "libc.so"]
DF_1_PIE = 0x08000000  # elf.h: what lld marks a position-independent executable with
ABIS = {"arm64_v8a": (EM_AARCH64, "aarch64"), "x86_64": (EM_X86_64, "x86_64")}


def bionic_spec(abi: str = "arm64_v8a", needed: list[str] = NDK_NEEDED, **kw: Any) -> ElfSpec:
    """An extension module as the NDK links it: Bionic's LIBC-versioned symbols, libpython."""

    def libc(name: str, **more: Any) -> Sym:
        return Sym(name, version="LIBC", version_file="libc.so", **more)

    symbols = [
        libc("__cxa_finalize", binding=STB_WEAK),
        libc("__cxa_atexit"),
        libc("memcpy"),
        Sym("PyModule_Create2"),
        Sym("_Py_NoneStruct", type=STT_OBJECT),
        Sym("PyInit_spam", defined=True),
    ]
    spec = ElfSpec(machine=ABIS[abi][0], needed=list(needed), symbols=symbols)
    return dataclasses.replace(spec, **kw)


def module_name(abi: str = "arm64_v8a") -> str:
    return f"spam.cpython-313-{ABIS[abi][1]}-linux-android.so"


def android_wheel(
    tag: str, files: dict[str, bytes] | None = None, abi: str = "arm64_v8a"
) -> tuple[str, bytes]:
    files = files if files is not None else {module_name(abi): build_elf(bionic_spec(abi))}
    return f"spam-0.1.0-cp313-cp313-{tag}.whl", build_wheel(files, name="spam", version="0.1.0")


def judge(filename: str, data: bytes) -> Verdict:
    result = audit(data, filename)
    assert isinstance(result, Verdict), result
    return result


def _run_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args`` in a subprocess: for ``audit``, whose worker pool forks its caller
    (``show`` and ``report`` run in this process, ``tests/inprocess.py``)."""
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args], capture_output=True, text=True, check=False
    )


# --- which policy: auditwheel's WheelPolicies, for every API level ------------------------


@pytest.mark.parametrize("abi", ["arm64_v8a", "x86_64"])
@pytest.mark.parametrize("level", [21, 22, 24, 25, 26, 27, 28, 35])
def test_tag_picks_auditwheels_policy(abi: str, level: int) -> None:
    tag = f"android_{level}_{abi}"
    arch = Architecture(ABIS[abi][1])
    theirs = list(
        WheelPolicies(
            libc=AwLibc.ANDROID,
            arch=AwArchitecture(arch.value),
            wheel_fn=Path(f"spam-0.1.0-cp313-cp313-{tag}.whl"),
        )
    )
    ours = policies_for_tags(load_policies().for_platform(Libc.ANDROID, arch), [tag])
    # auditwheel lists linux first, wheelscan most compatible first
    assert [(p.name, p.priority, p.whitelist) for p in ours] == [
        (p.name, p.priority, p.whitelist) for p in reversed(theirs)
    ]
    assert ours.highest.base_name == f"android_{level}"


def test_every_android_policy_is_named_as_android_names_its_abi() -> None:
    database = load_policies()
    assert [p.name for p in database.for_platform(Libc.ANDROID, Architecture.aarch64)] == [
        "android_21_arm64_v8a",
        "android_24_arm64_v8a",
        "android_26_arm64_v8a",
        "android_27_arm64_v8a",
        "linux_aarch64",
    ]
    x86_64 = database.for_platform(Libc.ANDROID, Architecture.x86_64)
    assert x86_64.lowest.name == "android_27_x86_64"
    assert "libaaudio.so" in x86_64.lowest.whitelist - x86_64.highest.whitelist


@pytest.mark.parametrize(
    ("platforms", "code"),
    [
        (["android_19_arm64_v8a"], "no-android-policy"),  # below PEP 738's minimum, 21
        (["android_21_arm64_v8a", "android_24_arm64_v8a"], "android-platform-tags"),
    ],
)
def test_tags_no_policy_judges_fail_as_in_auditwheel(platforms: list[str], code: str) -> None:
    with pytest.raises(ValueError, match="Android"):
        WheelPolicies(
            libc=AwLibc.ANDROID,
            arch=AwArchitecture.aarch64,
            wheel_fn=Path(f"spam-0.1.0-cp313-cp313-{'.'.join(platforms)}.whl"),
        )
    policies = load_policies().for_platform(Libc.ANDROID, Architecture.aarch64)
    with pytest.raises(AndroidTagError) as raised:
        policies_for_tags(policies, platforms)
    assert raised.value.code == code


# --- Bionic from the ELF facts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "spec", "expected"),
    [
        # what it needs: Bionic's symbol versions, whatever the file's name
        ("mod.so", bionic_spec(), Libc.ANDROID),
        ("mod.so", bionic_spec("x86_64"), Libc.ANDROID),
        # a bare "libc.so" is also an unpatched musl's soname: undecided, not Bionic
        ("mod.so", ElfSpec(machine=EM_AARCH64, needed=["libc.so"]), None),
        # an Android executable: Bionic's loader as PT_INTERP
        (
            "bin/tool",
            ElfSpec(machine=EM_AARCH64, elf_type=ET_EXEC, interpreter="/system/bin/linker64"),
            Libc.ANDROID,
        ),
        # the name, last: PEP 738's extension suffix
        (module_name(), ElfSpec(machine=EM_AARCH64, needed=["libc.so"]), Libc.ANDROID),
        ("mod.cpython-313-arm-linux-androideabi.so", ElfSpec(machine=EM_AARCH64), Libc.ANDROID),
    ],
)
def test_bionic_is_read_from_the_elf_facts(path: str, spec: ElfSpec, expected: Libc | None) -> None:
    assert elf_libc(path, parse_elf(build_elf(spec))) is expected


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (bionic_spec(needed=[*NDK_NEEDED, "libc.so.6"]), "mixed-libc"),
        (
            sample_spec("aarch64", interpreter="/system/bin/linker64", elf_type=ET_EXEC),
            "interpreter-libc-mismatch",
        ),
    ],
)
def test_bionic_and_another_libc_in_one_file_is_a_conflict(spec: ElfSpec, code: str) -> None:
    with pytest.raises(LibcConflict) as raised:
        elf_libc("mod.so", parse_elf(build_elf(spec)))
    assert raised.value.code == code


# --- verdicts on built wheels, each compared with auditwheel ------------------------------


def _vendored_libcxx() -> dict[str, bytes]:
    """libc++_shared.so grafted into spam.libs/, as `auditwheel repair` leaves it."""
    module = bionic_spec(needed=[*NDK_NEEDED, "libc++_shared.so"], runpath="$ORIGIN/spam.libs")
    library = dataclasses.replace(
        bionic_spec(), needed=["libc.so"], soname="libc++_shared.so", symbols=[]
    )
    return {module_name(): build_elf(module), "spam.libs/libc++_shared.so": build_elf(library)}


def _with_needed(*extra: str, abi: str = "arm64_v8a") -> dict[str, bytes]:
    return {module_name(abi): build_elf(bionic_spec(abi, needed=[*NDK_NEEDED, *extra]))}


GETGRENT = Sym("getgrent", version="LIBC_O", version_file="libc.so")  # API 26's


def _with_symbol(symbol: Sym, path: str = module_name()) -> dict[str, bytes]:
    spec = bionic_spec()
    return {path: build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, symbol]))}


# (tag, files or None for the plain module, the overall tag, whether the declared tag holds)
CASES = {
    "whitelisted-only-arm64": ("android_24_arm64_v8a", None, "android_24_arm64_v8a", True),
    "api-21-x86_64": ("android_21_x86_64", None, "android_21_x86_64", True),
    # API 25 has no policy of its own: android_24's, renamed to the tag
    "api-25-renamed": ("android_25_arm64_v8a", None, "android_25_arm64_v8a", True),
    "api-27-x86_64": ("android_27_x86_64", None, "android_27_x86_64", True),
    "libcxx-external": (
        "android_24_arm64_v8a",
        _with_needed("libc++_shared.so"),
        "linux_aarch64",
        False,
    ),
    "libcxx-vendored": ("android_24_arm64_v8a", _vendored_libcxx(), "android_24_arm64_v8a", True),
    # libaaudio.so came with API 26: a wheel tagged 24 that needs it over-claims
    "needs-newer-api": (
        "android_24_arm64_v8a",
        _with_needed("libaaudio.so"),
        "linux_aarch64",
        False,
    ),
    "newer-api-tagged": (
        "android_26_arm64_v8a",
        _with_needed("libaaudio.so"),
        "android_26_arm64_v8a",
        True,
    ),
    # Bionic's LIBC_O (API 26) in a wheel tagged 24: no policy lists Bionic versions, so
    # the tag holds for auditwheel (wheelscan adds a finding: android-api-level)
    "bionic-version-above-tag": (
        "android_24_arm64_v8a",
        _with_symbol(GETGRENT),
        "android_24_arm64_v8a",
        True,
    ),
    "libneuralnetworks-27": (
        "android_27_x86_64",
        _with_needed("libneuralnetworks.so", abi="x86_64"),
        "android_27_x86_64",
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_built_android_wheel_matches_auditwheel(case: str, tmp_path: Path) -> None:
    tag, files, overall, holds = CASES[case]
    abi = "x86_64" if tag.endswith("x86_64") else "arm64_v8a"
    filename, data = android_wheel(tag, files, abi)
    verdict = judge(filename, data)
    assert (verdict.libc, verdict.overall_tag) == ("android", overall)
    assert verdict.criteria["symbol_versions"] == tag  # Bionic's versions: no policy lists them
    assert list(verdict.versioned_symbols) == ["libc.so"]
    assert verdict.versioned_symbols["libc.so"][0] == "LIBC"
    assert [(c.tag, c.holds) for c in verdict.declared] == [(tag, holds)]
    assert "libpython3.13.so" not in verdict.external_libraries  # normal on Android
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    theirs = oracle._run_auditwheel(wheel)[0]
    assert _auditwheel_view(verdict) == _auditwheel_shape(theirs)


def _android_executable() -> dict[str, bytes]:
    """The module, and a command-line tool as the NDK links one (a PIE run by Bionic's
    loader, /system/bin/linker64) that needs the NDK's libc++_shared.so, not in the wheel.
    pip installs ``.data/scripts`` on PATH (Termux's pip, whose Python 3.13 takes android_24
    tags and whose app may run what it installs); run, the loader loads libc++_shared.so."""
    tool = bionic_spec(
        needed=["libc++_shared.so", *NDK_NEEDED[:1], *NDK_NEEDED[2:]],
        interpreter="/system/bin/linker64",
        dt_flags_1=DF_1_PIE,
        symbols=[
            Sym("__libc_init", version="LIBC", version_file="libc.so"),
            Sym("memcpy", version="LIBC", version_file="libc.so"),
        ],
    )
    return {
        module_name(): build_elf(bionic_spec()),
        "spam-0.1.0.data/scripts/spam-tool": build_elf(tool),
    }


# Where wheelscan means to differ (docs/differences.md): the
# wheel's tag, its files, then each tool's overall tag and external libraries. The test runs
# auditwheel too, so a change on either side shows.
DELIBERATE_DIFFERENCES = {
    # auditwheel's lddtree takes any interpreter but musl's for glibc's, so in an Android
    # wheel it leaves the executable out ("ignoring: ... with glibc libc") and never sees
    # what it needs. wheelscan reads Bionic's loader as Android: the tool is installed and
    # needs a library the wheel does not hold, so the android tag does not hold
    "android-executable-needs-libcxx": (
        "android_24_arm64_v8a",
        _android_executable(),
        ("android_24_arm64_v8a", []),
        ("linux_aarch64", ["libc++_shared.so"]),
    ),
}


@pytest.mark.parametrize("case", list(DELIBERATE_DIFFERENCES))
def test_built_android_wheel_differs_from_auditwheel_as_documented(
    case: str, tmp_path: Path
) -> None:
    tag, files, (their_tag, their_libs), (our_tag, our_libs) = DELIBERATE_DIFFERENCES[case]
    filename, data = android_wheel(tag, files)
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    theirs = _auditwheel_shape(oracle._run_auditwheel(wheel)[0])
    ours = _auditwheel_view(judge(filename, data))
    assert (theirs["overall_tag"], theirs["external_libs"]) == (their_tag, their_libs)
    assert (ours["overall_tag"], ours["external_libs"]) == (our_tag, our_libs)
    # the symbol versions are read alike: the difference is the files judged, no more
    assert (ours["sym_tag"], ours["versioned_symbols"]) == (
        theirs["sym_tag"],
        theirs["versioned_symbols"],
    )


def test_an_android_executable_is_judged_as_bionic() -> None:
    """The tool's libc++_shared.so is blamed on the tool, and the tag is an over-claim."""
    verdict = judge(*android_wheel("android_24_arm64_v8a", _android_executable()))
    assert verdict.libc == "android"
    (upgrade,) = verdict.upgrades
    assert [(b.kind, b.subject, b.files) for b in upgrade.blockers] == [
        ("external-library", "libc++_shared.so", ("spam-0.1.0.data/scripts/spam-tool",))
    ]
    assert verdict.over_claims == ("android_24_arm64_v8a",)


def _auditwheel_shape(theirs: dict[str, Any]) -> dict[str, Any]:
    """auditwheel's ``show --json`` in the shape of ``_auditwheel_view``."""
    assert "overall_tag" in theirs, theirs
    view = {
        key: theirs[key]
        for key in (
            "overall_tag",
            "sym_tag",
            "pyfpe",
            "ucs2",
            "unsupported_isa",
            "versioned_symbols",
            "policy_upgrades",
        )
    }
    view["external_libs"] = sorted(theirs["external_libs"])
    view["versioned_symbols"] = {k: sorted(v) for k, v in theirs["versioned_symbols"].items()}
    return view


def test_external_library_is_blamed_on_its_file() -> None:
    filename, data = android_wheel("android_24_arm64_v8a", _with_needed("libaaudio.so"))
    verdict = judge(filename, data)
    (upgrade,) = verdict.upgrades
    assert upgrade.policy == "android_24_arm64_v8a"
    assert [(b.kind, b.subject, b.files) for b in upgrade.blockers] == [
        ("external-library", "libaaudio.so", (module_name(),))
    ]
    assert verdict.over_claims == ("android_24_arm64_v8a",)


def test_bionic_wheel_under_a_linux_tag_is_judged_on_every_android_policy() -> None:
    """auditwheel crashes here (it reads Android from the tag only); wheelscan judges the
    Bionic files against every Android policy, as it judges musl against every musllinux."""
    filename, data = android_wheel("linux_aarch64", {"spam.so": build_elf(bionic_spec())})
    verdict = judge(filename, data)
    assert (verdict.libc, verdict.overall_tag) == ("android", "android_21_arm64_v8a")
    aaudio = bionic_spec(needed=[*NDK_NEEDED, "libaaudio.so"])
    filename, data = android_wheel("linux_aarch64", {"spam.so": build_elf(aaudio)})
    assert judge(filename, data).overall_tag == "android_26_arm64_v8a"
    # with no tag to trust, Bionic's symbol versions count: getgrent@LIBC_O needs API 26
    verdict = judge(*android_wheel("linux_aarch64", _with_symbol(GETGRENT, "spam.so")))
    assert verdict.overall_tag == verdict.criteria["symbol_versions"] == "android_26_arm64_v8a"
    (why_not_24,) = [c for c in verdict.upgrades if c.policy == "android_24_arm64_v8a"]
    assert [(b.kind, b.subject, b.symbols) for b in why_not_24.blockers] == [
        ("symbol-version", "LIBC_O", ("getgrent",))
    ]
    # LIBC_P came with API 28, newer than every policy
    api_28 = dataclasses.replace(GETGRENT, version="LIBC_P")
    assert judge(*android_wheel("linux_aarch64", _with_symbol(api_28, "spam.so"))).overall_tag == (
        "linux_aarch64"
    )


def test_bionic_file_in_a_manylinux_wheel_is_judged_as_auditwheel_does(tmp_path: Path) -> None:
    """auditwheel sees no Bionic in an ELF file: under a manylinux tag it judges the file as
    glibc's, and finds Bionic's libraries external."""
    filename, data = android_wheel("manylinux_2_17_aarch64")
    verdict = judge(filename, data)
    assert (verdict.libc, verdict.overall_tag) == ("glibc", "linux_aarch64")
    assert {"libc.so", "libm.so", "libdl.so"} <= set(verdict.external_libraries)
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    assert _auditwheel_view(verdict) == _auditwheel_shape(oracle._run_auditwheel(wheel)[0])


def test_glibc_file_in_an_android_wheel_is_left_out() -> None:
    filename, data = android_wheel(
        "android_24_arm64_v8a", {"mod.so": build_elf(sample_spec("aarch64", interpreter=None))}
    )
    result = audit(data, filename)
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"


@pytest.mark.parametrize(
    ("tag", "abi", "code"),
    [
        ("android_19_arm64_v8a", "arm64_v8a", "no-android-policy"),
        ("android_21_arm64_v8a.android_24_arm64_v8a", "arm64_v8a", "android-platform-tags"),
    ],
)
def test_android_tag_without_a_policy_is_an_error_record(
    tag: str, abi: str, code: str, tmp_path: Path
) -> None:
    filename, data = android_wheel(tag, None, abi)
    result = audit(data, filename)
    assert isinstance(result, AuditError) and result.code == code, result
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    assert "crash" in oracle._run_auditwheel(wheel)[0]  # auditwheel: a ValueError traceback


def test_show_names_the_android_verdict(tmp_path: Path) -> None:
    spec = bionic_spec(needed=[*NDK_NEEDED, "libc++_shared.so"])
    spec.symbols.append(GETGRENT)
    filename, data = android_wheel("android_24_arm64_v8a", {module_name(): build_elf(spec)})
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    done = wheelscan("show", "--json", str(wheel))
    document = json.loads(done.stdout)
    jsonschema.validate(document, json.loads(wheelscan("show", "--json-schema").stdout))
    (result,) = document["results"]
    assert (result["libc"], result["overall_tag"]) == ("android", "linux_aarch64")
    assert result["over_claims"] == ["android_24_arm64_v8a"]
    assert [f["kind"] for f in result["findings"]] == ["android-api-level"]
    assert done.returncode != 0  # an over-claim


def _judge_with(tag: str, symbol: Sym) -> Verdict:
    return judge(*android_wheel(tag, _with_symbol(symbol)))


def test_bionic_symbol_newer_than_the_tag_is_a_finding() -> None:
    """auditwheel's policies list no Bionic versions: getgrent@LIBC_O (API 26) in a wheel
    tagged 24 keeps auditwheel's verdict, and is reported beside it."""
    verdict = _judge_with("android_24_arm64_v8a", GETGRENT)
    assert verdict.overall_tag == "android_24_arm64_v8a"
    (finding,) = verdict.findings
    assert (finding.kind, finding.file) == ("android-api-level", module_name())
    assert finding.detail == "needs LIBC_O (API level 26) above the tag's 24: getgrent"
    # tagged 26, or referenced weakly (the NDK's way to call it after __builtin_available),
    # or a version this table does not know yet: nothing to report
    assert _judge_with("android_26_arm64_v8a", GETGRENT).findings == ()
    weak = dataclasses.replace(GETGRENT, binding=STB_WEAK)
    assert _judge_with("android_24_arm64_v8a", weak).findings == ()
    future = dataclasses.replace(GETGRENT, version="LIBC_Z")
    assert _judge_with("android_24_arm64_v8a", future).findings == ()


def test_an_android_policy_file_replaces_the_built_in_one(tmp_path: Path) -> None:
    """--policy-file takes a list of android_N policies: here one that allows libc++."""
    policies = json.loads((DATA_DIR / "android-policy.json").read_text())
    for policy in policies[1:]:
        policy["lib_whitelist"].append("libc++_shared.so")
    policy_file = tmp_path / "android-libcxx.json"
    policy_file.write_text(json.dumps(policies))
    filename, data = android_wheel("android_24_arm64_v8a", _with_needed("libc++_shared.so"))
    wheel = tmp_path / filename
    wheel.write_bytes(data)
    done = wheelscan("show", "--json", "--policy-file", str(policy_file), str(wheel))
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["overall_tag"] == "android_24_arm64_v8a"
    # and the built-in manylinux policies still judge manylinux wheels
    filename, data = android_wheel("manylinux_2_17_aarch64")
    assert isinstance(audit(data, filename, load_policies(policy_file)), Verdict)


def test_audit_and_report_count_android_wheels(tmp_path: Path) -> None:
    """A directory audit reads Android wheels (it skipped them as not Linux), and the report
    groups them as a family of their own: libc android, android_N policies."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for tag, files, abi in [
        ("android_24_arm64_v8a", None, "arm64_v8a"),
        ("android_25_x86_64", None, "x86_64"),
        ("android_21_arm64_v8a", _with_needed("libvulkan.so"), "arm64_v8a"),  # API 24's
    ]:
        filename, data = android_wheel(tag, files, abi)
        (wheels / filename.replace("spam-", f"spam{tag[8:10]}-")).write_bytes(data)
    db = str(tmp_path / "a.db")
    audited = _run_process("audit", str(wheels), "--db", db, "--fail-on", "none")
    assert audited.returncode == 0, audited.stderr
    report = json.loads(wheelscan("report", "--db", db, "--format", "json").stdout)
    assert report["totals"]["judged"] == 3
    assert {e["key"]: e["wheels"] for e in report["libcs"]["entries"]} == {"android": 3}
    assert {e["key"] for e in report["computed_policies"]["entries"]} == {
        "android_24_arm64_v8a",
        "android_25_x86_64",
        "linux_aarch64",
    }
    assert [(p["declared"], p["computed"]) for p in report["over_claim_pairs"]] == [
        ("android_21_arm64_v8a", "linux_aarch64")
    ]
    assert [e["key"] for e in report["offending_libraries"]["entries"]] == ["libvulkan.so"]
    html = tmp_path / "report.html"
    assert wheelscan("report", "--db", db, "--format", "html", "-o", str(html)).returncode == 0
    assert "var(--android)" in html.read_text()


# --- real Android wheels: auditwheel's bundled one and the index's ------------------------


@pytest.fixture(scope="module")
def real_android_wheels() -> list[Path]:
    bundled = [fetch_member(entry) for entry in load_entries(CORPUS / "members.json")]
    return bundled + fetch(load_entries(CORPUS / "android.json"))


@pytest.mark.network
def test_auditwheels_bundled_wheel_needs_libcxx(real_android_wheels: list[Path]) -> None:
    (bundled,) = [p for p in real_android_wheels if p.name.startswith("spam-")]
    verdict = judge(bundled.name, bundled.read_bytes())
    assert verdict.criteria["symbol_versions"] == "android_24_arm64_v8a"
    assert verdict.overall_tag == "linux_aarch64"
    assert verdict.external_libraries == ("libc++_shared.so",)


@pytest.mark.network
def test_real_android_wheels_match_auditwheel(real_android_wheels: list[Path]) -> None:
    theirs = oracle.auditwheel_verdicts(real_android_wheels)
    mismatches = {}
    for path in real_android_wheels:
        ours = _auditwheel_view(judge(path.name, path.read_bytes()))
        expected = _auditwheel_shape(theirs[path.name])
        if ours != expected:
            mismatches[path.name] = (ours, expected)
    assert mismatches == {}
    tags = {theirs[p.name]["overall_tag"] for p in real_android_wheels}
    assert tags == {"linux_aarch64", "android_24_arm64_v8a", "android_24_x86_64"}
