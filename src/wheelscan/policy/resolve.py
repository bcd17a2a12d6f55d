"""Library resolution inside the wheel: auditwheel's ``lddtree.ldd`` without the host.

auditwheel extracts the wheel and walks each ELF's DT_NEEDED through RPATH/RUNPATH on disk;
with ``--ldpaths ""`` the only directories left are the wheel's own (``$ORIGIN``-relative
ones) — plus, for an executable with PT_INTERP, the host's interpreter directory, which
wheelscan deliberately ignores: the verdict depends on the wheel and the policy only.

The search order, the "first ELF's RPATH/RUNPATH propagate to its dependencies" rule, the
"RPATH is ignored when RUNPATH is present" rule and the libpython special case (auditwheel
#589) are auditwheel's, so that the verdicts agree.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import field

from wheelscan.elf.facts import ElfFacts
from wheelscan.records import record

LIBPYTHON_RE = re.compile(r"^libpython\d+\.\d+m?.so(\.\d)*$")
_ORIGIN_RE = re.compile(r"\$(ORIGIN|\{ORIGIN\})")
# ELF OS/ABI values auditwheel treats as one (lddtree.Platform.is_compatible)
_COMPATIBLE_OSABI = frozenset({0, 3})  # ELFOSABI_NONE/SYSV, ELFOSABI_GNU/LINUX


@record(slots=True)
class Library:
    """A library a file needs, and the wheel member it resolved to, if any."""

    soname: str
    path: str | None  # the wheel member it resolved to, None when not found in the wheel
    needed: tuple[str, ...] = ()


@record
class ElfTree:
    """One ELF and every library it pulls in, keyed by soname (auditwheel's libraries)."""

    path: str
    facts: ElfFacts
    needed: tuple[str, ...]
    libraries: dict[str, Library] = field(default_factory=dict)

    @property
    def fully_resolved(self) -> bool:
        return all(lib.path is not None for lib in self.libraries.values())


def compatible(a: ElfFacts, b: ElfFacts) -> bool:
    """auditwheel's Platform.is_compatible: same class, byte order, machine and OS ABI."""
    same_abi = a.osabi == b.osabi or {a.osabi, b.osabi} <= _COMPATIBLE_OSABI
    return (
        same_abi
        and a.elf_class == b.elf_class
        and a.endianness == b.endianness
        and a.machine == b.machine
    )


def search_dirs(entries: tuple[str, ...], origin_file: str) -> list[str]:
    """Expand RPATH/RUNPATH entries to wheel directories, in order and without duplicates.

    ``$ORIGIN`` is the directory of the file (``.`` is the wheel's root); an empty entry (the
    process's working directory) or one without ``$ORIGIN`` names a place on some host,
    never in the wheel, so it resolves nothing here.
    """
    found: list[str] = []
    for entry in entries:
        if not _ORIGIN_RE.search(entry):
            continue
        expanded = _ORIGIN_RE.sub(posixpath.dirname(origin_file) or ".", entry)
        directory = posixpath.normpath(expanded)
        if directory not in found:
            found.append(directory)
    return found


class Resolver:
    """Resolves DT_NEEDED sonames to wheel members for every root ELF of one wheel."""

    def __init__(self, elf_files: Mapping[str, ElfFacts]) -> None:
        self.elf_files = elf_files

    def tree(self, path: str) -> ElfTree:
        facts = self.elf_files[path]
        root_rpath, root_runpath = self._paths(path, facts)
        libraries: dict[str, Library] = {}
        needed = self._walk(path, facts, root_rpath, root_runpath, libraries)
        return ElfTree(path, facts, needed, libraries)

    def _paths(self, path: str, facts: ElfFacts) -> tuple[list[str], list[str]]:
        runpath = search_dirs(facts.runpath, path)
        # "If both RPATH and RUNPATH are set, only the latter is used" (auditwheel lddtree)
        rpath = [] if runpath else search_dirs(facts.rpath, path)
        return rpath, runpath

    def _walk(
        self,
        path: str,
        facts: ElfFacts,
        root_rpath: list[str],
        root_runpath: list[str],
        libraries: dict[str, Library],
    ) -> tuple[str, ...]:
        rpath, runpath = self._paths(path, facts)
        order = root_rpath + rpath + runpath + root_runpath
        for soname in facts.needed:
            if soname in libraries:
                continue
            if LIBPYTHON_RE.match(soname):
                # never resolved, never walked: the wheel is linux_* anyway (auditwheel #589)
                libraries[soname] = Library(soname, None)
                continue
            found = self._find(facts, soname, order)
            libraries[soname] = Library(soname, found)
            if found is not None:
                dep_needed = self._walk(
                    found, self.elf_files[found], root_rpath, root_runpath, libraries
                )
                libraries[soname] = Library(soname, found, dep_needed)
        return facts.needed

    def _find(self, facts: ElfFacts, soname: str, order: list[str]) -> str | None:
        for directory in order:
            candidate = soname if directory == "." else f"{directory}/{soname}"
            other = self.elf_files.get(candidate)
            if other is not None and compatible(facts, other):
                return candidate
        return None


def fix_up_trees(python_trees: dict[str, ElfTree], other_trees: dict[str, ElfTree]) -> None:
    """auditwheel's ``_fixup_elf_trees``: a non-extension ELF whose dependencies it cannot
    resolve alone borrows them from a fully resolved tree that loads it (it will be loaded
    from there at run time)."""
    resolved = [t for t in [*python_trees.values(), *other_trees.values()] if t.fully_resolved]

    def reference_for(path: str) -> ElfTree | None:
        for candidate in resolved:
            if any(lib.path == path for lib in candidate.libraries.values()):
                return candidate
        return None

    for path, tree in list(other_trees.items()):
        if tree.fully_resolved:
            continue
        reference = reference_for(path)
        if reference is None:
            continue
        libraries: dict[str, Library] = {}
        all_sonames = set(tree.libraries)
        for soname, library in tree.libraries.items():
            if library.path is None and soname in reference.libraries:
                libraries[soname] = reference.libraries[soname]
                pending = set(libraries[soname].needed) - all_sonames
                while pending:
                    batch = set(pending)
                    all_sonames |= batch
                    for name in batch:
                        if name in reference.libraries:
                            libraries[name] = reference.libraries[name]
                            pending.update(libraries[name].needed)
                    pending -= all_sonames
            else:
                libraries[soname] = library
        other_trees[path] = ElfTree(tree.path, tree.facts, tree.needed, libraries)
