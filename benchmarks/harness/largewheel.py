"""One large wheel, as a user at a terminal sees it: whole ``wheelscan show`` and
``auditwheel show`` processes, start-up and imports included."""

from __future__ import annotations

import compileall
import json
import sys
from pathlib import Path
from typing import Any

from harness import auditwheel
from harness.procs import ProcessRun, best_of, json_output, run_measured


def wheelscan_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wheelscan", *args]


def wheelscan_show(wheel: Path) -> ProcessRun:
    # 1: a declared tag is broken, still a complete verdict; 2 (could not judge) is a failure
    run = run_measured(wheelscan_command("show", "--json", str(wheel)), ok_codes=(0, 1))
    json_output(run, f"wheelscan show {wheel.name}")
    return run


def _best(repeats: int, measure: Any) -> list[ProcessRun]:
    return best_of(repeats, measure, lambda run: run.seconds)


def compare(wheel: Path, aw_cmd: list[str], repeats: int) -> dict[str, Any]:
    ws = _best(repeats, lambda: wheelscan_show(wheel))
    aw = _best(repeats, lambda: auditwheel.show(aw_cmd, wheel).run)
    # the fixed cost of a process: interpreter start-up and imports, no wheel read
    ws_start = _best(repeats, lambda: run_measured(wheelscan_command("--version")))
    aw_start = _best(repeats, lambda: run_measured([*aw_cmd, "--version"]))
    ws_tag = json.loads(ws[0].stdout)["results"][0].get("overall_tag")
    aw_tag = json.loads(aw[0].stdout).get("overall_tag")
    return {
        "wheel": wheel.name,
        "wheel_bytes": wheel.stat().st_size,
        "wheelscan_seconds": [r.seconds for r in ws],
        "auditwheel_seconds": [r.seconds for r in aw],
        "wheelscan_best": ws[0].seconds,
        "auditwheel_best": aw[0].seconds,
        "ratio": aw[0].seconds / ws[0].seconds,
        "wheelscan_max_rss": max(r.max_rss for r in ws),
        "auditwheel_max_rss": max(r.max_rss for r in aw),
        "wheelscan_startup_seconds": ws_start[0].seconds,
        "auditwheel_startup_seconds": aw_start[0].seconds,
        "overall_tag": {"wheelscan": ws_tag, "auditwheel": aw_tag},
    }


def warm_up(wheel: Path, aw_cmd: list[str]) -> None:
    """Both tools start with their bytecode compiled, as ``pip install`` leaves them.

    Running them once is not enough where PYTHONDONTWRITEBYTECODE is set (this sandbox sets
    it): an editable or source checkout of wheelscan would then compile every module at
    every start, while auditwheel, installed by pip, has its bytecode. So the packages'
    directories are compiled explicitly (compileall writes regardless of that variable),
    then each tool runs once, untimed.
    """
    import wheelscan

    compileall.compile_dir(Path(wheelscan.__file__).parent, quiet=1)
    auditwheel_package = auditwheel.package_dir()
    if auditwheel_package is not None:
        compileall.compile_dir(auditwheel_package, quiet=1)
    wheelscan_show(wheel)
    auditwheel.show(aw_cmd, wheel)
