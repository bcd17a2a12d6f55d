"""``wheelscan audit SOURCE...``: audit every Linux wheel of an index into the store.

A source is a directory of wheels, a bandersnatch mirror root, or a PEP 503/691 simple index
URL; with none, the index of ``--index-url`` or of the user's pip configuration. Walking a
whole index that was not named (600k projects on a public one) takes ``--whole-index``.

Exit status (for CI and cron): 0 every promise kept; 1 what ``--fail-on`` names was found
among the run's wheels, the known ones included (by default an over-claim, a declared tag
that does not hold, or an error, a wheel that could not be judged); 2 could not run, or
its summary could not be written (stdout closed, a full disk), even where 1 would be: CI
reads 1 as a broken promise found, and a lost output found nothing; 130 interrupted
(Ctrl-C), 143 and 129 stopped by SIGTERM and SIGHUP (cli/interrupt.py). A stop signal
after the run's last wheel stops the judging of the known wheels again (the run is
finished; the next run judges the rest) with those statuses too, and one while the
summary is made and written is ignored: the run's status stands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from wheelscan.cli import options
from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.interrupt import StopSignals, exit_status, raise_if_stopped
from wheelscan.cli.progress import ProgressLine, summary
from wheelscan.cli.usage import (
    EXIT_FOUND,
    EXIT_OK,
    EXIT_STATUS_HELP,
    EXIT_USAGE,
    UsageError,
    existing_file,
    named,
    positive_int,
    project_name,
    warn,
)
from wheelscan.elf import backend_name
from wheelscan.engine.run import Observer, PreparingTask, RunCounts, audit
from wheelscan.engine.task import AuditTask
from wheelscan.sources.factory import make_source
from wheelscan.sources.index_url import default_index_url
from wheelscan.store import RunOutcome, Store, policy_digest, policy_source
from wheelscan.wheel.remote import redact

log = logging.getLogger(__name__)

# What --fail-on may name: each a kind of trouble among the run's wheels
FAIL_ON = ("over-claim", "under-claim", "error", "finding", "abi3")


def fail_on(text: str) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(kinds - {*FAIL_ON, "none"})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(unknown)}; valid values: {', '.join(FAIL_ON)}, none"
        )
    return kinds - {"none"}


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "audit",
        help=SUMMARIES["audit"],
        description="Audit every Linux wheel of a directory, a bandersnatch mirror or a "
        "simple index into a SQLite store; a second run reads only new wheels.",
        epilog=EXIT_STATUS_HELP,
    )
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a directory, a bandersnatch mirror root or a simple index URL",
    )
    p.add_argument(
        "--index-url",
        type=named,  # "" is an unset variable, never pip's default index
        help="the simple index to audit when no SOURCE is given "
        "(default: PIP_INDEX_URL or pip's configuration)",
    )
    p.add_argument(
        "--whole-index",
        action="store_true",
        help="confirm auditing every project of the index when no SOURCE and no --project is given",
    )
    p.add_argument(
        "--project", action="append", type=project_name, help="only this project (repeatable)"
    )
    p.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    p.add_argument(
        "--since", metavar="DATE", help="only wheels uploaded on or after DATE (ISO 8601)"
    )
    p.add_argument(
        "--diff-file",
        type=existing_file,
        metavar="FILE",
        help="bandersnatch's list of files changed by the last sync",
    )
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="audit at most this many new wheels"
    )
    p.add_argument(
        "--fail-on",
        type=fail_on,
        # an error fails a gate by default: a wheel that could not be judged kept no promise
        # that anyone checked (a crafted wheel must not pass by making the audit fail)
        default=frozenset({"over-claim", "error"}),
        metavar="KINDS",
        help=f"exit 1 when any of these is found (comma-separated: {', '.join(FAIL_ON)}, "
        "none; default: over-claim,error)",
    )
    p.add_argument(
        "--commit-every",
        type=positive_int,
        default=500,
        metavar="N",
        help="results per store transaction (also committed every 5 s)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress line (default: when stderr is a terminal)",
    )
    options.add_db_option(p)
    options.add_policy_options(p)
    options.add_engine_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if "" in args.sources:  # Path("") is ".": `audit "$MIRROR"`, MIRROR unset, audited the cwd
        raise UsageError("an empty SOURCE (an unset variable?): name a directory or a URL")
    # `audit "$MIRROR/"`, MIRROR unset, walked the whole filesystem (/proc, /sys, mounts)
    if any(os.path.normpath(source) in ("/", "//") for source in args.sources):
        raise UsageError(
            "SOURCE / is the filesystem's root (an unset variable before a /?): "
            "name the mirror's directory"
        )
    if args.sources and args.index_url:
        raise UsageError("--index-url names the index to audit when no SOURCE is given: drop one")
    if args.workers == 0 and args.timeout != options.TIMEOUT_DEFAULT:
        warn("audit", "--timeout needs worker processes: with --workers 0 it has no effect")
    specs = args.sources or [_whole_index(args)]
    try:
        sources = [
            make_source(
                spec,
                projects=args.project,
                architectures=args.arch,
                since=args.since,
                diff_file=args.diff_file,
                request_timeout=args.timeout,
            )
            for spec in specs
        ]
    except ValueError as e:  # a --since that is no date
        raise UsageError(str(e)) from e
    task = PreparingTask(
        AuditTask(
            args.policy_file,
            args.musl_policy,
            options.limits(args),
            strict=args.strict,
            request_timeout=args.timeout,
        )
    )
    # before the store: a Dask scheduler that cannot be reached is said before any run begins
    engine = options.executor(task, args)
    # every policy file hashed (the per-architecture ones too): once for the whole run
    digest = policy_digest(args.policy_file, args.musl_policy)
    _import_ahead()
    # SIGTERM and SIGHUP (timeout, systemd, a closed terminal) stop the run as Ctrl-C does
    with StopSignals() as stop:
        with Store.open(args.db, batch_size=args.commit_every) as store:
            warn("audit", _announcement(args, [s.name for s in sources], *store.contents()))
            counts = RunCounts()
            status, stopped = "failed", 0
            run_id = store.begin_run(
                ", ".join(s.name for s in sources),
                digest,
                # the wheels per second of a run depend on the engine as much as on the parser
                backend=f"{backend_name()}, {options.engine_description(engine)}",
                warn=lambda message: warn("audit", message),
            )
            # from the run's beginning on, a stop signal ends it recorded (no statement
            # between: one stopped there left the run ``running`` and printed nothing)
            try:
                # the digest alone cannot tell a report which policy file judged the wheels
                store.record_policy_source(
                    digest,
                    policy_source(args.policy_file, args.musl_policy),
                )
                with ProgressLine(args.progress) as progress:
                    audit(
                        sources,
                        store,
                        engine,
                        run_id,
                        _StopsOnceStopped(progress),
                        args.limit,
                        args.strict,
                        counts,
                    )
                raise_if_stopped()
                status = "finished"
            except KeyboardInterrupt as e:
                status, stopped = "interrupted", exit_status(e)
            finally:
                stop.ignore()
                # interrupted, the run has seen what the store recorded; the sources listed more
                # (read ahead of the workers), not audited
                run = store.finish_run(
                    run_id, status, seen=counts.seen if status == "finished" else None
                )
            # the store's tallies, not the workers': a result the store records otherwise (a
            # sha256 another file holds: sha256-conflict) is counted as recorded
            counts = counts.as_recorded(run)
            if status == "finished":
                # known wheels judged under another policy (another --policy-file, a new
                # wheelscan) have no verdict under this run's: judged now from their stored
                # facts, or the run's outcome and its report would skip them
                from wheelscan.policy.policies import load_policies

                # minutes on a large store, and resumable (each batch of verdicts committed; the
                # next run judges the rest): a stop signal stops it, as it stops the run
                stop.arm()
                try:
                    store.reevaluate(
                        load_policies(args.policy_file),
                        digest,
                        musl_policy=args.musl_policy,
                    )
                    raise_if_stopped()
                except KeyboardInterrupt as e:
                    stopped = exit_status(e)
                    warn("audit", "stopped judging the known wheels: the next run judges the rest")
                finally:
                    stop.ignore()
            outcome = store.outcome(run_id, with_findings="finding" in args.fail_on)
        # printed, and written (flushed: to a pipe or a file, print only fills a buffer),
        # with the stop signals still ignored: past the block, Python's own SIGINT handler
        # is back, and a Ctrl-C as the summary was made or written stopped a finished run
        # with 130 (SIGTERM and SIGHUP killed it). A write that blocks (a terminal paused,
        # a stalled reader) holds off a stop signal until it returns, as the warnings since
        # the run's end already did
        done, speed = summary(counts)
        print(f"run {run_id} {status}: {done}\n  {speed}\n  {_troubles(outcome)}")
        undated = sum(source.undated for source in sources)
        if undated:
            warn(
                "audit",
                f"--since could not narrow {undated} wheels: their source gives no upload time",
            )
        sys.stdout.flush()
        if stopped:
            return stopped
        if counts.seen == 0:
            # an empty or unmounted mirror, a login page served instead of the index: a night
            # that saw nothing must not pass for a clean one
            narrowed = args.project or args.arch or args.since or args.diff_file
            warn("audit", "the sources listed no Linux wheel" + ("" if narrowed else
                 " (an empty or unmounted mirror? a page that is not an index?)"))  # fmt: skip
            if not narrowed:
                return EXIT_USAGE
        return EXIT_FOUND if _found(outcome, args.fail_on) else EXIT_OK


def _import_ahead() -> None:
    """Import now the modules the run would import on its way, before a stop signal can raise.

    An import's lock is released by a weakref callback, where an ``Interrupted`` raised by
    the stop handler is printed ("Exception ignored") and dropped; the stop signals stayed
    ignored after it, and the run went on to exit 0 (``_StopsOnceStopped`` catches the
    imports not listed here)."""
    import email.parser  # noqa: F401  (importlib.metadata.version, for the digest)
    import importlib.metadata  # noqa: F401  (the policy digest: policy/abi3.py)
    import multiprocessing.popen_fork  # noqa: F401  (a worker's first fork)

    import isal.isal_zlib  # noqa: F401  (wheel/inflate.py: --workers 0 reads wheels here)

    # store.codec's, for the first result; the judging's after the run
    from wheelscan.policy import abi3, policies  # noqa: F401
    from wheelscan.store import rejudge  # noqa: F401


class _StopsOnceStopped:
    """The run's observer, which stops the run where a stop signal was recorded but its
    ``Interrupted`` was lost (cli/interrupt.py ``raise_if_stopped``): after each result."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def update(self, counts: RunCounts) -> None:
        self.observer.update(counts)
        raise_if_stopped()


