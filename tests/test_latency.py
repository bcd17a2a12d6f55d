"""Round trips over a slow link, counted, never timed: the delaying proxy the benchmark uses
(tests/latencyproxy.py) counts how many a file's reading waited for one after another, and
the pool reads more remote wheels at once where a round trip is long (engine/inflight.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.inflight import (
    MOST_WHEELS_IN_FLIGHT,
    NEAR_ROUND_TRIP,
    NEAR_WHEELS_IN_FLIGHT,
    WHEELS_IN_FLIGHT,
    wheels_in_flight,
)
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.worker import read_facts
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import httpclient
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import HttpRangeReader

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

# Long beside a busy machine's scheduling: requests sent together stay together
RTT = 0.3


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


def _proxied(server: IndexServer, proxy: LatencyProxy, path: Path) -> str:
    return server.file_url(path).replace(server.url.removeprefix("http://"), proxy.address)


def test_a_wheels_spans_go_out_in_one_round_trip(server: IndexServer) -> None:
    """Three ELF members, far apart: the tail (one round trip), then the spans together,
    in one request of two ranges (wheel/byteranges.py): a second round trip, not one per
    span. (From a server that answers one range a request: tests/test_http_ranges.py.)"""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    noise = os.urandom
    files: dict[str, bytes] = {}
    for i in range(3):
        files[f"demo/data{i}.txt"] = noise(200_000)
        files[f"demo/_mod{i}.cpython-312-x86_64-linux-gnu.so"] = elf
    name = "spread-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path = server.web / "packages" / name
    path.write_bytes(build_wheel(files, name="spread", compression=zipfile.ZIP_STORED))
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        url = _proxied(server, proxy, path)
        with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as a:
            facts = read_wheel_facts(a, name)
            assert isinstance(a.reader, HttpRangeReader)
            assert a.reader.requests == 2  # the tail (with the last member), two spans
        assert proxy.depths[f"/packages/{name}"] == [1, 2]
    assert facts == read_facts(path, name)


def test_the_quickest_answer_is_a_round_trip_at_least(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pool sizes its wheels in flight by: never less than the link's round trip
    (the proxy holds every answer that long), None before any answer. The process's own
    session (``default_session``'s) is this one here."""
    path = server.web / "packages" / "file.bin"
    path.write_bytes(b"x" * 1000)
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [session])
        assert httpclient.quickest_answer() is None
        for _ in range(2):
            assert session.get(_proxied(server, proxy, path), limit=1000).body == b"x" * 1000
    quickest = httpclient.quickest_answer()
    assert quickest is not None and quickest >= RTT


def test_wheels_in_flight_grow_with_the_round_trip() -> None:
    assert wheels_in_flight(None) == WHEELS_IN_FLIGHT
    assert wheels_in_flight(0.0) == NEAR_WHEELS_IN_FLIGHT < WHEELS_IN_FLIGHT
    assert wheels_in_flight(NEAR_ROUND_TRIP / 2) == NEAR_WHEELS_IN_FLIGHT
    assert wheels_in_flight(NEAR_ROUND_TRIP) == WHEELS_IN_FLIGHT
    assert wheels_in_flight(0.05) == WHEELS_IN_FLIGHT
    assert WHEELS_IN_FLIGHT < wheels_in_flight(0.2) < MOST_WHEELS_IN_FLIGHT
    assert wheels_in_flight(10.0) == MOST_WHEELS_IN_FLIGHT


class _Concurrency:
    """Holds each wheel a while, as a wheel waiting on a slow link does, and says how many
    this worker held at once at most so far. Touches no network: only the URL sends the
    wheel to a thread of its own."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __call__(self, ref: WheelRef) -> WheelResult:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.5)
        with self.lock:
            self.now -= 1
            most = self.most
        return WheelResult(ref, None, None, AuditError(ref.filename, "held", str(most)), 0, 0, 0.0)


# where the wheels ``_most_at_once`` hands the pool are (nothing listens: no request is made)
FILES = "http://127.0.0.1:9"


def _most_at_once(count: int) -> int:
    refs = [
        WheelRef(f"w{i}-1.0-py3-none-any.whl", f"w{i}", "1.0", f"{FILES}/w{i}.whl", size=1)
        for i in range(count)
    ]
    results = list(LocalPool(_Concurrency(), workers=1, timeout=30.0).results(refs))
    assert len(results) == count
    return max(int(r.verdict.reason) for r in results)  # type: ignore[union-attr]


def test_a_worker_reads_more_wheels_at_once_over_a_slow_link(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the index's answers took a round trip of 0.3 s, a worker holds more than the
    32 wheels it reads at once on a fast link: each wheel waits for several round trips one
    after another, so 32 at once left the core idle (34% of the 0 ms throughput at 200 ms
    on the benchmark corpus); where no answer was seen, 32."""
    session = HttpSession()  # the process's own, as the parent's listing uses it
    monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [session])
    # the one more the pool keeps queued on a worker gets a thread too
    assert _most_at_once(WHEELS_IN_FLIGHT + 8) <= WHEELS_IN_FLIGHT + 1
    path = server.web / "packages" / "file.bin"
    path.write_bytes(b"x")
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        session,
    ):
        session.get(_proxied(server, proxy, path), limit=1)
    expected = wheels_in_flight(httpclient.quickest_answer())
    assert expected > WHEELS_IN_FLIGHT
    assert WHEELS_IN_FLIGHT + 1 < _most_at_once(expected + 8) <= expected + 1


