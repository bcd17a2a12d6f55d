"""Every error wheelscan raises on purpose, and the stable codes they carry.

At the bottom of the house: this module imports nothing of wheelscan but its enums' maker
(fast_enum.py), so every stage, the native core included, raises from here, and a caller
tells an error wheelscan meant from a bug by one base class (``WheelscanError``), as
pip-audit's ``ServiceError`` does.

Each code is listed once, in one of three enums, and documented in docs/codes.md (a test
holds the two equal). The enums are ``StrEnum``: a member *is* its spelling, so what is
stored, printed and written as JSON is the same string as before there were enums.

- ``ErrorCode``: why a wheel has no verdict, the ``code`` of its ``AuditError`` (stored).
- ``ElfErrorCode``: why a buffer is no ELF file wheelscan can read (``ElfError``); inside a
  wheel it becomes the ``ErrorCode`` ``ELF_ERROR_CODES`` maps it to.
- ``CommandErrorCode``: why a command stops before or while it works (``CommandError``):
  said in one line, never stored.

An unlisted code is refused where the error is made (``ValueError``): a code is a promise
to whoever reads a store or a report, not a free string.
"""

from __future__ import annotations

import errno
from enum import StrEnum
from typing import Any, ClassVar

# made by enum's fast path (fast_enum.py): the only module of wheelscan this one imports
from wheelscan.fast_enum import StrEnumBody, fast_enum


@fast_enum(StrEnum)
class ErrorCode(StrEnumBody):
    """Why a wheel could not be judged: an ``AuditError``'s code (docs/codes.md)."""

    # the archive, read as pip installs it (wheel/archive.py, native/_zipdir.pyx)
    NOT_ZIP = "not-zip"
    TRUNCATED = "truncated"
    BAD_ZIP = "bad-zip"
    AMBIGUOUS_ZIP = "ambiguous-zip"
    CRC_MISMATCH = "crc-mismatch"
    SIZE_MISMATCH = "size-mismatch"
    BAD_DEFLATE = "bad-deflate"
    TOO_LARGE = "too-large"
    ZIP_BOMB = "zip-bomb"
    OVERLAPPING_MEMBERS = "overlapping-members"
    DUPLICATE_MEMBER = "duplicate-member"
    LOCAL_HEADER_MISMATCH = "local-header-mismatch"
    UNSAFE_PATH = "unsafe-path"
    UNSUPPORTED_COMPRESSION = "unsupported-compression"
    NO_RECORD = "no-record"
    BAD_RECORD = "bad-record"
    SCATTERED_TABLES = "scattered-tables"
    # read with --strict (wheel/integrity.py), or against the index's sha256 (engine/task.py)
    BAD_FILENAME = "bad-filename"
    DIST_INFO_MISMATCH = "dist-info-mismatch"
    SHA256_MISMATCH = "sha256-mismatch"
    TRAILING_DATA = "trailing-data"
    # an ELF member that cannot be read: its ElfErrorCode under ``elf-`` (ELF_ERROR_CODES)
    ELF_NOT_ELF = "elf-not-elf"
    ELF_TRUNCATED = "elf-truncated"
    ELF_BAD_HEADER = "elf-bad-header"
    ELF_BAD_OFFSET = "elf-bad-offset"
    ELF_BAD_TABLE = "elf-bad-table"
    ELF_TOO_LARGE = "elf-too-large"
    ELF_AMBIGUOUS = "elf-ambiguous"
    # facts that cannot be judged as a platform wheel's (policy/)
    INTERPRETER_LIBC_MISMATCH = "interpreter-libc-mismatch"
    MIXED_LIBC = "mixed-libc"
    UNKNOWN_LIBC = "unknown-libc"
    ELF_IN_PURELIB = "elf-in-purelib"
    NOT_PLATFORM_WHEEL = "not-platform-wheel"
    ANDROID_PLATFORM_TAGS = "android-platform-tags"
    NO_ANDROID_POLICY = "no-android-policy"
    # the run's: where the wheel is, how it was fetched, what became of its worker
    REFUSED_LINK = "refused-link"
    SHA256_CONFLICT = "sha256-conflict"
    DOWNLOAD_FAILED = "download-failed"
    FILE_CHANGED = "file-changed"
    TIMEOUT = "timeout"
    WORKER_CRASHED = "worker-crashed"
    OUT_OF_MEMORY = "out-of-memory"
    IO_ERROR = "io-error"
    # ``wheelscan show`` given a path that names no file
    NOT_FOUND = "not-found"
    NOT_A_FILE = "not-a-file"
    IS_A_DIRECTORY = "is-a-directory"


@fast_enum(StrEnum)
class ElfErrorCode(StrEnumBody):
    """Why a buffer is not an ELF file wheelscan can read (elf/facts.py gives the rules)."""

    NOT_ELF = "not-elf"
    TRUNCATED = "truncated"
    BAD_HEADER = "bad-header"
    BAD_OFFSET = "bad-offset"
    BAD_TABLE = "bad-table"
    TOO_LARGE = "too-large"
    AMBIGUOUS = "ambiguous"  # glibc's loader and the other readers would read it two ways


