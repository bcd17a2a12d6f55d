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


class TreeCpu:
    """CPU seconds spent so far by role: this process (the client: listing, Dask's scheduler
    and client, the store), the cluster (every other process under this one: Dask's
    workers and nannies, the batch processes they keep) and nginx. A process reaped since
    is counted in its parent's children's times; a process alive, in its own."""

    def __init__(self, nginx_pid: int) -> None:
        self.nginx_pid = nginx_pid
        self.me = psutil.Process()

    def snapshot(self) -> dict[str, float]:
        mine = self.me.cpu_times()
        client = mine.user + mine.system
        cluster = mine.children_user + mine.children_system
        nginx = 0.0
        for process in self.me.children(recursive=True):
            try:
                times = process.cpu_times()
            except psutil.Error:  # gone between the listing and the look
                continue
            spent = times.user + times.system
            if process.pid == self.nginx_pid:
                nginx = spent  # alive until the run's end: never in the children's times
            else:
                cluster += spent + times.children_user + times.children_system
        return {"client": client, "cluster": cluster, "nginx": nginx}


def cpu_between(before: dict[str, float], after: dict[str, float], wheels: int) -> dict[str, float]:
    """CPU seconds a wheel, by role, between two snapshots ``wheels`` results apart."""
    per = {role: (after[role] - before[role]) / max(wheels, 1) for role in before}
    per["all"] = sum(per.values())
    return per


class Served:
    """What nginx served, from its access log, and the CPU its process spent."""

    def __init__(self, nginx: Nginx) -> None:
        self.nginx = nginx
        self.process = psutil.Process(nginx.pid)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def requests(self) -> list[tuple[str, int]]:
        """(path, body bytes) of every request so far (the body's bytes follow the status
        in nginxserver's log format, as in the combined one)."""
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
                "filename": r.ref.filename,
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


def elf_members(paths: list[Path]) -> dict[str, int]:
    """ELF members of each wheel, by file name."""
    counts = {}
    for path in paths:
        with zipfile.ZipFile(path) as z:
            counts[path.name] = sum(1 for i in z.infolist() if z.open(i).read(4) == b"\x7fELF")
    return counts


class Timeline:
    """The run's observer: when its first and its last result came, and the CPU each role
    spent while the middle of the run (its ``expected`` wheels' tenth to ninth tenth) came
    in: the steady state, without the cluster's start-up and the last batches' tail."""

    def __init__(self, cpu: TreeCpu, expected: int) -> None:
        self.cpu = cpu
        self.first = 0.0
        self.last = 0.0
        self.audited = 0
        self.marks = (expected // 10, expected - expected // 10)
        self.at_marks: list[tuple[int, dict[str, float]]] = []

    def update(self, counts: RunCounts) -> None:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.audited = counts.audited
        taken = len(self.at_marks)
        if taken < len(self.marks) and counts.audited >= self.marks[taken]:
            self.at_marks.append((counts.audited, self.cpu.snapshot()))

    def steady_cpu(self) -> dict[str, float]:
        """CPU seconds a wheel by role, between the two marks."""
        if len(self.at_marks) < 2:
            return {}
        (first, before), (last, after) = self.at_marks
        return cpu_between(before, after, last - first)


def dask_run(
    index_url: str, db: Path, workers: int, cpu: TreeCpu, expected: int
) -> dict[str, object]:
    """The Dask engine as ``wheelscan audit INDEX --engine dask`` runs it (run.audit, a
    store, a LocalCluster of ``workers``), in this process; nginx serves from its own."""
    timeline = Timeline(cpu, expected)
    at_start = cpu.snapshot()
    started = time.monotonic()
    with Store.open(db) as store:
        run_id = store.begin_run("simulation", policy_digest(None, None))
        executor = DaskExecutor(PreparingTask(AuditTask()), workers=workers)
        counts = run_audit([make_source(index_url)], store, executor, run_id, timeline)
        store.finish_run(run_id, seen=counts.seen)
    ended = time.monotonic()
    at_end = cpu.snapshot()
    # from the first result to the last: the cluster's start-up and the first batch's
    # latency are fixed costs of a run, said apart
    steady = (timeline.audited - 1) / max(timeline.last - timeline.first, 1e-9)
    return {
        "audited": counts.audited,
        "errors": counts.errors,
        "seconds": ended - started,
        "first_result_after": timeline.first - started,
        "steady_wheels_per_second": steady,
        "cpu_seconds_per_wheel": timeline.steady_cpu(),
        # the whole run's, the cluster's start-up and the listing included
        "run_cpu_seconds_per_wheel": cpu_between(at_start, at_end, counts.audited),
        "bytes_read": counts.bytes_read,
        "backend": executor.description(),
    }


def listing_cpu(index_url: str) -> dict[str, float]:
    """The client's CPU seconds a project page, listing the index alone (a run lists it while
    it audits; in the pilot the listing ends before the steady state, in the simulation it
    runs through it: the model adds it apart)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    pages = len({ref.project for ref in make_source(index_url).wheels()})
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"pages": pages, "cpu_seconds_per_page": spent / max(pages, 1)}


def pilot_run(work: Path, wheels: list[Path], workers: int) -> dict[str, object]:
    """The first wheels, as an index of their own (its own mirror and nginx), audited
    through the engine as the run will be: the CPU a wheel costs each role there is the
    model's input (capacity_model.engine_costs)."""
    root = work / f"mirror-pilot-{len(wheels)}"
    if not root.exists():
        build_mirror(root, wheels)
    nginx_dir = work / "nginx-pilot"
    shutil.rmtree(nginx_dir, ignore_errors=True)
    nginx_dir.mkdir()
    nginx = Nginx(root / "web", nginx_dir)
    try:
        index_url = f"{nginx.url}/simple/"
        listing = listing_cpu(index_url)
        cpu = TreeCpu(nginx.pid)
        run = dask_run(index_url, work / "pilot.db", workers, cpu, len(wheels))
        return {**run, "listing": listing}
    finally:
        nginx.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-template-bytes", type=int, default=4_000_000)
    parser.add_argument(
        "--pilot",
        type=int,
        default=20,
        help="copies of each template in the pilot run through the engine (default: 20)",
    )
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
    for db in args.work.glob("*.db*"):
        db.unlink()
    pilot = pilot_run(args.work, made[: args.pilot * len(chosen)], args.workers)
    print(f"pilot: {pilot['audited']} wheels through the engine, "
          f"{pilot['steady_wheels_per_second']:.1f} wheels/s, CPU a wheel "
          f"{pilot['cpu_seconds_per_wheel']}", flush=True)  # fmt: skip

    nginx_dir = args.work / "nginx"
    shutil.rmtree(nginx_dir, ignore_errors=True)
    nginx_dir.mkdir()
    nginx = Nginx(mirror_root / "web", nginx_dir)
    try:
        server = Served(nginx)
        index_url = f"{nginx.url}/simple/"
        calibration = calibrate(index_url, server, len(chosen), args.work / "calib.db")
        for wheel in calibration["per_wheel"]:  # type: ignore[attr-defined]
            # by name: results come in the listing's order, not the templates'
            wheel["elf_members"] = members[wheel["filename"]]
        print(f"calibration: {calibration['wheels']} wheels, "
              f"{calibration['cpu_seconds']:.1f} CPU s, nginx's included", flush=True)  # fmt: skip
        calibration["pilot"] = pilot
        nginx.clear()
        server_cpu = server.cpu_seconds()
        cpu = TreeCpu(nginx.pid)
        measured = dask_run(index_url, args.work / "dask.db", args.workers, cpu, args.wheels)
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
