"""Verdicts as SARIF 2.1.0, the format code-scanning services read.

One result per broken promise: each declared platform tag a wheel's content breaks (an
over-claim), located at the wheel and at the members (ELF files) to blame; and one per wheel
that could not be judged. A wheel's members are artifacts nested in the wheel
(``parentIndex``), their URIs the member's path under the wheel's. ``report`` renders the
store's verdicts with it; anything holding (filename, verdict JSON) pairs, ``show`` say, can
too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from wheelscan import __version__
from wheelscan.policy.verdict import Blocker
from wheelscan.report.claims import tag_blockers

# (the wheel's filename, Verdict.to_json() or AuditError.to_json(), or None: not judged yet)
Item = tuple[str, Mapping[str, Any] | None]

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
RULES = (
    {
        "id": "over-claim",
        "name": "BrokenPlatformTag",
        "shortDescription": {"text": "A declared platform tag the wheel's content breaks"},
        "fullDescription": {
            "text": (
                "The wheel's filename promises a platform (manylinux, musllinux, android) its "
                "ELF files do not keep: an installer on such a machine would install a wheel "
                "that fails to load."
            )
        },
        "defaultConfiguration": {"level": "error"},
    },
    {
        "id": "audit-error",
        "name": "NotJudged",
        "shortDescription": {"text": "The wheel could not be judged"},
        "fullDescription": {
            "text": "The wheel could not be read or evaluated; the error code says why."
        },
        # an error, as audit's --fail-on takes it by default: a wheel that made the audit fail
        # kept no promise anyone checked, and a code-scanning gate fails on errors
        "defaultConfiguration": {"level": "error"},
    },
    {
        "id": "abi3-violation",
        "name": "BrokenStableAbiPromise",
        "shortDescription": {"text": "An abi3/abi3t promise the wheel's extensions break"},
        "fullDescription": {
            "text": (
                "The wheel promises the stable ABI (an abi3/abi3t tag, or *.abi3.so files) and "
                "an extension breaks it: a symbol outside the stable ABI, a declared Python "
                "older than the files need, a libpython link, or an abi3t requirement "
                "(docs/abi3.md; one result per finding code)."
            )
        },
        "defaultConfiguration": {"level": "error"},
    },
)
_RULE_INDEX = {str(rule["id"]): i for i, rule in enumerate(RULES)}
_LEVELS = {"over-claim": "error", "audit-error": "error", "abi3-violation": "error"}


def is_error(outcome: Mapping[str, Any]) -> bool:
    """Whether ``outcome`` is an ``AuditError.to_json()`` rather than a verdict's."""
    return "code" in outcome and "overall_tag" not in outcome


