"""``wheelscan package NAME``: every Linux wheel of one project, audited and summarised.

The one-off investigation: nothing is stored unless ``--db`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

from rich.console import Console

from wheelscan import __version__
from wheelscan.cli import options
from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.interrupt import StopSignals, exit_status
from wheelscan.cli.printable import printable
from wheelscan.cli.text import output_width, printable_lines, wrap
from wheelscan.cli.usage import named, project_name, warn
from wheelscan.elf import backend_name
from wheelscan.engine.task import AuditTask
from wheelscan.model import WheelResult
from wheelscan.policy.explain import why_not
from wheelscan.policy.verdict import Verdict
from wheelscan.report import aggregate, render_terminal, to_json
from wheelscan.sources.base import SourceError
from wheelscan.sources.factory import make_source
from wheelscan.sources.index_url import IndexUrlError, default_index_url

DESCRIPTION = """\
Audit every Linux wheel of one project on a package index: each wheel's computed tag,
whether its declared tags hold and, in a few words, why it is not one policy better; then
the statistics of them all."""


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser(
        "package",
        help=SUMMARIES["package"],
        description=DESCRIPTION,
        epilog="exit status:\n  0  every declared tag of every wheel holds\n  1  a declared tag "
        "of some wheel is broken\n  2  could not run (no such project, an index that is down) "
        "or some wheel could not be judged",
    )
    p.add_argument("name", type=project_name, help="the project's name, as on the index")
    p.add_argument(
        "--index-url",
        type=named,  # "" is an unset variable, never pip's default index
        metavar="URL",
        help="the simple index to ask (default: PIP_INDEX_URL or pip's configuration)",
    )
    p.add_argument(
        "--version",
        dest="project_version",
        metavar="VERSION",
        help="only this release (default: every release)",
    )
    p.add_argument(
        "--arch",
        action="append",
        metavar="ARCH",
        help="only this architecture, e.g. x86_64; repeatable (default: every architecture)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON document, every verdict and the statistics (default: text)",
    )
    options.add_policy_options(p)
    options.add_engine_options(p)
    p.set_defaults(func=run)


def row(result: WheelResult) -> dict[str, Any]:
    """A result in the shape the report aggregator reads from the store."""
    ref = result.ref
    ok = isinstance(result.verdict, Verdict)
    return {
        "sha256": result.sha256,
        "filename": ref.filename,
        "project": ref.project,
        "version": ref.version,
        "location": ref.location,
        "size": result.size,  # the index's, or the one its server named
        "upload_time": ref.upload_time.isoformat() if ref.upload_time else None,
        "verdict": result.verdict.to_json() if ok else None,
        "error": None if ok else result.verdict.to_json(),
    }


def run(args: argparse.Namespace) -> int:
    try:
        index = default_index_url(args.index_url)
        source = make_source(index, projects=[args.name], architectures=args.arch)
    except (SourceError, IndexUrlError, ValueError) as e:
        warn("package", str(e))
        return 2
    with _held_warnings(SOURCES_LOGGER) as warnings:
        refs = [
            r
            for r in source.wheels()
            if args.project_version is None or r.version == args.project_version
        ]
    if not refs:
        warn("package", _none_found(args, index, warnings))
        return 2
    for warning in warnings:  # said as they would have been, once there is more to say
        logging.getLogger().handle(warning)
    task = AuditTask(args.policy_file, args.musl_policy, options.limits(args), strict=args.strict)
    try:
        # SIGTERM and SIGHUP stop the workers as Ctrl-C does (cli/interrupt.py)
        with StopSignals():
            results = sorted(
                options.executor(task, args).results(refs), key=lambda r: r.ref.filename
            )
    except KeyboardInterrupt as e:
        warn("package", "interrupted: no report")
        return exit_status(e)
    rows = [row(r) for r in results]
    stats = aggregate(rows)
    if args.json:
        print(
            json.dumps(
                {
                    "version": 1,
                    "wheelscan": __version__,
                    "backend": backend_name(),
                    "project": args.name,
                    "results": [r["verdict"] or r["error"] for r in rows],
                    "statistics": to_json(stats),
                },
                indent=2,
            )
        )
    else:
        print(_wheel_lines(results, output_width()) + "\n", flush=True)
        render_terminal(printable(stats), Console())
    broken = any(isinstance(r.verdict, Verdict) and r.verdict.over_claims for r in results)
    return 2 if any(not r.ok for r in results) else 1 if broken else 0


# the sources' warnings: a project page the index lacks (sources/simple_index.py)
SOURCES_LOGGER = "wheelscan.sources"


@contextlib.contextmanager
def _held_warnings(name: str) -> Iterator[list[logging.LogRecord]]:
    """What the logger ``name`` and those below it log meanwhile, kept rather than said: a
    project the index lacks was two lines (the source's "no page for project ..." and then
    "no Linux wheels of ..."), where one says it."""
    held: list[logging.LogRecord] = []

    class Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            held.append(record)

    logger, hold = logging.getLogger(name), Hold(logging.WARNING)
    propagates = logger.propagate
    logger.addHandler(hold)
    logger.propagate = False
    try:
        yield held
    finally:
        logger.removeHandler(hold)
        logger.propagate = propagates


def _none_found(args: argparse.Namespace, index: str, warnings: list[logging.LogRecord]) -> str:
    """The one line for a listing without a wheel to audit: what was asked, of which index,
    and what the listing met on the way (no page for the project)."""
    from wheelscan.wheel.remote import redact

    arches = f" {' or '.join(args.arch)}" if args.arch else ""
    version = f" {args.project_version}" if args.project_version is not None else ""
    said = f"no Linux{arches} wheels of {args.name!r}{version} on the index {redact(index)}"
    met = "; ".join(w.getMessage() for w in warnings)
    return f"{said}: {met}" if met else said


def _wheel_lines(results: list[WheelResult], width: int) -> str:
    """Each wheel's name on a line of its own (names run to 100 characters: a table column
    would cut them), then its tag, its claims and why it is not one policy better."""
    lines = []
    for r in results:
        lines.append(r.ref.filename)
        v = r.verdict
        if not isinstance(v, Verdict):
            lines += wrap(f"error {v.code}: {v.reason}", 2, 4, width)
            continue
        claims = "BROKEN " + ", ".join(v.over_claims) if v.over_claims else "declared tags hold"
        lines += wrap(f"{v.overall_tag}; {claims}", 2, 4, width)
        upgrade = v.next_upgrade
        if upgrade is not None:
            lines += wrap(f"not {upgrade.policy}: {why_not(upgrade)}", 2, 4, width)
    # names from the index and the wheels, line by line: no control character printed
    return "\n".join(printable_lines(lines))
