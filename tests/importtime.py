"""The modules a ``python -X importtime`` process imports, as its stderr names them."""

from __future__ import annotations

import os
import subprocess
import sys


def import_order(*args: str) -> list[str]:
    """The modules ``python -X importtime *args`` imports, in the order their imports end."""
    # where these are set, rich decides whether stderr is a terminal (cli/progress.py)
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    ).stderr
    return [
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]


def imported(*args: str) -> set[str]:
    """The modules ``python -X importtime *args`` imports."""
    return set(import_order(*args))
