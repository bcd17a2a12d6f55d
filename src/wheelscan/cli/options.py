"""Options several commands share, defined once, with their checks (cli/usage.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wheelscan.cli.usage import (
    UsageError,
    count,
    existing_file,
    path_argument,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:  # the pool and the zip reader: imported by the commands that read wheels,
    # not by report nor reevaluate
    from wheelscan.engine.pool import Executor, R, Task
    from wheelscan.wheel.archive import Limits

DEFAULT_DB = Path("wheelscan.db")
TIMEOUT_DEFAULT = 600.0  # seconds a wheel may take in a worker
# Each worker is a process, all started at once: past a few per core they gain nothing (a
# worker overlaps a remote wheel's requests on threads of its own), and `--workers 100000`
# forked hundreds a second, for three wheels, until stopped: a typo, refused
MOST_WORKERS = max(256, 8 * (os.cpu_count() or 1))


def add_policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy-file",
        type=existing_file,
        metavar="FILE",
        help="a policy JSON file in auditwheel's format, replacing the built-in one of its "
        "libc, told by its policy names: manylinux_*, musllinux_* or android_* "
        "(default: the built-in policies)",
    )
    p.add_argument(
        "--musl-policy",
        metavar="NAME",
        help="judge musl wheels against this musllinux policy only (e.g. musllinux_1_2), as "
        "auditwheel does with the host's musl (default: every musllinux policy)",
    )


def worker_count(text: str) -> int:
    workers = count(text)
    if workers > MOST_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MOST_WORKERS} (each is a process), not {text}")
    return workers


def add_engine_options(p: argparse.ArgumentParser) -> None:
    from wheelscan.wheel.archive import Limits  # the commands that read wheels: theirs anyway

    p.add_argument(
        "--strict",
        action="store_true",
        help="read every byte of every wheel as an installer would, and check it: CRCs, "
        "sizes, RECORD's hashes, the .dist-info and WHEEL tags against the file name, the "
        "index's sha256; every member examined (default: as few bytes as settle the "
        "verdict, for statistics over an index, not for gates)",
    )
    p.add_argument(
        "--workers",
        type=worker_count,
        default=os.cpu_count() or 1,
        help=f"worker processes, at most {MOST_WORKERS} (0: none, every wheel audited in "
        "this process; with --engine dask and no --scheduler: the local cluster's workers)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: a pool of worker processes; dask: a dask.distributed cluster "
        "(pip install 'wheelscan[dask]')",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: the scheduler to use, e.g. tcp://HOST:8786; every worker "
        "must reach the sources at the same paths or URLs (default: a local cluster of "
        "--workers processes, on loopback)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=TIMEOUT_DEFAULT,
        help="seconds one wheel may take before its worker is replaced",
    )
    p.add_argument(
        "--max-member-size",
        type=positive_int,
        default=Limits.max_member_size,
        help="largest uncompressed member read, in bytes",
    )
    p.add_argument(
        "--max-compression-ratio",
        type=positive_int,
        default=Limits.max_compression_ratio,
        help="refuse members that inflate more than this (zip bombs)",
    )


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=store_path, default=DEFAULT_DB, help="the SQLite store")


def store_path(text: str) -> Path:
    """``--db``'s path, never empty (``path_argument``)."""
    try:
        return path_argument(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e}: name the store file") from e


def limits(args: argparse.Namespace) -> Limits:
    from wheelscan.wheel.archive import Limits

    return Limits(args.max_member_size, args.max_compression_ratio)


def executor(task: Task[R], args: argparse.Namespace) -> Executor[R]:
    from wheelscan.engine.pool import InlineExecutor, LocalPool

    if getattr(args, "engine", "local") == "dask":
        from wheelscan.engine import dask_executor

        if not dask_executor.available():
            raise UsageError(f"--engine dask needs dask.distributed: {dask_executor.INSTALL_HINT}")
        if args.workers == 0 and args.scheduler is None:
            # a local cluster of no workers: the executor took the 0 for its default, all cores
            raise UsageError(
                "--workers 0 audits in this process, --engine dask on a cluster's workers: drop one"
            )
        return dask_executor.DaskExecutor(
            task, args.scheduler, args.workers, args.timeout, memory_limit(args)
        )
    if args.scheduler is not None:
        raise UsageError("--scheduler needs --engine dask")
    if args.workers <= 0:
        return InlineExecutor(task)
    return LocalPool(
        task, workers=args.workers, timeout=args.timeout, memory_limit=memory_limit(args)
    )


def memory_limit(args: argparse.Namespace) -> int:
    """A worker's data bound: at most its largest member (and, streamed, a sparse mapping of
    its size), a wheel fetched whole (--strict over HTTP, an index without hashes: up to the
    largest member again) beside the interpreter and the libraries."""
    return 2 * int(args.max_member_size) + (1 << 30)


def engine_description(engine: Executor[Any]) -> str:
    """Which engine runs the audit, on how many workers: recorded with the run."""
    from wheelscan.engine.pool import InlineExecutor, LocalPool

    if isinstance(engine, LocalPool):
        return f"local pool of {engine.size} workers"
    if isinstance(engine, InlineExecutor):
        return "inline"
    from wheelscan.engine.dask_executor import DaskExecutor  # the only other: imported in use

    if not isinstance(engine, DaskExecutor):
        raise TypeError(f"not an engine of wheelscan's: {engine!r}")
    return engine.description()
