"""The abi3 and abi3t audit: does a wheel keep its stable-ABI promise? (issue #17)

A wheel tagged ``cpXY-abi3`` (or ``cpXY-abi3t``, PEP 803), or holding ``*.abi3.so`` /
``*.abi3t.so`` files, promises that its extensions use only the stable ABI as it was in
Python X.Y. Judged from stored facts alone, beside the manylinux verdict and independent of
it: the stable-ABI data comes from the ``abi3info`` package (generated from CPython's
``Misc/stable_abi.toml``); its version is part of the policy digest, so a new abi3info is
a ``wheelscan reevaluate``, not a re-read.

The rules, and where they differ from abi3audit (docs/abi3.md says why):

- Every ELF member is examined (abi3audit: every ``*.so``); a file's ``Py*``/``_Py*``
  dynamic imports (GLOBAL or WEAK; the loader's view, no ``.symtab``) are looked up in
  abi3info, less its Windows-only members (``MS_WINDOWS``). In it: the version it was added
  raises the computed minimum, except for a WEAK import, which the loader leaves NULL on an
  older Python (a deliberate, checked fallback); not in it: ``abi3-symbol``.
- Declared: the lowest ``cpXY`` of the file name's abi3/abi3t tags (abi3audit: the highest).
  A declared version below the computed minimum is ``abi3-over-claim``, naming each symbol
  that needs more. ``*.abi3.so`` in a wheel without such a tag declares no version.
- A version-specific ``libpythonX.Y`` in DT_NEEDED is ``abi3-links-libpython``.
- abi3t (PEP 803): the ``PyObject`` and ``PyModuleDef`` structures are opaque (abi3info's
  ``abi3t_opaque``), so an extension must export PEP 793's ``PyModExport_*``
  (``abi3t-module-export``), must not import what only a laid-out ``PyObject`` or
  ``PyModuleDef`` can use (``abi3t-symbol``), and cannot claim a Python before 3.15.
- An extension that exports ``PyModExport_*`` but no ``PyInit_*`` imports only on Python
  3.15 or later (PEP 793): that raises its computed minimum to 3.15.
- Exported definitions with ``Py*`` names other than the module-init exports are notices
  (``abi3-defines-python-name``), not violations (abi3audit: violations).
- Bounded: per file and finding code the first ``MAX_FINDINGS`` findings are kept and the
  rest counted (``omitted``), so a file of a million symbols outside the stable ABI makes
  a verdict of a few kilobytes, in the store, ``show`` and every report.
- Facts stored before the module exports were read (format 3) judge the imports alone:
  such a verdict is ``unknown`` (``compliant`` None) unless the imports already break the
  promise; the next ``audit`` reads the wheel again.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from wheelscan.elf.facts import PYTHON_SYMBOL_PREFIXES, ElfFacts, SymbolBinding
from wheelscan.fast_tuple import TupleBody, fast_tuple
from wheelscan.model import WheelFacts
from wheelscan.policy.abi3_promise import (
    ABIS,
    STABLE_ABI_START,
    Version,
    declared_abis,
    promised_abis,
)
from wheelscan.records import record

# The version of these rules and of the JSON below; stored with each abi3 verdict
# 2: "omitted" (findings counted, not kept) and "unknown"; "compliant" may be null
ABI3_JSON_VERSION = 2
ABI3T_START: Version = (3, 15)  # PEP 803
# PEP 793: "Python will load a new module export hook" PyModExport_*, from 3.15; an older
# Python looks for PyInit_* only, so a file without one cannot be imported there
EXPORT_HOOK_START: Version = (3, 15)
# findings kept per file and code; the rest are counted (a verdict's size is bounded)
MAX_FINDINGS = 20
# why a verdict on facts of format 3 (no module exports, no other Py* definitions) is unknown
UNKNOWN_DEFINITIONS = (
    "facts stored before wheelscan read module exports: not known until `wheelscan audit` "
    "reads the wheel again"
)

# Stable finding codes: printed, stored and documented (docs/abi3.md)
SYMBOL = "abi3-symbol"
OVER_CLAIM = "abi3-over-claim"
LINKS_LIBPYTHON = "abi3-links-libpython"
ABI3T_MODULE_EXPORT = "abi3t-module-export"
ABI3T_SYMBOL = "abi3t-symbol"
DEFINES_PYTHON_NAME = "abi3-defines-python-name"
NOTICES = frozenset({DEFINES_PYTHON_NAME})  # reported; the promise still holds
FINDING_CODES = (
    SYMBOL,
    OVER_CLAIM,
    LINKS_LIBPYTHON,
    ABI3T_MODULE_EXPORT,
    ABI3T_SYMBOL,
    DEFINES_PYTHON_NAME,
)

# Imports that show an extension lays out a structure abi3t makes opaque. abi3info marks
# structures (PyModuleDef and PyModuleDef_Base ``abi3t_opaque``, PyObject partial, so opaque
# in abi3t) but no function's abi3t membership, so this list is by hand, each entry from a
# sentence of PEP 803 ("abi3t", section "Opaque PyObject"):
ABI3T_OPAQUE_USES = {
    # "Making the PyObject, PyVarObject and PyModuleDef structures opaque means: Their
    # fields may not be directly accessed." The inline Py_DECREF of the limited API before
    # 3.12 decrements ob_refcnt itself and calls this at zero
    "_Py_Dealloc": "PyObject",
    # "The following functions will become practically unusable in abi3t, since an
    # extension cannot create valid, statically allocated, input for them. [...]
    # PyModuleDef_Init; PyModule_Create, PyModule_Create2; PyModule_FromDefAndSpec,
    # PyModule_FromDefAndSpec2" (PyModule_Create and PyModule_FromDefAndSpec are macros
    # over the *2 functions: no symbol of their own)
    "PyModuleDef_Init": "PyModuleDef",
    "PyModule_Create2": "PyModuleDef",
    "PyModule_FromDefAndSpec2": "PyModuleDef",
}
# Not listed, deliberately: PyState_FindModule, PyState_AddModule, PyState_RemoveModule and
# PyModule_GetDef. PEP 803's list above is explicit and names none of them; they take or
# return a PyModuleDef *pointer*, which an abi3t extension may still hold (only "Variables
# of these types cannot be created"), and PEP 793 keeps PyModule_GetDef working for a
# ported module: it "will start returning NULL for it. (This matches PyModule_GetDef's
# current documentation.)" A finding for them would break no sentence of either PEP.


def stable_abi_added(name: str) -> Version | None:
    """When ``name`` entered the stable ABI (a function or data), None if it is not in it."""
    return _stable_abi().get(name)


def abi3info_version() -> str:
    """The installed abi3info's version: part of the policy digest (store.codec)."""
    # imported here: importlib.metadata (and the email package it pulls in) was a fifth of
    # `wheelscan show`'s start-up, which never needs the digest
    from importlib import metadata

    return metadata.version("abi3info")


