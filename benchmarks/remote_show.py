"""`wheelscan show URL` on the largest wheels, over HTTP at 0 and 50 ms of round trip: the
one-off investigation of a wheel on a mirror across a network.

Each wheel is served by nginx on 127.0.0.1 (tests/nginxserver.py, as a mirror is served) and
shown through the tests' delaying proxy (tests/latencyproxy.py, a new one each run), as one
whole process (``python -m wheelscan show URL --json``), its peak RSS read with ``wait4``
(through harness/launch.py, as the other whole processes are).
Per wheel and round trip: the median wall time of ``--repeats`` runs, the requests it made
and how many round trips its reading waited for one after another (the proxy's count,
``LatencyProxy.deepest``), and its largest peak RSS. The trees' runs alternate; their
outputs must be equal byte for byte.

    python benchmarks/remote_show.py [--baseline /other/checkout/src] [--repeats 3]
                                     [--round-trips 0 0.05] [--wheels pyarrow-26.0.1-cp312 ...]

The default wheels: the corpus's deepest over HTTP (pyarrow 26.0.1 cp312 aarch64, scipy
1.18.1 cp313: their members' starts extended one after another) and the largest ML wheels
(benchmarks/ml-wheels.json), fetched into the test cache as the corpus is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from remote import LAUNCH, Nginx  # noqa: E402
from tests.corpus.fetch import fetch, load_entries  # noqa: E402

from latencyproxy import LatencyProxy  # noqa: E402
from mirror import build_mirror  # noqa: E402

WHEELS = (
    "pyarrow-26.0.1-cp312",
    "scipy-1.18.1-cp313",
    "onnxruntime-1.31.1-cp311",
    "jaxlib-0.12.0.1",
    "tensorflow_cpu-2.21.0",
)


@dataclass(frozen=True)
class Run:
    seconds: float
    requests: int
    deepest: int
    peak_rss: int  # bytes
    output: bytes


def show(url: str, tree: Path, proxy: LatencyProxy, path: str, report: Path) -> Run:
    """One ``show URL --json`` by the wheelscan under ``tree``, through ``proxy``, started
    through harness/launch.py (its wall time and peak RSS from ``wait4``; spawned straight
    from this process, its peak would count this one's too)."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), str(report),
         sys.executable, "-m", "wheelscan", "show", url, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip
    launched = json.loads(report.read_text())
    if launched["returncode"] not in (0, 1):  # 1: an over-claim, still shown
        raise SystemExit(f"show {url} failed ({launched['returncode']})")
    depths = proxy.depths.get(path, [])
    return Run(
        launched["seconds"], len(depths), max(depths, default=0), launched["max_rss"],
        result.stdout,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--round-trips", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--wheels", nargs="+", default=list(WHEELS), help="file name prefixes")
    args = parser.parse_args()
    prefixes = tuple(args.wheels)
    trees = {"this": ROOT / "src"}
    if args.baseline:
        trees["base"] = args.baseline.resolve()
    entries = [
        *load_entries(ROOT / "benchmarks" / "corpus.json"),
        *load_entries(ROOT / "benchmarks" / "ml-wheels.json"),
    ]
    # (onnxruntime's cp312 wheel is in both lists: once)
    chosen = list(
        {e["filename"]: e for e in entries if e["filename"].startswith(prefixes)}.values()
    )
    wheels = fetch(chosen)
    print(f"{'wheel':26} {'rtt':>6} {'tree':5} {'s':>6} {'requests':>8} {'deepest':>7} {'MB':>5}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        mirror = build_mirror(Path(tmp) / "mirror", wheels)
        report = Path(tmp) / "launch.json"
        nginx = Nginx(mirror.web, Path(tempfile.mkdtemp(dir=tmp)))
        stack.callback(nginx.stop)
        host, port = nginx.url.removeprefix("http://").split(":")
        for prefix in args.wheels:
            found = sorted(mirror.web.rglob(f"{prefix}*.whl"))
            if not found:
                raise SystemExit(f"no wheel of the corpus starts with {prefix}")
            path = "/" + found[0].relative_to(mirror.web).as_posix()
            for rtt in args.round_trips:
                runs: dict[str, list[Run]] = {label: [] for label in trees}
                for _ in range(args.repeats):
                    for label, tree in trees.items():
                        with LatencyProxy((host, int(port)), rtt) as proxy:
                            served = proxy.address if rtt else f"{host}:{port}"
                            url = f"http://{served}{path}"
                            runs[label].append(show(url, tree, proxy, path, report))
                outputs = {run.output for measured in runs.values() for run in measured}
                if len(outputs) != 1:
                    raise SystemExit(f"{prefix}: the outputs differ between runs or trees")
                for label, measured in runs.items():
                    seconds = statistics.median(run.seconds for run in measured)
                    last = measured[-1]
                    peak = max(run.peak_rss for run in measured) / 1e6
                    deepest = f"{last.deepest:7}" if rtt else f"{'':7}"
                    requests = f"{last.requests:8}" if rtt else f"{'':8}"
                    print(
                        f"{prefix[:26]:26} {rtt * 1000:4.0f}ms {label:5} {seconds:6.2f} "
                        f"{requests} {deepest} {peak:5.0f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
