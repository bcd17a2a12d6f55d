"""Remote audit figures beside the local directory audit, in the same run (issue #15).

One bandersnatch-layout mirror of the corpus is audited as a directory, then over HTTP from a
server on 127.0.0.1, directly and through a TCP proxy adding 0, 50 and 200 ms of round trip
(``REMOTE_ROWS``). Each row is one ``wheelscan audit`` process into a fresh store:

- wheels/s, and its ratio to the directory audit;
- bytes fetched ÷ wheel bytes (what crossed the network over what the wheels hold);
- requests per wheel (range requests for files; pages are listed apart);
- CPU seconds of the audit's whole process tree (user + sys of the audit and its workers):
  on a machine other work shares, a figure its load moves far less than wall time;
- the peak RSS of the audit's largest process, its workers included (``peak MB``: the
  audit started through harness/launch.py, whose ``wait4`` reports the most any of them
  held; of ``--rounds N``, the largest);
- with ``--server nginx``, the steady rate (``steady/s``): wheels a second while the run was
  in its stride, from nginx's log: the wheels whose files' first answers went out between
  the tenth and the ninetieth percentile of those times (a wheel's first request answered
  once: its pace is the run's, a round trip or so later). A run's fixed round trips (the index
  page and the first pages on new connections, the workers' first connections, the last
  wheels' chains: about 2 s of a 5 s run at 200 ms) weigh on a run of a thousand wheels,
  not on a nightly audit of an index's new files nor on a whole index's; the steady rate is
  that audit's throughput, the whole run's is what this command saw. Both are printed, and
  each round trip's share of the 0 ms figures below the table (straight to the server, and
  through the proxy: the share that is the round trip's alone).

    python benchmarks/remote.py [--corpus tests/corpus/wheels.json] [--workers 2]
                                [--baseline /path/to/other/checkout/src] [--server nginx]

``--wheels-dir DIR --count N``: the first N wheels of a directory instead, e.g. the distinct
wheels ``simulate_index.py`` makes (/tmp/wheelscan-sim/wheels-20000): a run of a thousand
wheels measures a remote audit's throughput, where on the corpus's hundred a run's fixed
round trips (the listing's, the deepest wheel's: about 1.5 s at 200 ms) weigh as much as
its throughput does.

``--baseline``: every row is measured twice in the same run, with this tree's wheelscan and
with the one under the given ``src`` directory, for figures before and after a change.

``--rounds N``: the whole table N times over (directory, then each round trip, each tree in
turn), and then each row's median: one run's wall figures move by a third here when another
process wakes, and the targets are read from the medians. The proxy's own CPU (``proxy s``:
the seconds its thread took from the same cores, which a real network would not) is shown
beside each row it served.

The server is the tests' own (tests/indexserver.py: Range, keep-alive) in this process, or
with ``--server nginx`` nginx as a mirror is served (its JSON pages, or with ``--pages
html`` its PEP 503 HTML ones, which give hashes and no sizes: each wheel is then first asked
for by a suffix, and counted as what that holds until its answer names the size); the
audits run in their own processes. Wheels come from the corpus cache (tests/corpus/fetch.py).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tests.corpus.fetch import fetch, load_entries  # noqa: E402

import nginxserver  # noqa: E402
from indexserver import IndexServer  # noqa: E402
from latencyproxy import LatencyProxy  # noqa: E402
from mirror import build_mirror  # noqa: E402

ROUND_TRIPS = (0.0, 0.05, 0.2)
# The remote rows: each round trip through the proxy, and 0 ms straight to the server too.
# The proxy is a thread of this process: its CPU (``proxy s``, 0.4-0.5 s of a 3.5 s audit of
# 1,050 wheels at 50 ms) comes from the cores the audit has, as no network's would, and its
# hop is one more copy each way. The rows through it at 0, 50 and 200 ms differ in their
# round trip alone: their ratios are what the round trip costs. The direct row is the one the
# directory audit is weighed against (a mirror on loopback, nothing in between)
REMOTE_ROWS = ((0.0, False), (0.0, True), (0.05, True), (0.2, True))
LAUNCH = Path(__file__).resolve().parent / "harness" / "launch.py"
STRIDE_FROM = 1000  # the fewest wheels a run's steady rate is taken of (steady_rate)


class Nginx(nginxserver.Nginx):
    """nginx serving ``web`` on 127.0.0.1 as mirrors are served (``tests/nginxserver.py``,
    the tests' configuration), started at once: up to 1024 connections (every worker's
    requests in flight), the PEP 691 JSON pages or the PEP 503 HTML ones, and every request
    logged (``paths()``)."""

    def __init__(self, web: Path, tmp: Path, pages: str = "json") -> None:
        index: Literal["index.html", "index.v1_json"] = (
            "index.html" if pages == "html" else "index.v1_json"
        )
        super().__init__(web, tmp, connections=1024, pages=index, log_requests=True)
        self.start()


def _children_cpu() -> float:
    """User and system seconds of the processes this one waited for (and theirs)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class Audit:
    """One audit's figures (``audit``)."""

    seconds: float
    cpu: float  # the audit's process and its workers (and the launcher's start-up)
    audited: int
    bytes_read: int
    wheel_bytes: int
    peak_mb: float  # the largest RSS of the audit and its workers


