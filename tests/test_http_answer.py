"""An answer read on a pooled connection without urllib3's response object (wheel/answer.py)
means what urllib3's reading of it means: the same request bytes on the wire, the same
headers, the same announced length. Against a server on 127.0.0.1 that answers each request
with bytes written out here, and records the bytes of each request it was sent.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import urllib3

from wheelscan.wheel.httpclient import HttpError, HttpSession


@contextmanager
def canned(answer: bytes, accepted: list[int] | None = None) -> Iterator[tuple[str, list[bytes]]]:
    """A server answering every request with ``answer``, on kept-alive connections; yields
    its URL and the list of the requests' bytes (each up to its blank line); counts the
    connections it accepted in ``accepted``."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                request, _, pending = pending.partition(b"\r\n\r\n")
                requests.append(request + b"\r\n\r\n")
                conn.sendall(answer)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if accepted is not None:
                accepted.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        listener.close()


def _answer(headers: str, body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-9", "Accept-Encoding": "identity"},
        {"Accept": "application/json"},  # no Accept-Encoding: http.client adds identity
        {"Host": "example.invalid", "Accept-Encoding": "gzip"},
    ],
)
def test_the_request_sent_is_the_one_urllib3_sends(headers: dict[str, str]) -> None:
    with canned(_answer("Content-Length: 2\r\n", b"ok")) as (url, requests):
        with HttpSession(tries=1) as session:
            assert session.get(url + "/a/b.whl", headers, limit=10).body == b"ok"
        pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1]))
        sent = {**session_headers(requests[0]), **headers}
        pool.urlopen("GET", "/a/b.whl", headers=sent, retries=False).read()
        pool.close()
    assert len(requests) == 2
    assert requests[0] == requests[1]


def session_headers(request: bytes) -> dict[str, str]:
    """The headers the session added of its own (its User-Agent)."""
    lines = request.decode("latin-1").split("\r\n")[1:]
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines if line)
            if k.lower() == "user-agent"}  # fmt: skip


def test_repeated_fields_are_joined_as_urllib3_joins_them() -> None:
    headers = "Content-Length: 2\r\nX-Part: one\r\nx-part: two\r\n"
    with canned(_answer(headers, b"ok")) as (url, _), HttpSession(tries=1) as session:
        answer = session.get(url + "/page", limit=10)
    assert answer.headers["X-PART"] == "one, two"
    assert answer.headers.get("content-length") == "2"


def test_lengths_that_agree_announce_the_body() -> None:
    answer = _answer("Content-Length: 5, 5\r\n", b"hello")
    with canned(answer) as (url, _), HttpSession(tries=1) as session:
        assert session.get(url + "/f", limit=10, expected=5).body == b"hello"


def test_lengths_that_differ_are_refused() -> None:
    answer = _answer("Content-Length: 5, 6\r\n", b"hello!")
    refused = pytest.raises(HttpError, match="unmatching")
    with canned(answer) as (url, _), HttpSession(tries=1) as session, refused:
        session.get(url + "/f", limit=10)


def test_a_kept_alive_connection_serves_the_next_request() -> None:
    accepted: list[int] = []
    answer = _answer("Content-Length: 3\r\n", b"abc")
    with canned(answer, accepted) as (url, requests), HttpSession(tries=1) as session:
        for _ in range(3):
            assert session.get(url + "/f", limit=10).body == b"abc"
    assert len(requests) == 3
    assert len(accepted) == 1


def test_an_answer_that_closes_its_connection_leaves_none_to_reuse() -> None:
    accepted: list[int] = []
    answer = _answer("Content-Length: 3\r\nConnection: close\r\n", b"abc")
    with canned(answer, accepted) as (url, requests), HttpSession(tries=1) as session:
        for _ in range(2):
            assert session.get(url + "/f", limit=10).body == b"abc"
    assert len(requests) == 2
    assert len(accepted) == 2
