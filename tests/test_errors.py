"""One error model (wheelscan/errors.py): every code listed once and documented, every error
wheelscan means a WheelscanError, and the spellings stored and printed what they were."""

from __future__ import annotations

import ast
import json
import pickle
import re
import sqlite3
from enum import Enum, IntEnum, StrEnum
from pathlib import Path

import orjson
import pytest

from wheelscan.errors import (
    ELF_ERROR_CODES,
    CommandError,
    CommandErrorCode,
    ElfErrorCode,
    ErrorCode,
    InflateError,
    WheelscanError,
)
from wheelscan.policy.verdict import BlockerKind, Criterion

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "wheelscan"
ENUMS: dict[str, type[StrEnum]] = {
    "ErrorCode": ErrorCode,
    "ElfErrorCode": ElfErrorCode,
    "CommandErrorCode": CommandErrorCode,
    "BlockerKind": BlockerKind,
    "Criterion": Criterion,
}


def documented(section: str) -> list[str]:
    """The codes of docs/codes.md's table under ``## section``, in order."""
    text = (ROOT / "docs" / "codes.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", body, re.MULTILINE)


@pytest.mark.parametrize("name", ENUMS)
def test_each_code_is_listed_once_and_documented_once(name: str) -> None:
    values = [member.value for member in ENUMS[name]]
    assert len(values) == len(set(values))
    assert documented(name) == values


def test_the_readme_names_only_listed_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| code | what the wheel holds |", 1)[1].split("\n\n", 1)[0]
    named = {
        code
        for row in table.splitlines()[2:]
        for code in re.findall(r"`([^`]+)`", row.split("|")[1])
    }
    assert named and named <= set(ErrorCode)


def test_an_elf_error_is_its_wheels_error_under_elf() -> None:
    assert set(ELF_ERROR_CODES) == set(ElfErrorCode)
    assert {str(k): str(v) for k, v in ELF_ERROR_CODES.items()} == {
        code: f"elf-{code}" for code in ElfErrorCode
    }


# The constructors a code is the first argument of, and the enum it must be in; an
# AuditError's is its second (the first names the wheel)
_RAISERS = {
    "WheelError": ErrorCode,
    "StrictError": ErrorCode,
    "ChecksumMismatch": ErrorCode,
    "StreamError": ErrorCode,
    "InflateError": ErrorCode,
    "EvaluationError": ErrorCode,
    "LibcConflict": ErrorCode,
    "AndroidTagError": ErrorCode,
    "error_type": ErrorCode,  # native/_zipdir.pyx's WheelError
    "ElfError": ElfErrorCode,
    "StoreError": CommandErrorCode,
}


def _literal_codes() -> list[tuple[str, str, type[StrEnum]]]:
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            index = 1 if name in ("AuditError", "_failed") else 0
            enum = ErrorCode if index else _RAISERS.get(str(name))
            if enum is None or len(node.args) <= index:
                continue
            argument = node.args[index]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.append((f"{path.name}:{node.lineno}", argument.value, enum))
    for path in (ROOT / "native").glob("*.pyx"):
        for match in re.finditer(r"\b(\w+)\(\s*\"([a-z0-9-]+)\"", path.read_text()):
            if match[1] in _RAISERS:
                found.append((path.name, match[2], _RAISERS[match[1]]))
    return found


def test_every_code_raised_is_listed() -> None:
    found = _literal_codes()
    assert len(found) > 100  # the scan sees the raise sites
    unlisted = [(where, code) for where, code, enum in found if code not in set(enum)]
    assert not unlisted


def test_an_unlisted_code_is_refused_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="ErrorCode"):
        InflateError("bad-deflation", "a typo")


def _error_classes() -> list[tuple[str, str]]:
    """Every class of wheelscan's source whose bases name an exception."""
    classes = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                re.search(r"Error|Exception|Conflict|Mismatch", ast.unparse(b)) for b in node.bases
            ):
                classes.append((path.relative_to(SRC).as_posix(), node.name))
    return classes