@record(slots=True)
class Abi3Finding:
    code: str  # one of FINDING_CODES
    file: str  # the ELF member
    symbol: str | None  # the symbol it concerns, if one
    detail: str

    @property
    def is_violation(self) -> bool:
        return self.code not in NOTICES

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "file": self.file, "symbol": self.symbol, "detail": self.detail}


@record(slots=True)
class Abi3Omitted:
    """Findings of one file and code past the first ``MAX_FINDINGS``: counted, not kept."""

    file: str
    code: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "code": self.code, "count": self.count}


@record(slots=True)
class Abi3File:
    """One examined ELF member: the minimum its imports need, and its module exports."""

    file: str
    computed: Version
    module_exports: tuple[str, ...]
    stable_symbols: int  # Py*/_Py* imports found in the stable ABI
    links_libpython: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "computed": _dotted(self.computed),
            "module_exports": list(self.module_exports),
            "stable_symbols": self.stable_symbols,
            "links_libpython": self.links_libpython,
        }


@record(slots=True)
class Abi3Verdict:
    wheel: str
    abis: tuple[str, ...]  # the stable ABIs promised: ("abi3",), ("abi3t",) or both
    declared: Version | None  # the lowest cpXY of the abi3/abi3t tags; None: no such tag
    computed: Version  # the lowest Python whose stable ABI has every (strong) import
    files: tuple[Abi3File, ...]
    findings: tuple[Abi3Finding, ...]  # at most MAX_FINDINGS per file and code
    omitted: tuple[Abi3Omitted, ...] = ()  # the rest, counted per file and code
    unknown: str | None = None  # why the verdict cannot be known from these facts

    @property
    def violating(self) -> bool:
        """Some finding breaks the promise (known even from facts of an older format)."""
        return any(f.is_violation for f in self.findings)

    @property
    def compliant(self) -> bool | None:
        """True: the promise holds; False: it is broken; None: not known from these facts
        (``unknown`` says why). Test with ``is False`` for a gate."""
        if self.violating:
            return False
        return None if self.unknown is not None else True

    @property
    def over_claim(self) -> bool:
        return any(f.code == OVER_CLAIM for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": ABI3_JSON_VERSION,
            "wheel": self.wheel,
            "abis": list(self.abis),
            "declared": None if self.declared is None else _dotted(self.declared),
            "computed": _dotted(self.computed),
            "compliant": self.compliant,
            "over_claim": self.over_claim,
            "files": [f.to_json() for f in self.files],
            "findings": [f.to_json() for f in self.findings],
            "omitted": [o.to_json() for o in self.omitted],
            "unknown": self.unknown,
        }