def _whole_index(args: argparse.Namespace) -> str:
    """The index to walk when no SOURCE is named: only with a filter, an explicit
    ``--index-url`` or ``--whole-index``: a public index is 600k projects."""
    url = default_index_url(args.index_url)
    if not (args.index_url or args.project or args.whole_index):
        raise UsageError(
            f"no SOURCE given: this would audit every project of {redact(url)} (the index "
            "pip would use); name a SOURCE, filter with --project, or pass --whole-index"
        )
    return url


def _announcement(
    args: argparse.Namespace, names: list[str], wheels_known: int, projects_known: int
) -> str:
    """One line: what is about to be audited, with which filters, into which store, and
    how much of it the store already knows (a second night reads only what is new)."""
    filters = [
        f"{label} {', '.join(values)}"
        for label, values in (
            ("project", args.project or []),
            ("arch", args.arch or []),
            ("since", [args.since] if args.since else []),
            ("diff-file", [str(args.diff_file)] if args.diff_file else []),
            ("limit", [str(args.limit)] if args.limit else []),
        )
        if values
    ]
    return (
        f"auditing {', '.join(names)}"
        + (f" ({'; '.join(filters)})" if filters else " (every project, no filter)")
        + f" into {args.db} ({wheels_known} wheels of {projects_known} projects known)"
    )


def _troubles(outcome: RunOutcome) -> str:
    parts = [
        f"{len(outcome.over_claims)} over-claims",
        f"{len(outcome.under_claims)} under-claims",
        f"{len(outcome.errors)} errors",
    ]
    if outcome.findings:
        parts.append(f"{len(outcome.findings)} with findings")
    if outcome.abi3:
        parts.append(f"{len(outcome.abi3)} breaking their abi3 promise")
    return ", ".join(parts) + " among the run's wheels"


def _found(outcome: RunOutcome, kinds: frozenset[str]) -> bool:
    lists = {
        "over-claim": outcome.over_claims,
        "under-claim": outcome.under_claims,
        "error": outcome.errors,
        "finding": outcome.findings,
        "abi3": outcome.abi3,  # a broken abi3/abi3t promise (docs/abi3.md)
    }
    return any(lists[kind] for kind in kinds)
