"""A simple index's pages over a slow link: the listing fetches more of them at once where
the index answers slowly (sources/simple_index.py), counted by the connections the server
saw, never timed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.sources.simple_index import (
    MOST_PAGES_IN_FLIGHT,
    PAGES_IN_FLIGHT,
    SimpleIndexSource,
    pages_in_flight,
)
from wheelscan.wheel.httpclient import HttpSession

from indexserver import IndexServer
from latencyproxy import LatencyProxy

# Long beside a busy machine's scheduling
RTT = 0.3
PROJECTS = 200


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    """An index of ``PROJECTS`` projects of one wheel each (the files themselves are never
    fetched: only listed)."""
    names = [f"p{i:03d}" for i in range(PROJECTS)]
    simple = tmp_path / "simple"
    simple.mkdir()
    anchors = "".join(f'<a href="{name}/">{name}</a>' for name in names)
    (simple / "index.html").write_text(f"<html><body>{anchors}</body></html>")
    for name in names:
        (simple / name).mkdir()
        filename = f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        (simple / name / "index.html").write_text(
            f'<html><body><a href="../../packages/{filename}">{filename}</a></body></html>'
        )
    with IndexServer(tmp_path) as running:
        yield running


def test_pages_in_flight_grow_with_the_round_trip() -> None:
    assert pages_in_flight(None) == PAGES_IN_FLIGHT
    assert pages_in_flight(0.0) == PAGES_IN_FLIGHT
    assert pages_in_flight(0.05) == PAGES_IN_FLIGHT
    assert PAGES_IN_FLIGHT < pages_in_flight(0.2) < MOST_PAGES_IN_FLIGHT
    assert pages_in_flight(10.0) == MOST_PAGES_IN_FLIGHT


def _listed(server: IndexServer, index_url: str) -> list[str]:
    with HttpSession() as session:
        source = SimpleIndexSource(index_url, session=session)
        return [ref.project for ref in source.wheels()]


def test_the_listing_fetches_more_pages_at_once_over_a_slow_link(server: IndexServer) -> None:
    """Through 0.3 s of round trip, the index's own page shows the listing the link is slow:
    it fetches up to ``MOST_PAGES_IN_FLIGHT`` project pages at once, each on a connection of
    its own, not 32 (which listed 160 pages a second at most over 200 ms). Directly, the
    32 of a fast link. Either way every project is listed once, in order."""
    expected = [f"p{i:03d}" for i in range(PROJECTS)]
    assert _listed(server, server.index_url) == expected
    # one connection per page in flight (kept alive, so that the pages after reuse them)
    assert server.connections <= PAGES_IN_FLIGHT + 1
    server.connections = 0
    with LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy:
        assert _listed(server, f"http://{proxy.address}/simple/") == expected
    assert pages_in_flight(RTT) == MOST_PAGES_IN_FLIGHT
    assert 2 * PAGES_IN_FLIGHT < server.connections <= MOST_PAGES_IN_FLIGHT + 1
