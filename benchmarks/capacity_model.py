"""The capacity model of issue #16: what a full audit of the public index, and a nightly
delta, cost in cores × hours, bytes moved and wall time, on 1, 10 and 100 machines.

Inputs, each measured or given (docs/capacity.md explains each choice):

- per wheel, from the calibration of simulate_index.py (real corpus wheels read over HTTP
  with ranges, as ``wheelscan audit INDEX`` reads them): the audit's seconds, the bytes
  fetched and the requests made, against the wheel's ELF members and inflated ELF bytes. A
  least-squares fit gives each as a cost per wheel, per member and per inflated byte;
- the index, mid-2024 (issue #16): 7.7M ``.so`` files, 26.6 TB inflated; about 9k new
  files a day;
- the setting: cores per machine, link speed (1 or 10 Gbit/s), the round-trip time to the
  index's file host. A wheel's requests follow each other, but a worker (one per core) has
  up to ``WHEELS_IN_FLIGHT`` remote wheels open at once (engine/inflight.py): a core is busy
  for a wheel's CPU time, and its round trips are hidden while that many wheels cover them.

    python benchmarks/capacity_model.py                       # from results/capacity-20k.json
    python benchmarks/capacity_model.py --cores 32 --rtt-ms 5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

# remote wheels a worker reads at once: the engine's own figure
from wheelscan.engine.inflight import WHEELS_IN_FLIGHT, wheels_in_flight

HERE = Path(__file__).resolve().parent

# The public index, mid-2024 (issue #16)
INDEX_SO_FILES = 7.7e6
INDEX_SO_DISTINCT = 4.2e6
INDEX_INFLATED_BYTES = 26.6e12
NEW_FILES_PER_DAY = 9_000
# project pages a full audit lists: the projects publishing manylinux wheels; a nightly
# delta lists at most one page a wheel
INDEX_PROJECTS = 25_500


MACHINES = (1, 10, 100)
LINKS_GBIT = (1, 10)


def _fit(rows: list[list[float]], target: list[float], names: list[str]) -> dict[str, float]:
    """Non-negative least squares by elimination: a term whose weight comes out negative is
    dropped and the rest fitted again (three terms at most, so this is exact)."""
    columns = list(range(len(names)))
    while True:
        matrix = np.array([[row[c] for c in columns] for row in rows], dtype=float)
        weights, *_ = np.linalg.lstsq(matrix, np.array(target, dtype=float), rcond=None)
        negative = [c for c, w in zip(columns, weights, strict=True) if w < 0]
        if not negative:
            fitted = dict.fromkeys(names, 0.0)
            fitted.update({names[c]: float(w) for c, w in zip(columns, weights, strict=True)})
            return fitted
        columns.remove(negative[0])


def fit(calibration: dict[str, Any]) -> dict[str, Any]:
    """Per-wheel costs from the calibration's wheels."""
    wheels = calibration["per_wheel"]
    rows = [[1.0, w["elf_members"], w["elf_bytes"]] for w in wheels]
    names = ["per_wheel", "per_member", "per_inflated_byte"]
    members = sum(w["elf_members"] for w in wheels)
    task_seconds = sum(w["seconds"] for w in wheels) / len(wheels)
    return {
        "seconds": _fit(rows, [w["seconds"] for w in wheels], names),
        "bytes": _fit(rows, [w["bytes_read"] for w in wheels], names),
        "requests": _fit(rows, [w["requests"] for w in wheels], names),
        "members_per_wheel": members / len(wheels),
        # everything one wheel cost in the calibration's one process (server and store too)
        "all_in_cpu_seconds_per_wheel": calibration["cpu_seconds"] / calibration["wheels"],
        "task_seconds_per_wheel": task_seconds,
        "engine": engine_costs(calibration, task_seconds),
    }


