"""Facts in, verdict out: auditwheel's ``analyze_wheel_abi`` as pure functions.

Every rule here is auditwheel 6.8's (``wheel_abi.py``, ``policy/__init__.py``,
``elfutils.py``, ``lddtree.py``), applied to the facts of the wheel's ELF members and the
policy data only — never to the machine running the scan. Where wheelscan differs on
purpose, docs/differences.md says so and why.
"""

from __future__ import annotations

import operator
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import compress

from wheelscan.elf.facts import ElfFacts, SymbolBinding, SymbolType
from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.model import WheelFacts
from wheelscan.policy.android import (
    AndroidTagError,
    api_level,
    is_android_tag,
    policies_for_tags,
    untagged_policies,
)
from wheelscan.policy.elfplatform import (
    LibcConflict,
    elf_architecture,
    elf_libc,
    extended_architecture,
)
from wheelscan.policy.findings import findings_for
from wheelscan.policy.policies import (
    Architecture,
    Libc,
    Policy,
    PolicyDatabase,
    PolicySet,
    load_policies,
    platform_tag_info,
)
from wheelscan.policy.resolve import LIBPYTHON_RE, ElfTree, Resolver, fix_up_trees
from wheelscan.policy.verdict import Blocker, BlockerKind, Criterion, PolicyCheck, TagClaim, Verdict
from wheelscan.policy.versions import newest_version, sort_versions
from wheelscan.policy.wheeltags import platform_tags


class EvaluationError(WheelscanError):
    """The wheel cannot be judged (auditwheel errors or crashes on these too)."""

    code: ErrorCode


_LOADERS = ("ld64.so.2", "ld64.so.1")  # ppc64le, s390x; the rest are ld-linux*
_PYFPE = frozenset({"PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter"})
_NAME = operator.attrgetter("name")
_VERSION = operator.attrgetter("version")


def is_loader(soname: str) -> bool:
    return "ld-linux" in soname or soname in _LOADERS


def python_extension_version(path: str, facts: ElfFacts) -> int | None:
    """2 or 3 when the file defines a module init function for its own name, else None."""
    module = posixpath.basename(path).split(".", 1)[0]
    versions = {f"init{module}": 2, f"PyInit_{module}": 3, f"_cffi_pypyinit_{module}": 2}
    for name in facts.init_functions:
        if name in versions:
            return versions[name]
    return None


def versioned_symbols_policy(policies: PolicySet, required: dict[str, set[str]]) -> Policy:
    """The most compatible policy whose symbol-version lists hold every required version.

    Versions are bucketed by their text before the first ``_``; a bucket the policy does not
    list is not checked (auditwheel ``versioned_symbols_policy``).
    """
    return next(p for p in policies if not _missing_versions(p, required))


def _missing_versions(policy: Policy, required: dict[str, set[str]]) -> set[str]:
    missing: set[str] = set()
    for bucket, versions in required.items():
        allowed = policy.symbol_versions.get(bucket)
        if allowed is not None:
            missing |= versions - allowed
    return missing


def _buckets(versioned: dict[str, set[str]]) -> dict[str, set[str]]:
    required: dict[str, set[str]] = defaultdict(set)
    for versions in versioned.values():
        for version in versions:
            required[version.partition("_")[0]].add(version)
    return required


class _ExternalRefs:
    """Per policy: libraries that would have to be grafted, and blacklisted symbols used."""

    def __init__(self, policies: PolicySet) -> None:
        # policy -> library -> the wheel's files whose DT_NEEDED names it (the blame)
        self.libs: dict[str, dict[str, set[str]]] = {p.name: {} for p in policies}
        # policy -> library -> blacklisted symbols used, and the files using them
        self.blacklist: dict[str, dict[str, set[str]]] = {p.name: {} for p in policies}
        self.blacklist_files: dict[str, dict[str, set[str]]] = {p.name: {} for p in policies}

    def add(self, tree: ElfTree, policies: PolicySet) -> None:
        if not policies.blacklisted_libraries.isdisjoint(tree.needed):
            undefined: set[str] | None = None  # built only if a blacklisted library is needed
            for policy in policies:
                if policy is policies.linux:
                    continue  # linux_* has no blacklist
                for lib in set(policy.blacklist).intersection(tree.needed):
                    if undefined is None:
                        undefined = _blacklisted_in_use(tree, policies)
                    used = policy.blacklist[lib] & undefined
                    if used:
                        self.blacklist[policy.name].setdefault(lib, set()).update(used)
                        self.blacklist_files[policy.name].setdefault(lib, set()).add(tree.path)
        # most policies of an architecture share one whitelist: walk the tree once per list
        # (linux_* has none: nothing is external to it). On Android, linking libpython is
        # the norm (the interpreter is a library an app loads): never external there.
        android = policies.libc is Libc.ANDROID
        for whitelist, names in policies.whitelist_groups:
            external = [
                lib
                for lib in _required_external(tree, whitelist, android)
                if tree.libraries[lib].path is None  # resolved inside the wheel: not external
            ]
            linked_by = {lib: _linked_by(tree, lib) for lib in external}
            for name in names:
                libs = self.libs[name]
                for lib in external:
                    libs.setdefault(lib, set()).update(linked_by[lib])


