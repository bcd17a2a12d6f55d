"""``wheelscan audit SOURCE...``: audit every Linux wheel of an index into the store.

A source is a directory of wheels, a bandersnatch mirror root, or a PEP 503/691 simple index
URL; with none, the index of ``--index-url`` or of the user's pip configuration.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import multiprocessing_logging

from wheelscan.cli import options
from wheelscan.cli.progress import ProgressLine, describe
from wheelscan.elf import backend_name
from wheelscan.engine.run import PreparingTask, RunCounts, audit
from wheelscan.engine.task import AuditTask
from wheelscan.sources.base import SourceError
from wheelscan.sources.factory import make_source
from wheelscan.sources.index_url import IndexUrlError, default_index_url
from wheelscan.store import Store, StoreError, policy_digest

log = logging.getLogger(__name__)


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser("audit", help="audit every Linux wheel of a directory, mirror or index")
    p.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="a directory, a bandersnatch mirror root or a simple index URL",
    )
    p.add_argument(
        "--index-url",
        help="the simple index to audit when no SOURCE is given "
        "(default: PIP_INDEX_URL or pip's configuration)",
    )
    p.add_argument("--project", action="append", help="only this project (repeatable)")
    p.add_argument("--arch", action="append", help="only this architecture (repeatable)")
    p.add_argument("--since", help="only wheels uploaded on or after DATE (ISO 8601)")
    p.add_argument("--diff-file", help="bandersnatch's list of files changed by the last sync")
    p.add_argument("--limit", type=int, help="audit at most this many new wheels")
    p.add_argument(
        "--commit-every",
        type=int,
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
    try:
        specs = args.sources or [default_index_url(args.index_url)]
        sources = [
            make_source(
                spec,
                projects=args.project,
                architectures=args.arch,
                since=args.since,
                diff_file=args.diff_file,
            )
            for spec in specs
        ]
    except (SourceError, IndexUrlError, ValueError) as e:
        print(f"wheelscan audit: {e}")
        return 2
    task = PreparingTask(AuditTask(args.policy_file, args.musl_policy, options.limits(args)))
    # worker logs reach the parent's handlers, whatever process they come from
    multiprocessing_logging.install_mp_handler()
    try:
        with Store.open(args.db, batch_size=args.commit_every) as store:
            run_id = store.begin_run(
                ", ".join(s.name for s in sources),
                policy_digest(args.policy_file, args.musl_policy),
                backend=backend_name(),
            )
            counts = RunCounts()
            status = "failed"
            try:
                with ProgressLine(args.progress) as progress:
                    counts = audit(
                        sources, store, options.executor(task, args), run_id, progress, args.limit
                    )
                status = "finished"
            except KeyboardInterrupt:
                status = "interrupted"
            finally:
                store.finish_run(run_id, status, seen=counts.seen)
    except StoreError as e:
        print(f"wheelscan audit: {e}")
        return 2
    print(f"run {run_id} {status}: {describe(counts)}")
    return 130 if status == "interrupted" else 0
