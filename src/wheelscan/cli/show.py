"""``wheelscan show WHEEL...``: the verdict on each wheel, and why.

Exit status: 0 when every declared tag of every wheel holds, 1 when one is broken (an
over-claim), 2 when a wheel could not be judged, so CI can gate on it.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelscan import __version__
from wheelscan.cli import show_start
from wheelscan.cli.commands import SUMMARIES
from wheelscan.elf import backend_name
from wheelscan.model import WheelFacts
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.remote import file_url_path, filename_from_url, is_url
from wheelscan.wheel.threads import Background

if TYPE_CHECKING:
    import argparse

    # the verdicts, their evaluation and their text: imported once the first wheel is being
    # read (``run``), in parallel with its inflation (issue #15)
    from wheelscan.policy.abi3 import Abi3Verdict
    from wheelscan.policy.policies import PolicyDatabase
    from wheelscan.policy.verdict import AuditError, Verdict

# 2: each verdict's "abi3" (issue #17): the stable-ABI verdict beside it, or null
JSON_VERSION = 2


DESCRIPTION = """\
Judge each wheel from its ELF files and the manylinux, musllinux and android
policies alone, and explain the verdict: the most compatible tag its content is
consistent with, whether each tag of its filename holds, and what stands between
it and the next better policy. A wheel tagged abi3/abi3t (or holding *.abi3.so
files) is also judged against the stable ABI: the Python its files need, and each
symbol outside it."""

EPILOG = """\
exit status:
  0  every declared tag of every wheel holds
  1  a declared tag of some wheel is broken (an over-claim), or its abi3/abi3t promise
  2  some wheel could not be judged (missing, a directory, not a wheel)"""


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    # argparse's: not imported by a plain command line, read without it (show_start.py)
    from wheelscan.cli.usage import OneFormat, named, path_argument, positive_float

    p = commands.add_parser(
        "show",
        help=SUMMARIES["show"],
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "wheels",
        nargs="*",
        type=named,
        metavar="WHEEL",
        help="wheel files, or http(s) URLs of wheels",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="explain every better policy and print every name (default: the next better "
        "policy and the broken declared ones, long lists folded to a count)",
    )
    p.add_argument(
        "--json",
        action=OneFormat,
        nargs=0,
        const="json",
        dest="format",
        help="one JSON document with every detail instead of text, as --format json "
        "(default: text)",
    )
    p.add_argument(
        "--format",
        action=OneFormat,  # with --json, one format
        choices=("text", "json", "sarif", "junit"),
        default="text",
        help="text; json (every detail, versioned schema: --json-schema); sarif (SARIF 2.1.0, "
        "one result per broken tag or unjudged wheel, for code scanning); junit (JUnit XML, "
        "one test case per wheel, for CI)",
    )
    p.add_argument(
        "--policy-file",
        type=path_argument,
        help="judge against the policies of this JSON file, in auditwheel's format, "
        "replacing the built-in ones of its libc (manylinux_*, musllinux_* or android_* "
        "names; default: the policies built in)",
    )
    p.add_argument(
        "--musl-policy",
        metavar="NAME",
        help="judge musl wheels against this musllinux policy only, as auditwheel "
        "does with the host's musl (default: every musllinux policy)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        help="seconds each HTTP request may take, for a wheel given by URL (default: 60)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="read every byte as an installer would, and check it: CRCs, sizes, RECORD's "
        "hashes, the .dist-info and WHEEL tags against the file name; every member examined "
        "(default: as few bytes as settle the verdict, for statistics, not gates)",
    )
    p.add_argument(
        "--json-schema", action="store_true", help="print the schema of the JSON output and exit"
    )
    # configures_logging: where a wheel is fetched (``_judge``); exits_at_once: every thread
    # has ended when it returns (main.exit_at_once); ends_on_sigint: a Ctrl-C ends it as
    # SIGINT's default action does, at once (main.run)
    p.set_defaults(func=run, configures_logging=True, exits_at_once=True, ends_on_sigint=True)


def json_schema() -> dict[str, Any]:
    import json
    from importlib import resources

    text = resources.files("wheelscan").joinpath("schemas/show.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def read(target: str, strict: bool = False) -> WheelFacts | None:
    """A local wheel's facts; None for a URL (AuditTask reads it) or a missing file
    (``judge`` says so). What reading raises reaches the main thread through its future
    (``run``), which makes it the wheel's record or raises it again."""
    path = Path(target)
    if is_url(target) or not path.is_file():
        return None
    with WheelArchive.open(path) as archive:
        # its members spread over the cores this process may use
        return read_wheel_facts(archive, path.name, threads=_threads(), strict=strict)