def engine_costs(calibration: dict[str, Any], task_seconds: float) -> dict[str, float]:
    """What a wheel cost through the engine in the pilot run (the same templates, ``--pilot``
    copies of each, through Dask as the simulation runs it), by role, from its first result
    to its last: the cluster's processes (the audit, and what the engine adds: threads for
    the wheels in flight, results pickled twice, the batches' processes), the client's one
    process (listing, scheduling, the store) and the file host's. ``engine_factor`` is the
    cluster's CPU over the one-process audit's seconds of the same wheels: what the index
    model multiplies its fitted seconds by."""
    pilot = calibration.get("pilot")
    if not pilot or not pilot.get("cpu_seconds_per_wheel"):
        return {}
    per = pilot["cpu_seconds_per_wheel"]
    return {
        "listing_cpu_per_page": pilot.get("listing", {}).get("cpu_seconds_per_page", 0.0),
        "cluster_cpu_per_wheel": per["cluster"],
        "client_cpu_per_wheel": per["client"],
        "server_cpu_per_wheel": per["nginx"],
        "all_cpu_per_wheel": per["all"],
        "engine_factor": per["cluster"] / task_seconds,
    }


def _cost(weights: dict[str, float], wheels: float, members: float, inflated: float) -> float:
    return (
        weights["per_wheel"] * wheels
        + weights["per_member"] * members
        + weights["per_inflated_byte"] * inflated
    )


def workload(
    figures: dict[str, Any], so_files: float, inflated: float, pages: float | None = None
) -> dict[str, float]:
    """Totals for ``so_files`` ELF members of ``inflated`` bytes, in wheels of the corpus's
    mean member count, listed from ``pages`` project pages (one a wheel if not given)."""
    wheels = so_files / figures["members_per_wheel"]
    pages = wheels if pages is None else pages
    engine = figures.get("engine") or {}
    return {
        "wheels": wheels,
        "so_files": so_files,
        "cpu_seconds": _cost(figures["seconds"], wheels, so_files, inflated)
        * engine.get("engine_factor", 1.0),
        "client_cpu_seconds": wheels * engine.get("client_cpu_per_wheel", 0.0)
        + pages * engine.get("listing_cpu_per_page", 0.0),
        "bytes": _cost(figures["bytes"], wheels, so_files, inflated),
        "requests": _cost(figures["requests"], wheels, so_files, inflated),
    }


def wall_seconds(
    load: dict[str, float], machines: int, cores: int, gbit: float, rtt: float
) -> dict[str, float]:
    """The slower of: the cores (busy for each wheel's CPU time; each worker's wheels in
    flight wait out their round trips together, so a core idles only when even
    ``WHEELS_IN_FLIGHT`` wheels' waits outlast their CPU) and the links (each machine its
    own, shared by its cores)."""
    held = load["cpu_seconds"] + load["requests"] * rtt
    # a worker reads more wheels at once where the round trip is longer (engine/inflight.py)
    cores_bound = max(load["cpu_seconds"], held / wheels_in_flight(rtt)) / (machines * cores)
    link_bound = load["bytes"] * 8 / (machines * gbit * 1e9)
    # one client lists the index, schedules every batch and writes every result, on one
    # core of its own whatever the count of machines
    client_bound = load.get("client_cpu_seconds", 0.0)
    return {
        "wall_seconds": max(cores_bound, link_bound, client_bound),
        "cores_bound_seconds": cores_bound,
        "link_bound_seconds": link_bound,
        "client_bound_seconds": client_bound,
    }


def table(figures: dict[str, Any], cores: int, rtt: float) -> dict[str, Any]:
    full = workload(figures, INDEX_SO_FILES, INDEX_INFLATED_BYTES, INDEX_PROJECTS)
    per_so = INDEX_INFLATED_BYTES / INDEX_SO_FILES
    delta_so = NEW_FILES_PER_DAY * figures["members_per_wheel"]
    nightly = workload(figures, delta_so, delta_so * per_so)
    return {
        name: {
            **load,
            "core_hours": load["cpu_seconds"] / 3600,
            "held_core_hours": (load["cpu_seconds"] + load["requests"] * rtt) / 3600,
            "walls": {
                f"{m} machine{'s' if m > 1 else ''}, {g} Gbit/s": wall_seconds(
                    load, m, cores, g, rtt
                )
                for m in MACHINES
                for g in LINKS_GBIT
            },
        }
        for name, load in (("full audit", full), ("nightly delta", nightly))
    }


