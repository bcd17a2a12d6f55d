"""A verdict as text for a terminal or a pipe: the answer first, then the reasons.

The answer is the tag the content is consistent with and whether each declared tag holds;
the reasons are why the wheel is not one policy better (and, for an over-claim, why not the
declared policy), each blocker with the files to blame. Lists are folded to a count and
every line fits the width; ``verbose`` explains every better policy and folds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from wheelscan.cli.text import WIDTH, fit_names, printable_lines, wrap
from wheelscan.policy.explain import folded, headline, most_telling_first, policy_name
from wheelscan.policy.verdict import AuditError, Blocker, BlockerKind, PolicyCheck, Verdict
from wheelscan.policy.versions import version_key


def render(result: Verdict | AuditError, verbose: bool = False, width: int = WIDTH) -> str:
    """A verdict as text: the answer first (the tag, the claims), then the reasons."""
    if isinstance(result, AuditError):
        where = f" in {result.member}" if result.member else ""
        lines = [result.wheel, *wrap(f"ERROR {result.code}{where}: {result.reason}", 2, 4, width)]
    else:
        lines = [result.wheel, *_Explanation(result, verbose, width).lines()]
    # names from the wheel: no control character is printed (wrap escaped the rest)
    return "\n".join(printable_lines(lines))


def in_version_order(blockers: Sequence[Blocker]) -> list[Blocker]:
    """Blockers as a "why not" lists them: the other kinds in the order given, then the
    symbol versions oldest first, numerically (GLIBC_2.7 before GLIBC_2.14), as the JSON's
    ``blockers`` and every other list of versions. Which of them are shown when the list
    is folded is ``most_telling_first``'s choice: the newest ones."""
    versions = (BlockerKind.SYMBOL_VERSION, BlockerKind.NEWEST_VERSION)
    others = [b for b in blockers if b.kind not in versions]
    return others + sorted(
        (b for b in blockers if b.kind in versions), key=lambda b: version_key(b.subject)
    )


