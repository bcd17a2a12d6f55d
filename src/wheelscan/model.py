"""The records that cross the pipeline's stages, in one module at the bottom of the house.

A wheel's facts (what the reader found: ``WheelFacts``, its ``ElfMember`` files and, read
strictly, its ``IntegrityProblem``s) go from the wheel reader to the policy, the store and
the reports; a worker's ``WheelResult`` goes from the engine to the store. Defined here,
each stage imports them without importing the stage that makes them: judging facts needs no
zip reader, storing a result no engine (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelscan.elf.facts import ElfFacts
from wheelscan.records import record

if TYPE_CHECKING:
    # named in annotations only: the sources (and with them packaging's tags) and the
    # verdict records are not what reading a wheel needs, and ``show`` reads before it
    # imports them (cli/show.py)
    from wheelscan.policy.verdict import AuditError, Verdict
    from wheelscan.sources.base import WheelRef


@record(slots=True)
class IntegrityProblem:
    """What an installer lets through but a gate should see; ``code`` is stable."""

    code: str  # record-hash-mismatch, record-size-mismatch, unrecorded-member,
    # unhashed-member, record-lists-missing-file, wheel-tag-mismatch
    member: str | None
    detail: str


@record(slots=True)
class ElfMember:
    """One ELF member of a wheel: its name, its facts, and how RECORD lists it."""

    path: str  # the member's name in the archive
    facts: ElfFacts
    # listed in RECORD and not *.py: auditwheel examines only these; pip installs every
    # member whatever RECORD says, so wheelscan judges the others too, and reports them
    # (finding ``unlisted-elf``)
    in_record: bool
    size: int = 0  # uncompressed bytes


@record
class WheelFacts:
    """What a verdict needs from a wheel: its name and its ELF members' facts."""

    filename: str
    # every ELF member: those RECORD lists in its order first (auditwheel's order matters:
    # the first ELF fixes the architecture and libc), then the rest in archive order
    elf_files: tuple[ElfMember, ...]
    # read with ``strict``: every byte inflated and checked (wheel/integrity.py), every
    # member examined whatever its name; ``integrity``: what an installer lets through
    strict: bool = False
    integrity: tuple[IntegrityProblem, ...] = ()

    @property
    def examined(self) -> tuple[ElfMember, ...]:
        """The members a verdict judges: every ELF member. auditwheel examines only those
        RECORD lists, but an installer installs them all (pip extracts every member of the
        zip): a library left out of RECORD must not escape the verdict (issue #14)."""
        return self.elf_files


# What a worker sends back for one wheel: small, versioned, picklable. The parent owns the
# store, progress and statistics; ``facts`` is kept so the store can re-judge the wheel later
# without reading it.
RESULT_VERSION = 2


@record
class WheelResult:
    """One wheel's outcome, as a worker returns it: its facts and verdict, or its error."""

    ref: WheelRef
    sha256: str | None  # the index's, else computed from the bytes read; None if unreadable
    facts: WheelFacts | None  # None when the wheel could not be read
    verdict: Verdict | AuditError
    bytes_read: int  # bytes fetched or mapped and touched: what the scan cost in I/O
    elf_bytes: int  # uncompressed bytes of the ELF members parsed
    seconds: float
    reused_elf_bytes: int = 0  # ELF bytes whose facts came from an identical member seen before
    # where the listing gave no size (a PEP 503 page): the file's, as the server's answers
    # named it while the wheel was read (None: the listing gave one, or nothing named it)
    size_named: int | None = None
    version: int = RESULT_VERSION

    @property
    def size(self) -> int | None:
        """The file's size in bytes: the listing's, else as its server named it."""
        return self.ref.size if self.ref.size is not None else self.size_named

    @property
    def ok(self) -> bool:
        from wheelscan.policy.verdict import Verdict

        return isinstance(self.verdict, Verdict)
