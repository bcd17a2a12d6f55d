"""A body's buffer is taken for what the caller expects, not for what a server announces:
a server that answers a 64 KiB range with ``Content-Length: 64 MiB`` and never sends it
costs the client no 64 MiB (issue #15: bound every read; found by a review, where each of
a worker's requests in flight could hold that much against its RLIMIT_DATA)."""

from __future__ import annotations

import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from wheelscan.wheel.archive import WheelError
from wheelscan.wheel.http_ranges import HttpRangeReader
from wheelscan.wheel.httpclient import HttpError, HttpSession

ANNOUNCED = 64 << 20


@pytest.fixture
def announcing() -> Iterator[str]:
    """A server on loopback answering every request with 206 and ``ANNOUNCED`` bytes to
    come, then closing the connection without sending one (a bounded loop: 8 requests)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        answered = 0
        while answered < 8 and not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            answered += 1
            with connection:
                connection.recv(65536)
                connection.sendall(
                    b"HTTP/1.1 206 Partial Content\r\n"
                    b"Content-Range: bytes 0-%d/1000000000\r\n"
                    b"Content-Length: %d\r\n\r\n" % (ANNOUNCED - 1, ANNOUNCED)
                )

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/demo-1.0-py3-none-any.whl"
    done.set()
    server.join(30)
    listener.close()


def _peak_while(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_a_range_announced_longer_than_asked_takes_no_buffer_of_that_length(
    announcing: str,
) -> None:
    session = HttpSession(timeout=10, tries=1)

    def ask() -> None:
        with pytest.raises(HttpError, match=r"cut short|IncompleteRead|closed"):
            session.get(announcing, {"Range": "bytes=0-65535"}, limit=10**9, expected=65536)

    assert _peak_while(ask) < 8 << 20


def test_a_wheels_tail_announced_at_64_mib_takes_no_64_mib(announcing: str) -> None:
    # the reader asks for the tail by a suffix range: the body it expects is that range's
    def open_it() -> None:
        with pytest.raises(WheelError):
            HttpRangeReader(announcing, 10**9, HttpSession(timeout=10, tries=1), 0)

    assert _peak_while(open_it) < 8 << 20
