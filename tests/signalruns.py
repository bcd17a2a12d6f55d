"""What the tests of stop signals share: Python code run in a process of its own, as the
``wheelscan`` script runs, with the stop signals' default actions whatever this process
has (a test sends it real signals at moments its hooks choose)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull}


def default_stop_signals() -> None:
    """For ``preexec_fn``: SIGINT, SIGTERM and SIGHUP as a shell's foreground command has
    them (an ignored signal stays ignored across exec)."""
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_DFL)


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=default_stop_signals,
    )
