"""Wheel policies as typed, host-independent data.

The data is auditwheel's own policy JSON, copied by ``scripts/update_policies.py`` into
``policy/data/``, the manylinux file also split by architecture (``by_arch_file``). Unlike
auditwheel, nothing here looks at the running machine: a scanner judges other machines'
wheels, so a musl :class:`PolicySet` holds every musllinux policy (auditwheel
keeps only the host's musl version, or musllinux_1_2 on a glibc host). An Android set holds
every API level's policy; a wheel's Android tag picks its one (``policy/android.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from enum import StrEnum
from pathlib import Path
from typing import Any

from wheelscan import fast_json
from wheelscan.errors import CommandError, CommandErrorCode
from wheelscan.fast_enum import StrEnumBody, fast_enum
from wheelscan.fast_tuple import TupleBody, fast_tuple
from wheelscan.records import record

DATA_DIR = Path(__file__).parent / "data"
_BUILTIN_FILES = (
    DATA_DIR / "manylinux-policy.json",
    DATA_DIR / "musllinux-policy.json",
    DATA_DIR / "android-policy.json",
)


@fast_enum(StrEnum)
class Libc(StrEnumBody):
    GLIBC = "glibc"
    MUSL = "musl"
    ANDROID = "android"  # Bionic, Android's libc (PEP 738)

    @property
    def tag_prefix(self) -> str:
        """``manylinux`` (PEP 600), ``musllinux`` (PEP 656) or ``android`` (PEP 738)."""
        return _TAG_PREFIXES[self]


_TAG_PREFIXES = {Libc.GLIBC: "manylinux", Libc.MUSL: "musllinux", Libc.ANDROID: "android"}


@fast_enum(StrEnum)
class Architecture(StrEnumBody):
    aarch64 = "aarch64"
    arm64_v8a = "arm64_v8a"  # aarch64 as Android's platform tags name it (PEP 738)
    armv7l = "armv7l"
    i686 = "i686"
    loongarch64 = "loongarch64"
    ppc64 = "ppc64"
    ppc64le = "ppc64le"
    riscv64 = "riscv64"
    s390x = "s390x"
    x86_64 = "x86_64"
    x86_64_v2 = "x86_64_v2"
    x86_64_v3 = "x86_64_v3"
    x86_64_v4 = "x86_64_v4"

    @property
    def baseline(self) -> Architecture:
        """The architecture named in platform tags: x86-64 ISA levels share ``x86_64``,
        Android's ``arm64_v8a`` is ``aarch64``."""
        if self is Architecture.arm64_v8a:
            return Architecture.aarch64
        return Architecture.x86_64 if self.startswith("x86_64") else self

    def is_subset(self, other: Architecture) -> bool:
        """Whether a machine of ``other`` runs every instruction ``self`` code may use: of one
        baseline, the later in this enum's order (auditwheel's) is the larger instruction set
        (x86_64 < x86_64_v2 < ... < x86_64_v4; aarch64 < arm64_v8a, as auditwheel has it)."""
        return self.baseline is other.baseline and _ORDER[self] <= _ORDER[other]

    def is_superset(self, other: Architecture) -> bool:
        return other.is_subset(self)


_ORDER = {arch: index for index, arch in enumerate(Architecture)}

# auditwheel's _fixup_musl_libc_soname: musl's "libc.so" is libc.musl-<Alpine's arch name>.so.1
_MUSL_ARCH_NAMES = {Architecture.i686: "x86", Architecture.armv7l: "armv7"}
# Android policies are named as Android's platform tags name the ABI (android_24_arm64_v8a),
# which is the name auditwheel gives them once it renames its policy to the wheel's tag
ANDROID_ABI_NAMES = {Architecture.aarch64: "arm64_v8a"}


