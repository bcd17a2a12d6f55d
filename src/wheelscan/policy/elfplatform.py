"""Which policy architecture an ELF file belongs to (auditwheel ``lddtree._get_platform``)."""

from __future__ import annotations

from wheelscan.elf.facts import ElfFacts, Endianness, Machine
from wheelscan.policy.policies import Architecture

_ISA_LEVELS = (
    (8, Architecture.x86_64_v4),
    (4, Architecture.x86_64_v3),
    (2, Architecture.x86_64_v2),
)

# (e_machine, 64-bit, little endian) -> architecture: auditwheel lddtree._get_platform
_ARCHITECTURES = {
    (Machine.I386, False, True): Architecture.i686,
    (Machine.X86_64, True, True): Architecture.x86_64,
    (Machine.PPC64, True, True): Architecture.ppc64le,
    (Machine.PPC64, True, False): Architecture.ppc64,
    (Machine.RISCV, True, True): Architecture.riscv64,
    (Machine.AARCH64, True, True): Architecture.aarch64,
    (Machine.S390, True, False): Architecture.s390x,
    (Machine.ARM, False, True): Architecture.armv7l,
    (Machine.LOONGARCH, True, True): Architecture.loongarch64,
}
_EF_ARM_EABIMASK, _EF_ARM_EABI_VER5, _EF_ARM_ABI_FLOAT_HARD = 0xFF000000, 0x05000000, 0x400


def elf_architecture(facts: ElfFacts) -> Architecture | None:
    """The baseline architecture of an ELF file, None when no policy can cover it."""
    key = (facts.machine, facts.elf_class == 2, facts.endianness is Endianness.LITTLE)
    arch = _ARCHITECTURES.get(key)
    if arch is Architecture.armv7l and (
        facts.flags & _EF_ARM_EABIMASK != _EF_ARM_EABI_VER5
        or not facts.flags & _EF_ARM_ABI_FLOAT_HARD
    ):
        return None  # soft-float or old EABI: "not a platform wheel" to auditwheel
    return arch


def extended_architecture(facts: ElfFacts) -> Architecture | None:
    """x86-64 micro-architecture level the file needs beyond the baseline (auditwheel #535)."""
    if facts.x86_isa_needed is None or elf_architecture(facts) is not Architecture.x86_64:
        return None
    for bit, level in _ISA_LEVELS:
        if facts.x86_isa_needed & bit:
            return level
    return None
