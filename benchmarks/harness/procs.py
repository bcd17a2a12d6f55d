"""Whole processes, timed and weighed: wall time and the peak RSS the kernel reports.

Measured processes are started through ``launch.py`` (see there why): it reaps exactly the
child it started with ``wait4``, so the peak RSS is that process's own, without polling.

Both tools run with Python's bytecode cache on, kept in the test cache: an environment with
``PYTHONDONTWRITEBYTECODE`` set would otherwise make an editable install (wheelscan here)
compile every module at every start, while a normally installed tool (auditwheel) has its
``.pyc`` files from the installation. ``warm_up`` fills the cache before anything is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.corpus import cache_dir

T = TypeVar("T")
K = TypeVar("K")
LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    max_rss: int  # bytes
    returncode: int
    stdout: bytes
    stderr: bytes


class ProcessError(RuntimeError):
    """A measured command failed in a way its exit status does not allow."""


def measured_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir() / "benchmarks" / "pycache")
    return env


def run_measured(command: Sequence[str], ok_codes: tuple[int, ...] = (0,)) -> ProcessRun:
    """Run ``command`` to its end; raise ProcessError on an exit status not in ``ok_codes``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        launch = [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *command]
        done = subprocess.run(
            launch, capture_output=True, stdin=subprocess.DEVNULL, env=measured_env(), check=False
        )
        if done.returncode != 0 or not report.is_file():
            raise ProcessError(f"launcher failed: {done.stderr.decode('utf-8', 'replace')}")
        measured = json.loads(report.read_text())
    run = ProcessRun(
        measured["seconds"], measured["max_rss"], measured["returncode"], done.stdout, done.stderr
    )
    if run.returncode not in ok_codes:
        tail = run.stderr.decode("utf-8", "replace")[-2000:]
        raise ProcessError(f"{' '.join(command)}: exit status {run.returncode}\n{tail}")
    return run


def json_output(run: ProcessRun, command: str) -> Any:
    """The JSON a run printed. Exit status 1 is an answer for both tools but also Python's
    status for a traceback, so a run that printed no JSON is a failure, shown with its stderr."""
    try:
        return json.loads(run.stdout)
    except ValueError:
        tail = run.stderr.decode("utf-8", "replace")[-2000:]
        raise ProcessError(f"{command}: exit status {run.returncode}, no JSON\n{tail}") from None


def run_plain(command: Sequence[str], ok_codes: tuple[int, ...] = (0,)) -> None:
    """Run ``command`` with nothing in between: for wall times taken around many of them."""
    done = subprocess.run(
        list(command),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=measured_env(),
        check=False,
    )
    if done.returncode not in ok_codes:
        tail = done.stderr.decode("utf-8", "replace")[-2000:]
        raise ProcessError(f"{' '.join(command)}: exit status {done.returncode}\n{tail}")


def best_of_interleaved(
    keys: list[K], repeats: int, measure: Callable[[K], T], seconds: Callable[[T], float]
) -> dict[K, list[T]]:
    """``repeats`` measurements per key, fastest first, taken in rounds (1, 2, 1, 2, ...):
    a neighbour that takes a core for a few seconds then disturbs each key's runs alike,
    where in blocks it could fall on all of one key's runs (one worker fast, two slow)."""
    runs: dict[K, list[T]] = {key: [] for key in keys}
    for _ in range(max(1, repeats)):
        for key in keys:
            runs[key].append(measure(key))
    return {key: sorted(found, key=seconds) for key, found in runs.items()}


def best_of(repeats: int, measure: Callable[[], T], seconds: Callable[[T], float]) -> list[T]:
    """``repeats`` measurements, fastest first: the best is the least disturbed by the machine
    (other processes, frequency changes), which is what a ratio between tools should compare."""
    return sorted((measure() for _ in range(max(1, repeats))), key=seconds)
