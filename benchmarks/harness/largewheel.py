"""One large wheel, as a user at a terminal sees it: whole ``wheelscan show`` and
``auditwheel show`` processes, start-up and imports included. The largest ML wheels too
(``benchmarks/ml-wheels.json``), each beside the floor its layout sets."""

from __future__ import annotations

import compileall
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import auditwheel
from harness.procs import ProcessRun, json_output, run_measured
from wheelscan._native import dynamic_segment
from wheelscan.wheel import end_count, ends
from wheelscan.wheel.archive import WheelArchive

# auditwheel takes minutes on the largest ML wheels (tensorflow-cpu 2.21: 150 s, where
# wheelscan takes a second): a run that long moves by a few per cent, not by a third, so it
# is repeated only while its runs so far took less than this
AUDITWHEEL_BUDGET = 30.0


# a whole-process ratio is measured again in a clean environment (harness/cleanenv.py) only
# where the start-up it leaves out could move it: not for a run of many seconds
CLEAN_BELOW = 10.0


def wheelscan_command(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "wheelscan", *args]


def wheelscan_show(wheel: Path, python: str = sys.executable) -> ProcessRun:
    # 1: a declared tag is broken, still a complete verdict; 2 (could not judge) is a failure
    command = wheelscan_command("show", "--json", str(wheel), python=python)
    run = run_measured(command, ok_codes=(0, 1))
    json_output(run, f"wheelscan show {wheel.name}")
    return run


def _alternated(
    repeats: int,
    wheelscan_run: Callable[[], ProcessRun],
    auditwheel_run: Callable[[], ProcessRun],
    auditwheel_budget: float | None,
) -> tuple[list[ProcessRun], list[ProcessRun]]:
    """Each tool's runs, fastest first, taken in turns (wheelscan, auditwheel, ...): a
    neighbour that takes a core for a while, or a slower spell of the machine, then falls on
    both tools' runs alike, where in blocks it could fall on all of one tool's (two harness
    runs of onnxruntime gave auditwheel a best of 0.56 s and 0.83 s). auditwheel is run again
    only while its runs so far took less than ``auditwheel_budget`` (``AUDITWHEEL_BUDGET``);
    wheelscan's runs are ``repeats`` either way."""
    ws: list[ProcessRun] = []
    aw: list[ProcessRun] = []
    while len(ws) < repeats or len(aw) < repeats:
        if len(ws) < repeats:
            ws.append(wheelscan_run())
        over_budget = (
            auditwheel_budget is not None and sum(r.seconds for r in aw) >= auditwheel_budget
        )
        if len(aw) < repeats and not (aw and over_budget):
            aw.append(auditwheel_run())
        elif len(ws) >= repeats:
            break
    return sorted(ws, key=lambda r: r.seconds), sorted(aw, key=lambda r: r.seconds)


def _median(runs: list[Any]) -> float:
    """The median of runs' seconds (``runs`` sorted by them, as ``_alternated`` gives them)."""
    middle = len(runs) // 2
    if len(runs) % 2:
        return float(runs[middle].seconds)
    return float((runs[middle - 1].seconds + runs[middle].seconds) / 2)


def compare(
    wheel: Path,
    aw_cmd: list[str],
    repeats: int,
    auditwheel_budget: float | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    ws, aw = _alternated(
        max(1, repeats),
        lambda: wheelscan_show(wheel, python),
        lambda: auditwheel.show(aw_cmd, wheel).run,
        auditwheel_budget,
    )
    # the fixed cost of a process: interpreter start-up and imports, no wheel read
    ws_start, aw_start = _alternated(
        max(1, repeats),
        lambda: run_measured(wheelscan_command("--version", python=python)),
        lambda: run_measured([*aw_cmd, "--version"]),
        None,
    )
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
        "ratio_median": _median(aw) / _median(ws),
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


def layout_floor(wheel: Path, repeats: int) -> dict[str, Any]:
    """What ``show`` must at least do for the wheel's largest ELF member, in this process:
    decode its stream from PT_DYNAMIC (a block header short of it) to its end, only to
    count, as wheelscan counts it (``end_count.count_end``: the tail decoder's ``block_starts``, on
    two threads past 4 MiB of stream). That count places PT_DYNAMIC in the member; nothing
    cheaper does, short of inflating the whole."""
    with WheelArchive.open(wheel) as archive:
        member = max(archive.elf_members(), key=lambda m: m.size)
        dynamic = dynamic_segment(archive.head(member, ends.HEAD_BYTES))
        offset = member.size if dynamic is None else dynamic[0]
        seconds, counted_from = [], offset
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            counted = end_count.count_end(archive, member, offset)
            seconds.append(time.perf_counter() - start)
            if counted is not None:
                counted_from = counted.starts[0][1]
    return {
        "member": member.name,
        "member_bytes": member.size,
        "dynamic_offset": offset,
        "counted_bytes": member.size - counted_from,
        "count_seconds": min(seconds),
    }


def compare_ml(
    wheels: list[Path], aw_cmd: list[str], repeats: int, clean_python: Path | None = None
) -> list[dict[str, Any]]:
    """Each wheel as whole processes (``compare``; auditwheel within AUDITWHEEL_BUDGET),
    and the floor its layout sets: a process's start-up (``wheelscan --version``) and the
    count of its largest member's bytes from PT_DYNAMIC to the end (``layout_floor``).
    With ``clean_python`` (harness/cleanenv.py), both tools again under that interpreter,
    without this machine's site hooks, where auditwheel's run is short enough to be moved
    by them (CLEAN_BELOW)."""
    results = []
    for wheel in wheels:
        measured = compare(wheel, aw_cmd, repeats, AUDITWHEEL_BUDGET)
        if clean_python is not None and measured["auditwheel_best"] < CLEAN_BELOW:
            clean = str(clean_python)
            measured["clean"] = compare(
                wheel, [clean, "-m", "auditwheel"], repeats, AUDITWHEEL_BUDGET, python=clean
            )
        floor = layout_floor(wheel, repeats)
        floor["seconds"] = measured["wheelscan_startup_seconds"] + floor["count_seconds"]
        measured["floor"] = floor
        measured["over_floor"] = measured["wheelscan_best"] / floor["seconds"]
        results.append(measured)
    return results
