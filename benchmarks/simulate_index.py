"""A synthetic index audited through the Dask engine: the capacity model checked (issue #16).

1. Templates: the corpus wheels (tests/corpus, cached) under ``--max-template-bytes``.
2. ``--wheels`` distinct wheels made from them: wheel ``i`` is template ``i % T`` with 8
   bytes (``i``) appended to each of its ELF members and its project renamed ``sim<i>``, so
   every member has its own CRC and sha256: neither the store nor the dedupe skips any.
   The templates' mix of sizes and ELF layouts (architectures, libc, sizes) is kept.
3. They are laid out as a bandersnatch mirror and served on 127.0.0.1 by nginx, as mirrors
   are served (benchmarks/remote.py's configuration: one worker process, every request in
   its access log), in a process of its own as a file host is: an index server inside the
   audit's process (the tests' Python one) shares its interpreter lock with the Dask client
   and the store, and with 64 wheels in flight its threads made the run 2.6x slower than
   the model, a cost no deployment has.
4. Calibration: the templates' copies ``sim0..sim<T-1>``, audited over HTTP in *this* process
   (client and store in one process, no dedupe): the CPU seconds a wheel costs this process
   and nginx on this machine, the bytes and requests it takes; per wheel, with its ELF
   members and inflated ELF bytes, for capacity_model.py's fit.
5. The run: ``wheelscan audit INDEX --engine dask --workers W`` over every wheel, as run.audit
   runs it in this process; wheels/s measured from its first result to its last, as the
   store's run record gives it (LocalCluster start-up excluded, said apart).
6. The model's prediction for this setting (1 machine, W cores, loopback) against it.

    python benchmarks/simulate_index.py --wheels 20000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

import capacity_model  # noqa: E402
import psutil  # noqa: E402
from remote import Nginx  # noqa: E402

from wheelscan.engine.dask_executor import DaskExecutor  # noqa: E402
from wheelscan.engine.pool import InlineExecutor  # noqa: E402
from wheelscan.engine.run import PreparingTask, RunCounts  # noqa: E402
from wheelscan.engine.run import audit as run_audit  # noqa: E402
from wheelscan.engine.task import AuditTask  # noqa: E402
from wheelscan.sources.factory import make_source  # noqa: E402
from wheelscan.store import Store, policy_digest  # noqa: E402

from corpus.fetch import fetch, load_entries  # noqa: E402
from mirror import build_mirror  # noqa: E402


def make_wheel(template: Path, index: int, target_dir: Path) -> Path:
    """Template ``template`` made distinct: ``sim<index>``, its ELF members each with 8
    bytes of its own appended (past every segment: what a loader maps is unchanged)."""
    rest = template.name.split("-", 2)[2]  # tags (and build tag) kept
    target = target_dir / f"sim{index}-1.0-{rest}"
    tail = struct.pack("<Q", index)
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if data[:4] == b"\x7fELF":  # executables too (bin/ninja): no two alike
                data += tail
            out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return target


def templates(max_bytes: int) -> list[Path]:
    entries = load_entries(HERE.parent / "tests" / "corpus" / "wheels.json")
    return sorted(
        (p for p in fetch(entries) if p.stat().st_size <= max_bytes), key=lambda p: p.name
    )


class Served:
    """What nginx served, from its access log, and the CPU its process spent."""

    def __init__(self, nginx: Nginx) -> None:
        self.nginx = nginx
        self.process = psutil.Process(nginx.process.pid)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def requests(self) -> list[tuple[str, int]]:
        """(path, body bytes) of every request so far (the combined log format)."""
        lines = (self.nginx.tmp / "access.log").read_text().splitlines()
        found = []
        for line in lines:
            parts = line.split('"')
            if len(parts) > 2:
                status_and_bytes = parts[2].split()
                body = int(status_and_bytes[1]) if len(status_and_bytes) > 1 else 0
                found.append((parts[1].split()[1], body))
        return found


def calibrate(index_url: str, server: Served, count: int, db: Path) -> dict[str, object]:
    """The first ``count`` wheels (one per template) audited here, in one process."""
    source = make_source(index_url, projects=[f"sim{i}" for i in range(count)])
    server.nginx.clear()
    wheels: list[dict[str, float]] = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    server_cpu = server.cpu_seconds()
    started = time.monotonic()
    with Store.open(db) as store:
        run_id = store.begin_run("calibration", policy_digest(None, None))
        task = PreparingTask(AuditTask(dedupe=False))
        executor = InlineExecutor(task)
        results = []

        class Recording:
            def results(self, refs):  # type: ignore[no-untyped-def]
                for result in executor.results(refs):
                    results.append(result)
                    yield result

        run_audit([source], store, Recording(), run_id)
        store.finish_run(run_id)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu
    wall = time.monotonic() - started
    server_cpu = server.cpu_seconds() - server_cpu
    paths = [path for path, _ in server.requests()]
    requests = {
        r.ref.filename: sum(p.endswith("/" + r.ref.filename) for p in paths) for r in results
    }
    for r in results:
        wheels.append(
            {
                "seconds": r.seconds,
                "bytes_read": r.bytes_read,
                "elf_bytes": r.elf_bytes,
                "requests": requests[r.ref.filename],
            }
        )
    return {
        "wheels": len(results),
        "cpu_seconds": cpu + server_cpu,  # this process's (audits, store) and nginx's
        "server_cpu_seconds": server_cpu,  # of that, nginx's
        "wall_seconds": wall,
        "errors": sum(not r.ok for r in results),
        "per_wheel": wheels,
    }


def elf_members(paths: list[Path]) -> list[int]:
    counts = []
    for path in paths:
        with zipfile.ZipFile(path) as z:
            counts.append(sum(1 for i in z.infolist() if z.open(i).read(4) == b"\x7fELF"))
    return counts


class Timeline:
    """The run's observer: when its first and its last result came."""

    def __init__(self) -> None:
        self.first = 0.0
        self.last = 0.0
        self.audited = 0

    def update(self, counts: RunCounts) -> None:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.audited = counts.audited