def _linked_by(tree: ElfTree, soname: str) -> list[str]:
    """The files of a tree whose DT_NEEDED names ``soname``: the root, or a library of the
    wheel it loads (a vendored library that links something the policy does not allow)."""
    files = [tree.path] if soname in tree.needed else []
    files += [
        lib.path for lib in tree.libraries.values() if lib.path is not None and soname in lib.needed
    ]
    return files


def _blacklisted_in_use(tree: ElfTree, policies: PolicySet) -> set[str]:
    """The non-weak undefined symbols of ``tree`` that some policy blacklists for a library
    it needs, and ``*`` (a policy may blacklist a library whole). Only those names matter,
    and they are found among thousands of symbols at C speed (glibc is blacklisted too, for
    a few symbols, on some architectures: nearly every tree needs it)."""
    blacklisted: set[str] = set()
    for policy in policies:
        for lib, names in policy.blacklist.items():
            if lib in tree.needed:
                blacklisted |= names
    symbols = tree.facts.undefined_symbols
    used = {"*"}
    if not blacklisted.isdisjoint(map(_NAME, symbols)):
        used |= {
            s.name for s in symbols if s.name in blacklisted and s.binding is not SymbolBinding.WEAK
        }
    return used


def _required_external(
    tree: ElfTree, whitelist: frozenset[str], libpython_allowed: bool = False
) -> set[str]:
    def keep(libs: Iterable[str]) -> set[str]:
        return {
            lib
            for lib in libs
            if not is_loader(lib)
            and lib not in whitelist
            and not (libpython_allowed and LIBPYTHON_RE.match(lib))
        }

    pending, required = keep(tree.needed), set()
    while pending:
        lib = pending.pop()
        required.add(lib)
        pending |= keep(tree.libraries[lib].needed) - required
    return required


