"""ELF facts: the record, the two backends and the switch between them.

The backend is chosen explicitly with ``WHEELSCAN_ELF_BACKEND`` (``native``, the default, or
``reference``); a missing native core is an error, never a silent fall back to the slow path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from wheelscan.backend import BACKEND_ENV, backend_name
from wheelscan.elf.facts import (
    ElfClass,
    ElfError,
    ElfFacts,
    Endianness,
    Machine,
    NeedBytes,
    SymbolBinding,
    SymbolType,
    UndefinedSymbol,
    VersionNeed,
)
from wheelscan.elf.types import Buffer
from wheelscan.errors import CommandError, CommandErrorCode

BACKENDS = ("native", "reference")

Parser = Callable[[Buffer], ElfFacts]


class PartialParser(Protocol):
    """The native parser's partial-buffer mode: ``buffer`` holds the file's bytes only in
    the ``available`` [start, end) ranges; raises NeedBytes for bytes outside them, and
    ElfError as a Parser does."""

    def __call__(
        self, buffer: Buffer, available: Sequence[tuple[int, int]] | None = None, /
    ) -> ElfFacts: ...


class BackendError(CommandError, RuntimeError):
    """The configured ELF backend does not exist or cannot be loaded."""

    kind = CommandErrorCode.NO_ELF_BACKEND


def get_parser(backend: str | None = None) -> Parser:
    """The ``parse(buffer) -> ElfFacts`` function of the chosen backend."""
    name = backend or backend_name()
    if name == "native":
        try:
            from wheelscan import _native
        except ImportError as e:  # never fall back to the slow path silently
            raise BackendError(f"the native ELF core is not built: {e}") from e

        return _native.parse_elf
    if name == "reference":
        from wheelscan.elf.reference import parse_elf

        return parse_elf
    raise BackendError(f"{BACKEND_ENV}={name!r}: choose one of {', '.join(BACKENDS)}")


def partial_parser() -> PartialParser | None:
    """The native parser's partial-buffer mode, when native is active.

    The reference reader needs whole files; with it, members are inflated whole.
    """
    if backend_name() != "native":
        return None
    from wheelscan import _native

    return _native.parse_elf


def parse_elf(buffer: Buffer) -> ElfFacts:
    """Parse one ELF file held in ``buffer`` with the configured backend."""
    return get_parser()(buffer)


__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "BackendError",
    "ElfClass",
    "ElfError",
    "ElfFacts",
    "Endianness",
    "Machine",
    "NeedBytes",
    "Parser",
    "PartialParser",
    "SymbolBinding",
    "SymbolType",
    "UndefinedSymbol",
    "VersionNeed",
    "backend_name",
    "get_parser",
    "parse_elf",
    "partial_parser",
]
