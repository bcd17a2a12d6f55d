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
- Exported definitions with ``Py*`` names other than the module-init exports are notices
  (``abi3-defines-python-name``), not violations (abi3audit: violations).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelscan.elf.facts import PYTHON_SYMBOL_PREFIXES, ElfFacts, SymbolBinding
from wheelscan.model import WheelFacts

# The version of these rules and of the JSON below; stored with each abi3 verdict
ABI3_JSON_VERSION = 1
ABIS = ("abi3", "abi3t")
Version = tuple[int, int]
STABLE_ABI_START: Version = (3, 2)  # Py_LIMITED_API 3: PEP 384, Python 3.2
ABI3T_START: Version = (3, 15)  # PEP 803

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

# Imports that show an extension lays out a structure abi3t makes opaque (PEP 803; abi3info
# marks PyModuleDef and PyModuleDef_Base ``abi3t_opaque``, and PyObject partial, so opaque
# in abi3t). Why each:
ABI3T_OPAQUE_USES = {
    # inline Py_DECREF of the limited API before 3.12: the extension decrements ob_refcnt
    # itself and calls this at zero; free-threaded objects count references otherwise
    "_Py_Dealloc": "PyObject",
    # each takes a PyModuleDef the extension defined statically
    "PyModuleDef_Init": "PyModuleDef",
    "PyModule_Create2": "PyModuleDef",
    "PyModule_FromDefAndSpec2": "PyModuleDef",
}
# foo.abi3.so, and the multiarch form some builds name (foo.abi3t-x86_64-linux-gnu.so)
_EXTENSION_SUFFIX = re.compile(r"\.(abi3t?)(-[^./]+)?\.so$")
_CP_TAG = re.compile(r"cp(\d)(\d+)$")


def stable_abi_added(name: str) -> Version | None:
    """When ``name`` entered the stable ABI (a function or data), None if it is not in it."""
    return _stable_abi().get(name)


def abi3info_version() -> str:
    """The installed abi3info's version: part of the policy digest (store.codec)."""
    return metadata.version("abi3info")


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Abi3Verdict:
    wheel: str
    abis: tuple[str, ...]  # the stable ABIs promised: ("abi3",), ("abi3t",) or both
    declared: Version | None  # the lowest cpXY of the abi3/abi3t tags; None: no such tag
    computed: Version  # the lowest Python whose stable ABI has every (strong) import
    files: tuple[Abi3File, ...]
    findings: tuple[Abi3Finding, ...]

    @property
    def compliant(self) -> bool:
        return not any(f.is_violation for f in self.findings)

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
        }


def evaluate_abi3(facts: WheelFacts) -> Abi3Verdict | None:
    """The abi3 verdict on a wheel, or None when it makes no stable-ABI promise."""
    declared_by_abi = _declared(facts.filename)
    abis = set(declared_by_abi)
    for member in facts.elf_files:
        found = _EXTENSION_SUFFIX.search(member.path)
        if found:
            abis.add(found.group(1))
    if not abis:
        return None
    files: list[Abi3File] = []
    findings: list[Abi3Finding] = []
    needs: list[tuple[Version, str, str]] = []  # (version, file, symbol) of strong imports
    for member in facts.elf_files:
        file, file_needs, file_findings = _examine(member.path, member.facts, "abi3t" in abis)
        files.append(file)
        needs.extend(file_needs)
        findings.extend(file_findings)
    computed = max([STABLE_ABI_START, *(version for version, _, _ in needs)])
    declared = min(declared_by_abi.values()) if declared_by_abi else None
    for abi, version in sorted(declared_by_abi.items()):
        floor = ABI3T_START if abi == "abi3t" else STABLE_ABI_START
        if version < floor:
            findings.append(
                Abi3Finding(
                    OVER_CLAIM,
                    facts.filename,
                    None,
                    f"tagged cp{version[0]}{version[1]}-{abi}, but {abi} begins with Python "
                    f"{_dotted(floor)}",
                )
            )
        for need, file_name, symbol in needs:
            if need > version:
                findings.append(
                    Abi3Finding(
                        OVER_CLAIM,
                        file_name,
                        symbol,
                        f"{symbol} entered the stable ABI in Python {_dotted(need)}, after the "
                        f"declared cp{version[0]}{version[1]}-{abi}",
                    )
                )
    return Abi3Verdict(
        facts.filename,
        tuple(a for a in ABIS if a in abis),
        declared,
        computed,
        tuple(files),
        tuple(_unique(findings)),
    )


