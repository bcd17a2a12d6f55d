"""Whole processes, timed and weighed: wall time and the peak RSS the kernel reports.

``os.wait4`` returns the resource usage of exactly the child it reaps, so the peak RSS of one
``wheelscan show`` or ``auditwheel show`` is measured without polling and without counting
any other child of the harness.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    max_rss: int  # bytes
    returncode: int
    stdout: bytes
    stderr: bytes


class ProcessError(RuntimeError):
    """A measured command failed in a way its exit status does not allow."""


def run_measured(command: Sequence[str], ok_codes: tuple[int, ...] = (0,)) -> ProcessRun:
    """Run ``command`` to its end; its output goes to temporary files, never to a pipe, so
    the harness can block in ``wait4`` without a reader to keep the child from stalling."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        run = ProcessRun(seconds, usage.ru_maxrss * 1024, process.returncode, out.read(),
                         err.read())
    if run.returncode not in ok_codes:
        tail = run.stderr.decode("utf-8", "replace")[-2000:]
        raise ProcessError(f"{' '.join(command)}: exit status {run.returncode}\n{tail}")
    return run


def best_of(repeats: int, measure: Callable[[], T], seconds: Callable[[T], float]) -> list[T]:
    """``repeats`` measurements, fastest first: the best is the least disturbed by the machine
    (other processes, frequency changes), which is what a ratio between tools should compare."""
    return sorted((measure() for _ in range(max(1, repeats))), key=seconds)
