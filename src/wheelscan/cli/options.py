"""Options several commands share, defined once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from wheelscan.engine.pool import Executor, InlineExecutor, LocalPool, Task
from wheelscan.wheel.archive import Limits

DEFAULT_DB = Path("wheelscan.db")


def add_policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy-file", type=Path, help="a policy JSON file in auditwheel's format")
    p.add_argument(
        "--musl-policy",
        metavar="NAME",
        help="judge musl wheels against this musllinux policy only, as auditwheel "
        "does with the host's musl (default: every musllinux policy)",
    )


def add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores; 0: no processes)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds one wheel may take before its worker is replaced",
    )
    p.add_argument(
        "--max-member-size",
        type=int,
        default=Limits.max_member_size,
        help="largest uncompressed member read, in bytes",
    )
    p.add_argument(
        "--max-compression-ratio",
        type=int,
        default=Limits.max_compression_ratio,
        help="refuse members that inflate more than this (zip bombs)",
    )


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"the SQLite store (default: ./{DEFAULT_DB})"
    )


def limits(args: argparse.Namespace) -> Limits:
    return Limits(args.max_member_size, args.max_compression_ratio)


def executor(task: Task, args: argparse.Namespace) -> Executor:
    if args.workers <= 0:
        return InlineExecutor(task)
    return LocalPool(task, workers=args.workers, timeout=args.timeout)