def audit(source: str, db: Path, workers: int, tree: Path) -> Audit:
    """One audit by the wheelscan under ``tree``, started through harness/launch.py (its
    wall time and the peak RSS of its process tree, from ``wait4``)."""
    cpu_before = _children_cpu()
    report = db.with_suffix(".launch.json")
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), str(report),
         sys.executable, "-m", "wheelscan", "audit", source, "--db", str(db),
         "--workers", str(workers), "--fail-on", "none"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip
    cpu = _children_cpu() - cpu_before
    launched = json.loads(report.read_text()) if report.exists() else {}
    if result.returncode != 0 or launched.get("returncode") != 0:
        raise SystemExit(f"audit of {source} failed: {result.stderr.strip()}")
    with sqlite3.connect(db) as store:
        audited, bytes_read = store.execute("SELECT audited, bytes_read FROM runs").fetchone()
        (wheel_bytes,) = store.execute("SELECT sum(size) FROM wheels").fetchone()
    return Audit(
        launched["seconds"], cpu, audited, bytes_read, wheel_bytes or 0,
        launched["max_rss"] / 1e6,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus" / "wheels.json")
    parser.add_argument(
        "--wheels-dir", type=Path,
        help="audit the wheels of this directory instead of the corpus (e.g. the distinct "
        "wheels simulate_index.py makes: an audit long enough that a run's fixed round "
        "trips, the listing's and its deepest wheel's, weigh little beside its throughput)",
    )  # fmt: skip
    parser.add_argument("--count", type=int, help="with --wheels-dir: its first N wheels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory")
    parser.add_argument(
        "--server", choices=("python", "nginx"), default="python",
        help="the tests' Python server (tests/indexserver.py), or nginx as mirrors are served",
    )  # fmt: skip
    parser.add_argument(
        "--pages", choices=("json", "html"), default="json",
        help="with --server nginx: the index's PEP 691 JSON pages, or its PEP 503 HTML "
        "ones, which give no file sizes (the wheels' first requests are then suffixes)",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=_positive, default=1,
        help="the table N times, then each row's median (take N odd: of two, the slower)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.pages == "html" and args.server != "nginx":
        parser.error("--pages html needs --server nginx")
    trees = {"": ROOT / "src"}
    if args.baseline:
        trees = {"this ": ROOT / "src", "base ": args.baseline.resolve()}
    if args.wheels_dir:
        found = sorted(args.wheels_dir.glob("*.whl"), key=lambda p: (len(p.name), p.name))
        wheels = found[: args.count]
    else:
        wheels = fetch(load_entries(args.corpus))
    rows: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mirror = build_mirror(Path(tmp) / "mirror", wheels)
        print(HEADER)
        with contextlib.ExitStack() as stack:
            if args.server == "nginx":
                nginx = Nginx(mirror.web, Path(tempfile.mkdtemp(dir=tmp)), args.pages)
                stack.callback(nginx.stop)
                url, clear, requests = nginx.url, nginx.clear, nginx.requests
            else:
                server = stack.enter_context(IndexServer(mirror.web))
                url, clear = server.url, server.clear
                # not stamped: its rows' steady rate is left blank
                requests = lambda: [(math.nan, s.path) for s in server.log]  # noqa: E731
            host, port = url.removeprefix("http://").split(":")
            for _ in range(args.rounds):
                for label, tree in trees.items():
                    local = audit(
                        str(mirror.web / "packages"), _fresh_store(tmp), args.workers, tree
                    )
                    audited, wheel_bytes = local.audited, local.wheel_bytes
                    _show(
                        rows,
                        Row(label + "directory", local.seconds, audited, local.cpu,
                            peak_mb=local.peak_mb),
                    )  # fmt: skip
                for rtt, proxied in REMOTE_ROWS:
                    for label, tree in trees.items():
                        clear()
                        with LatencyProxy((host, int(port)), rtt) as proxy:
                            served = proxy.address if proxied else f"{host}:{port}"
                            remote = audit(
                                f"http://{served}/simple/", _fresh_store(tmp), args.workers, tree
                            )
                        requested = requests()
                        files = sum(p.startswith("/packages/") for _, p in requested)
                        name = _row_name(label, rtt, proxied)
                        pages = len(requested) - files
                        proxy_cpu = proxy.cpu_seconds if proxied else None
                        row = Row(name, remote.seconds, remote.audited, remote.cpu,
                                  # (the directory's sum: an HTML page gives no sizes)
                                  remote.bytes_read / wheel_bytes,
                                  files / remote.audited, pages, proxy_cpu,
                                  steady_rate(requested), remote.peak_mb)  # fmt: skip
                        _show(rows, row, rows[label + "directory"][-1])
        if args.rounds > 1:
            print(f"# medians of {args.rounds} rounds (each ratio: of the two medians)")
            print(HEADER)
            for name, measured in rows.items():
                directory = name.split("http")[0] + "directory" if "http" in name else name
                print(_median(measured).line(_median(rows[directory])))
        for label in trees:
            print(_shares(label, {name: _median(measured) for name, measured in rows.items()}))
            if args.rounds > 1:
                print(_paired(label, rows))
        print(f"{audited} wheels, {wheel_bytes / 1e6:.0f} MB, {args.workers} workers")


HEADER = (
    f"{'source':23} {'s':>7} {'wheels/s':>9} {'vs dir':>7} {'fetched':>8} "
    f"{'req/wheel':>9} {'pages':>6} {'cpu s':>6} {'cpu/dir':>7} {'peak MB':>7} {'proxy s':>7} "
    f"{'steady/s':>8}"
)


@dataclass(frozen=True)
class Row:
    """One audit's figures (a remote one's bytes, requests, pages and proxy CPU too)."""

    name: str
    seconds: float
    wheels: int
    cpu: float
    fetched: float | None = None  # bytes fetched / the wheels' bytes
    requests_per_wheel: float | None = None
    pages: int | None = None
    proxy_cpu: float | None = None
    steady: float | None = None  # wheels/s in the run's stride (steady_rate)
    peak_mb: float | None = None  # the largest RSS of the audit and its workers

    def line(self, directory: Row) -> str:
        text = (
            f"{self.name:23} {self.seconds:7.2f} {self.wheels / self.seconds:9.1f} "
            f"{directory.seconds / self.seconds:7.2f} "
        )
        if self.fetched is None:
            text += f"{'':8} {'':9} {'':6} "
        else:
            text += f"{self.fetched:8.1%} {self.requests_per_wheel:9.2f} {self.pages:6} "
        text += f"{self.cpu:6.2f} {self.cpu / directory.cpu:7.2f}"
        text += f" {self.peak_mb:7.0f}" if self.peak_mb is not None else f" {'':7}"
        text += f" {self.proxy_cpu:7.2f}" if self.proxy_cpu else f" {'':7}"
        if self.steady is not None:
            text += f" {self.steady:8.1f}"
        return text.rstrip()


def steady_rate(requested: list[tuple[float, str]]) -> float | None:
    """Wheels a second in the run's stride: of the wheels' files, in the order of the
    first answer each was given (nginx logs a request when it has answered), those between
    the tenth and the ninetieth percentile, over the time between. None where the log has
    no times, or the run fewer than ``STRIDE_FROM`` wheels: a run of a few hundred has most
    of them asked for at its start (two workers read up to 256 at once), and the times
    between its percentiles say nothing of its pace."""
    first: dict[str, float] = {}
    for when, path in sorted(requested):
        if path.startswith("/packages/"):
            first.setdefault(path, when)
    times = sorted(first.values())
    low, high = len(times) // 10, len(times) * 9 // 10 - 1
    if len(times) < STRIDE_FROM or math.isnan(times[0]) or times[high] <= times[low]:
        return None
    return (high - low) / (times[high] - times[low])


def _row_name(label: str, rtt: float, proxied: bool) -> str:
    """``http 50 ms`` through the proxy (``http 0 ms`` straight to the server at 0 ms,
    ``http 0 ms proxied`` through it)."""
    name = f"{label}http {rtt * 1000:.0f} ms"
    return name + " proxied" if proxied and not rtt else name


def _shares(label: str, rows: dict[str, Row]) -> str:
    """Each round trip's wheels/s as a share of 0 ms's, straight to the server and through
    the proxy: the whole run's, and the stride's."""
    parts = []
    for rtt in ROUND_TRIPS[1:]:
        row = rows[_row_name(label, rtt, True)]
        shares = []
        for proxied, which in ((False, "0 ms's"), (True, "0 ms proxied's")):
            base = rows[_row_name(label, 0.0, proxied)]
            share = f"{base.seconds / row.seconds:.0%} of {which} wheels/s"
            if row.steady is not None and base.steady is not None:
                share += f" (steady {row.steady / base.steady:.0%})"
            shares.append(share)
        parts.append(f"{rtt * 1000:.0f} ms " + ", ".join(shares))
    return f"# {label or 'this '}tree: " + "; ".join(parts)


def _paired(label: str, rows: dict[str, list[Row]]) -> str:
    """Each round's own ratios, its rows measured minutes apart at most: 0 ms's wall time
    over the directory's, and each round trip's wheels/s as a share of 0 ms proxied's. A
    machine whose load drifts moves a round's rows together, and its ratios less than
    the medians' (each row's median may come from another round)."""

    def ratios(numerator: str, denominator: str, form: str) -> str:
        pairs = zip(rows[label + numerator], rows[label + denominator], strict=True)
        return " ".join(format(top.seconds / bottom.seconds, form) for top, bottom in pairs)

    parts = [f"0 ms over the directory {ratios('http 0 ms', 'directory', '.2f')}"]
    proxied = _row_name("", 0.0, True)
    for rtt in ROUND_TRIPS[1:]:
        parts.append(f"{rtt * 1000:.0f} ms {ratios(proxied, _row_name('', rtt, True), '.0%')}")
    return f"# {label or 'this '}tree, round by round: " + "; ".join(parts)


def _fresh_store(tmp: str) -> Path:
    """A store of its own for each audit: in one already written, every wheel is known."""
    return Path(tempfile.mkdtemp(dir=tmp)) / "store.sqlite"


def _show(rows: dict[str, list[Row]], row: Row, directory: Row | None = None) -> None:
    rows.setdefault(row.name, []).append(row)
    print(row.line(directory or row), flush=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _median(measured: list[Row]) -> Row:
    """The row of the median wall time, its CPU the median CPU (each taken apart); of an
    even count, the slower of the middle two (the rows are whole runs: none is made up)."""
    by_time = sorted(measured, key=lambda row: row.seconds)[len(measured) // 2]
    cpu = statistics.median(row.cpu for row in measured)
    steady = [row.steady for row in measured if row.steady is not None]
    if steady:  # the slower of the middle two, as the wall time
        by_time = dataclasses.replace(by_time, steady=sorted(steady)[(len(steady) - 1) // 2])
    peaks = [row.peak_mb for row in measured if row.peak_mb is not None]
    return dataclasses.replace(by_time, cpu=cpu, peak_mb=max(peaks) if peaks else None)


if __name__ == "__main__":
    main()