# Not errors of wheelscan's making: a request for bytes, a private signal, a transport failure
# (an OSError, which its callers make a WheelError or a SourceError)
_NOT_WHEELSCAN_ERRORS = {
    ("elf/facts.py", "NeedBytes"),
    ("fast_json.py", "_LeftToJson"),  # a value left to json.dumps, which says what is wrong
    ("wheel/contents.py", "_TooManyPasses"),
    ("wheel/httpclient.py", "HttpError"),
    ("wheel/httpclient.py", "BodyOverLimit"),  # an HttpError: a body refused, unread
}


def test_every_error_wheelscan_means_is_a_wheelscan_error() -> None:
    import importlib

    classes = _error_classes()
    assert len(classes) > 15
    for module, name in classes:
        if (module, name) in _NOT_WHEELSCAN_ERRORS:
            continue
        dotted = "wheelscan." + module.removesuffix(".py").replace("/", ".")
        if dotted.endswith(".__init__"):
            dotted = dotted.removesuffix(".__init__")
        if dotted == "wheelscan.engine.dask_executor":
            pytest.importorskip("distributed")
        cls = getattr(importlib.import_module(dotted), name)
        assert issubclass(cls, WheelscanError), (module, name)


def test_errors_print_and_travel_as_before() -> None:
    from wheelscan.elf import BackendError, ElfError
    from wheelscan.policy.wheeltags import InvalidWheelFilename
    from wheelscan.store.errors import StoreError
    from wheelscan.wheel.archive import WheelError
    from wheelscan.wheel.byteranges import MultipartError

    cases: list[tuple[WheelscanError, str]] = [
        (WheelError("bad-zip", "cut short", "a/b.so"), "bad-zip: cut short (a/b.so)"),
        (WheelError("not-zip", "empty file"), "not-zip: empty file"),
        (ElfError("bad-table", "no DT_NULL"), "bad-table: no DT_NULL"),
        (InflateError("size-mismatch", "inflates to 3"), "size-mismatch: inflates to 3"),
        (StoreError("locked", "x.db: busy", "wait"), "x.db: busy (hint: wait)"),
        (MultipartError("a part twice"), "download-failed: a part twice"),
        (InvalidWheelFilename("bad-filename", "no .whl"), "bad-filename: no .whl"),
        (BackendError("WHEELSCAN_ELF_BACKEND='x'"), "WHEELSCAN_ELF_BACKEND='x'"),
    ]
    for error, line in cases:
        assert str(error) == line
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == line
        assert (again.code, again.reason, again.member) == (error.code, error.reason, error.member)
    assert isinstance(cases[-1][0], CommandError) and isinstance(cases[-1][0], RuntimeError)


def test_stored_and_json_spellings_are_the_strings() -> None:
    from wheelscan.engine.worker import audit_error
    from wheelscan.wheel.archive import WheelError

    record = audit_error("x-1-py3-none-any.whl", WheelError("crc-mismatch", "differs", "m.so"))
    assert record.code == "crc-mismatch"
    plain = {
        "wheel": "x-1-py3-none-any.whl",
        "code": "crc-mismatch",
        "reason": "differs",
        "member": "m.so",
    }
    assert json.dumps(record.to_json()) == json.dumps(plain)
    assert orjson.dumps(record.to_json()) == orjson.dumps(plain)
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (code TEXT)")
    connection.execute("INSERT INTO t VALUES (?)", (record.code,))
    assert connection.execute("SELECT code, typeof(code) FROM t").fetchone() == (
        "crc-mismatch",
        "text",
    )


def test_the_native_parser_asks_for_bytes_with_the_elf_modules_need_bytes() -> None:
    from wheelscan.elf import NeedBytes, partial_parser

    from elfwriter import build_elf, sample_spec

    parse = partial_parser()
    assert parse is not None
    data = build_elf(sample_spec())
    with pytest.raises(NeedBytes) as asked:
        parse(bytearray(len(data)), [(0, 0)])
    assert (asked.value.start, asked.value.end) == (0, 64)
    assert pickle.loads(pickle.dumps(asked.value)).end == 64


