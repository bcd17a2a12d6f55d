"""Verdicts as JUnit XML, the test report every CI system shows.

One test case per wheel: it fails when a declared platform tag is broken (an over-claim)
or its abi3/abi3t promise is (issue #17),
errs when the wheel could not be judged, and is skipped when it has no verdict yet. The
document follows the Ant JUnit schema, the strictest of the common ones (every count and a
timestamp without zone required), so that any reader takes it. ``report`` renders the store's
verdicts with it; anything holding (filename, verdict JSON) pairs, ``show`` say, can too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from wheelscan.report.claims import tag_blockers
from wheelscan.report.sarif import Item, abi3_omitted, abi3_violations, is_error

# XML 1.0 forbids most control characters even escaped; a name from an index may hold one;
# and surrogates, which a file name that is not UTF-8 holds (os.fsdecode's), are no text
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_junit(
    items: Iterable[Item],
    *,
    timestamp: datetime | None = None,
    properties: Mapping[str, str] | None = None,
    new: Collection[str] | None = None,
) -> str:
    """One ``<testsuites>`` document with one suite, ``wheelscan``.

    ``properties`` go into the suite's ``<properties>`` (the policy, the store). ``new``: the
    filenames newly broken or newly in error since a baseline run; their failures and errors
    are typed ``newly-broken`` and ``new-error``, so a CI view can tell them apart.
    """
    cases: list[str] = []
    failures = errors = skipped = 0
    for filename, outcome in items:
        name = _attr(filename)
        classname = _attr(_project(filename))
        fresh = new is not None and filename in new
        head = f'<testcase name={name} classname={classname} time="0"'
        if outcome is None:
            skipped += 1
            cases.append(f"{head}><skipped/></testcase>")
        elif is_error(outcome):
            errors += 1
            message = f"{outcome['code']}: {outcome['reason']}"
            member = f" (member {outcome['member']})" if outcome.get("member") else ""
            kind = "new-error" if fresh else outcome["code"]
            cases.append(
                f"{head}><error type={_attr(kind)} message={_attr(message)}>"
                f"{_text(message + member)}</error></testcase>"
            )
        elif outcome["over_claims"]:
            failures += 1
            broken = ", ".join(outcome["over_claims"])
            message = f"declares {broken}; its content meets only {outcome['overall_tag']}"
            kind = "newly-broken" if fresh else "over-claim"
            cases.append(
                f"{head}><failure type={_attr(kind)} message={_attr(message)}>"
                f"{_text(_why(outcome))}</failure></testcase>"
            )
        elif abi3_violations(outcome):
            failures += 1
            violations = abi3_violations(outcome)
            message = f"breaks its stable-ABI promise: {', '.join(violations)}"
            kind = "newly-broken" if fresh else "abi3-violation"
            details = "\n".join(
                [
                    f"{f['code']}: {f['symbol'] + ' in ' if f['symbol'] else ''}{f['file']}: "
                    f"{f['detail']}"
                    for found in violations.values()
                    for f in found
                ]
                # the verdict keeps 20 findings per file and code; the rest are counted
                + [
                    f"{code}: and {abi3_omitted(outcome, code)} more"
                    for code in violations
                    if abi3_omitted(outcome, code)
                ]
            )
            cases.append(
                f"{head}><failure type={_attr(kind)} message={_attr(message)}>"
                f"{_text(details)}</failure></testcase>"
            )
        else:
            cases.append(f"{head}/>")
    when = (timestamp or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    props = "".join(
        f"<property name={_attr(k)} value={_attr(v)}/>"
        for k, v in sorted((properties or {}).items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        f'<testsuite name="wheelscan" package="wheelscan" id="0" timestamp="{when}" '
        # the verdicts do not depend on the machine that judged (docs/ARCHITECTURE.md)
        f'hostname="localhost" tests="{len(cases)}" failures="{failures}" errors="{errors}" '
        f'skipped="{skipped}" time="0">\n'
        f"<properties>{props}</properties>\n"
        + "".join(f"{c}\n" for c in cases)
        + "<system-out/>\n<system-err/>\n</testsuite>\n</testsuites>\n"
    )


def _why(verdict: Mapping[str, Any]) -> str:
    """Per broken tag, what breaks it and in which members."""
    lines = []
    for tag in verdict["over_claims"]:
        lines.append(f"{tag}:")
        for b in tag_blockers(tag, verdict):
            files = f" in {', '.join(b.files)}" if b.files else ""
            symbols = f" ({', '.join(b.symbols[:5])})" if b.symbols else ""
            lines.append(f"  {b.kind} {b.subject}{symbols}{files}")
    return "\n".join(lines)


def _project(filename: str) -> str:
    return filename.split("-", 1)[0] or "wheel"


def _attr(text: str) -> str:
    # xs:token: no line breaks or tabs, no runs of spaces; a filename has none of them, but a
    # reason may
    return quoteattr(" ".join(_NOT_XML.sub("?", text).split()))


def _text(text: str) -> str:
    return escape(_NOT_XML.sub("?", text))
