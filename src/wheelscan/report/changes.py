"""``report --since-run N``: the wheels newly broken, fixed, or newly in error since run N."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wheelscan.report.listing import Smallest
from wheelscan.report.sarif import abi3_violations
from wheelscan.report.statistics import ChangedWheel, Changes, WheelChanges

KINDS = ("newly-broken", "fixed", "new-error")


def changes_since(
    since_run: int,
    since_started: str | None,
    rows: Iterable[Mapping[str, Any]],
    listed: int,
) -> Changes:
    """``rows`` as ``Store.iter_changes`` gives them: counted, and the first ``listed`` of
    each kind by name kept."""
    kept: dict[str, Smallest[ChangedWheel]] = {kind: Smallest(listed) for kind in KINDS}
    for row in rows:
        changed = ChangedWheel(row["filename"], row["project"], row["was"], _detail(row))
        kept[row["change"]].add((row["filename"], row["sha256"] or row["location"]), changed)

    def changes(kind: str) -> WheelChanges:
        return WheelChanges(kept[kind].count, kept[kind].items())

    return Changes(
        since_run, since_started, changes("newly-broken"), changes("fixed"), changes("new-error")
    )


def _detail(row: Mapping[str, Any]) -> str:
    verdict, error = row["verdict"], row["error"]
    if error is not None:
        return f"{error['code']}: {error['reason']}"
    if verdict is None:
        return ""
    if verdict["over_claims"]:
        return f"{', '.join(verdict['over_claims'])} broken; meets {verdict['overall_tag']}"
    abi3 = row.get("abi3")
    if abi3 is not None and abi3["compliant"] is False:  # issue #17
        codes = ", ".join(abi3_violations({"abi3": abi3}))
        return f"{'/'.join(abi3['abis'])} promise broken ({codes}); meets {verdict['overall_tag']}"
    return f"every declared tag holds; meets {verdict['overall_tag']}"