def _examine(
    path: str, facts: ElfFacts, abi3t: bool
) -> tuple[Abi3File, list[tuple[Version, str, str]], list[Abi3Finding]]:
    needs: list[tuple[Version, str, str]] = []
    findings: list[Abi3Finding] = []
    stable = 0
    for symbol in facts.undefined_symbols:
        if not symbol.name.startswith(PYTHON_SYMBOL_PREFIXES) or symbol.binding not in (
            SymbolBinding.GLOBAL,
            SymbolBinding.WEAK,
        ):
            continue
        added = stable_abi_added(symbol.name)
        if added is None:
            findings.append(
                Abi3Finding(SYMBOL, path, symbol.name, "imported, and not in the stable ABI")
            )
            continue
        stable += 1
        if symbol.binding == SymbolBinding.GLOBAL:
            needs.append((added, path, symbol.name))
        if abi3t and symbol.name in ABI3T_OPAQUE_USES:
            structure = ABI3T_OPAQUE_USES[symbol.name]
            findings.append(
                Abi3Finding(
                    ABI3T_SYMBOL,
                    path,
                    symbol.name,
                    f"imported: it needs the layout of {structure}, which abi3t makes opaque",
                )
            )
    exports = facts.module_exports
    if abi3t and exports and not any(name.startswith("PyModExport_") for name in exports):
        findings.append(
            Abi3Finding(
                ABI3T_MODULE_EXPORT,
                path,
                exports[0],
                "an extension for abi3t must export PyModExport_* (PEP 793): abi3t makes "
                "PyModuleDef opaque, so PyInit_* cannot return one",
            )
        )
    for defined in facts.python_definitions:
        if defined.binding != SymbolBinding.LOCAL and defined.name not in exports:
            findings.append(
                Abi3Finding(
                    DEFINES_PYTHON_NAME,
                    path,
                    defined.name,
                    "exports a name of the Python C API's namespace",
                )
            )
    if facts.links_libpython:
        library = next(n for n in facts.needed if n.startswith("libpython"))
        findings.append(
            Abi3Finding(
                LINKS_LIBPYTHON,
                path,
                None,
                f"DT_NEEDED {library}: it loads only into that one Python",
            )
        )
    computed = max([STABLE_ABI_START, *(version for version, _, _ in needs)])
    return (
        Abi3File(path, computed, exports, stable, facts.links_libpython),
        needs,
        findings,
    )


def _declared(filename: str) -> dict[str, Version]:
    """The lowest cpXY of each stable ABI among the file name's tags."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return {}
    declared: dict[str, Version] = {}
    for tag in tags:
        if tag.abi not in ABIS:
            continue
        match = _CP_TAG.match(tag.interpreter)
        version: Version = (int(match.group(1)), int(match.group(2))) if match else STABLE_ABI_START
        declared[tag.abi] = min(declared.get(tag.abi, version), version)
    return declared


def _unique(findings: Iterable[Abi3Finding]) -> list[Abi3Finding]:
    return list(dict.fromkeys(findings))  # in order, each once


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
        # only on Windows (PyErr_SetFromWindowsErr...): an ELF file's import of one is
        # never resolved, so on Linux it is no member of the stable ABI
        if item.ifdef is None or item.ifdef.name != "MS_WINDOWS"
    }
