"""``wheelscan report``: compliance statistics over the store, in several formats.

The store is opened read-only: a report may be asked for while an audit writes to the
store, after one was killed, or of a store on a read-only mount.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wheelscan.cli import options
from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.output import guarded, writing
from wheelscan.cli.usage import (
    UsageError,
    count,
    existing_store,
    path_argument,
    positive_int,
    project_name,
    warn,
)
from wheelscan.report.aggregate import LISTED, TOP, aggregate, policy_info
from wheelscan.report.changes import changes_since
from wheelscan.report.claims import promises_only
from wheelscan.report.filters import RowFilter
from wheelscan.report.statistics import Changes, PolicyInfo, Statistics
from wheelscan.store import RunRecord, Store
from wheelscan.store.outfile import replacing
from wheelscan.store.rows import write_jsonl_zst, write_jsonl_zst_stream

FORMATS = ("terminal", "json", "markdown", "html", "sarif", "junit", "jsonl.zst")
# ``-o -``: standard output, for every format, as the tools a report is piped into read it
STDOUT = Path("-")


def architecture(name: str) -> str:
    """An architecture a platform tag names (a typo would report nothing, silently)."""
    from wheelscan.policy.policies import Architecture

    try:
        return str(Architecture(name).baseline)
    except ValueError:
        known = ", ".join(a for a in Architecture if a == a.baseline)
        raise argparse.ArgumentTypeError(
            f"unknown architecture {name!r} (known: {known})"
        ) from None


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "report",
        help=SUMMARIES["report"],
        description=(
            "Statistics, and the wheels behind them, of the verdicts in the store, under the\n"
            "policy of the last finished run or re-evaluation. Reads the store only: works\n"
            "during a run, after a killed one, and on a read-only mount."
        ),
        epilog="exit status:\n  0  the report was written\n  2  could not run: a bad option, "
        "no store, a store this wheelscan cannot read, an output that cannot be written",
    )
    options.add_db_option(p)
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="terminal",
        metavar="FORMAT",
        help=f"one of {', '.join(FORMATS)}; sarif and junit are for CI: one result per broken "
        "tag or error, one test case per wheel (default: terminal)",
    )
    p.add_argument(
        "--output",
        "-o",
        type=path_argument,
        help="write here instead of stdout (- is stdout); required for jsonl.zst (default: stdout)",
    )
    p.add_argument(
        "--run", type=int, metavar="N", help="only the wheels of run N (default: every wheel)"
    )
    p.add_argument(
        "--since-run",
        type=int,
        metavar="N",
        help="also what changed since run N: wheels newly broken, fixed, newly in error "
        "(default: no comparison)",
    )
    p.add_argument(
        "--project",
        action="append",
        type=project_name,
        default=[],
        metavar="NAME",
        help="only this project (repeatable; default: every project)",
    )
    p.add_argument(
        "--arch",
        action="append",
        default=[],
        type=architecture,
        metavar="ARCH",
        help="only this architecture, e.g. x86_64 (repeatable; default: every architecture)",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=TOP,
        metavar="N",
        help=f"length of ranked lists, at least 1 (default: {TOP})",
    )
    p.add_argument(
        "--wheels-listed",
        type=count,
        default=LISTED,
        metavar="N",
        help=f"wheels named behind each count and change; the rest are counted (default: {LISTED})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "jsonl.zst" and args.output is None:
        raise UsageError("--format jsonl.zst needs --output (- for standard output)")
    if args.output == STDOUT and args.format != "jsonl.zst":
        args.output = None  # jsonl.zst's binary stream is written as such (_report)
    existing_store(args.db)
    if args.output is not None and args.output != STDOUT and _same_file(args.output, args.db):
        raise UsageError(f"{args.output}: is the store itself; name another file for -o")
    if args.output is not None and args.output != STDOUT:
        companion = _companion(args.output, args.db)
        if companion is not None:
            raise UsageError(
                f"{args.output}: is the store's {companion} file; name another file for -o"
            )
    with Store.open(args.db, read_only=True) as store:
        text = _report(store, args)
    if text is None:  # written already
        return 0
    if args.output:
        # every format as jsonl.zst: a full disk leaves the old report, not a torn one
        with writing(args.output), replacing(args.output) as out:
            out.write(text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    return 0


def _report(store: Store, args: argparse.Namespace) -> str | None:
    runs = store.runs()
    _run_named(runs, "--run", args.run, args.db)
    row_filter = RowFilter.of(args.project, args.arch)
    rows = row_filter(store.iter_rows(run_id=args.run))
    if args.format == "jsonl.zst" and args.output == STDOUT:
        sys.stdout.flush()  # any text the layer above holds goes out before the stream
        count = write_jsonl_zst_stream(sys.stdout.buffer, rows)
        sys.stdout.buffer.flush()
        # the count on stderr: stdout holds the stream and nothing else (warn: not into the
        # stream where stderr was closed, nor status 1 where it is on a full disk)
        warn("report", f"{count} results written to stdout")
        return None
    if args.format == "jsonl.zst":
        count = write_jsonl_zst(args.output, rows)
        from wheelscan.cli.printable import escape_controls  # the name the user gave: any bytes

        print(f"{count} results written to {escape_controls(str(args.output))}")
        return None
    digest = store.reported_policy()
    policy = policy_info(digest, store.policy_source(digest) if digest else None)
    changes, new = _changes(store, args, runs, row_filter)
    if args.format in ("sarif", "junit"):
        # by name: the store's order is the order wheels were stored in
        kept = sorted(
            ((r["filename"], r["sha256"] or r["location"], _outcome(r)) for r in rows),
            key=lambda item: item[:2],
        )
        items = [(filename, outcome) for filename, _, outcome in kept]
        unfinished = [run.id for run in runs if run.status == "running"]
        return _ci(args.format, items, policy, changes, new, store.path, unfinished)
    stats = aggregate(
        rows,
        [r.to_json() for r in runs],
        top=args.top,
        listed=args.wheels_listed,
        policy=policy,
        filters=row_filter.describe(),
        changes=changes,
    )
    return _render(args, stats)


def _changes(
    store: Store, args: argparse.Namespace, runs: list[RunRecord], row_filter: RowFilter
) -> tuple[Changes | None, set[str] | None]:
    """What changed since ``--since-run``, and the wheels newly broken or in error."""
    since = _run_named(runs, "--since-run", args.since_run, args.db)
    if since is None:
        return None, None
    new: set[str] = set()

    def noting_new(rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        # one pass, no row kept: a new policy may change the state of every wheel
        for row in rows:
            if row["change"] != "fixed":
                new.add(row["filename"])
            yield row

    changes = changes_since(
        since.id,
        since.started.isoformat(),
        noting_new(row_filter(store.iter_changes(since.id))),
        args.wheels_listed,
    )
    return changes, new


def _run_named(
    runs: list[RunRecord], option: str, run_id: int | None, db: Path
) -> RunRecord | None:
    """The run ``option`` names; a run the store does not hold is the user's mistake, which
    an empty report would hide."""
    if run_id is None:
        return None
    found = next((r for r in runs if r.id == run_id), None)
    if found is None:
        known = f"runs {runs[0].id} to {runs[-1].id}" if runs else "no runs"
        raise UsageError(f"{option} {run_id}: no such run in {db} ({known})")
    return found


def _outcome(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """What the CI formats need of a row, held until the document is written."""
    verdict = row["verdict"]
    if verdict is None:
        error: Mapping[str, Any] | None = row["error"]
        return error
    kept = promises_only(verdict)
    if row.get("abi3") is not None and row["abi3"]["compliant"] is False:  # None: unknown
        kept["abi3"] = row["abi3"]  # a broken stable-ABI promise: SARIF and JUnit name it
    return kept


def _ci(
    form: str,
    items: list[tuple[str, Any]],
    policy: PolicyInfo,
    changes: Changes | None,
    new: set[str] | None,
    path: Path,
    unfinished: list[int],
) -> str:
    # a run in progress (or killed): the verdicts are those stored so far, which a gate
    # reading this file must be told, as the other formats tell their reader
    summary: dict[str, Any] = {"store": str(path), "partial": bool(unfinished)}
    if unfinished:
        summary["unfinished_runs"] = unfinished
    if changes is not None:
        summary.update(
            since_run=changes.since_run,
            newly_broken=changes.newly_broken.wheels,
            fixed=changes.fixed.wheels,
            new_errors=changes.new_errors.wheels,
        )
    # each format's renderer imported when asked for: a report loads only its own
    if form == "sarif":
        from wheelscan.report.sarif import render_sarif

        return render_sarif(items, policy=asdict(policy), new=new, properties=summary)
    from wheelscan.report.junit import render_junit

    properties = {f"policy.{k}": str(v) for k, v in asdict(policy).items() if v is not None}
    properties.update({k: _property(v) for k, v in summary.items()})
    return render_junit(items, properties=properties, new=new)


def _property(value: Any) -> str:
    """A JUnit property's value: lists comma-separated, booleans as XML spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _render(args: argparse.Namespace, stats: Statistics) -> str | None:
    if args.format in ("terminal", "markdown"):
        from wheelscan.cli.printable import printable

        stats = printable(stats)  # names from wheels: no control character reaches a terminal
    if args.format == "terminal":
        from rich.console import Console

        from wheelscan.report.terminal import render_terminal

        if args.output is None:
            render_terminal(stats, Console())
        else:
            with writing(args.output), replacing(args.output) as raw:
                out = io.TextIOWrapper(raw, encoding="utf-8")
                # guarded: rich would take a broken pipe for its own, and exit 1
                render_terminal(stats, Console(file=guarded(out, args.output), width=80))
                out.flush()
                out.detach()  # ``replacing`` closes the file, and renames it
        return None
    if args.format == "json":
        from wheelscan.report.json_report import render_json

        return render_json(stats)
    if args.format == "markdown":
        from wheelscan.report.markdown import render_markdown

        return render_markdown(stats)
    from wheelscan.report.html_page import render_html

    return render_html(stats)


# the files SQLite and the run lock keep beside a store: a report over one of them would
# replace the log an audit is committing to, or the lock naming its process
_COMPANIONS = ("wal", "shm", "run.lock")


def _companion(output: Path, db: Path) -> str | None:
    """Which of the store's companion files ``output`` names, if any (whether or not it
    exists yet: a report written as one would be read as one)."""
    for companion in _COMPANIONS:
        path = Path(f"{db}-{companion}")
        if os.path.abspath(output) == os.path.abspath(path) or _same_file(output, path):
            return companion
    return None


def _same_file(output: Path, db: Path) -> bool:
    """Whether ``output`` names the store (through a link, or another spelling)."""
    try:
        return os.path.samefile(output, db)
    except OSError:  # the output does not exist yet: not the store
        return False
