"""The first few of many, by a total order, in bounded memory, whatever order they come in.

A report names the wheels behind a count, but a count may be a million wheels: it keeps the
``limit`` smallest by name (and a tie-breaker) and counts the rest, so that the same store
gives the same report however its rows were stored.
"""

from __future__ import annotations

import bisect
from typing import Generic, TypeVar

from wheelscan.report.statistics import WheelList

T = TypeVar("T")


class Smallest(Generic[T]):
    """``add`` keys with their items; ``items`` is the ``limit`` smallest keys' items."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._kept: list[tuple[tuple[str, ...], T]] = []

    def add(self, key: tuple[str, ...], item: T) -> None:
        self.count += 1
        if len(self._kept) == self.limit and (not self._kept or key >= self._kept[-1][0]):
            return
        bisect.insort(self._kept, (key, item), key=lambda entry: entry[0])
        del self._kept[self.limit :]

    def items(self) -> tuple[T, ...]:
        return tuple(item for _, item in self._kept)


class WheelLister:
    """Per key (a pair of tags, an error code, a finding kind), the wheels behind its count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: dict[str, Smallest[str]] = {}

    def add(self, key: str, filename: str, tiebreak: str) -> None:
        smallest = self._keys.get(key)
        if smallest is None:
            smallest = self._keys[key] = Smallest(self.limit)
        smallest.add((filename, tiebreak), filename)

    def result(self) -> tuple[WheelList, ...]:
        """Most wheels first, ties by key."""
        return tuple(
            WheelList(key, s.count, s.items())
            for key, s in sorted(self._keys.items(), key=lambda kv: (-kv[1].count, kv[0]))
        )
