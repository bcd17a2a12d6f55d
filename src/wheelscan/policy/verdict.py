"""The verdict on one wheel: every criterion separately, the overall tag, and the reasons.

auditwheel's ``WheelAbIInfo`` keeps one policy per criterion beside the overall one; this
record does too, and adds what auditwheel does not say: which symbol in which file blocks
which policy, whether the filename's tags hold, and the checks it does not make.
"""

from __future__ import annotations

from dataclasses import field, fields
from enum import StrEnum
from typing import Any

from wheelscan.fast_enum import StrEnumBody, fast_enum
from wheelscan.records import record


@fast_enum(StrEnum)
class Criterion(StrEnumBody):
    """What a verdict judges separately (auditwheel's ``WheelAbIInfo``), each the key of
    ``Verdict.criteria`` spelled as the reports and the JSON output spell it (docs/codes.md).
    In this order: a wheel's criteria are listed so."""

    SYMBOL_VERSIONS = "symbol_versions"
    EXTERNAL_LIBRARIES = "external_libraries"
    BLACKLIST = "blacklist"
    ISA = "isa"
    UCS2 = "ucs2"
    PYFPE = "pyfpe"


@fast_enum(StrEnum)
class BlockerKind(StrEnumBody):
    """What a Blocker is, stored and written as spelled here (docs/codes.md)."""

    # what rules a policy out (Verdict.upgrades)
    SYMBOL_VERSION = "symbol-version"
    EXTERNAL_LIBRARY = "external-library"
    BLACKLISTED_SYMBOL = "blacklisted-symbol"
    ISA = "isa"
    UCS2 = "ucs2"
    PYFPE = "pyfpe"
    # the newest version a bucket needs (Verdict.newest_versions)
    NEWEST_VERSION = "newest-version"
    # what breaks a declared tag that names no policy the verdict checked (report/claims.py)
    PLATFORM_MISMATCH = "platform-mismatch"
    NOT_LINUX = "not-linux"


@record(slots=True)
class Blocker:
    """One reason a policy, or a declared tag, is out of reach."""

    kind: BlockerKind
    subject: str  # GLIBC_2.29 | libfoo.so.1 | x86_64_v3 | the symbol name | the tag
    files: tuple[str, ...] = ()  # wheel members to blame
    symbols: tuple[str, ...] = ()  # undefined symbols to blame


@record(slots=True)
class PolicyCheck:
    """A policy more compatible than the overall one, and everything that rules it out."""

    policy: str
    blockers: tuple[Blocker, ...]


@record(slots=True)
class TagClaim:
    """One platform tag of the filename, and whether the content keeps its promise."""

    tag: str
    holds: bool
    reason: str = ""


@record(slots=True)
class Finding:
    """Something auditwheel does not check (executable stack, GLIBC_PRIVATE, RPATH, ABI)."""

    kind: str
    file: str
    detail: str


@record
class Verdict:
    """A wheel judged: its best policy, each declared tag's claim, and what blocks the next."""

    wheel: str
    libc: str
    architecture: str
    overall_tag: str
    # criterion (a Criterion's spelling) -> the most compatible policy it allows
    criteria: dict[str, str]
    # library -> versions needed from it (loader excluded), as auditwheel reports them
    versioned_symbols: dict[str, tuple[str, ...]]
    # libraries the most compatible policy would need grafted (None: not found in the wheel)
    external_libraries: tuple[str, ...]
    # every policy more compatible than the overall one, the most compatible first: the last
    # is the next better policy, the one a maintainer would aim for (``next_upgrade``)
    upgrades: tuple[PolicyCheck, ...]
    declared: tuple[TagClaim, ...]
    findings: tuple[Finding, ...]
    elf_files: tuple[str, ...]
    # the most compatible tag the content meets, when it beats every declared tag
    under_claim: str | None = None
    # per symbol-version bucket, the newest version needed, the files and symbols needing it
    newest_versions: tuple[Blocker, ...] = ()
    ignored_elf_files: tuple[str, ...] = field(default=())

    @property
    def next_upgrade(self) -> PolicyCheck | None:
        """The policy just above the overall one, and what rules it out (None at the top)."""
        return self.upgrades[-1] if self.upgrades else None

    @property
    def over_claims(self) -> tuple[str, ...]:
        """Declared tags the content breaks."""
        return tuple(c.tag for c in self.declared if not c.holds)

    def to_json(self) -> dict[str, Any]:
        # not orjson: a wheel named on the command line may carry undecodable bytes
        # (surrogates), which json.dumps escapes and orjson refuses
        data: dict[str, Any] = plain(self)
        data["over_claims"] = list(self.over_claims)
        return data

    def to_json_bytes(self) -> bytes:
        """``to_json()`` as compact JSON: what the store compresses. orjson writes the nested
        records (dataclasses, tuples) itself, at C speed: ``dataclasses.asdict`` copied every
        field of every blocker first, a fifth of evaluating a wheel. (The store never sees a
        name with surrogates: sources refuse them, ``wheel_ref``.)"""
        import orjson  # the store's: not for ``show``, which starts reading before it is needed

        data = {name: getattr(self, name) for name in _VERDICT_FIELDS}
        data["over_claims"] = self.over_claims
        return orjson.dumps(data)


_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))


@record
class AuditError:
    """A wheel that could not be judged, and why (``code`` is stable)."""

    wheel: str
    code: str
    reason: str
    member: str | None = None

    def __post_init__(self) -> None:
        # a reason may name the URL it failed on, and an index URL may carry a token: it
        # must never reach the store, a report or a terminal
        from wheelscan.wheel.remote import redact_text

        object.__setattr__(self, "reason", redact_text(self.reason))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        return data


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` of a record, as it would be: records made dicts, tuples and
    dicts copied, the rest (strings, numbers, enums: immutable) as is, where asdict takes a
    deep copy of each (a verdict's JSON took twice as long)."""
    kind = type(value)
    names = _FIELD_NAMES.get(kind, _UNSEEN)
    if names is _UNSEEN:
        names = _FIELD_NAMES[kind] = _field_names(kind)
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if type(value) is tuple or type(value) is list:
        return type(value)(map(plain, value))
    if type(value) is dict:
        return {plain(key): plain(item) for key, item in value.items()}
    return value


# Each type's field names (None: not a record), looked up once: ``fields()`` filtered a
# record's fields anew for each of the 900 records of onnxruntime 1.31.1's verdict, a third
# of its JSON's making, after its reading (issue #15)
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}
_UNSEEN: Any = object()


def _field_names(kind: type) -> tuple[str, ...] | None:
    if not hasattr(kind, "__dataclass_fields__"):
        return None
    return tuple(f.name for f in fields(kind))
