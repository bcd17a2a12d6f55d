"""``wheelscan show WHEEL...``: the verdict on each wheel, and why.

Exit status: 0 when every declared tag of every wheel holds, 1 when one is broken (an
over-claim), 2 when a wheel could not be judged, so CI can gate on it.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelscan import __version__
from wheelscan.elf import backend_name
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.contents import WheelFacts, read_wheel_facts
from wheelscan.wheel.remote import filename_from_url, is_url

if TYPE_CHECKING:
    from wheelscan.policy.policies import PolicyDatabase

JSON_VERSION = 1


def configure_parser(commands: Any) -> None:  # argparse's _SubParsersAction is private
    p = commands.add_parser("show", help="judge wheels and explain the verdict")
    p.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel paths or http(s) URLs")
    p.add_argument("--json", action="store_true", help="JSON output (schema: --json-schema)")
    p.add_argument("--policy-file", type=Path, help="a policy JSON file in auditwheel's format")
    p.add_argument(
        "--musl-policy",
        metavar="NAME",
        help="judge musl wheels against this musllinux policy only, as auditwheel "
        "does with the host's musl (default: every musllinux policy)",
    )
    p.add_argument("--json-schema", action="store_true", help="print the JSON schema and exit")
    p.set_defaults(func=run)


def json_schema() -> dict[str, Any]:
    text = resources.files("wheelscan").joinpath("schemas/show.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def read(target: str) -> WheelFacts | BaseException | None:
    """A local wheel's facts, or what reading them raised; None for a URL (AuditTask reads
    it) or a missing file (``judge`` says so)."""
    path = Path(target)
    if is_url(target) or not path.is_file():
        return None
    try:
        with WheelArchive.open(path) as archive:
            # its members spread over the cores this process may use
            return read_wheel_facts(archive, path.name, threads=_threads())
    except Exception as e:  # judged (made a record, or raised) in the main thread
        return e


def judge(
    target: str,
    facts: WheelFacts | BaseException | None,
    database: PolicyDatabase,
    args: argparse.Namespace,
) -> Verdict | AuditError:
    from wheelscan.engine import worker

    if is_url(target):
        # ranged reads: the central directory and the members that may be ELF, nothing more
        # the audit task and the HTTP client: imported only when a URL is given
        from wheelscan.engine.task import AuditTask
        from wheelscan.sources.base import WheelRef

        filename = filename_from_url(target)
        task = AuditTask(args.policy_file, args.musl_policy)
        return task(WheelRef(filename, "", "", target)).verdict
    path = Path(target)
    if facts is None:
        if path.is_dir():
            return AuditError(
                path.name,
                "is-a-directory",
                f"{target} is a directory, not a wheel: `wheelscan audit {target}` "
                "audits the wheels in it",
            )
        if path.exists():
            return AuditError(path.name, "not-a-file", f"{target} is not a regular file")
        return AuditError(path.name, "not-found", f"cannot access {target}: no such file")
    return worker.judge(path.name, facts, database, args.musl_policy)


# Each thread holds up to 64 MiB of scratch (a member inflated whole): a few threads take a
# large wheel's members on as many cores without the memory growing with the machine
MAX_THREADS = 4


def _threads() -> int:
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(MAX_THREADS, len(usable) if usable else os.cpu_count() or 1))


def exit_status(results: list[Verdict | AuditError]) -> int:
    if any(isinstance(r, AuditError) for r in results):
        return 2
    return 1 if any(r.over_claims for r in results if isinstance(r, Verdict)) else 0


def run(args: argparse.Namespace) -> int:
    if args.json_schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    results: list[Verdict | AuditError] = []
    with ThreadPoolExecutor(1) as reader:
        # Each wheel is read in another thread while this one judges the one before; the
        # first while this one imports the evaluation (packaging's tags, the policy code)
        # and loads the policies: for one large wheel, 35-40 ms of a 0.2-0.3 s run,
        # overlapped with inflation, which needs no GIL
        reading = reader.submit(read, args.wheels[0])
        from wheelscan.engine import worker  # noqa: F401  (imported here, not in judge)
        from wheelscan.policy.policies import load_policies

        database = load_policies(args.policy_file)
        for index, target in enumerate(args.wheels):
            facts = reading.result()
            if index + 1 < len(args.wheels):
                reading = reader.submit(read, args.wheels[index + 1])
            results.append(judge(target, facts, database, args))
    if args.json:
        print(
            json.dumps(
                {
                    "version": JSON_VERSION,
                    "wheelscan": __version__,
                    "backend": backend_name(),
                    "results": [r.to_json() for r in results],
                },
                indent=2,
            )
        )
    else:
        print("\n\n".join(render(r) for r in results))
    return exit_status(results)


def render(result: Verdict | AuditError) -> str:
    if isinstance(result, AuditError):
        where = f" in {result.member}" if result.member else ""
        return f"{result.wheel}\n  ERROR {result.code}{where}: {result.reason}"
    v = result
    lines = [
        v.wheel,
        f"  {v.libc} {v.architecture}, {len(v.elf_files)} ELF file(s)",
        f"  consistent with: {v.overall_tag}",
    ]
    for claim in v.declared:
        mark = "holds" if claim.holds else "BROKEN"
        lines.append(
            f"  declared {claim.tag}: {mark}"
            + (f" ({claim.reason})" if claim.reason and not claim.holds else "")
        )
    if v.under_claim:
        lines.append(
            f"  under-claim: the content meets {v.under_claim}, more compatible than "
            "every declared tag"
        )
    lines.append(
        "  criteria: " + ", ".join(f"{k.replace('_', ' ')} {p}" for k, p in v.criteria.items())
    )
    if v.newest_versions:
        lines.append("  newest symbol versions needed:")
        for b in v.newest_versions:
            lines.append(
                f"    {b.subject}: {_names(b.symbols) or '(no symbol bound to it)'}"
                f" in {_names(b.files)}"
            )
    for check in v.upgrades:
        lines.append(f"  why not {check.policy}:")
        for b in check.blockers:
            if b.kind == "symbol-version":
                lines.append(
                    f"    needs {b.subject} ({_names(b.symbols) or 'no symbol'}) "
                    f"in {_names(b.files)}"
                )
            elif b.kind == "external-library":
                lines.append(
                    f"    links {b.subject}, which is neither whitelisted nor in the wheel"
                )
            elif b.kind == "blacklisted-symbol":
                lines.append(f"    uses blacklisted {_names(b.symbols)} from {b.subject}")
            else:
                lines.append(f"    {b.kind}: {b.subject} {_names(b.files)}".rstrip())
    if v.external_libraries:
        lines.append(f"  external libraries: {', '.join(v.external_libraries)}")
    for finding in v.findings:
        lines.append(f"  warning {finding.kind}: {finding.file}: {finding.detail}")
    if v.ignored_elf_files:
        lines.append(f"  ignored (other machine or ABI): {', '.join(v.ignored_elf_files)}")
    return "\n".join(lines)


def _names(items: tuple[str, ...], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
