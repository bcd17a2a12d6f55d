"""WheelFacts to and from compact JSON, versioned, for the store and the exports.

The store keeps facts, not verdicts: a verdict is derived from facts and a policy, so a new
policy file re-judges stored wheels without reading them again. The format is versioned;
``FACTS_VERSION`` changes whenever ``ElfFacts`` or this format does, and older stored facts
are then re-read from their wheels rather than misread.
"""

from __future__ import annotations

from typing import Any

from wheelscan.elf.facts import (
    DefinedSymbol,
    ElfClass,
    ElfFacts,
    Endianness,
    Machine,
    SymbolBinding,
    SymbolType,
    UndefinedSymbol,
    VersionNeed,
)
from wheelscan.model import ElfMember, IntegrityProblem, WheelFacts

# 3: undefined symbols stored as five columns, not a list per symbol
# 4: python_definitions, the defined Py*/_Py* symbols the abi3 audit reads (issue #17).
#    Version-3 facts lack them, and are still decoded (with none): the manylinux verdict
#    reads nothing they lack, so a store made before the abi3 audit keeps its verdicts
#    through a reevaluate; the abi3 verdict says it is unknown (``definitions_known``)
#    until the next audit reads the wheel again (store.Store.known)
FACTS_VERSION = 4
# the oldest stored format still decoded
OLDEST_FACTS_VERSION = 3


def facts_to_json(wheel: WheelFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": FACTS_VERSION,
        "filename": wheel.filename,
        "elf_files": [_member(m) for m in wheel.elf_files],
    }
    if wheel.strict:  # absent from a fast reading's facts: older facts read the same
        data["strict"] = True
        data["integrity"] = [[p.code, p.member, p.detail] for p in wheel.integrity]
    return data


def facts_from_json(data: dict[str, Any]) -> WheelFacts:
    version = data.get("version")
    if not isinstance(version, int) or not OLDEST_FACTS_VERSION <= version <= FACTS_VERSION:
        raise ValueError(
            f"stored facts version {version}, expected {OLDEST_FACTS_VERSION} to {FACTS_VERSION}"
        )
    return WheelFacts(
        data["filename"],
        tuple(_member_back(m) for m in data["elf_files"]),
        bool(data.get("strict", False)),
        tuple(IntegrityProblem(*p) for p in data.get("integrity", ())),
    )


def definitions_known(data: dict[str, Any]) -> bool:
    """Whether stored facts hold the defined ``Py*`` symbols (``python_definitions``): not
    those of format 3, where ``facts_from_json`` gives none, not knowing them."""
    return bool(data.get("version", 0) >= 4)


def _member(member: ElfMember) -> dict[str, Any]:
    f = member.facts
    return {
        "path": member.path,
        "in_record": member.in_record,
        "size": member.size,
        "class": int(f.elf_class),
        "endian": int(f.endianness),
        "osabi": f.osabi,
        "type": f.elf_type,
        "machine": int(f.machine),
        "flags": f.flags,
        "interpreter": f.interpreter,
        "dynamic": f.has_dynamic,
        "needed": list(f.needed),
        "soname": f.soname,
        "rpath": list(f.rpath),
        "runpath": list(f.runpath),
        "dt_flags": f.dt_flags,
        "dt_flags_1": f.dt_flags_1,
        "stack": f.stack_flags,
        "isa": f.x86_isa_needed,
        "nsyms": f.symbol_count,
        # the bulk of the record, as five columns: names, bindings, types, versions, files
        # (binding and type IntEnums, which JSON writes as ints). Transposed at C speed; a
        # list per symbol cost 2.5 times as much (145k lists on the benchmark corpus)
        "undef": list(zip(*f.undefined_symbols, strict=True)) or [[], [], [], [], []],
        "init": list(f.init_functions),
        "verneed": [[n.file, list(n.versions)] for n in f.version_needs],
        "verdef": list(f.version_definitions),
        # names, bindings, types: three columns, as "undef"
        "pydef": list(zip(*f.python_definitions, strict=True)) or [[], [], []],
    }


def _member_back(d: dict[str, Any]) -> ElfMember:
    facts = ElfFacts(
        elf_class=ElfClass(d["class"]),
        endianness=Endianness(d["endian"]),
        osabi=d["osabi"],
        elf_type=d["type"],
        machine=Machine(d["machine"]),
        flags=d["flags"],
        interpreter=d["interpreter"],
        has_dynamic=d["dynamic"],
        needed=tuple(d["needed"]),
        soname=d["soname"],
        rpath=tuple(d["rpath"]),
        runpath=tuple(d["runpath"]),
        dt_flags=d["dt_flags"],
        dt_flags_1=d["dt_flags_1"],
        stack_flags=d["stack"],
        x86_isa_needed=d["isa"],
        symbol_count=d["nsyms"],
        undefined_symbols=tuple(
            UndefinedSymbol(n, SymbolBinding(b), SymbolType(t), v, vf)
            for n, b, t, v, vf in zip(*d["undef"], strict=True)
        ),
        init_functions=tuple(d["init"]),
        version_needs=tuple(VersionNeed(f, tuple(v)) for f, v in d["verneed"]),
        version_definitions=tuple(d["verdef"]),
        python_definitions=tuple(
            DefinedSymbol(n, SymbolBinding(b), SymbolType(t))
            for n, b, t in zip(*d.get("pydef", ((), (), ())), strict=True)
        ),  # absent from format 3
    )
    return ElfMember(d["path"], facts, d["in_record"], d["size"])