def dask_run(index_url: str, db: Path, workers: int) -> dict[str, object]:
    """The Dask engine as ``wheelscan audit INDEX --engine dask`` runs it (run.audit, a
    store, a LocalCluster of ``workers``), in this process; nginx serves from its own."""
    timeline = Timeline()
    started = time.monotonic()
    with Store.open(db) as store:
        run_id = store.begin_run("simulation", policy_digest(None, None))
        executor = DaskExecutor(PreparingTask(AuditTask()), workers=workers)
        counts = run_audit([make_source(index_url)], store, executor, run_id, timeline)
        store.finish_run(run_id, seen=counts.seen)
    ended = time.monotonic()
    # from the first result to the last: the cluster's start-up and the first batch's
    # latency are fixed costs of a run, said apart
    steady = (timeline.audited - 1) / max(timeline.last - timeline.first, 1e-9)
    return {
        "audited": counts.audited,
        "errors": counts.errors,
        "seconds": ended - started,
        "first_result_after": timeline.first - started,
        "steady_wheels_per_second": steady,
        "bytes_read": counts.bytes_read,
        "backend": executor.description(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-template-bytes", type=int, default=4_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/wheelscan-sim"))
    parser.add_argument("--output", type=Path, default=HERE / "results" / "capacity-20k.json")
    args = parser.parse_args()

    chosen = templates(args.max_template_bytes)
    args.work.mkdir(parents=True, exist_ok=True)
    wheel_dir = args.work / f"wheels-{args.wheels}"
    started = time.monotonic()
    if not wheel_dir.exists():
        partial = args.work / "partial"
        partial.mkdir(exist_ok=True)
        for i in range(args.wheels):
            make_wheel(chosen[i % len(chosen)], i, partial)
        partial.rename(wheel_dir)
    made = sorted(wheel_dir.iterdir(), key=lambda p: int(p.name.split("-")[0][3:]))
    print(f"{len(made)} distinct wheels from {len(chosen)} templates "
          f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
    mirror_root = args.work / f"mirror-{args.wheels}"
    if not mirror_root.exists():
        build_mirror(mirror_root, made)
    members = elf_members(made[: len(chosen)])

    nginx_dir = args.work / "nginx"
    shutil.rmtree(nginx_dir, ignore_errors=True)
    nginx_dir.mkdir()
    nginx = Nginx(mirror_root / "web", nginx_dir)
    try:
        server = Served(nginx)
        index_url = f"{nginx.url}/simple/"
        for db in args.work.glob("*.db*"):
            db.unlink()
        calibration = calibrate(index_url, server, len(chosen), args.work / "calib.db")
        for wheel, count in zip(calibration["per_wheel"], members, strict=True):  # type: ignore[arg-type]
            wheel["elf_members"] = count
        print(f"calibration: {calibration['wheels']} wheels, "
              f"{calibration['cpu_seconds']:.1f} CPU s, nginx's included", flush=True)  # fmt: skip
        nginx.clear()
        server_cpu = server.cpu_seconds()
        measured = dask_run(index_url, args.work / "dask.db", args.workers)
        served = server.requests()
        measured["requests"] = len(served)
        measured["bytes_served"] = sum(body for _, body in served)
        measured["server_cpu_seconds"] = server.cpu_seconds() - server_cpu
    finally:
        nginx.stop()

    figures = capacity_model.fit(calibration)
    # the calibration wheels are a 1/T sample of the run's: the run's totals scale by count
    scale = args.wheels / len(chosen)
    predicted = capacity_model.predict_local(
        figures, calibration, scale, workers=args.workers, cores=os.cpu_count() or args.workers
    )
    result = {
        "load_average_at_end": os.getloadavg(),  # another job on the machine skews both
        "wheels": args.wheels,
        "templates": len(chosen),
        "workers": args.workers,
        "calibration": calibration,
        "figures": figures,
        "measured": measured,
        "predicted": predicted,
        "ratio_measured_to_predicted": measured["steady_wheels_per_second"]  # type: ignore[operator]
        / predicted["wheels_per_second"],
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "calibration"}, indent=2))
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