def judge(
    target: str,
    facts: WheelFacts | AuditError | None,
    database: PolicyDatabase,
    args: argparse.Namespace,
) -> tuple[Verdict | AuditError, Abi3Verdict | None]:
    """The verdict on a wheel and, judged beside it from the same facts, its abi3 verdict;
    that too when the platform verdict is an evaluation error (the facts were read), as the
    store records it (store/codec.py)."""
    outcome, read = _judge(target, facts, database, args)
    if read is None:
        return outcome, None
    from wheelscan.policy.abi3_promise import makes_promise

    if not makes_promise(read):  # the abi3 audit's records and data: only when due
        return outcome, None
    from wheelscan.policy.abi3 import evaluate_abi3

    return outcome, evaluate_abi3(read)


def _judge(
    target: str,
    facts: WheelFacts | AuditError | None,
    database: PolicyDatabase,
    args: argparse.Namespace,
) -> tuple[Verdict | AuditError, WheelFacts | None]:
    from wheelscan.engine import worker
    from wheelscan.policy.verdict import AuditError

    if is_url(target):
        # ranged reads: the central directory and the members that may be ELF, nothing more
        # the audit task and the HTTP client: imported only when a URL is given
        from wheelscan.cli.main import configure_logging

        configure_logging("show")
        from wheelscan.engine.task import AuditTask
        from wheelscan.sources.base import WheelRef
        from wheelscan.wheel.remote import redact

        # a URL whose path names no file (an index page): the wheel is named by the URL
        filename = filename_from_url(target) or redact(target)
        from wheelscan.cli.wheel_url import no_wheel_named

        if (refused := no_wheel_named(target, filename)) is not None:
            return refused, None
        task = AuditTask(
            args.policy_file,
            args.musl_policy,
            strict=args.strict,
            keyed=False,
            request_timeout=args.timeout,
            member_threads=MAX_THREADS,
            alone=True,
        )
        result = task(WheelRef(filename, "", "", target))
        return result.verdict, result.facts
    path = Path(target)
    if isinstance(facts, AuditError):
        return facts, None
    if facts is None:
        if path.is_dir():
            return AuditError(
                path.name,
                "is-a-directory",
                f"{target} is a directory, not a wheel: `wheelscan audit {target}` "
                "audits the wheels in it",
            ), None
        if path.exists():
            return AuditError(path.name, "not-a-file", f"{target} is not a regular file"), None
        if (local := file_url_path(target)) is not None:
            reason = f"{target} is a file: URL, not read: name the wheel by its path, {local}"
            return AuditError(path.name, "not-found", reason), None
        return AuditError(path.name, "not-found", f"cannot access {target}: no such file"), None
    return worker.judge(path.name, facts, database, args.musl_policy), facts


# The GIL's switch interval while a wheel is read beside the main thread's Python (``run``):
# onnxruntime 1.31.1's show, whose reading is about as long as the evaluation's imports, took
# 3-4 ms less at 1 ms than at the default 5 (wall; the same CPU time)
OVERLAP_SWITCH_INTERVAL = 0.001

# Each thread holds up to 64 MiB of scratch (a member inflated whole): a few threads take a
# large wheel's members on as many cores without the memory growing with the machine. A
# wheel read over HTTP takes as many whatever the cores: its members' threads mostly wait
# for their round trips (pyarrow 26.0.1 cp312 through 50 ms: 19 round trips one after
# another with one thread, 8 with four; benchmarks/results/remote-loopback.txt)
MAX_THREADS = 4