@record
class Policy:
    """One policy for one (libc, arch); ``min()`` of several is the least compatible."""

    name: str  # manylinux_2_17_x86_64, android_24_arm64_v8a
    base_name: str  # manylinux_2_17, android_24
    aliases: tuple[str, ...]  # ("manylinux2014_x86_64",)
    priority: int  # higher runs on more machines; linux is 0
    libc: Libc
    arch: Architecture
    # {"GLIBC": {"GLIBC_2.2.5", ...}}: full names, as auditwheel compares them; an empty set
    # allows no version of that prefix, an absent prefix allows every version.
    symbol_versions: Mapping[str, frozenset[str]] = field(hash=False)
    whitelist: frozenset[str]
    blacklist: Mapping[str, frozenset[str]] = field(hash=False)  # soname -> symbols

    def __lt__(self, other: Policy) -> bool:
        return self.priority < other.priority


@record(eq=False)
class PolicySet:
    """All policies of one (libc, arch), most compatible first, ``linux_<arch>`` last."""

    libc: Libc
    arch: Architecture  # always a baseline architecture
    policies: tuple[Policy, ...]
    _by_name: Mapping[str, Policy] = field(init=False, repr=False)
    # libraries some policy blacklists symbols of (or all of), and the policies but linux
    # grouped by whitelist (most of an architecture's share one): a wheel's every ELF file
    # is judged against each policy, and these spare walking them one by one
    blacklisted_libraries: frozenset[str] = field(init=False, repr=False)
    whitelist_groups: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        names = {name: p for p in self.policies for name in (p.name, *p.aliases)}
        object.__setattr__(self, "_by_name", names)
        limited = self.policies[:-1]  # linux_* has no whitelist nor blacklist
        blacklisted = frozenset(lib for p in limited for lib in p.blacklist)
        object.__setattr__(self, "blacklisted_libraries", blacklisted)
        groups: dict[frozenset[str], list[str]] = {}
        for p in limited:
            groups.setdefault(p.whitelist, []).append(p.name)
        object.__setattr__(
            self, "whitelist_groups", tuple((w, tuple(n)) for w, n in groups.items())
        )

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    @property
    def linux(self) -> Policy:
        return self.policies[-1]

    @property
    def highest(self) -> Policy:
        """The most compatible policy (manylinux_2_5); ``linux`` if the arch has no other."""
        return self.policies[0]

    @property
    def lowest(self) -> Policy:
        """The least compatible policy but ``linux``; ``linux`` if the arch has no other."""
        return self.policies[-2] if len(self.policies) > 1 else self.policies[-1]

    def get(self, name: str) -> Policy:
        """The policy named ``name`` or having it as an alias (``manylinux2014_x86_64``)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise LookupError(f"no {self.libc} {self.arch} policy named {name!r}") from None


@record(eq=False)
class PolicyDatabase:
    """Every policy set of each libc, built once from the policy files."""

    sets: Mapping[tuple[Libc, Architecture], PolicySet]
    # legacy alias or PEP 600/656 name, without arch -> (libc, base name)
    tag_names: Mapping[str, tuple[Libc, str]]

    def for_platform(self, libc: Libc, arch: Architecture) -> PolicySet:
        """The policies for ``arch``'s baseline: an x86_64_v3 wheel is judged as x86_64."""
        return self.sets[(libc, arch.baseline)]


class PolicyFileError(CommandError, ValueError):
    """A policy file that cannot be read or breaks a rule of PEP 600 / auditwheel."""

    kind = CommandErrorCode.BAD_POLICY_FILE


def load_policies(policy_file: Path | None = None) -> PolicyDatabase:
    """The built-in policies, or with ``policy_file`` replacing the file of its libc.

    A policy file is a JSON list in auditwheel's format; its libc is inferred from its
    policy names (``manylinux_*``, ``musllinux_*`` or ``android_*``).
    """
    if policy_file is None:
        return _builtin_database()
    libc, entries = _load_file(policy_file)
    return _build_database({**_builtin_entries(), libc: entries})