def test_a_worker_reads_few_wheels_at_once_from_a_near_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the index answered within NEAR_ROUND_TRIP (loopback, a LAN mirror), a worker
    holds a few wheels, not 32: the wheels it holds in flight no idle worker can take over,
    and 32 of them left one worker alone with the end of a run (the benchmark corpus over
    nginx on loopback: 1.3-2.0 s where a directory took 1.0-1.15, 1.2-1.3 with 4)."""
    monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [_near_session(FILES)])
    held = _most_at_once(NEAR_WHEELS_IN_FLIGHT + 8)
    assert NEAR_WHEELS_IN_FLIGHT < held <= NEAR_WHEELS_IN_FLIGHT + 1


def test_near_pages_with_files_elsewhere_keep_many_wheels_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An index whose pages answered from near by but whose files are on another host, not
    seen yet (a LAN index linking to a CDN): 32 at once, as where nothing was seen. Sized
    by the pages, 4 made such a run 4.2 times as long with files 100 ms away."""
    monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [_near_session("http://127.0.0.2:9")])
    held = _most_at_once(WHEELS_IN_FLIGHT + 8)
    assert NEAR_WHEELS_IN_FLIGHT + 1 < held <= WHEELS_IN_FLIGHT + 1


def _near_session(origin_url: str) -> HttpSession:
    """The process's own session, having seen ``origin_url`` answer from near by."""
    near = HttpSession()
    near._quickest_anywhere = NEAR_ROUND_TRIP / 10
    near._quickest[httpclient._origin(httpclient._normalised(origin_url))] = NEAR_ROUND_TRIP / 10
    return near


def test_the_range_requests_threads_stay_within_their_share_of_the_limit() -> None:
    """Each of the pool's threads is a stack counted against RLIMIT_DATA: under a 256 MiB
    limit, 32 of them would take all of it; they take an eighth."""
    script = """
import resource
from wheelscan.wheel.http_ranges import IN_FLIGHT, IN_FLIGHT_SHARE, _io_pool
from wheelscan.wheel.threads import threads_within
_, hard = resource.getrlimit(resource.RLIMIT_DATA)
resource.setrlimit(resource.RLIMIT_DATA, (256 << 20, hard))
print(threads_within(IN_FLIGHT, IN_FLIGHT_SHARE), _io_pool()._max_workers)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["3", "3"]  # 32 MiB for stacks of 8 MiB and 1 MiB besides


class _WhichWorker:
    """Says which worker read the wheel."""

    def __call__(self, ref: WheelRef) -> WheelResult:
        verdict = AuditError(ref.filename, "read", str(os.getpid()))
        return WheelResult(ref, None, None, verdict, 0, 0, 0.0)


def test_a_short_remote_run_is_shared_evenly_among_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 remote wheels and two workers that each take 33 at once: the first took 33 of
    them and the second 7, so the run lasted as long as 33 wheels' parsing on one core.
    Handed out one each in turn, each worker gets 20. (No answer seen yet: 32 at once. An
    index answering from near by makes it 4: NEAR_WHEELS_IN_FLIGHT)"""
    monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [])
    refs = [
        WheelRef(f"w{i}-1.0-py3-none-any.whl", f"w{i}", "1.0", f"http://x.invalid/w{i}", size=1)
        for i in range(40)
    ]
    results = list(LocalPool(_WhichWorker(), workers=2, timeout=30.0).results(refs))
    workers = Counter(r.verdict.reason for r in results)  # type: ignore[union-attr]
    assert sorted(workers.values()) == [20, 20]
