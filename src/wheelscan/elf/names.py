"""Names for the numbers of an ELF file, as the gABI and the processor supplements give them.

``wheelscan elf`` prints these rather than ``type 3`` or ``flags 0x5000400``: each name is
followed by the constant it stands for, so that the spec is one search away.
"""

from __future__ import annotations

from wheelscan.elf.facts import ElfFacts, Machine

_ELF_TYPES = {
    0: "no file type (ET_NONE)",
    1: "relocatable object (ET_REL)",
    2: "executable (ET_EXEC)",
    3: "shared object (ET_DYN)",
    4: "core file (ET_CORE)",
}
_OSABIS = {
    0: "System V",
    3: "GNU/Linux",
    6: "Solaris",
    9: "FreeBSD",
    12: "OpenBSD",
    64: "ARM EABI",
    97: "ARM",
    255: "standalone",
}
# DT_FLAGS and DT_FLAGS_1 bits (gABI; DF_1_* from binutils' include/elf/common.h)
_DT_FLAGS = {0x1: "ORIGIN", 0x2: "SYMBOLIC", 0x4: "TEXTREL", 0x8: "BIND_NOW", 0x10: "STATIC_TLS"}
_DT_FLAGS_1 = {
    0x1: "NOW",
    0x2: "GLOBAL",
    0x4: "GROUP",
    0x8: "NODELETE",
    0x10: "LOADFLTR",
    0x20: "INITFIRST",
    0x40: "NOOPEN",
    0x80: "ORIGIN",
    0x100: "DIRECT",
    0x400: "INTERPOSE",
    0x800: "NODEFLIB",
    0x1000: "NODUMP",
    0x8000000: "PIE",
}
# GNU_PROPERTY_X86_ISA_1_* bits of GNU_PROPERTY_X86_ISA_1_NEEDED (x86-64 psABI)
_X86_ISA_LEVELS = {0x1: "x86-64-baseline", 0x2: "x86-64-v2", 0x4: "x86-64-v3", 0x8: "x86-64-v4"}
_RISCV_FLOAT_ABIS = {0x0: "soft-float", 0x2: "single-float", 0x4: "double-float", 0x6: "quad-float"}


def elf_type(facts: ElfFacts) -> str:
    """``shared object (ET_DYN)``; an ET_DYN with an interpreter is a PIE executable."""
    if facts.elf_type == 3 and facts.interpreter is not None:
        return "position-independent executable (ET_DYN)"
    return _ELF_TYPES.get(facts.elf_type, f"type {facts.elf_type} (processor- or OS-specific)")


def osabi(value: int) -> str:
    return _OSABIS.get(value, f"OS/ABI {value}")


def machine_flags(facts: ElfFacts) -> str:
    """What ``e_flags`` says for the machines whose wheels depend on it, else nothing."""
    flags = facts.flags
    if facts.machine is Machine.ARM:
        float_abi = (
            "hard-float" if flags & 0x400 else "soft-float" if flags & 0x200 else "float ABI unset"
        )
        return f"EABI version {flags >> 24}, {float_abi}"
    if facts.machine is Machine.PPC64:
        return {0: "ABI unspecified", 1: "ELFv1 ABI", 2: "ELFv2 ABI"}.get(flags & 0x3, "")
    if facts.machine is Machine.RISCV:
        names = [_RISCV_FLOAT_ABIS[flags & 0x6]]
        if flags & 0x1:
            names.append("RVC compressed instructions")
        if flags & 0x8:
            names.append("RV32E")
        return ", ".join(names)
    return ""


def set_bits(value: int, names: dict[int, str]) -> list[str]:
    """The names of the bits set in ``value``; unnamed bits as hex."""
    found = [name for bit, name in names.items() if value & bit]
    unnamed = value & ~sum(names)
    return found + ([f"0x{unnamed:x}"] if unnamed else [])


def dynamic_flags(facts: ElfFacts) -> list[str]:
    """DT_FLAGS and DT_FLAGS_1 as names (``BIND_NOW``, ``NOW``, ``PIE``)."""
    return set_bits(facts.dt_flags, _DT_FLAGS) + set_bits(facts.dt_flags_1, _DT_FLAGS_1)


def x86_isa_levels(value: int) -> list[str]:
    return set_bits(value, _X86_ISA_LEVELS)


def stack(facts: ElfFacts) -> str:
    if facts.stack_flags is None:
        return "executable (no PT_GNU_STACK: the loader's default)"
    permissions = "".join(c for bit, c in ((4, "R"), (2, "W"), (1, "X")) if facts.stack_flags & bit)
    state = "executable" if facts.stack_flags & 0x1 else "not executable"
    return f"{state} (PT_GNU_STACK {permissions or 'no access'})"
