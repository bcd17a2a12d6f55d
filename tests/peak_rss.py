"""``wheelscan show`` as a user runs it, with the peak RSS of its process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# run in a process of its own: RUSAGE_CHILDREN is then ``show``'s peak alone
_PROBE = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "print(done.stdout)"
)


def show_measured(path: Path, **env: str) -> tuple[int, str, int]:
    """``wheelscan show --json PATH``'s exit status, output and peak RSS in bytes."""
    measured = subprocess.run(
        [sys.executable, "-c", _PROBE, sys.executable, "-m", "wheelscan", "show", "--json",
         str(path)],
        capture_output=True, text=True, check=True, timeout=600, env={**os.environ, **env},
    )  # fmt: skip
    first, _, output = measured.stdout.partition("\n")
    status, max_rss_kib = map(int, first.split())
    return status, output, max_rss_kib * 1024
