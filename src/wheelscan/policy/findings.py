"""Checks auditwheel does not make, reported beside the verdict (they do not change it).

- executable stack: a library asking for an executable stack makes glibc >= 2.41 refuse to
  dlopen it, and is a security smell everywhere (auditwheel #634);
- ``GLIBC_PRIVATE``: glibc's internal ABI, which changes with every release (auditwheel #229);
- RPATH/RUNPATH entries that do not start at ``$ORIGIN``: absolute or build-directory paths
  (a path of the build machine leaks into every installation) or empty entries (the current
  directory, a library-injection risk);
- ELF files whose machine or ABI flags do not fit the wheel's architecture (auditwheel skips
  them silently);
- ELF files that RECORD does not list (auditwheel does not examine them, pip installs them
  all the same; wheelscan judges them with the others);
- in a strict reading, what an installer lets through but a gate should see: a member whose
  sha256 or size is not RECORD's, one RECORD does not list, WHEEL tags that are not the file
  name's (wheel/integrity.py);
- Bionic symbols newer than an Android tag's API level (policy/android.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from wheelscan.elf.facts import ElfFacts, Machine
from wheelscan.model import WheelFacts
from wheelscan.policy.android import api_level_findings
from wheelscan.policy.elfplatform import elf_architecture
from wheelscan.policy.policies import Architecture
from wheelscan.policy.verdict import Finding

_BUILD_DIR_HINTS = (
    "/tmp/",
    "/build/",
    "/home/",
    "/Users/",
    "/project/",
    "/io/",
    "/opt/_internal/",
    "/usr/local/src/",
    "site-packages",
    "/runner/",
    "/github/",
    "/__w/",
)
_PF_X = 0x1
_EF_PPC64_ABI = 0x3
_EF_RISCV_FLOAT_ABI = 0x6
_EF_RISCV_FLOAT_ABI_DOUBLE = 0x4


def abi_mismatch(facts: ElfFacts, arch: Architecture) -> str | None:
    """Why a file's ABI cannot run on ``arch`` (the policy's ABI), or None when it fits."""
    if arch is Architecture.armv7l and facts.machine is Machine.ARM:
        if facts.flags & 0xFF000000 != 0x05000000:
            return f"ARM EABI version {facts.flags >> 24}, not 5"
        if not facts.flags & 0x400:
            return "soft-float ARM code in a hard-float (armhf) wheel"
    if (
        arch is Architecture.ppc64le
        and facts.machine is Machine.PPC64
        and facts.flags & _EF_PPC64_ABI == 1
    ):
        return "ELFv1 code in a ppc64le (ELFv2) wheel"
    if (
        arch is Architecture.riscv64
        and facts.machine is Machine.RISCV
        and facts.flags & _EF_RISCV_FLOAT_ABI != _EF_RISCV_FLOAT_ABI_DOUBLE
    ):
        return "RISC-V float ABI is not lp64d"
    return None


def _rpath_findings(path: str, facts: ElfFacts) -> Iterator[Finding]:
    for tag, entries in (("RUNPATH", facts.runpath), ("RPATH", facts.rpath)):
        for entry in entries:
            if entry == "":
                yield Finding(
                    "empty-rpath", path, f"{tag} has an empty entry (the current directory)"
                )
            elif not entry.startswith(("$ORIGIN", "${ORIGIN}")):
                kind = (
                    "build-dir-rpath"
                    if any(h in entry for h in _BUILD_DIR_HINTS)
                    else "absolute-rpath"
                )
                yield Finding(kind, path, f"{tag} {entry}")


def findings_for(wheel: WheelFacts, arch: Architecture) -> Iterator[Finding]:
    for problem in wheel.integrity:
        yield Finding(problem.code, problem.member or "", problem.detail)
    yield from api_level_findings(wheel)
    for member in wheel.examined:
        facts = member.facts
        if not member.in_record and not wheel.strict:  # strict: integrity's unrecorded-member
            yield Finding(
                "unlisted-elf", member.path, "not in RECORD: installed and judged all the same"
            )
        if facts.has_dynamic and facts.stack_flags is not None and facts.stack_flags & _PF_X:
            yield Finding("executable-stack", member.path, "PT_GNU_STACK is RWX")
        elif facts.has_dynamic and facts.stack_flags is None:
            yield Finding(
                "executable-stack",
                member.path,
                "no PT_GNU_STACK: the loader defaults to an executable stack",
            )
        needs_private = any("GLIBC_PRIVATE" in n.versions for n in facts.version_needs)
        private = (
            sorted({s.name for s in facts.undefined_symbols if s.version == "GLIBC_PRIVATE"})
            # a symbol is bound only to a version its file needs or defines: thousands of
            # symbols looked at only then
            if needs_private or "GLIBC_PRIVATE" in facts.version_definitions
            else []
        )
        if private or needs_private:
            yield Finding(
                "glibc-private",
                member.path,
                "uses GLIBC_PRIVATE" + (f": {', '.join(private)}" if private else ""),
            )
        yield from _rpath_findings(member.path, facts)
        elf_arch = elf_architecture(facts)
        reason = abi_mismatch(facts, arch)
        if reason is not None:
            yield Finding("abi-mismatch", member.path, reason)
        elif elf_arch is None or elf_arch is not arch.baseline:
            yield Finding(
                "machine-mismatch",
                member.path,
                f"{facts.machine.name} {facts.elf_class.name} "
                f"{facts.endianness.name.lower()}-endian file in a {arch} wheel",
            )
