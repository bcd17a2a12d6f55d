"""Which policy architecture (auditwheel ``lddtree._get_platform``) and which libc an ELF file
belongs to."""

from __future__ import annotations

import posixpath
import re

from wheelscan.elf.facts import ElfFacts, Endianness, Machine
from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.policy.policies import Architecture, Libc

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


ET_EXEC, DF_1_PIE = 2, 0x08000000


class LibcConflict(WheelscanError):
    """One ELF file names both libcs; ``code`` is stable, as an EvaluationError's."""

    code: ErrorCode


def elf_libc(path: str, facts: ElfFacts) -> Libc | None:
    """The libc one ELF file was built for: what it needs, then its interpreter, then its name.

    What it needs decides: DT_NEEDED (``libc.so.6``, ``ld-linux-*`` or ``libc.musl-*``) and
    its symbol versions (``GLIBC_*``; Bionic's ``LIBC``, ``LIBC_N``...; musl has none).
    PT_INTERP only counts for a file that is run, never loaded: glibc's loader ignores it in
    a shared object it maps (elf/dl-load.c reads no PT_INTERP), so an extension module with a
    musl interpreter and glibc symbol versions is a glibc module (issue #14). Where the
    interpreter names another libc, the two readings disagree: a conflict, never the milder
    one.
    """
    needs = _needed_libc(path, facts)
    interp = None
    if facts.interpreter is not None:
        interp = _interpreter_libc(facts.interpreter)
    if needs is not None and interp is not None and needs is not interp:
        raise LibcConflict(
            "interpreter-libc-mismatch",
            f"{path} needs {needs} but names a {interp} interpreter ({facts.interpreter})",
        )
    if needs is not None:
        return needs
    if interp is not None and not loadable(facts):
        return interp
    return _libc_by_name(path)


def loadable(facts: ElfFacts) -> bool:
    """Whether glibc's loader would map the file as a library (dlopen, DT_NEEDED): ET_DYN
    and not a position-independent executable (dl-load.c refuses ET_EXEC, and DF_1_PIE)."""
    return facts.elf_type != ET_EXEC and not facts.dt_flags_1 & DF_1_PIE


# Bionic's loader (PT_INTERP of Android executables): /system/bin/linker64, or linker
_BIONIC_LOADERS = frozenset({"linker", "linker64"})
# Bionic's libc.so, libm.so and libdl.so version their symbols LIBC (API 21), LIBC_N (24),
# LIBC_O (26), LIBC_P (28) ... (bionic/libc/libc.map.txt): no other libc has these names
# (glibc's are GLIBC_* from libc.so.6, musl has none). A bare DT_NEEDED "libc.so" proves
# nothing: an unpatched musl's libc.so has that soname too.
BIONIC_LIBRARIES = frozenset({"libc.so", "libm.so", "libdl.so"})


# Bionic's version names; compiled on first use, by re's own cache (issue #15)
_BIONIC_VERSION = r"LIBC(_[A-Z0-9]+)?"


def _interpreter_libc(interpreter: str) -> Libc:
    # Bionic's loader is Android's, where auditwheel's lddtree says glibc for any interpreter
    # but musl's: a deliberate difference (policy/android.py), the file is judged, not dropped
    name = posixpath.basename(interpreter)
    if name.startswith("ld-musl-"):
        return Libc.MUSL
    if name in _BIONIC_LOADERS and posixpath.dirname(interpreter).startswith("/system/"):
        return Libc.ANDROID
    return Libc.GLIBC


def _needed_libc(path: str, facts: ElfFacts) -> Libc | None:
    libc = None
    found: Libc | None
    for soname in facts.needed:
        found = None
        if soname.startswith(("libc.musl-", "ld-musl-")):
            found = Libc.MUSL
        elif soname == "libc.so.6" or soname.startswith(("ld-linux-", "ld64.so.")):
            found = Libc.GLIBC
        if found is not None:
            if libc is not None and libc is not found:
                raise LibcConflict("mixed-libc", f"{path} needs both glibc and musl")
            libc = found
    versions = [v for need in facts.version_needs for v in need.versions]
    if any(v.startswith("GLIBC_") for v in versions):
        if libc is Libc.MUSL:
            raise LibcConflict("mixed-libc", f"{path} needs musl and glibc symbol versions")
        libc = Libc.GLIBC
    if any(
        need.file in BIONIC_LIBRARIES
        and any(re.fullmatch(_BIONIC_VERSION, version) for version in need.versions)
        for need in facts.version_needs
    ):
        if libc is not None:
            raise LibcConflict("mixed-libc", f"{path} needs {libc} and Bionic symbol versions")
        libc = Libc.ANDROID
    return libc


def _libc_by_name(path: str) -> Libc | None:
    name = posixpath.basename(path)
    if name.endswith(("-arm-linux-musleabihf.so", "-linux-musl.so")):
        return Libc.MUSL
    if name.endswith(("-linux-android.so", "-linux-androideabi.so")):  # PEP 738's SOABI
        return Libc.ANDROID
    if name.endswith(("-arm-linux-gnueabihf.so", "-linux-gnu.so")):
        soabi = name.rsplit(".", 2)[-2].split("-") if name.count(".") >= 2 else [""]
        if soabi[0] == "cpython" and len(soabi) > 1 and re.match(r"3(1[1-9]|[2-9]\d)", soabi[1]):
            return Libc.GLIBC  # before 3.11, musl builds used the gnu suffix too
    return None