# An ELF member's error as its wheel's: one entry per ElfErrorCode (a test holds it whole)
ELF_ERROR_CODES: dict[ElfErrorCode, ErrorCode] = {
    ElfErrorCode.NOT_ELF: ErrorCode.ELF_NOT_ELF,
    ElfErrorCode.TRUNCATED: ErrorCode.ELF_TRUNCATED,
    ElfErrorCode.BAD_HEADER: ErrorCode.ELF_BAD_HEADER,
    ElfErrorCode.BAD_OFFSET: ErrorCode.ELF_BAD_OFFSET,
    ElfErrorCode.BAD_TABLE: ErrorCode.ELF_BAD_TABLE,
    ElfErrorCode.TOO_LARGE: ErrorCode.ELF_TOO_LARGE,
    ElfErrorCode.AMBIGUOUS: ErrorCode.ELF_AMBIGUOUS,
}


@fast_enum(StrEnum)
class CommandErrorCode(StrEnumBody):
    """Why a command stops: a ``CommandError``'s code. Never stored; tests and callers of
    the library tell the failures apart by it (the user reads the one line)."""

    USAGE = "usage"  # an option or argument the user must change
    BAD_POLICY_FILE = "bad-policy-file"
    NO_ELF_BACKEND = "no-elf-backend"
    SOURCE_UNREADABLE = "source-unreadable"  # a mirror, a directory, an index page
    NO_INDEX_URL = "no-index-url"
    SCHEDULER_UNREACHABLE = "scheduler-unreachable"  # --engine dask
    # the store (store/errors.py): SQLite's failures, each with a hint
    LOCKED = "locked"
    DISK_FULL = "disk-full"
    READ_ONLY = "read-only"
    CANNOT_OPEN = "cannot-open"
    IO_ERROR = "io-error"
    NOT_A_STORE = "not-a-store"
    CORRUPT = "corrupt"
    SQLITE_ERROR = "sqlite-error"
    # the store's own rules
    SCHEMA_VERSION = "schema-version"
    UNREADABLE_WAL = "unreadable-wal"
    RUN_LOCK_HELD = "run-lock-held"
    RUN_IN_PROGRESS = "run-in-progress"
    # the command's own output: stdout, or the file ``report -o`` names (``OutputError``)
    OUTPUT_UNWRITABLE = "output-unwritable"


class WheelscanError(Exception):
    """An error wheelscan raises on purpose: ``code``, stable, one of the class's ``codes``;
    ``reason``, what exactly, in one line; ``member``, the wheel's member it concerns, if
    any. ``str()`` is ``code: reason (member)``."""

    codes: ClassVar[type[StrEnum]] = ErrorCode
    code: StrEnum
    reason: str
    member: str | None

    def __init__(self, code: str, reason: str, member: str | None = None) -> None:
        super().__init__(code, reason, member)
        self.code = self.codes(code)  # ValueError for a code no enum lists
        self.reason = reason
        self.member = member

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}" + (f" ({self.member})" if self.member else "")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # workers send errors to the parent: rebuilt from the fields, not from ``args``
        return (type(self), (str(self.code), self.reason, self.member))


class InflateError(WheelscanError):
    """A deflate stream that is not valid, or inflates to another size than declared: the
    one class both inflaters raise (native/_inflate.pyx, wheel/inflate_isal.py). Its reader
    makes it the member's WheelError."""


class CommandError(WheelscanError):
    """A command cannot go on, for a reason the user (or the world: an index that is down)
    can act on: said in one line, its ``reason``, with exit status 2 and no traceback
    (cli/main.py). Each subclass names its ``kind``."""

    codes = CommandErrorCode
    code: CommandErrorCode
    kind: ClassVar[CommandErrorCode]

    def __init__(self, reason: str) -> None:
        super().__init__(self.kind, reason)

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (self.reason,))


class OutputError(CommandError):
    """The command's output cannot be written: stdout or the file ``-o`` names is on a full
    disk, failed (EIO), or its reader went away (``broken_pipe``: a ``| head`` that has read
    enough, which needs no message). Exit status 2, as every CommandError's: a CI gate must
    not read a lost report as a finding (1)."""

    kind = CommandErrorCode.OUTPUT_UNWRITABLE

    def __init__(self, reason: str, broken_pipe: bool = False) -> None:
        super().__init__(reason)
        self.broken_pipe = broken_pipe

    @classmethod
    def of(cls, error: OSError, where: str | None = None) -> OutputError:
        """``error`` of a write to the output (``where``: the file's name; None for stdout):
        one message for every format, the command's ``-o`` and the store's export alike."""
        reason = error.strerror or str(error)
        if where is not None:
            reason = f"{where}: {reason}"
        return cls(f"cannot write the output: {reason}", broken_pipe=error.errno == errno.EPIPE)