def render_sarif(
    items: Iterable[Item],
    *,
    policy: Mapping[str, Any] | None = None,
    new: Collection[str] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> str:
    """One SARIF log of one run.

    ``policy``: what the verdicts were judged with (``PolicyInfo`` as JSON), kept in the
    run's properties. ``new``: the filenames newly broken or newly in error since a baseline
    run; when given, every result says whether it is ``new`` or ``unchanged``.
    """
    log = _Log(new)
    for filename, outcome in items:
        if outcome is None:
            continue
        if is_error(outcome):
            log.error(filename, outcome)
        else:
            for tag in outcome["over_claims"]:
                log.over_claim(filename, outcome, tag)
            for code, findings in abi3_violations(outcome).items():
                log.abi3(filename, code, findings, abi3_omitted(outcome, code))
    run_properties = {"policy": dict(policy) if policy else None, **(properties or {})}
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "wheelscan",
                        "version": __version__,
                        "rules": list(RULES),
                    }
                },
                "artifacts": log.artifacts,
                "results": log.results,
                "columnKind": "unicodeCodePoints",
                "properties": run_properties,
            }
        ],
    }
    # a name that is not UTF-8 (os.fsdecode's surrogates, from ``show``) as JSON's escape
    # of it, where written as it is it made the document no UTF-8
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Log:
    def __init__(self, new: Collection[str] | None) -> None:
        self.new = new
        self.artifacts: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str | None], int] = {}

    def _location(self, wheel: str, member: str | None = None) -> dict[str, Any]:
        index = self._artifact(wheel, member)
        uri = self.artifacts[index]["location"]["uri"]
        return {"physicalLocation": {"artifactLocation": {"uri": uri, "index": index}}}

    def _artifact(self, wheel: str, member: str | None) -> int:
        """The index of a wheel's artifact, or of a member's nested in it, each listed once."""
        key = (wheel, member)
        if key not in self._index:
            artifact: dict[str, Any]
            if member is None:
                artifact = {"location": {"uri": _uri(wheel)}, "roles": ["analysisTarget"]}
            else:
                artifact = {
                    "location": {"uri": f"{_uri(wheel)}/{_uri(member)}"},
                    "parentIndex": self._artifact(wheel, None),
                }
            self._index[key] = len(self.artifacts)
            self.artifacts.append(artifact)
        return self._index[key]

    def _result(
        self,
        rule: str,
        wheel: str,
        text: str,
        members: Iterable[str],
        fingerprint: str,
        properties: dict[str, Any],
    ) -> None:
        import hashlib  # here: every report imports this module (report/changes.py)

        result: dict[str, Any] = {
            "ruleId": rule,
            "ruleIndex": _RULE_INDEX[rule],
            "level": _LEVELS[rule],
            "message": {"text": text},
            "locations": [
                self._location(wheel),
                *(self._location(wheel, m) for m in sorted(set(members))),
            ],
            # the same broken promise keeps its fingerprint from one nightly run to the next
            "partialFingerprints": {
                # a name's own bytes, where it is not UTF-8 (os.fsdecode's surrogates)
                "wheelscan/v1": hashlib.sha256(
                    fingerprint.encode("utf-8", "surrogateescape")
                ).hexdigest()
            },
            "properties": properties,
        }
        if self.new is not None:
            result["baselineState"] = "new" if wheel in self.new else "unchanged"
        self.results.append(result)

    def over_claim(self, wheel: str, verdict: Mapping[str, Any], tag: str) -> None:
        blockers = list(tag_blockers(tag, verdict))
        causes = [_cause(b) for b in blockers]
        self._result(
            "over-claim",
            wheel,
            f"{wheel} declares {tag}, but its content meets only {verdict['overall_tag']}"
            + (f": {'; '.join(causes)}" if causes else ""),
            (f for b in blockers for f in b.files),
            f"over-claim\0{wheel}\0{tag}",
            {"wheel": wheel, "tag": tag, "computed": verdict["overall_tag"], "causes": causes},
        )

    def abi3(
        self, wheel: str, code: str, findings: list[Mapping[str, Any]], omitted: int = 0
    ) -> None:
        names = sorted({f["symbol"] for f in findings if f["symbol"]})
        more = " and more" if len(names) > 5 or omitted else ""
        shown = f" ({', '.join(names[:5])}{more})" if names else ""
        self._result(
            "abi3-violation",
            wheel,
            f"{wheel} breaks its stable-ABI promise: {code}{shown}: {findings[0]['detail']}",
            (f["file"] for f in findings if f["file"] != wheel),
            f"abi3-violation\0{wheel}\0{code}",
            # the verdict keeps 20 findings per file and code (policy/abi3.py): "omitted"
            # counts the rest, so "symbols" is bounded
            {"wheel": wheel, "code": code, "symbols": names, "omitted": omitted},
        )

    def error(self, wheel: str, error: Mapping[str, Any]) -> None:
        member = error.get("member")
        self._result(
            "audit-error",
            wheel,
            f"{wheel} could not be judged: {error['code']}: {error['reason']}",
            [member] if member else [],
            f"audit-error\0{wheel}\0{error['code']}",
            {"wheel": wheel, "code": error["code"]},
        )


def abi3_violations(verdict: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """A verdict's abi3 violations (not the notices) by finding code, in order; none when it
    carries no abi3 verdict (show's JSON and the store's rows do: issue #17)."""
    abi3 = verdict.get("abi3")
    by_code: dict[str, list[Mapping[str, Any]]] = {}
    if abi3 is None or abi3["compliant"] is not False:  # kept, or not known (None)
        return by_code
    for finding in abi3["findings"]:
        if finding["code"] != "abi3-defines-python-name":  # a notice
            by_code.setdefault(finding["code"], []).append(finding)
    return by_code


def abi3_omitted(verdict: Mapping[str, Any], code: str) -> int:
    """How many findings of ``code`` the abi3 verdict counted without keeping them."""
    abi3 = verdict.get("abi3") or {}
    return sum(o["count"] for o in abi3.get("omitted", ()) if o["code"] == code)


def _cause(blocker: Blocker) -> str:
    symbols = f" ({', '.join(blocker.symbols[:5])})" if blocker.symbols else ""
    return f"{blocker.kind} {blocker.subject}{symbols}"


def _uri(path: str) -> str:
    """A relative URI reference for a filename or member path: every reserved character
    but the path's slashes escaped, so that '+', '#', '%' and spaces survive; quoted as its
    bytes, so that a name that is not UTF-8 (a Latin-1 file's) is a URI too."""
    return quote(os.fsencode(path), safe="/")
