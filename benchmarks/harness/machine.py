"""The machine and software a result was measured on: a ratio means little without them."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import isal

import wheelscan
from wheelscan.elf import backend_name
from wheelscan.wheel.inflate import LIBDEFLATE_VERSION


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _commit(repo: Path) -> str | None:
    try:  # read-only
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def describe(repo: Path, auditwheel_version: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_bytes": _memory_total(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "isal": isal.ISAL_VERSION,
        "python_isal": isal.__version__,
        "libdeflate": LIBDEFLATE_VERSION,
        "wheelscan": wheelscan.__version__,
        "elf_backend": backend_name(),
        "wheelscan_commit": _commit(repo),
        "auditwheel": auditwheel_version,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