@fast_tuple
class PlatformTagInfo(TupleBody):
    libc: Libc | None  # None for linux_<arch>
    arch: Architecture  # as the tag names it: arm64_v8a in an Android tag
    # manylinux_2_17 for manylinux2014_x86_64; None for linux_<arch>. A PEP 600 tag may name
    # a glibc with no policy of its own (manylinux_2_33), nor an Android tag an API level
    # (android_25), so this need not be in the database.
    base_name: str | None


_ARCH_SUFFIXES = [(f"_{a}", a) for a in Architecture]  # no "_<arch>" ends another: no ties


# A versioned policy name (PEP 600, 656, 738); compiled on first use, by re's own cache
# (issue #15)
_VERSIONED_NAME = r"(manylinux|musllinux)_\d+_\d+|android_\d+"


_LIBC_OF_FAMILY = {libc.tag_prefix: libc for libc in Libc}


def platform_tag_info(tag: str, database: PolicyDatabase | None = None) -> PlatformTagInfo:
    """Split a Linux platform tag; legacy aliases resolve through the policy data."""
    arch = next((a for suffix, a in _ARCH_SUFFIXES if tag.endswith(suffix)), None)
    if arch is None:
        raise ValueError(f"not a Linux platform tag (unknown architecture): {tag!r}")
    name = tag[: -len(arch) - 1]
    if name == "linux":
        return PlatformTagInfo(None, arch, None)
    known = (database or _builtin_database()).tag_names.get(name)
    if known is not None:
        return PlatformTagInfo(known[0], arch, known[1])
    if re.fullmatch(_VERSIONED_NAME, name):
        return PlatformTagInfo(_LIBC_OF_FAMILY[name.partition("_")[0]], arch, name)
    raise ValueError(f"not a Linux platform tag: {tag!r}")


@functools.cache
def _builtin_database() -> PolicyDatabase:
    return _build_database(_builtin_entries())


# The built-in files' libcs, in _BUILTIN_FILES' order. Those files are checked as a user's
# are (``_check_entries``) by tests/test_policy_files.py, not at every start: the checks took
# 1.5 ms of a one-wheel ``show`` (issue #15), to find the data wheelscan ships sound
_BUILTIN_LIBCS = (Libc.GLIBC, Libc.MUSL, Libc.ANDROID)


def _builtin_entries() -> dict[Libc, Any]:
    entries: dict[Libc, Any] = {
        libc: _read(path) for libc, path in zip(_BUILTIN_LIBCS[1:], _BUILTIN_FILES[1:], strict=True)
    }
    return {Libc.GLIBC: _ByArch(), **entries}


# The built-in manylinux policies, one file per architecture beside the whole (its policies,
# each with its symbol versions of that architecture alone): ``scripts/update_policies.py``
# writes them, tests/test_policies.py holds them equal to the whole's split. A ``show``
# judges one architecture's wheel: parsing the whole, 240 KB of JSON for nine
# architectures, was 9.5M instructions and 250 page faults of its start-up (issue #15),
# one architecture's is 2.4M. (The store's policy digest, store/codec.py, hashes these
# files beside the whole ones.)
def by_arch_file(arch: str) -> Path:
    return DATA_DIR / f"manylinux.{arch}.json"


def split_by_arch(entries: Any) -> dict[str, Any]:
    """A manylinux policy list as ``by_arch_file``'s: for each architecture some policy
    has symbol versions of, every policy with those alone (``{}`` where it has none)."""
    arches = sorted({arch for e in entries for arch in e["symbol_versions"]})
    return {
        arch: [
            {**e, "symbol_versions": {a: v for a, v in e["symbol_versions"].items() if a == arch}}
            for e in entries
        ]
        for arch in arches
    }