def _threads() -> int:
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(MAX_THREADS, len(usable) if usable else os.cpu_count() or 1))


def exit_status(
    results: list[Verdict | AuditError], abi3: Sequence[Abi3Verdict | None] = ()
) -> int:
    from wheelscan.policy.verdict import AuditError, Verdict

    if any(isinstance(r, AuditError) for r in results):
        return 2
    if any(r.over_claims for r in results if isinstance(r, Verdict)):
        return 1
    # an abi3/abi3t tag is a declared tag too: a broken stable-ABI promise fails the gate
    return 1 if any(v is not None and v.compliant is False for v in abi3) else 0


def run(args: argparse.Namespace) -> int:
    # json is imported where it is used, not before the first wheel's reading begins: the
    # policies import it meanwhile (1-2 ms of start-up that then overlaps it, issue #15)
    if args.json_schema:
        import json

        print(json.dumps(json_schema(), indent=2))
        return 0
    if not args.wheels:
        from wheelscan.cli.usage import UsageError

        raise UsageError("no WHEEL given (a wheel file or an http(s) URL)")
    results: list[Verdict | AuditError] = []
    abi3: list[Abi3Verdict | None] = []  # each result's, None: no stable-ABI promise
    # Each wheel is read in another thread while this one judges the one before; the
    # first while this one imports the evaluation (packaging's tags, the policy code)
    # and loads the policies: for one large wheel, 35-40 ms of a 0.2-0.3 s run,
    # overlapped with inflation, which needs no GIL. The verdict's text too (its
    # records, the policies' types): the first wheel is read as early as can be.
    # Meanwhile this thread runs Python (imports, policies, verdicts) and holds the GIL,
    # which a reading thread back from inflating (without it) waits for, at every step, up
    # to the switch interval (5 ms by default): a shorter one while both run
    with _SHORT_SWITCH_INTERVAL:
        # begun already where the command line was plain (show_start.py)
        reading = show_start.take(args.wheels[0], args.strict) or _read_in_background(
            args.wheels[0], args.strict
        )
        with _no_collection():
            from wheelscan.engine import worker  # imported here, not in judge
            from wheelscan.policy.policies import load_policies

            database = load_policies(args.policy_file)
            _prepare_judging(args.wheels[0], database, args.format)
        for index, target in enumerate(args.wheels):
            facts: WheelFacts | AuditError | None
            try:
                facts = reading.result()
            except worker.FAILURES as e:  # the wheel's; anything else is a bug, raised here
                facts = worker.audit_error(Path(target).name, e)
            if index + 1 < len(args.wheels):
                reading = _read_in_background(args.wheels[index + 1], args.strict)
            outcome, stable_abi = judge(target, facts, database, args)
            results.append(outcome)
            abi3.append(stable_abi)
    if args.format == "json":
        # json.dumps(..., indent=2)'s text, without json's pure-Python encoder (fast_json.py)
        from wheelscan.fast_json import dumps

        print(
            dumps(
                {
                    "version": JSON_VERSION,
                    "wheelscan": __version__,
                    "backend": backend_name(),
                    "strict": args.strict,
                    "results": [_with_abi3(r, a) for r, a in zip(results, abi3, strict=True)],
                }
            )
        )
    elif args.format in ("sarif", "junit"):
        from wheelscan.report.junit import render_junit
        from wheelscan.report.sarif import render_sarif

        items = [(r.wheel, _with_abi3(r, a)) for r, a in zip(results, abi3, strict=True)]
        print(render_sarif(items) if args.format == "sarif" else render_junit(items), end="")
    else:
        from wheelscan.cli.abi3_text import render_abi3
        from wheelscan.cli.text import output_width
        from wheelscan.cli.verdict_text import render

        width = output_width()
        print(
            "\n\n".join(
                "\n".join([render(r, args.verbose, width), *render_abi3(a, args.verbose, width)])
                if a is not None
                else render(r, args.verbose, width)
                for r, a in zip(results, abi3, strict=True)
            )
        )
    return exit_status(results, abi3)


