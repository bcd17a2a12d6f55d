"""The facts the abi3 audit reads (issue #17), from both backends alike.

Each extension's undefined and defined ``Py*``/``_Py*`` dynamic symbols with their binding,
whether it links a libpython, and its module-init exports (``PyInit_*``, PEP 793's
``PyModExport_*``); stored in the facts' format 4, which older stored facts are not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wheelscan._native import parse_elf as native
from wheelscan.elf.facts import DefinedSymbol, ElfError, ElfFacts, SymbolBinding, SymbolType
from wheelscan.elf.reference import parse_elf as reference
from wheelscan.model import ElfMember, WheelFacts
from wheelscan.wheel.codec import (
    FACTS_VERSION,
    definitions_known,
    facts_from_json,
    facts_to_json,
)

from elfwriter import (
    MACHINES,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    Sym,
    build_elf,
    sample_spec,
)


def python_spec(machine: str = "x86_64", **overrides: object) -> bytes:
    symbols = [
        Sym("PyLong_FromLong"),
        Sym("PyType_FromModuleAndSpec", binding=STB_WEAK),
        Sym("_PyObject_GC_New"),
        Sym("strlen"),
        Sym("PyInit_mod", defined=True),
        Sym("PyModExport_mod", defined=True),
        Sym("_Py_helper_table", defined=True, type=STT_OBJECT),
        Sym("Py_local_helper", defined=True, binding=STB_LOCAL),
        Sym("PyWeakDefinition", defined=True, binding=STB_WEAK, type=STT_FUNC),
        Sym("not_python", defined=True),
        Sym("Pz_almost", defined=True, binding=STB_GLOBAL),
    ]
    spec = sample_spec(
        machine, symbols=symbols, needed=["libpython3.12.so.1.0", "libc.so.6"], **overrides
    )
    return build_elf(spec)


@pytest.mark.parametrize("hash_style", ["sysv", "gnu"])
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_both_backends_keep_the_python_symbols_alike(machine: str, hash_style: str) -> None:
    data = python_spec(machine, hash_style=hash_style)
    ours, theirs = native(data), reference(data)
    assert ours == theirs
    assert sorted(ours.python_definitions) == sorted(
        [
            DefinedSymbol("PyInit_mod", SymbolBinding.GLOBAL, SymbolType.FUNC),
            DefinedSymbol("PyModExport_mod", SymbolBinding.GLOBAL, SymbolType.FUNC),
            DefinedSymbol("_Py_helper_table", SymbolBinding.GLOBAL, SymbolType.OBJECT),
            DefinedSymbol("Py_local_helper", SymbolBinding.LOCAL, SymbolType.FUNC),
            DefinedSymbol("PyWeakDefinition", SymbolBinding.WEAK, SymbolType.FUNC),
        ]
    )
    # the local one is no export; PyInit_ is still an init function, as before
    assert sorted(ours.module_exports) == ["PyInit_mod", "PyModExport_mod"]
    assert ours.init_functions == ("PyInit_mod",)
    bindings = {s.name: s.binding for s in ours.undefined_symbols}
    assert bindings["PyType_FromModuleAndSpec"] == SymbolBinding.WEAK
    assert bindings["PyLong_FromLong"] == SymbolBinding.GLOBAL
    assert ours.links_libpython


@pytest.mark.parametrize(
    ("needed", "links"),
    [
        (["libpython3.12.so.1.0"], True),
        (["libpython3.15t.so.1.0"], True),
        (["libpython3.9.so"], True),
        (["libpython3.so"], False),  # the stable ABI's own library names no version
        (["libpythonista.so"], False),
        (["libc.so.6"], False),
    ],
)
def test_links_libpython(needed: list[str], links: bool) -> None:
    facts = native(build_elf(sample_spec(needed=needed)))
    assert facts.links_libpython is links


def test_the_stored_format_keeps_them() -> None:
    facts = native(python_spec())
    wheel = WheelFacts("mod-1-cp39-abi3-linux_x86_64.whl", (ElfMember("mod.abi3.so", facts, True),))
    data = facts_to_json(wheel)
    assert data["version"] == FACTS_VERSION == 4
    back = facts_from_json(data)
    assert back.elf_files[0].facts == facts
    assert back.elf_files[0].facts.python_definitions == facts.python_definitions


def test_format_3_facts_are_decoded_without_definitions_and_say_so() -> None:
    # version-3 facts have no python_definitions: decoded with none (the manylinux verdict
    # reads nothing they lack), and definitions_known says the abi3 audit cannot trust that
    elf = build_elf(sample_spec(symbols=[Sym("PyInit_x", defined=True)]))
    facts = native(elf)
    assert isinstance(facts, ElfFacts)
    member = ElfMember("x.abi3.so", facts, True, len(elf))
    data = facts_to_json(WheelFacts("x-1-cp39-abi3-any.whl", (member,)))
    assert definitions_known(data)
    data["version"] = 3
    for stored in data["elf_files"]:
        del stored["pydef"]
    decoded = facts_from_json(data)
    assert not definitions_known(data)
    assert decoded.elf_files[0].facts.python_definitions == ()
    # a format older than 3, or newer than this wheelscan's, is refused, not misread
    for version in (2, FACTS_VERSION + 1):
        data["version"] = version
        with pytest.raises(ValueError, match=f"version {version}"):
            facts_from_json(data)


def test_facts_without_python_symbols_keep_none() -> None:
    facts = native(build_elf(sample_spec(symbols=[Sym("strlen")])))
    assert isinstance(facts, ElfFacts)
    assert facts.python_definitions == () and facts.module_exports == ()


def many_python_definitions(count: int) -> bytes:
    """``count`` defined GLOBAL symbols, all named by one ``Py…`` string: each would be a
    record of its own, so they are bounded as the undefined symbols are (2**18 a file)."""
    from hostile import elves

    image = elves._image(needed=[], runpath=None, soname=None)
    elves._symbol_table(image, b"Py" + b"A" * 4093 + b"\0", [0] * count, undefined=False)
    return bytes(image.data)


PER_FILE = 1 << 18


def test_python_definitions_are_bounded_per_file() -> None:
    assert len(native(many_python_definitions(PER_FILE)).python_definitions) == PER_FILE
    with pytest.raises(ElfError) as raised:
        native(many_python_definitions(PER_FILE + 1))
    assert raised.value.code == "too-large"


@pytest.mark.slow
def test_the_reference_bounds_python_definitions_alike() -> None:
    with pytest.raises(ElfError) as raised:
        reference(many_python_definitions(PER_FILE + 1))  # pyelftools: 20 s
    assert raised.value.code == "too-large"


def past_the_bound_then_a_bad_name(undefined: bool) -> bytes:
    """2**18 + 1 ``Py…`` symbols (defined or undefined), then one whose st_name lies past
    DT_STRSZ. A bad name comes before the size bounds in facts.py's list of rules, and the
    first rule broken decides the error: ``bad-table``, however many symbols came first."""
    from hostile import elves

    strtab = b"Py" + b"A" * 4093 + b"\0"
    image = elves._image(needed=[], runpath=None, soname=None)
    names = [0] * (PER_FILE + 1) + [len(strtab) + 1]
    elves._symbol_table(image, strtab, names, undefined=undefined)
    return bytes(image.data)


def error_code(parse: Callable[[bytes], ElfFacts], data: bytes) -> str:
    with pytest.raises(ElfError) as raised:
        parse(data)
    return str(raised.value.code)


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_a_bad_name_past_the_bound_is_bad_table(undefined: bool) -> None:
    # the native core used to stop at the 2**18+1st symbol with too-large
    assert error_code(native, past_the_bound_then_a_bad_name(undefined)) == "bad-table"


@pytest.mark.slow
@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
def test_both_backends_say_alike_which_rule_a_file_breaks_first(undefined: bool) -> None:
    data = past_the_bound_then_a_bad_name(undefined)
    assert error_code(native, data) == error_code(reference, data) == "bad-table"  # 8 s


def test_python_definitions_count_toward_the_wheel_bound(tmp_path: Path) -> None:
    """Five files of 2**18 definitions each: within each file's bound, past the wheel's."""
    from wheelscan.engine.worker import audit
    from wheelscan.policy.verdict import AuditError
    from wheelscan.wheel.contents import MAX_WHEEL_UNDEFINED

    from wheelbuilder import build_wheel

    elf = many_python_definitions(PER_FILE)
    files = {f"demo/m{i}.abi3.so": elf for i in range(MAX_WHEEL_UNDEFINED // PER_FILE + 1)}
    path = tmp_path / "demo-1.0-cp39-abi3-manylinux_2_28_x86_64.whl"
    path.write_bytes(build_wheel(files))
    result = audit(path, path.name)
    assert isinstance(result, AuditError) and result.code == "too-large", result