def evaluate(
    wheel: WheelFacts,
    database: PolicyDatabase | None = None,
    musl_policy: str | None = None,
    assume_libc: Libc | None = None,
) -> Verdict:
    """Judge a wheel from its facts and the policies alone.

    ``musl_policy`` keeps one musllinux policy, as auditwheel does (it judges a musl wheel
    against the host's musl version only); by default every musllinux policy is judged.
    ``assume_libc`` is the libc to judge against when neither the filename nor any ELF file
    names one (static executables); glibc otherwise.
    """
    database = database or load_policies()
    tag_arch, tag_libc = _filename_platform(wheel.filename)
    arch, libc = tag_arch, tag_libc
    python_trees: dict[str, ElfTree] = {}
    other_trees: dict[str, ElfTree] = {}
    ignored: list[str] = []
    versioned: dict[str, set[str]] = defaultdict(set)
    ucs2_files: list[str] = []  # the extensions that make the criteria fail, for the blame
    pyfpe_files: list[str] = []
    resolver = Resolver({m.path: m.facts for m in wheel.elf_files})
    in_purelib = [m.path for m in wheel.examined if "purelib" in m.path.split("/")[:-1]]
    if in_purelib:
        raise EvaluationError("elf-in-purelib", f"shared libraries in purelib: {in_purelib}")
    for member in wheel.examined:
        facts = member.facts
        elf_arch = elf_architecture(facts)
        if elf_arch is None or (arch is not None and elf_arch is not arch.baseline):
            ignored.append(member.path)
            continue
        arch = arch or elf_arch
        try:
            member_libc = elf_libc(member.path, facts)
        except LibcConflict as e:
            raise EvaluationError(e.code, e.reason) from e
        if member_libc is Libc.ANDROID and tag_libc not in (None, Libc.ANDROID):
            # auditwheel sees no Bionic in an ELF file: in a manylinux or musllinux wheel it
            # judges one as a file of the tag's libc (and finds libc.so external), not as a
            # file of another libc to leave out
            member_libc = None
        if member_libc is not None:
            if libc is None:
                libc = member_libc
            elif libc is not member_libc:
                ignored.append(member.path)
                continue
        for need in facts.version_needs:
            if not is_loader(need.file):
                versioned[need.file].update(need.versions)
        tree = resolver.tree(member.path)
        py_version = python_extension_version(member.path, facts)
        if py_version is not None:
            if libc is None:
                raise EvaluationError(
                    "unknown-libc", f"couldn't detect libc for python extension {member.path}"
                )
            python_trees[member.path] = tree
            # names first, at C speed (thousands of symbols, almost never one of these)
            if not _PYFPE.isdisjoint(map(_NAME, facts.undefined_symbols)) and any(
                s.name in _PYFPE and s.type in (SymbolType.FUNC, SymbolType.NOTYPE)
                for s in facts.undefined_symbols
            ):
                pyfpe_files.append(member.path)
            if py_version == 2 and any(
                "PyUnicodeUCS2_" in s.name and s.type is SymbolType.FUNC
                for s in facts.undefined_symbols
            ):
                ucs2_files.append(member.path)
        else:
            other_trees[member.path] = tree
    if arch is None or not (python_trees or other_trees):
        raise EvaluationError(
            "not-platform-wheel",
            "no ELF file of a supported architecture"
            + (f" (ignored: {', '.join(ignored)})" if ignored else ""),
        )
    # auditwheel falls back to the *host's* libc here; a scanner assumes glibc (docs/differences.md)
    libc_unknown = libc is None
    libc = libc or assume_libc or Libc.GLIBC
    policies = _policy_set(database, libc, arch, musl_policy, wheel.filename)
    fix_up_trees(python_trees, other_trees)
    needed_names = {
        lib for t in [*python_trees.values(), *other_trees.values()] for lib in t.needed
    }
    judged = dict(python_trees)
    for path, tree in other_trees.items():
        if posixpath.basename(path) not in needed_names:
            judged[path] = tree  # not loaded by anything in the wheel: a root of its own
    refs = _ExternalRefs(policies)
    for tree in judged.values():
        refs.add(tree, policies)

    required = _buckets(versioned)
    symbol_policy = versioned_symbols_policy(policies, required)
    ref_policy = max((p for p in policies if not refs.libs[p.name]), default=policies.linux)
    blacklist_policy = max(
        (p for p in policies if not refs.blacklist[p.name]), default=policies.linux
    )
    isa_levels = {
        path: level
        for path, t in judged.items()
        if (level := extended_architecture(t.facts)) is not None and not arch.is_superset(level)
    }
    isa_policy = policies.linux if isa_levels else policies.highest
    ucs_policy = policies.linux if ucs2_files else policies.highest
    pyfpe_policy = policies.linux if pyfpe_files else policies.highest
    criteria = {
        Criterion.SYMBOL_VERSIONS: symbol_policy,
        Criterion.EXTERNAL_LIBRARIES: ref_policy,
        Criterion.BLACKLIST: blacklist_policy,
        Criterion.ISA: isa_policy,
        Criterion.UCS2: ucs_policy,
        Criterion.PYFPE: pyfpe_policy,
    }
    overall = min(criteria.values())

    above = [p for p in policies if p > overall]
    blockers = _Blockers(wheel, required, refs, isa_levels, ucs2_files, pyfpe_files, above)
    upgrades = tuple(PolicyCheck(p.name, blockers.for_policy(p)) for p in above)

    def overall_for(other: Libc) -> Policy | None:
        """With no libc named anywhere, a musllinux tag is judged on musl policies (and a
        manylinux tag on glibc ones): a static binary can keep both promises."""
        if other is libc:
            return overall
        if not libc_unknown or assume_libc is not None:  # judged once per libc, no deeper
            return None
        try:
            other_verdict = evaluate(wheel, database, musl_policy, assume_libc=other)
            other_policies = _policy_set(database, other, arch, musl_policy, wheel.filename)
        except EvaluationError:  # tags no Android policy can judge: that claim fails
            return None
        return other_policies.get(other_verdict.overall_tag)

    declared, under_claim = _claims(wheel.filename, libc, arch, overall_for, database)
    return Verdict(
        wheel=wheel.filename,
        libc=str(libc),
        architecture=str(arch.baseline),
        overall_tag=overall.name,
        criteria={name.value: p.name for name, p in criteria.items()},  # plain str keys: JSON
        versioned_symbols={lib: sort_versions(v) for lib, v in sorted(versioned.items())},
        external_libraries=tuple(sorted(refs.libs[policies.highest.name])),
        upgrades=upgrades,
        declared=declared,
        findings=tuple(findings_for(wheel, arch)),
        elf_files=tuple(m.path for m in wheel.examined if m.path not in ignored),
        under_claim=under_claim,
        newest_versions=blockers.newest(),
        ignored_elf_files=tuple(ignored),
    )