class _ByArch:
    """The built-in manylinux policy list, read one architecture's file at a time: the
    policies (names, aliases, priorities, libraries) are every file's; each file's symbol
    versions are its architecture's alone. Iterated, the policies as the x86_64 file has
    them, for their names; ``for_arch``, a baseline's own file."""

    def __init__(self) -> None:
        self._read: dict[str, Any] = {}

    def for_arch(self, arch: str) -> Any:
        entries = self._read.get(arch)
        if entries is None:
            path = by_arch_file(arch)
            # an architecture no manylinux policy names has no file: only linux_<arch>
            entries = _read(path) if path.is_file() else [e for e in self if e["name"] == "linux"]
            entries = self._read.setdefault(arch, entries)
        return entries

    def __iter__(self) -> Iterator[Any]:
        return iter(self.for_arch(Architecture.x86_64.value))


def _load_file(path: Path) -> tuple[Libc, Any]:
    entries = _read(path)
    return _check_entries(entries, str(path)), entries


def _read(path: Path) -> Any:
    try:
        # json.loads without importing json (fast_json.py)
        return fast_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # (json's JSONDecodeError and UnicodeDecodeError)
        raise PolicyFileError(f"{path}: cannot read a JSON policy list: {e}") from e


def _build_database(files: Mapping[Libc, Any]) -> PolicyDatabase:
    tag_names: dict[str, tuple[Libc, str]] = {}
    for libc, entries in files.items():
        named = [e for e in entries if e["name"] != "linux"]
        tag_names.update({n: (libc, e["name"]) for e in named for n in (e["name"], *e["aliases"])})
    return PolicyDatabase(_PolicySets(files), tag_names)


