"""auditwheel, pinned, run as its users run it: one ``auditwheel show`` process per wheel.

``--ldpaths ""`` keeps it from searching the host's libraries, as the verdict comparison in
the tests does. The console script next to this interpreter is called directly: a version
manager's shim on PATH (pyenv's is a shell script) would add its own start-up to every wheel.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.procs import ProcessRun, json_output, run_measured, run_plain

PINNED = "6.8.2"


@dataclass(frozen=True)
class WheelAudit:
    wheel: str
    run: ProcessRun

    @property
    def overall_tag(self) -> str | None:
        tag = json.loads(self.run.stdout).get("overall_tag")
        return tag if isinstance(tag, str) else None


def command() -> list[str]:
    beside = Path(sys.executable).with_name("auditwheel")
    found = str(beside) if beside.is_file() else shutil.which("auditwheel")
    if found is None:
        raise RuntimeError("auditwheel is not installed: pip install 'auditwheel==6.8.2'")
    return [found]


def package_dir() -> Path | None:
    """auditwheel's package directory, when it is importable by this interpreter."""
    import importlib.util

    spec = importlib.util.find_spec("auditwheel")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def version(cmd: list[str]) -> str:
    # "auditwheel 6.8.2 installed at ..."
    words = run_measured([*cmd, "--version"]).stdout.decode().split()
    found = words[1] if len(words) > 1 else "?"
    if found != PINNED:
        raise RuntimeError(f"auditwheel {found} found, the benchmark pins {PINNED}")
    return found


def _show_command(cmd: list[str], wheel: Path) -> list[str]:
    return [*cmd, "show", "--json", "--ldpaths", "", str(wheel)]


# exit status 1 is auditwheel's answer for a wheel it cannot place: still a complete audit
OK_CODES = (0, 1)


def show(cmd: list[str], wheel: Path) -> WheelAudit:
    run = run_measured(_show_command(cmd, wheel), OK_CODES)
    json_output(run, f"auditwheel show {wheel.name}")
    return WheelAudit(wheel.name, run)


def sequential(cmd: list[str], wheels: list[Path]) -> list[WheelAudit]:
    return [show(cmd, w) for w in wheels]


def parallel(cmd: list[str], wheels: list[Path], workers: int) -> float:
    """Wall time of the corpus with ``workers`` auditwheel processes at a time."""
    started = time.perf_counter()
    # threads only wait, the work is in the processes; no launcher: its start-up would count
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda w: run_plain(_show_command(cmd, w), OK_CODES), wheels))
    return time.perf_counter() - started
