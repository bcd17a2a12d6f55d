"""The abi3/abi3t statistics of an index (issue #17), from the rows' abi3 verdicts.

Counted in the same streaming pass as the rest (report/aggregate.py), in bounded memory:
counters per key, and the first wheels by name behind each count (report/listing.py). The
symbols outside the stable ABI are the one key without a natural bound (a wheel may import
any name): the first ``MAX_SYMBOL_NAMES`` distinct names are counted, and a later name's
wheels only in ``symbols_uncounted`` (and in the ranking's rest).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wheelscan.report.listing import WheelLister
from wheelscan.report.statistics import Count, Ranking, WheelList

# distinct symbol names counted; past them, names are tallied in ``symbols_uncounted`` only
MAX_SYMBOL_NAMES = 10_000
# the keys of ``Abi3Statistics.wheel_lists`` besides the finding codes, in this order
PROMISING, COMPLIANT, VIOLATING, OVER_CLAIMING = "abi3", "compliant", "violating", "over-claim"


@dataclass(frozen=True, slots=True)
class Abi3Statistics:
    """Wheels that promise the stable ABI (an abi3/abi3t tag, or ``*.abi3.so`` files)."""

    wheels: int  # judged wheels with a stable-ABI promise
    abi3t: int  # of which promise abi3t
    compliant: int  # every file keeps the promise
    violating: int  # some file breaks it (any violation, over-claims included)
    over_claims: int  # a declared cpXY below the Python the files need
    computed: Ranking  # wheels per computed minimum Python ("3.9")
    findings: Ranking  # wheels per finding code
    symbols: Ranking  # wheels per symbol outside the stable ABI (abi3-symbol)
    # the wheels behind each count: "abi3", "compliant", "violating", "over-claim", then one
    # list per finding code
    wheel_lists: tuple[WheelList, ...]
    # judged from facts of an older format, no violation among the imports: not known until
    # the wheel is read again (policy/abi3.py); neither compliant nor violating
    unknown: int = 0
    # (wheel, symbol) pairs whose symbol was not counted by name: past MAX_SYMBOL_NAMES
    symbols_uncounted: int = 0


class Abi3Aggregator:
    def __init__(self, top: int, listed: int) -> None:
        self.top = top
        self.wheels = self.abi3t = self.compliant = self.violating = self.over = 0
        self.unknown = self.symbols_uncounted = 0
        self.computed: Counter[str] = Counter()
        self.findings: Counter[str] = Counter()
        self.symbols: Counter[str] = Counter()
        self.totals = WheelLister(listed)  # the four totals' wheels
        self.by_code = WheelLister(listed)  # each finding code's wheels

    def add(self, row: Mapping[str, Any]) -> None:
        verdict = row.get("abi3")
        if verdict is None:
            return
        filename = row["filename"]
        identity = str(row["sha256"] or row["location"])
        self.wheels += 1
        self.totals.add(PROMISING, filename, identity)
        self.abi3t += "abi3t" in verdict["abis"]
        self.computed[verdict["computed"]] += 1
        if verdict["compliant"] is None:  # older facts: not known (policy/abi3.py)
            self.unknown += 1
        elif verdict["compliant"]:
            self.compliant += 1
            self.totals.add(COMPLIANT, filename, identity)
        else:
            self.violating += 1
            self.totals.add(VIOLATING, filename, identity)
        if verdict["over_claim"]:
            self.over += 1
            self.totals.add(OVER_CLAIMING, filename, identity)
        codes = {f["code"] for f in verdict["findings"]}
        self.findings.update(codes)
        for code in codes:
            self.by_code.add(code, filename, identity)
        for name in {f["symbol"] for f in verdict["findings"] if f["code"] == "abi3-symbol"}:
            if name in self.symbols or len(self.symbols) < MAX_SYMBOL_NAMES:
                self.symbols[name] += 1
            else:
                self.symbols_uncounted += 1

    def result(self) -> Abi3Statistics:
        totals = {entry.key: entry for entry in self.totals.result()}
        order = (PROMISING, COMPLIANT, VIOLATING, OVER_CLAIMING)
        lists = tuple(totals[key] for key in order if key in totals) + self.by_code.result()
        return Abi3Statistics(
            self.wheels,
            self.abi3t,
            self.compliant,
            self.violating,
            self.over,
            self._rank(self.computed, by_version=True),
            self._rank(self.findings),
            self._rank(self.symbols, uncounted=self.symbols_uncounted),
            lists,
            self.unknown,
            self.symbols_uncounted,
        )

    def _rank(self, counter: Counter[str], by_version: bool = False, uncounted: int = 0) -> Ranking:
        def key(item: tuple[str, int]) -> tuple[Any, ...]:
            name, wheels = item
            if by_version:  # the newest minimum first: what holds an index back
                return (tuple(-int(p) for p in name.split(".")),)
            return (-wheels, name)

        entries = heapq.nsmallest(self.top, counter.items(), key=key)
        shown = sum(n for _, n in entries)
        return Ranking(
            tuple(Count(k, n) for k, n in entries),
            len(counter),
            counter.total() - shown + uncounted,
        )
