"""Which rows a report covers: ``report --project`` and ``--arch``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from wheelscan.report.claims import platform_of
from wheelscan.report.statistics import Filters


@dataclass(frozen=True)
class RowFilter:
    """Keeps the rows of some projects and architectures; empty sets keep everything."""

    projects: frozenset[str] = frozenset()  # canonical names
    architectures: frozenset[str] = frozenset()

    @classmethod
    def of(cls, projects: Iterable[str] = (), architectures: Iterable[str] = ()) -> RowFilter:
        return cls(frozenset(canonicalize_name(p) for p in projects), frozenset(architectures))

    def describe(self) -> Filters:
        return Filters(tuple(sorted(self.projects)), tuple(sorted(self.architectures)))

    def keep(self, row: Mapping[str, Any]) -> bool:
        if self.projects and canonicalize_name(row["project"]) not in self.projects:
            return False
        return not self.architectures or architecture(row) in self.architectures

    def __call__(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        return (row for row in rows if self.keep(row))


def architecture(row: Mapping[str, Any]) -> str:
    """The verdict's architecture (the ELF files'), else the one the filename names."""
    verdict = row.get("verdict")
    if verdict is not None:
        return str(verdict["architecture"])
    if row.get("architecture"):
        return str(row["architecture"])
    try:
        tags = parse_wheel_filename(row["filename"])[3]
    except InvalidWheelFilename:
        return "unknown"
    return platform_of(tags)[0]