def test_a_verdict_speaks_in_criteria_and_blocker_kinds_spelled_as_stored() -> None:
    from wheelscan.engine.worker import audit
    from wheelscan.policy.verdict import Verdict

    from elfwriter import build_elf, sample_spec
    from wheelbuilder import build_wheel

    library = build_elf(sample_spec(interpreter=None, needed=["libfoo.so.1", "libc.so.6"]))
    verdict = audit(
        build_wheel({"mod.cpython-312-x86_64-linux-gnu.so": library}),
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
    )
    assert isinstance(verdict, Verdict)
    assert list(verdict.criteria) == list(Criterion)
    assert all(type(key) is str for key in verdict.criteria)  # orjson takes no other keys
    kinds = {b.kind for check in verdict.upgrades for b in check.blockers}
    assert kinds == {BlockerKind.EXTERNAL_LIBRARY, BlockerKind.SYMBOL_VERSION}
    stored = orjson.loads(verdict.to_json_bytes())
    assert stored == json.loads(json.dumps(verdict.to_json()))
    assert {b["kind"] for u in stored["upgrades"] for b in u["blockers"]} == {
        "external-library",
        "symbol-version",
    }
    assert list(stored["criteria"]) == [str(c) for c in Criterion]


def test_the_transient_codes_are_listed_and_documented_as_such() -> None:
    from wheelscan.store.store import TRANSIENT_ERRORS

    text = (ROOT / "docs" / "codes.md").read_text()
    marked = set(re.findall(r"^\| `([^`]+)` \| \*transient\*", text, re.MULTILINE))
    assert set(TRANSIENT_ERRORS) == marked
    assert marked <= set(ErrorCode)


def _fast_enums() -> list[type[Enum]]:
    from wheelscan.elf.facts import ElfClass, Endianness, Machine, SymbolBinding, SymbolType
    from wheelscan.policy.policies import Architecture, Libc
    from wheelscan.wheel.ends import Outcome, Route

    codes: list[type[Enum]] = [ErrorCode, ElfErrorCode, CommandErrorCode, Criterion, BlockerKind]
    facts: list[type[Enum]] = [ElfClass, Endianness, Machine, SymbolBinding, SymbolType]
    return [*codes, *facts, Libc, Architecture, Route, Outcome]


@pytest.mark.parametrize("made", _fast_enums(), ids=lambda e: e.__name__)
def test_the_fast_enums_are_the_enums_a_class_statement_makes(made: type[Enum]) -> None:
    # made by enum's fast path (fast_enum.py: 6M instructions of a show's start-up, issue #15)
    kind = made.__mro__[1]
    assert kind in (Enum, IntEnum, StrEnum)
    twin = kind(made.__name__, {m.name: m.value for m in made})  # type: ignore[call-overload]
    assert type(made) is type(twin)
    assert [(m.name, m.value) for m in made] == [(m.name, m.value) for m in twin]
    for member, other in zip(made, twin, strict=True):
        assert (str(member), f"{member}", repr(member)) == (str(other), f"{other}", repr(other))
        assert made(member.value) is member and made[member.name] is member
        assert pickle.loads(pickle.dumps(member)) is member
        assert (member == member.value) is (other == other.value)
        assert hash(member) == hash(other)
    with pytest.raises(ValueError, match="is not a valid"):
        made("no-such-value")


def test_a_fast_int_enum_still_makes_its_pseudo_members() -> None:
    from wheelscan.elf.facts import Machine, SymbolBinding

    assert (Machine(999).name, Machine(999).value, Machine(999) == 999) == (
        "UNKNOWN_999",
        999,
        True,
    )
    assert SymbolBinding(12).name == "BIND_12"
    with pytest.raises(ValueError):
        Machine(-1)
