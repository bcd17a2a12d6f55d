"""Over a slow link bytes are traded for round trips, and only there (wheel/http_ranges.py,
``whole_below_for`` and ``PREFIX_GUESS``): a wheel up to a size that grows with the round trip
comes in one GET, and a wheel read by its ranges asks for its first bytes with its tail. The
delaying proxy counts the round trips (tests/latencyproxy.py); nothing is timed. The facts
are the local file's either way."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.worker import read_facts
from wheelscan.wheel.archive import WheelError
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import (
    PREFIX_GUESS,
    TRIPS_SAVED,
    WHOLE_AT_MOST,
    WHOLE_BELOW,
    WHOLE_RATE,
    HttpRangeReader,
    whole_below_for,
)

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

# a round trip that carries more than WHOLE_AT_MOST at the rate assumed (0.13 s; each
# wheel's reading waits for a few of them)
RTT = 1.5 * WHOLE_AT_MOST / (TRIPS_SAVED * WHOLE_RATE)
ELF = build_elf(sample_spec("x86_64", interpreter=None))


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "probe.bin").write_bytes(b"x" * 100)
    with IndexServer(tmp_path) as running:
        yield running


def _wheel(server: IndexServer, name: str, noise: int) -> Path:
    """An ELF member first, then ``noise`` bytes no reading needs (stored: they stay that
    size), RECORD last, in the tail."""
    files = {
        "demo/_mod.cpython-312-x86_64-linux-gnu.so": ELF,
        "demo/data.txt": os.urandom(noise),
    }
    path = server.web / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path.write_bytes(build_wheel(files, name=name, compression=zipfile.ZIP_STORED))
    return path


def _read(session: HttpSession, url: str, path: Path) -> HttpRangeReader:
    with open_remote_archive(url, path.stat().st_size, session=session) as archive:
        assert read_wheel_facts(archive, path.name) == read_facts(path, path.name)
        assert isinstance(archive.reader, HttpRangeReader)
        return archive.reader


def test_the_threshold_grows_with_the_round_trip(server: IndexServer) -> None:
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as near,
        HttpSession() as far,
    ):
        near.get(f"{server.url}/packages/probe.bin", limit=100)
        far.get(f"http://{proxy.address}/packages/probe.bin", limit=100)
        assert whole_below_for(near, f"{server.url}/packages/x.whl") == WHOLE_BELOW
        assert whole_below_for(far, f"http://{proxy.address}/packages/x.whl") == WHOLE_AT_MOST


def test_a_wheel_under_the_grown_threshold_comes_in_one_round_trip(server: IndexServer) -> None:
    path = _wheel(server, "small", 600_000)
    assert WHOLE_BELOW < path.stat().st_size < WHOLE_AT_MOST
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        session.get(f"http://{proxy.address}/packages/probe.bin", limit=100)  # the round trip
        reader = _read(session, f"http://{proxy.address}/packages/{path.name}", path)
        assert reader.requests == 1 and reader.sha256 is not None  # whole: its hash checked
        assert proxy.depths[f"/packages/{path.name}"] == [1]
    with HttpSession() as session:  # on loopback, the same wheel by its ranges
        # the quickest of a few answers: one alone, on a machine busy with other tests, may
        # take past the threshold of a slow link even on loopback
        for _ in range(5):
            session.get(f"{server.url}/packages/probe.bin", limit=100)
        reader = _read(session, f"{server.url}/packages/{path.name}", path)
        assert reader.requests > 1 and reader.bytes_fetched < path.stat().st_size


def test_a_wheel_whose_round_trip_was_not_known_is_fetched_whole_after_its_tail(
    server: IndexServer,
) -> None:
    """A worker's first wheels are asked for before any answer told the round trip: the
    tail's answer tells it, and the rest of a wheel that small comes in one more request."""
    path = _wheel(server, "first", 600_000)
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        url = f"http://{proxy.address}/packages/{path.name}"
        assert whole_below_for(session, url) == WHOLE_BELOW
        reader = HttpRangeReader(url, path.stat().st_size, session)
        assert reader.whole_file() == path.read_bytes()
        assert reader.requests == 2
        assert proxy.depths[f"/packages/{path.name}"] == [1, 2]


def test_a_wheels_first_bytes_come_with_its_tail_over_a_slow_link(server: IndexServer) -> None:
    """Over the grown threshold: the ELF member at the wheel's start comes with the tail, in
    one request of two ranges, and nothing more is asked for."""
    path = _wheel(server, "large", 1_500_000)
    assert path.stat().st_size > WHOLE_AT_MOST and len(ELF) < PREFIX_GUESS
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        session.get(f"http://{proxy.address}/packages/probe.bin", limit=100)
        session.answered_ranges_together(f"http://{proxy.address}/", True)
        reader = _read(session, f"http://{proxy.address}/packages/{path.name}", path)
        assert reader.requests == 1
        assert proxy.depths[f"/packages/{path.name}"] == [1]
        assert reader.bytes_fetched < path.stat().st_size / 4


def test_a_size_the_index_got_wrong_is_the_index_s_over_a_slow_link(server: IndexServer) -> None:
    """The first request asks for the tail and the first bytes together; where the index's
    size is past the file's end, the server refuses them (416) and the first span comes
    alone: its size is the first any answer gave, so the index is wrong (download-failed),
    not the file changed since (file-changed, as a count of requests made it)."""
    path = server.web / "packages" / "big-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path.write_bytes(os.urandom(2_000_000))
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), 0.03) as proxy,
        HttpSession() as session,
    ):
        session.get(f"http://{proxy.address}/packages/probe.bin", limit=100)  # the round trip
        with pytest.raises(WheelError) as failed:
            HttpRangeReader(f"http://{proxy.address}/packages/{path.name}", 2_100_000, session)
    assert failed.value.code == "download-failed"
    assert "2000000 bytes, the index said 2100000" in failed.value.reason