def policies_named_by(filename: str, database: PolicyDatabase) -> PolicySet | None:
    """The policy set a wheel's filename names (one libc, one architecture), built now if it
    was not: for a caller with time on its hands before the wheel's facts are in (``show``,
    while the wheel is read). None where the name names no one set, or is not a wheel's."""
    try:
        arch, libc = _filename_platform(filename)
    except ValueError:  # not a wheel's name: its judging says so
        return None
    return None if arch is None or libc is None else database.for_platform(libc, arch)


def _filename_platform(filename: str) -> tuple[Architecture | None, Libc | None]:
    """Architecture and libc from the filename's tags, when they name exactly one of each."""
    platforms = platform_tags(filename)
    arches: set[Architecture] = set()
    libcs: set[Libc] = set()
    missed = False
    for platform in platforms:
        if platform == "any":
            missed = True
            continue
        found = [a for a in Architecture if platform.endswith(f"_{a}")]
        arches.update(a.baseline for a in found)
        missed |= not found
        libcs.update(lc for lc in Libc if platform.startswith(lc.tag_prefix))
    arch = arches.pop() if len(arches) == 1 and not missed else None
    libc = libcs.pop() if len(libcs) == 1 else None
    return arch, libc


def _policy_set(
    database: PolicyDatabase,
    libc: Libc,
    arch: Architecture,
    musl_policy: str | None,
    filename: str,
) -> PolicySet:
    policies = database.for_platform(libc, arch)
    if libc is Libc.MUSL and musl_policy is not None:
        keep = [p for p in policies if p.base_name == musl_policy or p is policies.linux]
        policies = PolicySet(policies.libc, policies.arch, tuple(keep))
    if libc is Libc.ANDROID:
        # an Android tag picks its one policy, as in auditwheel; Bionic files under another
        # tag (linux_aarch64), which auditwheel cannot judge, are judged on every Android
        # policy, their Bionic symbol versions included
        platforms = platform_tags(filename)
        if not any(map(is_android_tag, platforms)):
            return untagged_policies(policies)
        try:
            policies = policies_for_tags(policies, platforms)
        except AndroidTagError as e:
            raise EvaluationError(e.code, e.reason) from e
    return policies


