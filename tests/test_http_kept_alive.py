"""A kept-alive connection the server has closed is no failure of the server: a request that
meets one is sent again on a fresh connection, and costs none of its tries.

A real server on 127.0.0.1 (tests/indexserver.py, ``drop_reused``) reads each request that
arrives on a connection it has answered on before, and closes that connection without an
answer: what a client sees when a server's keep-alive timer fires as its request arrives,
or when a server restarted while the client's pool held its connections.
"""

from __future__ import annotations

import threading
from pathlib import Path

from wheelscan.wheel.httpclient import HttpSession

from indexserver import IndexServer

DATA = bytes(range(256)) * 64


def _fill_pool(session: HttpSession, url: str, count: int) -> None:
    """``count`` requests at once (each held by the server), so that the session's pool keeps
    ``count`` connections alive afterwards."""
    threads = [
        threading.Thread(target=session.get, args=(url,), kwargs={"limit": len(DATA)})
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_connections_the_server_closed_do_not_fail_a_request(tmp_path: Path) -> None:
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "file.bin").write_bytes(DATA)
    # one try: a server failure is not tried again, a closed connection is
    with (
        IndexServer(tmp_path, answer_delay=0.3) as server,
        HttpSession(timeout=10, tries=1) as session,
    ):
        url = f"{server.url}/packages/file.bin"
        _fill_pool(session, url, 4)
        assert server.connections == 4
        server.answer_delay = 0.0
        server.drop_reused = True
        # four dead connections kept alive: each request meets one first
        for _ in range(4):
            assert session.get(url, limit=len(DATA)).body == DATA
        assert server.dropped == 4
        assert server.connections == 8  # each sent again on a connection of its own
