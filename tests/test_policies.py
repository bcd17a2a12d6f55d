"""The policy data and its loader, checked against auditwheel's own WheelPolicies."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import auditwheel.policy
import pytest
from auditwheel.architecture import Architecture as AwArchitecture
from auditwheel.error import WheelToolsError
from auditwheel.libc import Libc as AwLibc
from auditwheel.policy import WheelPolicies
from auditwheel.wheeltools import get_wheel_architecture, get_wheel_libc

from wheelscan.policy.policies import (
    DATA_DIR,
    Architecture,
    Libc,
    Policy,
    PolicyFileError,
    load_policies,
    platform_tag_info,
)

AUDITWHEEL_DATA = Path(auditwheel.policy.__file__).parent
# Every baseline architecture auditwheel knows, but Android's.
BASELINE_ARCHES = [
    a for a in AwArchitecture if a.baseline is a and a is not AwArchitecture.arm64_v8a
]


def _upstream(name: str) -> Any:
    return json.loads((AUDITWHEEL_DATA / name).read_text())


def _as_ours(policy: auditwheel.policy.Policy) -> dict[str, Any]:
    """auditwheel's policy in wheelscan's terms: versions as full names (as it compares them)."""
    return {
        "name": policy.name,
        "aliases": policy.aliases,
        "priority": policy.priority,
        "whitelist": policy.whitelist,
        "blacklist": policy.blacklist,
        "symbol_versions": {
            prefix: frozenset(f"{prefix}_{v}" for v in versions)
            for prefix, versions in policy.symbol_versions.items()
        },
    }


def _fields(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "aliases": policy.aliases,
        "priority": policy.priority,
        "whitelist": policy.whitelist,
        "blacklist": dict(policy.blacklist),
        "symbol_versions": dict(policy.symbol_versions),
    }


@pytest.mark.parametrize(
    "name", ["manylinux-policy.json", "musllinux-policy.json", "android-policy.json"]
)
def test_data_is_auditwheels_verbatim(name: str) -> None:
    assert json.loads((DATA_DIR / name).read_text()) == _upstream(name)


def test_source_records_installed_auditwheel() -> None:
    source = json.loads((DATA_DIR / "SOURCE.json").read_text())
    assert (source["package"], source["version"]) == ("auditwheel", version("auditwheel"))


@pytest.mark.parametrize("aw_arch", BASELINE_ARCHES, ids=str)
def test_glibc_matches_auditwheel(aw_arch: AwArchitecture) -> None:
    theirs = WheelPolicies(libc=AwLibc.GLIBC, arch=aw_arch)
    ours = load_policies().for_platform(Libc.GLIBC, Architecture(aw_arch.value))
    # auditwheel lists linux first, wheelscan most compatible first
    assert [_fields(p) for p in ours] == [_as_ours(p) for p in reversed(list(theirs))]
    assert (ours.highest.name, ours.lowest.name) == (theirs.highest.name, theirs.lowest.name)
    assert ours.linux.name == theirs.linux.name == f"linux_{aw_arch.value}"
    assert all(p.libc is Libc.GLIBC and p.arch is ours.arch for p in ours)


MUSL_CASES = [
    (entry["name"], arch)
    for entry in _upstream("musllinux-policy.json")
    if entry["name"] != "linux"
    for arch in BASELINE_ARCHES
    if arch.value in entry["symbol_versions"]
]


@pytest.mark.parametrize(("musl_policy", "aw_arch"), MUSL_CASES, ids=str)
def test_each_musl_policy_matches_auditwheel(musl_policy: str, aw_arch: AwArchitecture) -> None:
    theirs = WheelPolicies(libc=AwLibc.MUSL, arch=aw_arch, musl_policy=musl_policy)
    ours = load_policies().for_platform(Libc.MUSL, Architecture(aw_arch.value))
    assert _fields(ours.get(theirs.highest.name)) == _as_ours(theirs.highest)
    assert _fields(ours.linux) == _as_ours(theirs.linux)


@pytest.mark.parametrize("aw_arch", BASELINE_ARCHES, ids=str)
def test_musl_set_holds_every_musllinux_policy(aw_arch: AwArchitecture) -> None:
    ours = load_policies().for_platform(Libc.MUSL, Architecture(aw_arch.value))
    expected = [f"{name}_{aw_arch.value}" for name, arch in MUSL_CASES if arch is aw_arch]
    assert [p.name for p in ours] == [*expected, f"linux_{aw_arch.value}"]


@pytest.mark.skipif(any(Path("/lib").glob("libc.musl-*.so.1")), reason="auditwheel reads this musl")
def test_auditwheel_keeps_one_musl_policy_on_a_glibc_host() -> None:
    theirs = WheelPolicies(libc=AwLibc.MUSL, arch=AwArchitecture.x86_64)
    ours = load_policies().for_platform(Libc.MUSL, Architecture.x86_64)
    assert [p.name for p in theirs] == ["linux_x86_64", ours.lowest.name]


@pytest.mark.parametrize(
    ("arch", "soname"),
    [
        (Architecture.i686, "libc.musl-x86.so.1"),
        (Architecture.armv7l, "libc.musl-armv7.so.1"),
        (Architecture.x86_64_v3, "libc.musl-x86_64.so.1"),
    ],
)
def test_musl_libc_soname(arch: Architecture, soname: str) -> None:
    policies = load_policies().for_platform(Libc.MUSL, arch)
    assert policies.highest.whitelist == {soname, "libz.so.1"}


def test_architecture_semantics_match_auditwheel() -> None:
    for ours in Architecture:
        theirs = AwArchitecture(ours.value)
        assert ours.baseline.value == theirs.baseline.value
        for other in Architecture:
            assert ours.is_superset(other) == theirs.is_superset(AwArchitecture(other.value))
            assert ours.is_subset(other) == theirs.is_subset(AwArchitecture(other.value))


def test_alias_lookup_and_ordering() -> None:
    glibc = load_policies().for_platform(Libc.GLIBC, Architecture.x86_64)
    assert glibc.get("manylinux2014_x86_64") is glibc.get("manylinux_2_17_x86_64")
    assert glibc.get("manylinux1_x86_64").base_name == "manylinux_2_5"
    assert glibc.get("manylinux2010_x86_64").aliases == ("manylinux2010_x86_64",)
    with pytest.raises(LookupError, match="manylinux2014_aarch64"):
        glibc.get("manylinux2014_aarch64")
    priorities = [p.priority for p in glibc]
    assert priorities == sorted(priorities, reverse=True) and priorities[-1] == 0
    assert min(glibc) is glibc.linux and max(glibc) is glibc.highest
    assert len({*glibc}) == len(glibc.policies)  # hashable despite the mapping fields
    assert load_policies().for_platform(Libc.GLIBC, Architecture.x86_64_v4) is glibc


def test_ppc64_has_only_manylinux2014() -> None:
    ppc64 = load_policies().for_platform(Libc.GLIBC, Architecture.ppc64)
    assert [p.name for p in ppc64] == ["manylinux_2_17_ppc64", "linux_ppc64"]
    musl = load_policies().for_platform(Libc.MUSL, Architecture.ppc64)
    assert musl.highest is musl.lowest is musl.linux  # auditwheel would raise IndexError


def test_builtin_database_is_cached() -> None:
    assert load_policies() is load_policies()


TAGS = {
    "manylinux_2_17_x86_64": (Libc.GLIBC, Architecture.x86_64, "manylinux_2_17"),
    "manylinux2014_ppc64le": (Libc.GLIBC, Architecture.ppc64le, "manylinux_2_17"),
    "manylinux2014_ppc64": (Libc.GLIBC, Architecture.ppc64, "manylinux_2_17"),
    "manylinux2010_x86_64": (Libc.GLIBC, Architecture.x86_64, "manylinux_2_12"),
    "manylinux1_i686": (Libc.GLIBC, Architecture.i686, "manylinux_2_5"),
    "manylinux_2_33_aarch64": (Libc.GLIBC, Architecture.aarch64, "manylinux_2_33"),
    "manylinux_2_39_loongarch64": (Libc.GLIBC, Architecture.loongarch64, "manylinux_2_39"),
    "manylinux_2_31_riscv64": (Libc.GLIBC, Architecture.riscv64, "manylinux_2_31"),
    "manylinux_2_28_s390x": (Libc.GLIBC, Architecture.s390x, "manylinux_2_28"),
    "manylinux_2_17_armv7l": (Libc.GLIBC, Architecture.armv7l, "manylinux_2_17"),
    "musllinux_1_2_aarch64": (Libc.MUSL, Architecture.aarch64, "musllinux_1_2"),
    "musllinux_1_1_i686": (Libc.MUSL, Architecture.i686, "musllinux_1_1"),
    "musllinux_1_3_x86_64": (Libc.MUSL, Architecture.x86_64, "musllinux_1_3"),
    "linux_armv7l": (None, Architecture.armv7l, None),
    "linux_x86_64": (None, Architecture.x86_64, None),
    "linux_x86_64_v3": (None, Architecture.x86_64_v3, None),
    "android_21_arm64_v8a": (Libc.ANDROID, Architecture.arm64_v8a, "android_21"),
    "android_25_x86_64": (Libc.ANDROID, Architecture.x86_64, "android_25"),
}


@pytest.mark.parametrize(("tag", "expected"), TAGS.items(), ids=list(TAGS))
def test_platform_tag_info(
    tag: str, expected: tuple[Libc | None, Architecture, str | None]
) -> None:
    info = platform_tag_info(tag)
    assert info == expected
    # auditwheel reads the same libc and (baseline) architecture from a wheel's filename
    filename = f"pkg-1.0-cp311-cp311-{tag}.whl"
    assert get_wheel_architecture(filename).value == info.arch.baseline.value
    try:
        aw_libc: str | None = get_wheel_libc(filename).value
    except WheelToolsError:
        aw_libc = None
    assert aw_libc == info.libc


@pytest.mark.parametrize(
    "tag",
    [
        "any",
        "win_amd64",
        "macosx_11_0_arm64",
        "linux_armv6l",
        "manylinux2099_x86_64",
        "android_21_x86",  # Android's i686: no policy of auditwheel's covers it
        "manylinux_x86_64",
        "musllinux_1_x86_64",
    ],
)
def test_platform_tag_info_rejects(tag: str) -> None:
    with pytest.raises(ValueError, match="not a Linux platform tag"):
        platform_tag_info(tag)


def _write(tmp_path: Path, policies: Any) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policies))
    return path


def test_policy_file_replaces_its_libc_only(tmp_path: Path) -> None:
    musl = [p for p in _upstream("musllinux-policy.json") if p["name"] != "musllinux_1_2"]
    database = load_policies(_write(tmp_path, musl))
    assert [p.name for p in database.for_platform(Libc.MUSL, Architecture.x86_64)] == [
        "musllinux_1_1_x86_64",
        "linux_x86_64",
    ]
    builtin = load_policies().for_platform(Libc.GLIBC, Architecture.x86_64)
    assert list(database.for_platform(Libc.GLIBC, Architecture.x86_64)) == list(builtin)
    assert database is not load_policies()


def test_policy_file_with_shrinking_whitelist_is_rejected(tmp_path: Path) -> None:
    policies = _upstream("manylinux-policy.json")
    newest = max(policies[1:], key=lambda p: -p["priority"])
    newest["lib_whitelist"].remove("libGL.so.1")
    with pytest.raises(PolicyFileError) as error:
        load_policies(_write(tmp_path, policies))
    message = str(error.value)
    assert str(tmp_path / "policy.json") in message
    assert newest["name"] in message and "libGL.so.1" in message and "PEP 600" in message


def test_policy_file_with_shrinking_symbol_versions_is_rejected(tmp_path: Path) -> None:
    policies = _upstream("manylinux-policy.json")
    manylinux_2_28 = next(p for p in policies if p["name"] == "manylinux_2_28")
    manylinux_2_28["symbol_versions"]["aarch64"]["GLIBC"].remove("2.17")
    with pytest.raises(PolicyFileError, match=r"manylinux_2_28_aarch64 drops GLIBC .*'2\.17'"):
        load_policies(_write(tmp_path, policies))


def _policy(name: str, priority: object, **changes: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "aliases": [],
        "priority": priority,
        "symbol_versions": {},
        "lib_whitelist": [],
        "blacklist": {},
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("policies", "problem"),
    [
        ({"name": "linux"}, "expected a JSON list"),
        ([_policy("linux", 0), _policy("manylinux_2_17", "80")], "'priority'"),
        (
            [_policy("linux", 0), _policy("manylinux_2_17", 80, symbol_versions={"arm64_v8a": {}})],
            "'symbol_versions'",
        ),
        ([_policy("manylinux_2_17", 80)], "exactly one 'linux'"),
        (
            [_policy("linux", 0), _policy("manylinux_2_17", 80), _policy("musllinux_1_2", 90)],
            "all musllinux_X_Y",
        ),
        ([_policy("linux", 0), _policy("manylinux2014", 80)], "manylinux_X_Y"),
        (
            [_policy("linux", 0), _policy("manylinux_2_17", 80), _policy("manylinux_2_28", 80)],
            "priority",
        ),
        (
            [_policy("linux", 0), _policy("manylinux_2_17", 80, aliases=["manylinux_2_17"])],
            "repeated name",
        ),
    ],
)
def test_malformed_policy_file_is_rejected(tmp_path: Path, policies: Any, problem: str) -> None:
    with pytest.raises(PolicyFileError, match=problem):
        load_policies(_write(tmp_path, policies))


def test_unreadable_policy_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policies(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policies(tmp_path / "bad.json")


def test_each_architectures_manylinux_file_is_the_whole_files_split() -> None:
    # a show reads one architecture's file, not the whole (policy/policies.py, issue #15)
    from wheelscan.policy.policies import by_arch_file, split_by_arch

    whole = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    split = split_by_arch(whole)
    assert set(split) == {a.value for a in Architecture if a.baseline is a}
    assert sorted(DATA_DIR.glob(by_arch_file("*").name)) == sorted(map(by_arch_file, split))
    for arch, entries in split.items():
        assert json.loads(by_arch_file(arch).read_text()) == entries, arch


def test_the_policy_sets_are_the_whole_files() -> None:
    # the whole manylinux file given as a user's (read whole, checked) builds the same sets
    built_in, whole = load_policies(), load_policies(DATA_DIR / "manylinux-policy.json")
    assert built_in.tag_names == whole.tag_names
    assert list(built_in.sets) == list(whole.sets)
    for key in whole.sets:
        assert built_in.sets[key].policies == whole.sets[key].policies, key