@fast_tuple
class _Need(TupleBody):
    """A strong import (or a module export) that needs Python ``version`` or later."""

    version: Version
    file: str
    symbol: str
    why: str  # the end of an over-claim's detail


class _Findings:
    """Findings in order, each once, at most ``MAX_FINDINGS`` per file and code; the rest
    counted. The files' symbols are each examined once, so a finding past the limit is
    never a repeat of one kept."""

    def __init__(self) -> None:
        self.kept: dict[Abi3Finding, None] = {}
        self.per_key: Counter[tuple[str, str]] = Counter()
        self.omitted: Counter[tuple[str, str]] = Counter()

    def add(self, finding: Abi3Finding) -> None:
        key = (finding.file, finding.code)
        if finding in self.kept:
            return
        if self.per_key[key] < MAX_FINDINGS:
            self.per_key[key] += 1
            self.kept[finding] = None
        else:
            self.omitted[key] += 1

    def result(self) -> tuple[tuple[Abi3Finding, ...], tuple[Abi3Omitted, ...]]:
        omitted = tuple(Abi3Omitted(f, c, n) for (f, c), n in self.omitted.items())
        return tuple(self.kept), omitted


def evaluate_abi3(facts: WheelFacts, definitions_known: bool = True) -> Abi3Verdict | None:
    """The abi3 verdict on a wheel, or None when it makes no stable-ABI promise.

    ``definitions_known`` False: the facts were stored before the defined ``Py*`` symbols
    were read (format 3, wheel/codec.py), so the module exports are not known: the verdict
    is judged from the imports and says it is ``unknown`` unless they already break it."""
    declared_by_abi = declared_abis(facts.filename)
    abis = promised_abis(facts, declared_by_abi)
    if not abis:
        return None
    files: list[Abi3File] = []
    findings = _Findings()
    needs: list[_Need] = []  # of strong imports and module exports
    for member in facts.elf_files:
        files.append(_examine(member.path, member.facts, "abi3t" in abis, needs, findings))
    computed = max([STABLE_ABI_START, *(need.version for need in needs)])
    declared = min(declared_by_abi.values()) if declared_by_abi else None
    for abi, version in sorted(declared_by_abi.items()):
        floor = ABI3T_START if abi == "abi3t" else STABLE_ABI_START
        if version < floor:
            findings.add(
                Abi3Finding(
                    OVER_CLAIM,
                    facts.filename,
                    None,
                    f"tagged cp{version[0]}{version[1]}-{abi}, but {abi} begins with Python "
                    f"{_dotted(floor)}",
                )
            )
        for need in needs:
            if need.version > version:
                findings.add(
                    Abi3Finding(
                        OVER_CLAIM,
                        need.file,
                        need.symbol,
                        f"{need.why} Python {_dotted(need.version)}, after the declared "
                        f"cp{version[0]}{version[1]}-{abi}",
                    )
                )
    kept, omitted = findings.result()
    return Abi3Verdict(
        facts.filename,
        tuple(a for a in ABIS if a in abis),
        declared,
        computed,
        tuple(files),
        kept,
        omitted,
        None if definitions_known else UNKNOWN_DEFINITIONS,
    )


