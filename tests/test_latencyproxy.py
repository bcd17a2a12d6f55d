"""The delaying proxy the remote benchmark measures through (tests/latencyproxy.py) counts the
round trips a file's reading waited for one after another, without timing anything."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexserver import IndexServer
from latencyproxy import LatencyProxy

# Long beside a busy machine's scheduling: requests sent together stay together
RTT = 0.3


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


def test_the_proxy_counts_round_trips_one_after_another(server: IndexServer) -> None:
    """A request sent after an answer came is one deeper; two sent together share a depth,
    on two connections as on one."""
    path = server.web / "packages" / "file.bin"
    path.write_bytes(b"x" * 100_000)
    with LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy:
        host, port = proxy.address.split(":")
        first, second = (http.client.HTTPConnection(host, int(port)) for _ in range(2))
        first.request("GET", "/packages/file.bin")
        assert len(first.getresponse().read()) == 100_000
        first.request("GET", "/packages/file.bin", headers={"Range": "bytes=0-9"})
        second.request("GET", "/packages/file.bin", headers={"Range": "bytes=10-19"})
        assert first.getresponse().read() == b"x" * 10
        assert second.getresponse().read() == b"x" * 10
        first.request("GET", "/packages/file.bin", headers={"Range": "bytes=-5"})
        assert first.getresponse().read() == b"x" * 5
        first.close()
        second.close()
        assert proxy.depths["/packages/file.bin"] == [1, 2, 2, 3]
        assert proxy.deepest("/packages/file.bin") == 3
    assert proxy.cpu_seconds > 0  # its thread's, known once it stopped


def test_the_proxy_looks_only_at_the_connections_that_have_traffic(server: IndexServer) -> None:
    """Idle connections cost the proxy's loop nothing: requests on one connection beside 60
    open idle ones are looked at a few times each, not once per connection per wake-up (the
    proxy's CPU is the benchmark's, taken from the audit it measures)."""
    path = server.web / "packages" / "file.bin"
    path.write_bytes(b"x" * 1000)
    requests = 20
    with LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), 0.02) as proxy:
        host, port = proxy.address.split(":")
        idle = [http.client.HTTPConnection(host, int(port)) for _ in range(60)]
        for connection in idle:  # through the proxy, then kept open with nothing to say
            connection.request("GET", "/packages/file.bin")
            assert len(connection.getresponse().read()) == 1000
        busy = http.client.HTTPConnection(host, int(port))
        busy.request("GET", "/packages/file.bin")  # opened before counting
        busy.getresponse().read()
        before = proxy.visits
        for _ in range(requests):
            busy.request("GET", "/packages/file.bin", headers={"Range": "bytes=0-9"})
            assert busy.getresponse().read() == b"x" * 10
        # each request: its bytes received, falling due and sent, one way and back, in a
        # chunk or two each way (9 looks on this machine; 730 when every wake-up looked at
        # every direction)
        assert proxy.visits - before <= 12 * requests
        for connection in [*idle, busy]:
            connection.close()