# The modules each output format renders with, imported on first use (``run``)
_RENDERERS = {
    "json": ("wheelscan.fast_json",),
    "text": ("wheelscan.cli.abi3_text", "wheelscan.cli.text", "wheelscan.cli.verdict_text"),
    "sarif": ("wheelscan.report.junit", "wheelscan.report.sarif"),
    "junit": ("wheelscan.report.junit", "wheelscan.report.sarif"),
}


def _prepare_judging(target: str, database: PolicyDatabase, output_format: str | None) -> None:
    """What judging ``target`` and printing the verdicts will need, made while it is read,
    where this thread has nothing else to do: the policy set its filename names (built on
    first use), the check of an abi3 promise and the output format's renderers (imported on
    first use). The first two were 2 ms of onnxruntime 1.31.1's judging, the text
    renderers 3 ms more (textwrap), after its reading (issue #15)."""
    from wheelscan.policy.abi3_promise import makes_promise  # noqa: F401 (imported ahead)
    from wheelscan.policy.evaluate import policies_named_by

    policies_named_by(filename_from_url(target) if is_url(target) else Path(target).name, database)
    # no --format nor --json given: the format is None (``--json``'s default, which comes
    # first: argparse sets a dest's default once), and ``run`` prints text; taken for no
    # format, the text renderers were imported after the reading, on the serial end of
    # onnxruntime 1.31.1's ``show``: 3.5-5 ms of it
    # (``__import__``, as an import statement imports: ``importlib.import_module`` takes
    # Python's own path, which ``-X importtime`` does not report)
    for module in _RENDERERS.get(output_format or "text", ()):
        __import__(module)


@contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic collector off meanwhile, as ``main.entry`` keeps it off while the command
    line is parsed: the evaluation's modules and the policies (a JSON file of 240 KB) make
    tens of thousands of objects that live as long as the process, and free almost none,
    while the first wheel is read beside them; the collector walked them 10M instructions'
    worth in a one-wheel ``show`` (issue #15). Where the process's entry froze what its
    start-up made (``main.StartUp.frozen``: a process that ends with the command), these
    are frozen too: else the first collection after, on the serial end of a one-wheel
    ``show``, walked them all (0.9M instructions). A program that calls ``main`` is left
    alone, even one that froze its own objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        from wheelscan.cli import main

        if main.StartUp.frozen:
            gc.freeze()
        if enabled:
            gc.enable()


class _ShortSwitchInterval:
    """OVERLAP_SWITCH_INTERVAL while a run of ``show`` reads beside Python; the interval
    before given back by the last of overlapping runs to end (``main`` may be called from
    several threads), not by each, which would leave the shortened one set."""

    def __init__(self) -> None:
        self._runs = 0
        self._before = 0.0
        self._changing = threading.Lock()

    def __enter__(self) -> None:
        with self._changing:
            if not self._runs:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._before, OVERLAP_SWITCH_INTERVAL))
            self._runs += 1

    def __exit__(self, *_: object) -> None:
        with self._changing:
            self._runs -= 1
            if not self._runs:
                sys.setswitchinterval(self._before)


_SHORT_SWITCH_INTERVAL = _ShortSwitchInterval()


def _read_in_background(target: str, strict: bool) -> Background[WheelFacts | None]:
    return Background(lambda: read(target, strict), "wheelscan-read")


def _with_abi3(result: Verdict | AuditError, abi3: Abi3Verdict | None) -> dict[str, Any]:
    """A result's JSON; a verdict's with its abi3 verdict beside it (show.schema.json), an
    evaluation error's too when it has one."""
    from wheelscan.policy.verdict import Verdict

    data = result.to_json()
    if isinstance(result, Verdict) or abi3 is not None:
        data["abi3"] = None if abi3 is None else abi3.to_json()
    return data
