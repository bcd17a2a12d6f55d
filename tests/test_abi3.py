"""The abi3/abi3t verdict (policy/abi3.py, issue #17) on wheels the tests build.

Each finding on the smallest wheel that shows it, read through the real pipeline (zip,
native ELF core), then judged; and the manylinux verdict beside it is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelscan.engine.worker import judge, read_facts
from wheelscan.policy.abi3 import (
    ABI3T_MODULE_EXPORT,
    ABI3T_SYMBOL,
    DEFINES_PYTHON_NAME,
    LINKS_LIBPYTHON,
    OVER_CLAIM,
    SYMBOL,
    Abi3Verdict,
    evaluate_abi3,
)
from wheelscan.policy.verdict import Verdict

from elfwriter import STB_WEAK, STT_OBJECT, Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

PLATFORM = "manylinux_2_17_x86_64"


def extension(
    *imports: str | Sym,
    exports: tuple[str, ...] = ("PyInit_mod",),
    needed: tuple[str, ...] = ("libc.so.6",),
) -> bytes:
    """An x86_64 extension importing ``imports`` (names or symbols) and defining ``exports``."""
    symbols = [Sym("malloc", version="GLIBC_2.2.5", version_file="libc.so.6")]
    symbols += [s if isinstance(s, Sym) else Sym(s) for s in imports]
    symbols += [Sym(name, defined=True) for name in exports]
    return build_elf(sample_spec(symbols=symbols, needed=list(needed)))


def verdict(
    tmp_path: Path, tags: str, members: dict[str, bytes]
) -> tuple[Abi3Verdict | None, Verdict]:
    filename = f"mod-1.0-{tags}-{PLATFORM}.whl"
    path = tmp_path / filename
    path.write_bytes(build_wheel(members, name="mod"))
    facts = read_facts(path, filename)
    manylinux = judge(filename, facts)
    assert isinstance(manylinux, Verdict)
    return evaluate_abi3(facts), manylinux


def codes(result: Abi3Verdict | None) -> list[tuple[str, str, str | None]]:
    assert result is not None
    return [(f.code, f.file, f.symbol) for f in result.findings]


def test_a_wheel_without_a_stable_abi_promise_gets_no_abi3_verdict(tmp_path: Path) -> None:
    result, _ = verdict(
        tmp_path,
        "cp311-cp311",
        {"mod.cpython-311-x86_64-linux-gnu.so": extension("_PyUnicode_Ready")},
    )
    assert result is None


def test_a_compliant_abi3_wheel(tmp_path: Path) -> None:
    result, _ = verdict(
        tmp_path, "cp39-abi3", {"mod.abi3.so": extension("PyLong_FromLong", "PyFrame_GetCode")}
    )
    assert result is not None
    assert result.abis == ("abi3",)
    assert (result.declared, result.computed) == ((3, 9), (3, 10))
    assert not result.compliant  # 3.10 > 3.9: an over-claim
    result, _ = verdict(
        tmp_path, "cp310-abi3", {"mod.abi3.so": extension("PyLong_FromLong", "PyFrame_GetCode")}
    )
    assert result is not None and result.compliant and result.findings == ()
    assert result.declared == (3, 10)
    assert result.to_json()["files"][0] == {
        "file": "mod.abi3.so",
        "computed": "3.10",
        "module_exports": ["PyInit_mod"],
        "stable_symbols": 2,
        "links_libpython": False,
    }


def test_a_symbol_outside_the_stable_abi_is_named_with_its_file(tmp_path: Path) -> None:
    members = {
        "pkg/mod.abi3.so": extension("PyLong_FromLong", "_PyUnicode_Ready", "PyUnicode_AsUTF8"),
        "pkg/clean.abi3.so": extension("PyLong_FromLong", exports=("PyInit_clean",)),
    }
    result, _ = verdict(tmp_path, "cp39-abi3", members)
    assert codes(result) == [
        (SYMBOL, "pkg/mod.abi3.so", "_PyUnicode_Ready"),
        (SYMBOL, "pkg/mod.abi3.so", "PyUnicode_AsUTF8"),
    ]
    assert result is not None and not result.compliant and not result.over_claim


def test_an_over_claim_names_each_symbol_that_needs_a_later_python(tmp_path: Path) -> None:
    result, _ = verdict(
        tmp_path,
        "cp37-abi3",
        {"mod.abi3.so": extension("PyType_FromModuleAndSpec", "PyObject_GetOptionalAttr")},
    )
    assert result is not None
    assert result.computed == (3, 13) and result.declared == (3, 7)
    assert codes(result) == [
        (OVER_CLAIM, "mod.abi3.so", "PyType_FromModuleAndSpec"),
        (OVER_CLAIM, "mod.abi3.so", "PyObject_GetOptionalAttr"),
    ]
    assert result.over_claim and not result.compliant
    assert "3.13" in result.findings[1].detail and "cp37-abi3" in result.findings[1].detail


def test_the_lowest_declared_tag_is_the_promise(tmp_path: Path) -> None:
    # pip installs cp38.cp310-abi3 on 3.8: the wheel promises 3.8
    result, _ = verdict(tmp_path, "cp38.cp310-abi3", {"mod.abi3.so": extension("PyFrame_GetCode")})
    assert result is not None and result.declared == (3, 8) and result.over_claim


def test_a_weak_import_of_a_later_function_does_not_raise_the_minimum(tmp_path: Path) -> None:
    weak = Sym("PyObject_GetOptionalAttr", binding=STB_WEAK)
    result, _ = verdict(tmp_path, "cp37-abi3", {"mod.abi3.so": extension("PyLong_FromLong", weak)})
    assert result is not None and result.compliant and result.computed == (3, 2)
    assert result.files[0].stable_symbols == 2


def test_linking_libpython_breaks_the_promise(tmp_path: Path) -> None:
    member = extension("PyLong_FromLong", needed=("libpython3.9.so.1.0", "libc.so.6"))
    result, _ = verdict(tmp_path, "cp39-abi3", {"mod.abi3.so": member})
    assert codes(result) == [(LINKS_LIBPYTHON, "mod.abi3.so", None)]
    assert result is not None and result.files[0].links_libpython
    assert "libpython3.9.so.1.0" in result.findings[0].detail


def test_an_abi3_so_in_a_version_specific_wheel_declares_no_version(tmp_path: Path) -> None:
    # a cp311-cp311 wheel installs on 3.11 only: its .abi3.so may use 3.11's stable ABI
    members = {"mod.abi3.so": extension("PyType_FromMetaclass", "_PyUnicode_Ready")}
    result, _ = verdict(tmp_path, "cp311-cp311", members)
    assert result is not None and result.declared is None and result.computed == (3, 12)
    assert codes(result) == [(SYMBOL, "mod.abi3.so", "_PyUnicode_Ready")]


def test_an_abi3t_extension_must_export_pymodexport(tmp_path: Path) -> None:
    members = {"mod.abi3t.so": extension("PyLong_FromLong", exports=("PyInit_mod",))}
    result, _ = verdict(tmp_path, "cp315-abi3t", members)
    assert result is not None and result.abis == ("abi3t",)
    assert codes(result) == [(ABI3T_MODULE_EXPORT, "mod.abi3t.so", "PyInit_mod")]
    # PEP 793's export hook, with or beside PyInit_: compliant
    members = {
        "mod.abi3t.so": extension("PyModule_Exec", exports=("PyInit_mod", "PyModExport_mod"))
    }
    result, _ = verdict(tmp_path, "cp315-abi3.abi3t", members)
    assert result is not None and result.abis == ("abi3", "abi3t")
    assert result.compliant and result.computed == (3, 15)
    assert result.files[0].module_exports == ("PyInit_mod", "PyModExport_mod")


def test_the_same_extension_tagged_abi3_only_needs_no_export_hook(tmp_path: Path) -> None:
    result, _ = verdict(
        tmp_path, "cp39-abi3", {"mod.abi3.so": extension("PyModuleDef_Init", "_Py_Dealloc")}
    )
    assert result is not None and result.compliant


@pytest.mark.parametrize(
    "symbol", ["_Py_Dealloc", "PyModuleDef_Init", "PyModule_Create2", "PyModule_FromDefAndSpec2"]
)
def test_an_abi3t_extension_may_not_use_what_abi3t_makes_opaque(
    tmp_path: Path, symbol: str
) -> None:
    members = {"mod.abi3t.so": extension(symbol, exports=("PyModExport_mod",))}
    result, _ = verdict(tmp_path, "cp315-abi3t", members)
    assert codes(result) == [(ABI3T_SYMBOL, "mod.abi3t.so", symbol)]


def test_abi3t_begins_with_python_3_15(tmp_path: Path) -> None:
    members = {"mod.abi3t.so": extension("PyLong_FromLong", exports=("PyModExport_mod",))}
    result, _ = verdict(tmp_path, "cp314-abi3t", members)
    # the tag itself, and the file's only module export (PEP 793's, imported from 3.15)
    assert codes(result) == [
        (OVER_CLAIM, f"mod-1.0-cp314-abi3t-{PLATFORM}.whl", None),
        (OVER_CLAIM, "mod.abi3t.so", "PyModExport_mod"),
    ]


def test_a_python_name_defined_is_a_notice_not_a_violation(tmp_path: Path) -> None:
    member = extension("PyLong_FromLong", Sym("_Py_private_table", defined=True, type=STT_OBJECT))
    result, _ = verdict(tmp_path, "cp39-abi3", {"mod.abi3.so": member})
    assert codes(result) == [(DEFINES_PYTHON_NAME, "mod.abi3.so", "_Py_private_table")]
    assert result is not None and result.compliant


def test_the_manylinux_verdict_is_judged_apart(tmp_path: Path) -> None:
    members = {"mod.abi3.so": extension("PyLong_FromLong", "_PyUnicode_Ready")}
    _, abi3_wheel = verdict(tmp_path, "cp39-abi3", members)
    _, plain_wheel = verdict(tmp_path, "cp39-cp39", members)
    assert "abi3" not in abi3_wheel.to_json()
    ignored = ("wheel", "declared")
    assert {k: v for k, v in abi3_wheel.to_json().items() if k not in ignored} == {
        k: v for k, v in plain_wheel.to_json().items() if k not in ignored
    }


def test_an_extension_exporting_only_pymodexport_needs_python_3_15(tmp_path: Path) -> None:
    # before 3.15 CPython imports an extension through PyInit_* only (PEP 793)
    members = {"mod.abi3.so": extension("PyLong_FromLong", exports=("PyModExport_mod",))}
    result, _ = verdict(tmp_path, "cp39-abi3", members)
    assert result is not None and result.computed == (3, 15)
    assert result.files[0].computed == (3, 15)
    assert codes(result) == [(OVER_CLAIM, "mod.abi3.so", "PyModExport_mod")]
    assert "PyModExport_mod is its only module export" in result.findings[0].detail
    # beside PyInit_*, an older Python imports it through that: no need of 3.15
    members = {
        "mod.abi3.so": extension("PyLong_FromLong", exports=("PyInit_mod", "PyModExport_mod"))
    }
    result, _ = verdict(tmp_path, "cp39-abi3", members)
    assert result is not None and result.compliant and result.computed == (3, 2)


@pytest.mark.parametrize(
    "symbol",
    [
        "PyOS_CheckStack",  # USE_STACKCHECK: Windows only
        Sym("_Py_RefTotal", type=STT_OBJECT),  # Py_REF_DEBUG: debug builds only
        "_Py_NegativeRefcount",  # Py_REF_DEBUG
        "PyErr_SetFromWindowsErr",  # MS_WINDOWS
    ],
)
def test_stable_abi_members_absent_from_a_linux_release_build_are_outside_it(
    tmp_path: Path, symbol: str | Sym
) -> None:
    result, _ = verdict(tmp_path, "cp39-abi3", {"mod.abi3.so": extension(symbol)})
    name = symbol if isinstance(symbol, str) else symbol.name
    assert codes(result) == [(SYMBOL, "mod.abi3.so", name)]


def test_stable_abi_members_of_linux_feature_macros_stay_in_it(tmp_path: Path) -> None:
    # HAVE_FORK and PY_HAVE_THREAD_NATIVE_ID are defined on Linux
    members = {"mod.abi3.so": extension("PyOS_AfterFork_Child", "PyThread_get_thread_native_id")}
    result, _ = verdict(tmp_path, "cp37-abi3", members)
    assert result is not None and result.compliant and result.computed == (3, 7)


def test_the_libpython_named_is_the_one_matched(tmp_path: Path) -> None:
    member = extension(
        "PyLong_FromLong", needed=("libc.so.6", "libpythonista.so", "libpython3.12.so.1.0")
    )
    result, _ = verdict(tmp_path, "cp39-abi3", {"mod.abi3.so": member})
    assert codes(result) == [(LINKS_LIBPYTHON, "mod.abi3.so", None)]
    assert result is not None
    assert "DT_NEEDED libpython3.12.so.1.0:" in result.findings[0].detail


def test_abi3t_opaque_uses_are_pep_803s_list_and_no_more(tmp_path: Path) -> None:
    # PEP 803 lists the functions "practically unusable in abi3t"; PyState_* and
    # PyModule_GetDef are not among them (policy/abi3.py says why, from PEP 803 and 793)
    from wheelscan.policy.abi3 import ABI3T_OPAQUE_USES

    assert set(ABI3T_OPAQUE_USES) == {
        "_Py_Dealloc",
        "PyModuleDef_Init",
        "PyModule_Create2",
        "PyModule_FromDefAndSpec2",
    }
    imports = ("PyState_FindModule", "PyState_AddModule", "PyState_RemoveModule")
    members = {"mod.abi3t.so": extension(*imports, "PyModule_GetDef", exports=("PyModExport_mod",))}
    result, _ = verdict(tmp_path, "cp315-abi3t", members)
    assert result is not None and result.compliant and codes(result) == []
