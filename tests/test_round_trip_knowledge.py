"""What a round trip was learnt to take belongs to the session that measured it
(wheel/httpclient.py, ``HttpSession.quickest``): a process-wide "quickest answer seen" let one
session's link size another's requests, and made a test's reading depend on which tests had
run before it in the same process. The delaying proxy (tests/latencyproxy.py) makes one link
slow; nothing is timed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.wheel import httpclient
from wheelscan.wheel.http import HttpSession
from wheelscan.wheel.http_ranges import (
    TRIPS_SAVED,
    WHOLE_AT_MOST,
    WHOLE_BELOW,
    WHOLE_RATE,
    round_trip_bytes,
    whole_below_for,
)

from indexserver import IndexServer
from latencyproxy import LatencyProxy

# a round trip long enough to grow the whole-wheel threshold to its most (0.13 s)
RTT = 1.5 * WHOLE_AT_MOST / (TRIPS_SAVED * WHOLE_RATE)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "probe.bin").write_bytes(b"x" * 100)
    with IndexServer(tmp_path) as running:
        yield running


def test_a_slow_link_one_session_saw_does_not_size_another_s_requests(
    server: IndexServer,
) -> None:
    """One session learns a slow link; a new session knows no round trip yet, to that
    origin or any other: it sizes its first wheel as a session that saw nothing does."""
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as far,
        HttpSession() as fresh,
    ):
        far.get(f"http://{proxy.address}/packages/probe.bin", limit=100)
        slow_url = f"http://{proxy.address}/packages/x.whl"
        assert whole_below_for(far, slow_url) == WHOLE_AT_MOST  # learnt by the one that saw it
        for url in (slow_url, f"{server.url}/packages/x.whl"):
            assert fresh.quickest(url) is None
            assert round_trip_bytes(fresh, url) == 0
            assert whole_below_for(fresh, url) == WHOLE_BELOW
        assert fresh.quickest_anywhere() is None


def test_a_session_falls_back_on_its_own_answers_from_another_origin(
    server: IndexServer,
) -> None:
    """An index's files on another host than its pages: before the files' origin has
    answered, the session's own quickest answer from anywhere is its best guess."""
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        session.get(f"http://{proxy.address}/packages/probe.bin", limit=100)
        anywhere = session.quickest_anywhere()
        assert anywhere is not None and anywhere >= RTT
        other_origin = f"http://localhost:{proxy.address.rsplit(':', 1)[1]}/packages/x.whl"
        assert session.quickest(other_origin) is None
        assert round_trip_bytes(session, other_origin) == int(anywhere * WHOLE_RATE)


def test_the_pool_reads_only_the_process_s_own_sessions(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``quickest_answer`` (what the pool sizes a worker's wheels in flight by) is what the
    process's own sessions (``default_session``'s, which the source and the tasks share)
    learnt: a session a caller made for itself changes nothing there."""
    monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [])
    with HttpSession() as own:
        own.get(f"{server.url}/packages/probe.bin", limit=100)
        assert own.quickest_anywhere() is not None
    assert httpclient.quickest_answer() is None
    with (
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as process_s,
    ):
        monkeypatch.setattr(httpclient, "_DEFAULT_SESSIONS", [process_s])
        process_s.get(f"http://{proxy.address}/packages/probe.bin", limit=100)
    quickest = httpclient.quickest_answer()
    assert quickest is not None and quickest >= RTT
