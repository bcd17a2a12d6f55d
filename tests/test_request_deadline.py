"""A request's deadline covers its retries and the waits before them (wheel/httpclient.py,
``HttpSession.get``): each try had a deadline of its own, so a server answering 503 with
``Retry-After`` again and again, or slowly, held one request for as many deadlines as tries
(and a ``Retry-After`` up to two minutes was waited for whatever ``--timeout`` said). Real
servers on 127.0.0.1; the tries a server saw are counted, nothing is timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wheelscan.wheel.httpclient import HttpError, HttpSession


class _Busy(ThreadingHTTPServer):
    """Answers every request 503, after ``hold`` seconds, with ``retry_after`` when set;
    from the ``ok_from``-th request on (counted from 1) 200 instead. Counts the requests."""

    daemon_threads = True

    def __init__(self, hold: float, retry_after: str | None, ok_from: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hold, self.retry_after, self.ok_from = hold, retry_after, ok_from
        self.requests = 0
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/busy"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Busy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        ok = bool(self.server.ok_from) and self.server.requests >= self.server.ok_from
        self.server.stopping.wait(self.server.hold)
        body = b"done" if ok else b"busy"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        if self.server.retry_after is not None and not ok:
            self.send_header("Retry-After", self.server.retry_after)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def busy(request: pytest.FixtureRequest) -> Iterator[_Busy]:
    hold, retry_after, ok_from = request.param
    server = _Busy(hold, retry_after, ok_from)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("busy", [(0.0, "30", 0)], indirect=True)
def test_a_retry_after_past_the_deadline_is_not_waited_for(busy: _Busy) -> None:
    """Asked to come back in 30 s by a request whose deadline is 2 s away: the request
    fails at once, on its first answer (each try waited 30 s before: a minute in all)."""
    with HttpSession(timeout=2.0, tries=3) as session, pytest.raises(HttpError) as failure:
        session.get(busy.url, limit=100)
    assert failure.value.status == 503
    assert "retry after 30 s" in failure.value.reason
    assert busy.requests == 1


@pytest.mark.parametrize("busy", [(1.0, None, 0)], indirect=True)
def test_slow_failed_tries_share_one_deadline(busy: _Busy) -> None:
    """Each 503 comes a second after its request; the deadline is 1.5 s: the second try
    is cut short by it, and no third is made (each try had 1.5 s of its own: three tries,
    three seconds)."""
    session = HttpSession(timeout=1.5, tries=3, backoff=0.05)
    with session, pytest.raises(HttpError) as failure:
        session.get(busy.url, limit=100)
    assert busy.requests < 3
    assert failure.value.status in (None, 503)  # the deadline, or the first 503 alone


@pytest.mark.parametrize("busy", [(0.0, "1", 2)], indirect=True)
def test_a_retry_within_the_deadline_is_still_made(busy: _Busy) -> None:
    with HttpSession(timeout=5.0, tries=3) as session:
        assert session.get(busy.url, limit=100).body == b"done"
    assert busy.requests == 2
