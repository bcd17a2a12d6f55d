"""The abi3 verdict as text, under the manylinux verdict in ``wheelscan show``.

The answer first (the promise, the minimum the files need, holds or BROKEN), then each
finding with its symbol and file; notices last. Long lists are folded unless ``verbose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wheelscan.cli.text import WIDTH, printable_lines, wrap

if TYPE_CHECKING:  # show imports this module at start: the abi3 code only when it judges
    from wheelscan.policy.abi3 import Abi3Finding, Abi3Verdict

# findings shown per code before the rest are counted (all with --verbose)
SHOWN = 5


def render_abi3(verdict: Abi3Verdict, verbose: bool = False, width: int = WIDTH) -> list[str]:
    def say(text: str, indent: int = 2) -> list[str]:
        return wrap(text, indent, indent + 2, width)

    promise = "/".join(verdict.abis)
    declared = (
        f"declared cp{verdict.declared[0]}{verdict.declared[1]}"
        if verdict.declared
        else "no version declared (a *.abi3.so in a version-specific wheel)"
    )
    minimum = f"{verdict.computed[0]}.{verdict.computed[1]}"
    compliant = verdict.compliant
    state = "holds" if compliant else "BROKEN" if compliant is False else "not known"
    out = say(f"{promise}: {state}; {declared}, the files need Python {minimum} or later")
    if verdict.unknown is not None:
        out += say(verdict.unknown, 4)
    by_code: dict[str, list[Abi3Finding]] = {}
    for finding in verdict.findings:
        by_code.setdefault(finding.code, []).append(finding)
    # violations first, then notices, each code in its first finding's order
    ordered = sorted(by_code.items(), key=lambda item: not item[1][0].is_violation)
    for code, findings in ordered:
        shown = findings if verbose else findings[:SHOWN]
        for finding in shown:
            subject = f"{finding.symbol} in {finding.file}" if finding.symbol else finding.file
            out += say(f"{code}: {subject}: {finding.detail}", 4)
        if len(findings) > len(shown):
            out += say(f"{code}: and {len(findings) - len(shown)} more (--verbose lists them)", 4)
        # past the verdict's bound (policy/abi3.py MAX_FINDINGS): counted, never listed
        uncounted = sum(o.count for o in verdict.omitted if o.code == code)
        if uncounted:
            out += say(f"{code}: and {uncounted} more, counted but not kept", 4)
    # symbol and file names: no control character printed (wrap escaped the rest)
    return printable_lines(out)