def predict_local(
    figures: dict[str, Any],
    calibration: dict[str, Any],
    scale: float,
    workers: int,
    cores: int,
) -> dict[str, float]:
    """The simulation's setting: one machine of ``cores`` cores running ``workers`` workers,
    the index served on loopback by nginx in a process of its own (no link limit). Four
    bounds, the lowest sets the pace:

    - workers: each has ``WHEELS_IN_FLIGHT`` wheels open, each for its audit seconds as
      measured (its CPU time and its loopback round trips): ``workers x in flight / task
      seconds``;
    - cores: here the index server, the client and the store share the machine with the
      audits (a deployment's file host does not): every CPU second one wheel cost through
      the engine in the pilot run (the cluster's processes, the client's, nginx's), against
      ``cores`` (without a pilot: the one-process calibration's);
    - the server: one nginx worker process, one core at most, ``1 / its CPU a wheel``;
    - the client: one process, one core at most, ``1 / its CPU a wheel``.
    """
    wheels = calibration["wheels"]
    task = figures["task_seconds_per_wheel"]
    engine = figures.get("engine") or {}
    # every CPU second a wheel costs on this machine: through the engine as the pilot
    # measured it, or else the one-process calibration's
    all_in_cpu = engine.get("all_cpu_per_wheel") or calibration["cpu_seconds"] / wheels
    server_cpu = (
        engine.get("server_cpu_per_wheel") or calibration.get("server_cpu_seconds", 0.0) / wheels
    )
    # the client's own work a wheel, and its listing: one project page a wheel here
    client_cpu = engine.get("client_cpu_per_wheel", 0.0) + engine.get("listing_cpu_per_page", 0.0)
    all_in_cpu += engine.get("listing_cpu_per_page", 0.0)
    bounds = {
        "workers_bound_wheels_per_second": workers * WHEELS_IN_FLIGHT / task,
        "cores_bound_wheels_per_second": cores / all_in_cpu,
        "server_bound_wheels_per_second": 1 / server_cpu if server_cpu else float("inf"),
        "client_bound_wheels_per_second": 1 / client_cpu if client_cpu else float("inf"),
    }
    rate = min(bounds.values())
    return {
        "wheels_per_second": rate,
        **bounds,
        "wall_seconds": wheels * scale / rate,
    }


def _hours(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render(result: dict[str, Any], cores: int, rtt: float) -> str:
    lines = [f"cores per machine: {cores}; round trip to the file host: {rtt * 1000:.0f} ms", ""]
    for name, row in result.items():
        lines.append(
            f"{name}: {row['wheels']:,.0f} wheels, {row['so_files']:,.0f} .so; "
            f"{row['core_hours']:,.1f} core-hours of audit, "
            f"{row['held_core_hours']:,.1f} with the round trips; "
            f"{row['bytes'] / 1e9:,.1f} GB fetched; {row['requests']:,.0f} requests"
        )
        lines.append("| machines, link | wall | cores-bound | link-bound | client-bound |")
        lines.append("|---|---|---|---|---|")
        for setting, wall in row["walls"].items():
            lines.append(
                f"| {setting} | {_hours(wall['wall_seconds'])} | "
                f"{_hours(wall['cores_bound_seconds'])} | {_hours(wall['link_bound_seconds'])} "
                f"| {_hours(wall['client_bound_seconds'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--figures", type=Path, default=HERE / "results" / "capacity-20k.json")
    parser.add_argument("--cores", type=int, default=16, help="cores per machine")
    parser.add_argument("--rtt-ms", type=float, default=10.0)
    args = parser.parse_args()
    measured = json.loads(args.figures.read_text())
    figures = measured["figures"]
    print(render(table(figures, args.cores, args.rtt_ms / 1000), args.cores, args.rtt_ms / 1000))


if __name__ == "__main__":
    main()
