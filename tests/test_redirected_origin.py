"""Files asked of one origin and answered by another (an index whose files redirect to a
store's host): what the session learns is kept under the origin the readers ask by
(wheel/httpclient.py). A real pair on 127.0.0.1: a server that only redirects, and the
index server (tests/indexserver.py) that answers; the delaying proxy (tests/latencyproxy.py)
makes the redirecting one far. Requests are counted, nothing is timed."""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wheelscan.engine.worker import read_facts
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import (
    TRIPS_SAVED,
    WHOLE_AT_MOST,
    WHOLE_RATE,
    HttpRangeReader,
    whole_below_for,
)

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

# a round trip long enough to grow the whole-wheel threshold to its most (0.13 s)
RTT = 1.5 * WHOLE_AT_MOST / (TRIPS_SAVED * WHOLE_RATE)
ELF = build_elf(sample_spec("x86_64", interpreter=None))


class _Redirector(ThreadingHTTPServer):
    """Answers every request with a 302 to the same path on ``target``."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Redirect)
        self.target = target

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.server_address[1]


class _Redirect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Redirector

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[IndexServer]:
    """The answering origin: three ELF members far apart in each of two wheels."""
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "probe.bin").write_bytes(b"x" * 100)
    for name in ("one", "two"):
        files: dict[str, bytes] = {}
        for i in range(3):
            files[f"{name}/data{i}.txt"] = os.urandom(200_000)
            files[f"{name}/_mod{i}.cpython-312-x86_64-linux-gnu.so"] = ELF
        wheel = build_wheel(files, name=name, compression=zipfile.ZIP_STORED)
        (tmp_path / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(
            wheel
        )
    with IndexServer(tmp_path) as running:
        yield running


@pytest.fixture()
def redirector(store: IndexServer) -> Iterator[_Redirector]:
    server = _Redirector(store.url)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _read(session: HttpSession, url: str, path: Path) -> HttpRangeReader:
    with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as a:
        assert read_wheel_facts(a, path.name) == read_facts(path, path.name)
        assert isinstance(a.reader, HttpRangeReader)
        return a.reader


def test_a_redirecting_origin_s_round_trip_counts_every_hop(
    store: IndexServer, redirector: _Redirector
) -> None:
    """Asked of a far origin, answered by a near one: a request to the far one costs its
    round trip and more, and the wheels asked of it are sized so (recorded under the near
    one only, the far one was never known: sized as if on loopback)."""
    with LatencyProxy(redirector.address, RTT) as proxy, HttpSession() as session:
        far = f"http://{proxy.address}/packages/"
        assert session.get(far + "probe.bin", limit=100).url.startswith(store.url)
        asked = session.quickest(far + "x.whl")
        assert asked is not None and asked >= RTT
        assert whole_below_for(session, far + "x.whl") == WHOLE_AT_MOST
        answered = session.quickest(f"{store.url}/packages/x.whl")  # the near one's own
        assert answered is not None and answered < asked


def test_ranges_refused_together_after_a_redirect_are_asked_singly_of_that_origin(
    store: IndexServer, redirector: _Redirector
) -> None:
    """The answering server sends the whole file for several ranges: refused unread, once;
    the next wheel asked of the same redirecting origin goes one range a request at once.
    The answering origin asked directly has learnt nothing (it may answer otherwise)."""
    store.several_ranges = "whole"
    host, port = redirector.address
    asked = f"http://{host}:{port}/packages/"
    with HttpSession() as session:
        for name in ("one", "two"):
            store.clear()
            path = store.web / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
            _read(session, asked + path.name, path)
            together = [s for s in store.log if s.range and "," in s.range]
            assert len(together) == (1 if name == "one" else 0), name
        assert session.ranges_together(asked) is False
        assert session.ranges_together(store.url + "/packages/") is None