class _PolicySets(Mapping[tuple[Libc, Architecture], PolicySet]):
    """Each (libc, baseline arch)'s policy set, built the first time it is asked for: a
    wheel is judged against one of the 27 (``show`` built all 154 policies at start-up, a
    few ms of a run on one small wheel; a batch worker builds the few its wheels need)."""

    def __init__(self, files: Mapping[Libc, Any]) -> None:
        self._files = files
        self._keys = [(libc, arch) for libc in files for arch in _BASELINES]
        self._built: dict[tuple[Libc, Architecture], PolicySet] = {}

    def __getitem__(self, key: tuple[Libc, Architecture]) -> PolicySet:
        built = self._built.get(key)
        if built is None:
            if key not in self._keys:
                raise KeyError(key)
            libc, arch = key
            entries = self._files[libc]
            if isinstance(entries, _ByArch):
                entries = entries.for_arch(arch.value)
            covered = (e for e in entries if e["name"] == "linux" or arch in e["symbol_versions"])
            policies = [_build(e, libc, arch) for e in covered]
            policies.sort(key=lambda p: p.priority, reverse=True)
            # threads that build the same set at once build equal ones: either is kept
            built = self._built.setdefault(key, PolicySet(libc, arch, tuple(policies)))
        return built

    def __iter__(self) -> Iterator[tuple[Libc, Architecture]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


# each baseline once, in Architecture's order (the sets' order, as they were built before)
_BASELINES = tuple(dict.fromkeys(a.baseline for a in Architecture))


def _build(entry: Any, libc: Libc, arch: Architecture) -> Policy:
    base = entry["name"]
    versions = {} if base == "linux" else entry["symbol_versions"][arch.value]
    musl = f"libc.musl-{_MUSL_ARCH_NAMES.get(arch, arch.value)}.so.1"
    libc_so = musl if libc is Libc.MUSL else "libc.so"
    whitelist = [libc_so if lib == "libc.so" else lib for lib in entry["lib_whitelist"]]
    android = libc is Libc.ANDROID and base != "linux"
    return Policy(
        name=f"{base}_{ANDROID_ABI_NAMES.get(arch, arch) if android else arch}",
        base_name=base,
        aliases=tuple(f"{alias}_{arch}" for alias in entry["aliases"]),
        priority=entry["priority"],
        libc=libc,
        arch=arch,
        symbol_versions={p: frozenset(f"{p}_{v}" for v in vs) for p, vs in versions.items()},
        whitelist=frozenset(whitelist),
        blacklist={lib: frozenset(symbols) for lib, symbols in entry["blacklist"].items()},
    )


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _string_lists(value: object) -> bool:  # {"libz.so.1": ["zcalloc", ...]}
    return isinstance(value, dict) and all(_strings(v) for v in value.values())


# arm64_v8a only names aarch64 in Android's tags: policy files key aarch64, as auditwheel's do
_POLICY_ARCHES = frozenset(a.value for a in Architecture if a is not Architecture.arm64_v8a)
_FIELDS: dict[str, Callable[[object], bool]] = {
    "name": lambda v: isinstance(v, str),
    "aliases": _strings,
    "priority": lambda v: type(v) is int,
    "symbol_versions": lambda v: (
        isinstance(v, dict)
        and all(arch in _POLICY_ARCHES and _string_lists(s) for arch, s in v.items())
    ),
    "lib_whitelist": _strings,
    "blacklist": _string_lists,
}


def _check_entries(entries: Any, source: str) -> Libc:
    """Check a policy list's shape and PEP 600 rules; return the libc its names belong to."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PolicyFileError(f"{source}: expected a JSON list of policy objects")
    for index, entry in enumerate(entries):
        for key, is_valid in _FIELDS.items():
            if key not in entry or not is_valid(entry[key]):
                problem = f"field {key!r} is missing or not of auditwheel's type"
                raise PolicyFileError(f"{source}: policy #{index} {entry.get('name')}: {problem}")
    named = [e for e in entries if e["name"] != "linux"]
    if [e["priority"] for e in entries if e["name"] == "linux"] != [0]:
        raise PolicyFileError(f"{source}: needs exactly one 'linux' policy, with priority 0")
    prefixes = {re.fullmatch(_VERSIONED_NAME, e["name"]) and e["name"].split("_")[0] for e in named}
    if len(prefixes) != 1 or None in prefixes:
        raise PolicyFileError(
            f"{source}: policy names must all be manylinux_X_Y (PEP 600), all musllinux_X_Y"
            f" (PEP 656) or all android_N (PEP 738), got {sorted(e['name'] for e in named)}"
        )
    names = [n for e in named for n in (e["name"], *e["aliases"])]
    priorities = [e["priority"] for e in named]
    if len({*names}) < len(names) or len({*priorities}) < len(priorities) or min(priorities) < 1:
        raise PolicyFileError(f"{source}: repeated name, alias or priority, or a priority < 1")
    _check_pep600(named, source)
    (family,) = prefixes
    assert family is not None  # checked above
    return _LIBC_OF_FAMILY[family]


def _check_pep600(named: list[Any], source: str) -> None:
    """PEP 600: a wheel meeting a policy meets every less compatible one, so going down in
    priority whitelists and (arch, prefix) symbol versions only grow. As in auditwheel's
    ``_validate_pep600_compliance``, a prefix or arch missing from a later policy is no shrink."""
    whitelist: set[str] = set()
    versions: dict[tuple[str, str], set[str]] = {}
    for entry in sorted(named, key=lambda e: e["priority"], reverse=True):
        if missing := whitelist - set(entry["lib_whitelist"]):
            raise PolicyFileError(
                f"{source}: {entry['name']} drops whitelisted libraries that more compatible"
                f" policies allow (PEP 600 whitelists only grow): {sorted(missing)}"
            )
        whitelist.update(entry["lib_whitelist"])
        for arch, prefixes in entry["symbol_versions"].items():
            for prefix, allowed in prefixes.items():
                seen = versions.setdefault((arch, prefix), set())
                if missing := seen - set(allowed):
                    raise PolicyFileError(
                        f"{source}: {entry['name']}_{arch} drops {prefix} symbol versions that"
                        f" more compatible policies allow (PEP 600): {sorted(missing)}"
                    )
                seen.update(allowed)