class _Blockers:
    """Why each policy more compatible than the overall one is out of reach."""

    def __init__(
        self,
        wheel: WheelFacts,
        required: dict[str, set[str]],
        refs: _ExternalRefs,
        isa_levels: dict[str, Architecture],
        ucs2_files: list[str],
        pyfpe_files: list[str],
        above: list[Policy],
    ) -> None:
        self.refs, self.isa_levels = refs, isa_levels
        self.ucs2_files, self.pyfpe_files = tuple(sorted(ucs2_files)), tuple(sorted(pyfpe_files))
        # version -> files needing it, and the undefined symbols bound to it (file:symbol)
        self.version_files: dict[str, set[str]] = defaultdict(set)
        for member in wheel.examined:
            for need in member.facts.version_needs:
                if not is_loader(need.file):
                    for version in need.versions:
                        self.version_files[version].add(member.path)
        # symbols only for the versions reported: those out of reach of a policy above the
        # overall one, and the newest of each bucket (a wheel's files import thousands of
        # symbols, almost all bound to versions no verdict names)
        self.newest_versions = [
            newest_version(versions) for _, versions in sorted(required.items())
        ]
        self.missing = {policy.name: _missing_versions(policy, required) for policy in above}
        reported = set(self.newest_versions).union(*self.missing.values())
        self.version_symbols: dict[str, set[str]] = {version: set() for version in reported}
        for member in wheel.examined if reported else ():
            facts = member.facts
            # a symbol is bound to a version its file needs or defines: no other can match
            if reported.isdisjoint(facts.version_definitions) and all(
                reported.isdisjoint(need.versions) for need in facts.version_needs
            ):
                continue
            symbols = facts.undefined_symbols
            # those bound to a reported version picked out at C speed, then looked at here
            bound = compress(symbols, map(reported.__contains__, map(_VERSION, symbols)))
            loader: dict[str | None, bool] = {}  # a few files per member
            for symbol in bound:
                file = symbol.version_file
                skip = loader.get(file)
                if skip is None:
                    skip = loader[file] = is_loader(file or "")
                if not skip:
                    self.version_symbols[symbol.version or ""].add(symbol.name)  # in reported

    def for_policy(self, policy: Policy) -> tuple[Blocker, ...]:
        found = [
            Blocker(
                BlockerKind.SYMBOL_VERSION,
                version,
                tuple(sorted(self.version_files[version])),
                tuple(sorted(self.version_symbols[version])),
            )
            for version in sort_versions(self.missing[policy.name])
        ]
        found += [
            Blocker(BlockerKind.EXTERNAL_LIBRARY, lib, tuple(sorted(files)))
            for lib, files in sorted(self.refs.libs[policy.name].items())
        ]
        blacklist_files = self.refs.blacklist_files[policy.name]
        found += [
            Blocker(
                BlockerKind.BLACKLISTED_SYMBOL,
                lib,
                tuple(sorted(blacklist_files[lib])),
                tuple(sorted(symbols)),
            )
            for lib, symbols in sorted(self.refs.blacklist[policy.name].items())
        ]
        found += [
            Blocker(BlockerKind.ISA, str(level), (path,)) for path, level in self.isa_levels.items()
        ]
        if self.ucs2_files:
            found.append(Blocker(BlockerKind.UCS2, "PyUnicodeUCS2_*", self.ucs2_files))
        if self.pyfpe_files:
            found.append(Blocker(BlockerKind.PYFPE, "PyFPE_jbuf", self.pyfpe_files))
        return tuple(found)

    def newest(self) -> tuple[Blocker, ...]:
        """Per bucket (GLIBC, GLIBCXX, ...), the newest version needed and who needs it."""
        return tuple(
            Blocker(
                BlockerKind.NEWEST_VERSION,
                version,
                tuple(sorted(self.version_files[version])),
                tuple(sorted(self.version_symbols[version])),
            )
            for version in self.newest_versions
        )


def _claims(
    filename: str,
    libc: Libc,
    arch: Architecture,
    overall_for: Callable[[Libc], Policy | None],
    database: PolicyDatabase,
) -> tuple[tuple[TagClaim, ...], str | None]:
    """Each declared platform tag against the computed policy (over- and under-claims)."""
    overall = overall_for(libc)
    assert overall is not None
    computed = _libc_version(overall.base_name)
    claims: list[TagClaim] = []
    best_declared: tuple[int, ...] | None = None
    for platform in platform_tags(filename):
        try:
            info = platform_tag_info(platform, database)
        except ValueError:
            claims.append(TagClaim(platform, False, "not a Linux platform tag"))
            continue
        if info.base_name is None:
            claims.append(TagClaim(platform, True, "linux_* promises nothing"))
            continue
        other = overall_for(info.libc) if info.libc is not None else None
        if info.arch.baseline is not arch.baseline or other is None:
            claims.append(TagClaim(platform, False, f"the ELF files are {libc} {arch.baseline}"))
            continue
        declared = _libc_version(info.base_name)
        if (
            info.libc is libc
            and declared is not None
            and (best_declared is None or declared < best_declared)
        ):
            best_declared = declared
        needed = _libc_version(other.base_name)
        if needed is not None and declared is not None and needed <= declared:
            claims.append(TagClaim(platform, True))
        else:
            claims.append(TagClaim(platform, False, f"content needs {other.name}"))
    under_claim = None
    # musl has no symbol versions, so the policies cannot tell musl 1.1 from 1.2 code: an
    # under-claim there would be a guess (docs/differences.md)
    if (
        libc is Libc.GLIBC
        and computed is not None
        and best_declared is not None
        and computed < best_declared
    ):
        under_claim = overall.name
    return tuple(claims), under_claim


def _libc_version(base_name: str) -> tuple[int, ...] | None:
    """(2, 17) for manylinux_2_17, (1, 2) for musllinux_1_2, (24,) for android_24 (its API
    level), None for linux."""
    level = api_level(base_name)
    if level is not None:
        return (level,)
    parts = base_name.split("_")
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return None


__all__ = ["EvaluationError", "evaluate"]
