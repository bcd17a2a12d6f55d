"""A policy file of the wrong shape is refused whole, with the field that is wrong.

auditwheel's loader indexes and iterates what it reads: a string where a list belongs
(``"lib_whitelist": "libc.so.6"``) would be read as a list of characters, and a policy
that whitelists "l", "i", "b" would judge every wheel wrongly without a word. wheelscan
checks every field's type before building a policy (``policies._check_entries``); these
tests put a wrong value in each field of the built-in file, one at a time.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wheelscan.policy.policies import (
    DATA_DIR,
    Architecture,
    Libc,
    PolicyFileError,
    load_policies,
)

BUILTIN = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
INDEX = 4  # manylinux_2_24: not the first policy, so the message must name the right one


def _write(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(entries))
    return path


def _with(field: str, value: Any, index: int = INDEX) -> list[dict[str, Any]]:
    entries = copy.deepcopy(BUILTIN)
    entries[index][field] = value
    return entries


WRONG_VALUES = [
    ("name", 2),
    ("name", ["manylinux_2_24"]),
    ("aliases", "manylinux_2_24"),
    ("aliases", [1]),
    ("aliases", {"manylinux_2_24": []}),
    ("priority", "70"),
    ("priority", 70.0),
    ("priority", True),
    ("lib_whitelist", "libc.so.6"),
    ("lib_whitelist", ["libc.so.6", None]),
    ("lib_whitelist", {"libc.so.6": True}),
    ("symbol_versions", "x86_64"),
    ("symbol_versions", ["x86_64"]),
    ("symbol_versions", {"x86_64": "GLIBC"}),
    ("symbol_versions", {"x86_64": {"GLIBC": "2.5"}}),
    ("symbol_versions", {"x86_64": {"GLIBC": [2.5]}}),
    ("symbol_versions", {"x86_64": [["GLIBC", ["2.5"]]]}),
    ("symbol_versions", {"amd64": {"GLIBC": ["2.5"]}}),
    ("blacklist", "libz.so.1"),
    ("blacklist", ["libz.so.1"]),
    ("blacklist", {"libz.so.1": "zcalloc"}),
    ("blacklist", {"libz.so.1": [None]}),
]


@pytest.mark.parametrize(("field", "value"), WRONG_VALUES)
def test_a_field_of_the_wrong_type_is_refused(tmp_path: Path, field: str, value: Any) -> None:
    path = _write(tmp_path, _with(field, value))
    with pytest.raises(PolicyFileError) as error:
        load_policies(path)
    name = value if field == "name" else "manylinux_2_24"
    assert str(error.value) == (
        f"{path}: policy #{INDEX} {name}: field {field!r} is missing or not of auditwheel's type"
    )


@pytest.mark.parametrize(
    "field", ["name", "aliases", "priority", "symbol_versions", "lib_whitelist", "blacklist"]
)
def test_a_missing_field_is_refused(tmp_path: Path, field: str) -> None:
    entries = copy.deepcopy(BUILTIN)
    del entries[INDEX][field]
    with pytest.raises(PolicyFileError, match=f"policy #{INDEX} .*field {field!r} is missing"):
        load_policies(_write(tmp_path, entries))


@pytest.mark.parametrize(
    "document",
    ["manylinux_2_17", {"policies": BUILTIN}, [*BUILTIN, "manylinux_2_42"], [BUILTIN], 17, None],
)
def test_a_file_that_is_not_a_list_of_policies_is_refused(tmp_path: Path, document: Any) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(PolicyFileError) as error:
        load_policies(path)
    assert str(error.value) == f"{path}: expected a JSON list of policy objects"


def test_the_builtin_file_rewritten_is_accepted_and_equal(tmp_path: Path) -> None:
    """The checks refuse nothing auditwheel's own data holds: empty lists and dicts too."""
    entries = copy.deepcopy(BUILTIN)
    entries[INDEX]["aliases"] = []
    database = load_policies(_write(tmp_path, entries))
    builtin = load_policies()
    for arch in {a.baseline for a in Architecture}:
        assert list(database.for_platform(Libc.GLIBC, arch)) == list(
            builtin.for_platform(Libc.GLIBC, arch)
        )
    extra_key = copy.deepcopy(BUILTIN)
    extra_key[INDEX]["comment"] = "auditwheel ignores fields it does not know"
    load_policies(_write(tmp_path, extra_key))


def test_a_wrong_type_in_a_musl_file_is_refused(tmp_path: Path) -> None:
    musl = json.loads((DATA_DIR / "musllinux-policy.json").read_text())
    musl[-1]["lib_whitelist"] = "libc.so"
    with pytest.raises(PolicyFileError, match="'lib_whitelist'"):
        load_policies(_write(tmp_path, musl))


def test_the_builtin_files_pass_the_checks_a_users_file_does() -> None:
    # wheelscan reads its own files unchecked (a start-up cost, issue #15): this is their check
    from wheelscan.policy import policies

    checked = [policies._load_file(path) for path in policies._BUILTIN_FILES]
    assert [libc for libc, _ in checked] == list(policies._BUILTIN_LIBCS)
    built_in = policies._builtin_entries()
    glibc = built_in.pop(policies.Libc.GLIBC)  # read one architecture at a time
    (_, whole), *others = checked
    assert dict(others) == built_in
    for arch, entries in policies.split_by_arch(whole).items():
        assert glibc.for_arch(arch) == entries