def _examine(
    path: str, facts: ElfFacts, abi3t: bool, all_needs: list[_Need], findings: _Findings
) -> Abi3File:
    """Judge one ELF member: its findings to ``findings``, its needs to ``all_needs``."""
    needs: list[_Need] = []
    stable = 0
    seen: set[str] = set()  # a name the table repeats is judged once
    for symbol in facts.undefined_symbols:
        if (
            not symbol.name.startswith(PYTHON_SYMBOL_PREFIXES)
            or symbol.binding not in (SymbolBinding.GLOBAL, SymbolBinding.WEAK)
            or symbol.name in seen
        ):
            continue
        seen.add(symbol.name)
        added = stable_abi_added(symbol.name)
        if added is None:
            findings.add(
                Abi3Finding(SYMBOL, path, symbol.name, "imported, and not in the stable ABI")
            )
            continue
        stable += 1
        if symbol.binding == SymbolBinding.GLOBAL:
            needs.append(
                _Need(added, path, symbol.name, f"{symbol.name} entered the stable ABI in")
            )
        if abi3t and symbol.name in ABI3T_OPAQUE_USES:
            structure = ABI3T_OPAQUE_USES[symbol.name]
            findings.add(
                Abi3Finding(
                    ABI3T_SYMBOL,
                    path,
                    symbol.name,
                    f"imported: it needs the layout of {structure}, which abi3t makes opaque",
                )
            )
    exports = facts.module_exports
    if exports and not any(name.startswith("PyInit_") for name in exports):
        needs.append(
            _Need(
                EXPORT_HOOK_START,
                path,
                exports[0],
                f"{exports[0]} is its only module export (no PyInit_*): PEP 793's export hook, "
                "imported from",
            )
        )
    if abi3t and exports and not any(name.startswith("PyModExport_") for name in exports):
        findings.add(
            Abi3Finding(
                ABI3T_MODULE_EXPORT,
                path,
                exports[0],
                "an extension for abi3t must export PyModExport_* (PEP 793): abi3t makes "
                "PyModuleDef opaque, so PyInit_* cannot return one",
            )
        )
    defined_seen: set[str] = set()
    for defined in facts.python_definitions:
        if (
            defined.binding != SymbolBinding.LOCAL
            and defined.name not in exports
            and defined.name not in defined_seen
        ):
            defined_seen.add(defined.name)
            findings.add(
                Abi3Finding(
                    DEFINES_PYTHON_NAME,
                    path,
                    defined.name,
                    "exports a name of the Python C API's namespace",
                )
            )
    library = facts.linked_libpython
    if library is not None:
        findings.add(
            Abi3Finding(
                LINKS_LIBPYTHON,
                path,
                None,
                f"DT_NEEDED {library}: it loads only into that one Python",
            )
        )
    all_needs.extend(needs)
    computed = max([STABLE_ABI_START, *(need.version for need in needs)])
    return Abi3File(path, computed, exports, stable, library is not None)


def _dotted(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


@functools.cache
def _stable_abi() -> dict[str, Version]:
    """Every function and data symbol of the stable ABI, by name: when it was added.

    abi3info's own tables, imported on first use (a quarter of a megabyte of source) and
    re-keyed by name: its Symbol keys compare by name only."""
    from abi3info import DATAS, FUNCTIONS

    return {
        symbol.name: (item.added.major, item.added.minor)
        for symbol, item in (*DATAS.items(), *FUNCTIONS.items())
        if item.ifdef is None or item.ifdef.name not in _NOT_IN_A_LINUX_RELEASE_BUILD
    }


# abi3info's feature macros (``ifdef``) whose members an ELF file's import is never resolved
# against by a release build of CPython on Linux, so they are no members of its stable ABI:
_NOT_IN_A_LINUX_RELEASE_BUILD = frozenset(
    {
        "MS_WINDOWS",  # Windows only: PyErr_SetFromWindowsErr...
        "USE_STACKCHECK",  # PyOS_CheckStack: defined only where USE_STACKCHECK is, on Windows
        "Py_REF_DEBUG",  # _Py_RefTotal, _Py_NegativeRefcount: debug builds only
    }
)
# (HAVE_FORK and PY_HAVE_THREAD_NATIVE_ID are defined on Linux: their members stay)
