"""A simple index's pages over a slow link: the listing fetches more of them at once where
the index answers slowly (sources/simple_index.py), counted by the connections the server
saw, never timed; and fewer where the server takes fewer (sources/page_window.py)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.sources.base import SourceError, WheelRef
from wheelscan.sources.page_window import TRIES, PageWindow
from wheelscan.sources.simple_index import (
    MOST_PAGES_IN_FLIGHT,
    PAGES_IN_FLIGHT,
    SimpleIndexSource,
    pages_in_flight,
)
from wheelscan.wheel.httpclient import HttpError, HttpSession

from indexserver import IndexServer
from latencyproxy import LatencyProxy
from mirror import listed_only_index
from nginxserver import Nginx, NginxError

# Long beside a busy machine's scheduling
RTT = 0.3
PROJECTS = 200


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    listed_only_index(tmp_path / "simple", PROJECTS)
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


def test_a_server_that_takes_fewer_connections_still_gives_every_page(tmp_path: Path) -> None:
    """nginx taking 32 connections closes the kept-alive ones past them: asked 128 at once
    through 0.3 s of round trip, 72 of 200 pages were lost after every retry (32 at once, the
    old fixed number, lost none). The listing lowers its pages in flight and asks the lost
    pages again: every page comes."""
    web = tmp_path / "web"
    names = listed_only_index(web / "simple", PROJECTS)
    server = Nginx(web, tmp_path, connections=32, pages="index.html", log_requests=False)
    try:
        server.start()
    except NginxError as e:
        pytest.fail(str(e))
    try:
        with LatencyProxy(("127.0.0.1", server.port), RTT) as proxy, HttpSession() as session:
            source = SimpleIndexSource(f"http://{proxy.address}/simple/", session=session)
            assert [ref.project for ref in source.wheels()] == names
            assert source.failed_pages == []
    finally:
        server.stop()


def test_a_page_lost_beside_others_is_asked_again_a_few_times_at_most() -> None:
    """A server gone away loses every page: each is asked ``TRIES`` times at most (each
    costing the session's own retries), then fails alone, and the listing ends. (The pages
    are fetched by a function here: what is tested is the window's bound.)"""
    asked: Counter[str] = Counter()
    lock = threading.Lock()
    gate = threading.Barrier(8)  # eight in flight at once: each beside the floor's 2 others

    def fetch(name: str) -> list[WheelRef]:
        with lock:
            asked[name] += 1
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait(timeout=0.5)
        cause = HttpError(f"http://127.0.0.1:9/simple/{name}/", "connection reset")
        raise SourceError(f"cannot read {name}") from cause

    window = PageWindow(fetch, lambda: 8, floor=2, ceiling=8, forget_connections=lambda: None)
    names = [f"p{i}" for i in range(24)]
    listed = list(window.listed(names))
    assert all(isinstance(page, SourceError) for page in listed)
    assert len(listed) == len(names)
    assert set(asked) == set(names)
    # the first eight, lost together, asked again; none more than TRIES times; once the
    # window is down to its floor, a page lost beside fewer others fails at once
    assert 1 < max(asked.values()) <= TRIES
    assert asked[names[-1]] == 1