class _Explanation:
    """The lines of one verdict: the answer, the reasons, the details."""

    # blockers listed per policy before the rest are counted (all with --verbose)
    BLOCKERS_SHOWN = 4

    def __init__(self, verdict: Verdict, verbose: bool, width: int) -> None:
        self.v, self.verbose, self.width = verdict, verbose, width
        self.limit: int | None = None if verbose else 3  # names shown of a list
        self.explained = self.policies_to_explain()

    def say(self, text: str, indent: int = 2, hang: int | None = None) -> list[str]:
        return wrap(text, indent, indent + 2 if hang is None else hang, self.width)

    def lines(self) -> list[str]:
        v = self.v
        count = len(v.elf_files)
        out = self.say(f"{v.libc} {v.architecture}, {count} ELF file{'s' if count != 1 else ''}")
        out += self.say(f"consistent with: {v.overall_tag}")
        for claim in v.declared:
            mark = "holds" if claim.holds else "BROKEN"
            reason = f" ({claim.reason})" if claim.reason and not claim.holds else ""
            out += self.say(f"declared {claim.tag}: {mark}{reason}")
        if v.under_claim:
            out += self.say(
                f"under-claim: the content meets {v.under_claim}, more compatible than "
                "every declared tag"
            )
        out += self.criteria()
        out += self.why_not()
        out += self.newest_versions()
        named = {b.subject for check, _ in self.explained for b in check.blockers}
        if v.external_libraries and (self.verbose or not named.issuperset(v.external_libraries)):
            out += self.say("external libraries: " + folded(v.external_libraries, self.limit), 2, 4)
        out += self.findings()
        if v.ignored_elf_files:
            out += self.say(
                "ignored (other machine or ABI): " + folded(v.ignored_elf_files, self.limit)
            )
        return out

    def criteria(self) -> list[str]:
        v = self.v
        names = {k: k.replace("_", " ") for k in v.criteria}
        if self.verbose:
            out = self.say("criteria (the most compatible policy each allows):")
            for key, policy in v.criteria.items():
                out += self.say(f"{names[key]}: {policy}", 4, 6)
            return out
        if not v.upgrades:  # the most compatible policy there is: nothing limits it
            return []
        limiting = [names[k] for k, p in v.criteria.items() if p == v.overall_tag]
        return self.say("limited by: " + ", ".join(limiting))

    def why_not(self) -> list[str]:
        """Why not the next better policy, and each broken declared one; with --verbose, why
        not each better policy. A policy's blockers include the better one's (policies only
        grow): each is listed once, under the best policy it rules out."""
        out: list[str] = []
        shown: set[Blocker] = set()
        for check, label in self.explained:
            blockers = set(check.blockers)
            header = f"why not {check.policy}{label}:"
            if shown and shown <= blockers:
                new = most_telling_first(blockers - shown)
                header += " as above" + (", and" if new else "")
            else:
                new = most_telling_first(blockers)
            out += self.say(header)
            limit = None if self.verbose else self.BLOCKERS_SHOWN
            for blocker in in_version_order(new[:limit]):
                out += self.blame(blocker)
            if limit is not None and len(new) > limit:
                out += self.say(f"and {len(new) - limit} more reasons (--verbose lists them)", 4)
            shown = blockers
        return out

    def policies_to_explain(self) -> list[tuple[PolicyCheck, str]]:
        v = self.v
        nearest_first = list(reversed(v.upgrades))
        if self.verbose or not nearest_first:
            return [(c, "") for c in nearest_first]
        broken = {policy_name(tag): tag for tag in v.over_claims}
        chosen = []
        for index, check in enumerate(nearest_first):
            tag = broken.get(check.policy)
            if tag is not None:  # a declared tag: named as the filename spells it
                chosen.append((check, " (declared)" if tag == check.policy else f" ({tag})"))
            elif index == 0:
                chosen.append((check, " (the next better policy)"))
        return chosen

    def blame(self, blocker: Blocker, indent: int = 4) -> list[str]:
        """A blocker, and the files to blame on the same line when they fit."""
        head = headline(blocker, None)
        if not self.verbose and blocker.symbols:
            # the symbols that fit on the blocker's line (C++ names run long), and a count
            room = self.width - indent - len(headline(blocker, symbols="\0")) + 1
            count = len(blocker.symbols)
            listed = fit_names(blocker.symbols, room)
            if len(listed) > room:  # not even one name fits: say how many
                listed = f"{count} symbol{'s' if count != 1 else ''}"
            head = headline(blocker, symbols=listed)
        files = blocker.files
        if not files:
            return self.say(head, indent, indent + 2)
        room = self.width - indent - len(head) - len(" in ")
        listed = fit_names(files, room)
        if not self.verbose and len(listed) <= room:
            return [" " * indent + f"{head} in {listed}"]
        return self.say(head, indent, indent + 2) + self.in_files(files, indent + 2)

    def in_files(self, files: Sequence[str], indent: int) -> list[str]:
        """``in a.so, b.so and 3 more``; all of them with --verbose, a file name never cut."""
        if self.verbose:
            return self.say("in " + ", ".join(files), indent, indent)
        room = self.width - indent - len("in ")
        listed = fit_names(files, room)
        if len(listed) <= room or len(files) == 1:
            return [" " * indent + "in " + listed]
        # not even one name and the count fit: the count on a line of its own
        return [" " * indent + "in " + files[0], " " * (indent + 3) + f"and {len(files) - 1} more"]

    def newest_versions(self) -> list[str]:
        """The newest version of each bucket: how far a wheel with no better policy left is
        from the edge (with --verbose, always)."""
        newest = self.v.newest_versions
        if not newest or (self.explained and not self.verbose):
            return []  # the "why not" above says what matters
        out = self.say("newest symbol versions needed:")
        for blocker in newest:
            out += self.blame(blocker)
        return out

    def findings(self) -> list[str]:
        """Warnings, one per kind and detail, with the files they concern."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for finding in self.v.findings:
            grouped.setdefault((finding.kind, finding.detail), []).append(finding.file)
        out: list[str] = []
        for (kind, detail), files in grouped.items():
            out += self.say(f"warning {kind}: {detail}")
            out += self.in_files(files, 4)
        return out
