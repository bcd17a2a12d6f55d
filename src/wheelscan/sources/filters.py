"""Which listed wheels an audit reads, decided from the WheelRef alone (never by opening one)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from packaging.utils import canonicalize_name

from wheelscan.policy.policies import Architecture
from wheelscan.sources.base import (
    Source,
    SourceError,
    WheelRef,
    is_linux_platform_wheel,
    wheel_architectures,
)


@dataclass(frozen=True)
class WheelFilter:
    """Linux platform wheels only, then the optional criteria; ``None`` means any.

    Build one with :meth:`create`, which normalises what a user typed.
    """

    projects: frozenset[str] | None = None  # canonical (PEP 503) names
    architectures: frozenset[str] | None = None  # as platform tags name them: x86_64, aarch64
    since: datetime | None = None  # timezone-aware

    @classmethod
    def create(
        cls,
        projects: Iterable[str] | None = None,
        architectures: Iterable[str] | None = None,
        since: datetime | date | str | None = None,
    ) -> WheelFilter:
        return cls(
            None if projects is None else frozenset(map(canonicalize_name, projects)),
            None if architectures is None else frozenset(map(_architecture, architectures)),
            None if since is None else parse_since(since),
        )

    def accepts(self, ref: WheelRef) -> bool:
        if not is_linux_platform_wheel(ref.filename):  # pure, win_*, macosx_*: never opened
            return False
        if self.projects is not None and ref.project not in self.projects:
            return False
        if self.architectures is not None and not (
            wheel_architectures(ref.filename) & self.architectures
        ):
            return False
        # a wheel whose upload time the source does not know passes: --since narrows, never hides
        return (
            self.since is None or ref.upload_time is None or _aware(ref.upload_time) >= self.since
        )


class FilteredSource:
    """A source seen through a :class:`WheelFilter`."""

    def __init__(self, source: Source, wheel_filter: WheelFilter) -> None:
        self.source = source
        self.filter = wheel_filter
        self.name = source.name
        # wheels --since let through because the source gives no upload time (a directory,
        # a mirror without PEP 700 data): the caller says so, or the filter seems to work
        self.undated = 0

    @property
    def failed_pages(self) -> list[SourceError]:
        """The source's project pages that could not be read so far (a simple index's)."""
        return list(getattr(self.source, "failed_pages", ()))

    def prepare(self) -> None:
        self.source.prepare()

    def wheels(self) -> Iterator[WheelRef]:
        for ref in self.source.wheels():
            if self.filter.accepts(ref):
                if self.filter.since is not None and ref.upload_time is None:
                    self.undated += 1
                yield ref


def parse_since(value: datetime | date | str) -> datetime:
    """``2024-05-01`` or an ISO 8601 date-time; without a time zone, UTC is meant."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as e:
            raise SourceError(f"--since {value!r}: not an ISO 8601 date or date-time") from e
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return _aware(value)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _architecture(name: str) -> str:
    try:
        return str(Architecture(name).baseline)  # x86_64_v3 wheels are tagged x86_64
    except ValueError as e:
        known = ", ".join(a for a in Architecture if a == a.baseline)
        raise SourceError(f"--arch {name!r}: unknown architecture (known: {known})") from e
