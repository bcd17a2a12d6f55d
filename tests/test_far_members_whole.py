"""Over a far link, a library that one round trip carries is fetched whole with the wheel's
planned parts (wheel/http.py, ``RemoteWheelArchive._planned_parts``): read by its parts, its
start extended and its end's search stepping back each cost a round trip more, one after
another. Round trips are counted by the delaying proxy (tests/latencyproxy.py), never timed."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import read_facts
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.http_ranges import WHOLE_RATE

from corpus.fetch import fetch, load_entries
from indexserver import IndexServer
from latencyproxy import LatencyProxy

CORPUS = Path(__file__).parent / "corpus" / "wheels.json"
# three libraries read in part from 512 KiB on (libstdc++, libzmq, libsodium): over a far
# link, libstdc++'s end searched further back, then its start extended to its strings, then
# libzmq's end looked up further back, one round trip each after the plan's
WHEEL = "pyzmq-27.3.0-cp312-abi3-musllinux_1_2_x86_64.whl"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


def _far_read(server: IndexServer, path: Path, round_trip: float) -> tuple[object, int, int]:
    """The facts, the bytes fetched and the deepest chain of requests of one audit task's
    reading of ``path`` through ``round_trip`` seconds of delay."""
    address = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    with LatencyProxy(address, round_trip) as proxy:
        url = server.file_url(path).replace(server.url.removeprefix("http://"), proxy.address)
        # the index's size: the tail's request is the reading's first, whatever it learns
        ref = WheelRef(path.name, "", "", url, size=path.stat().st_size)
        result = AuditTask(keyed=False, dedupe=False)(ref)
        return result.facts, result.bytes_read, proxy.deepest("/packages/" + path.name)


@pytest.mark.network  # a wheel of the tests' corpus, fetched into the cache
def test_a_far_link_fetches_a_library_a_round_trip_carries_whole(server: IndexServer) -> None:
    (wheel,) = fetch([e for e in load_entries(CORPUS) if e["filename"] == WHEEL])
    path = server.web / "packages" / WHEEL
    path.symlink_to(wheel)
    with zipfile.ZipFile(wheel) as archive:
        largest = max(archive.infolist(), key=lambda info: info.compress_size)
    assert largest.filename.startswith("pyzmq.libs/libstdc++")
    # long enough that a round trip carries the largest library's compressed bytes
    round_trip = 1.2 * largest.compress_size / WHOLE_RATE
    facts, fetched, deepest = _far_read(server, path, round_trip)
    assert facts == read_facts(path, WHEEL)
    # the tail, the members' first bytes, the libraries whole (six round trips in part)
    assert deepest <= 3
    assert fetched < path.stat().st_size
