"""Which HTTP client wheelscan should use: range requests on 127.0.0.1, measured.

Each client fetches the same ranges of one file from a keep-alive HTTP/1.1 server on
loopback: small ranges (16 KiB, the size of a local header plus an ELF file's tables) and
large ones (1 MiB, a whole member), one at a time and 16 in flight, with the server
answering at once or after 50 ms (a round trip to a mirror). Figures are requests per second
and MB/s, best of ``--repeat``; bare http.client (no pool, no bounds) is the floor, and
wheelscan's own session (urllib3 under its deadline and cap) is measured beside it.

    python benchmarks/http_clients.py [--repeat 3]

Run once per client choice, not in CI. The clients not installed are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILE = os.urandom(32 << 20)
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")
CASES = [  # (range size, requests, requests in flight, server delay in seconds)
    (16 << 10, 2000, 1, 0.0),
    (16 << 10, 2000, 16, 0.0),
    (1 << 20, 200, 1, 0.0),
    (1 << 20, 200, 16, 0.0),
    (16 << 10, 100, 1, 0.05),
    (16 << 10, 400, 16, 0.05),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait on a delayed ACK: 40 ms each
    delay = 0.0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        match = _RANGE.fullmatch(self.headers.get("Range", ""))
        assert match is not None
        start, end = int(match[1]), int(match[2])
        if self.delay:
            time.sleep(self.delay)
        body = FILE[start : end + 1]
        self.send_response(206)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(FILE)}")
        self.end_headers()
        self.wfile.write(body)


def serve(port: multiprocessing.connection.Connection, delay: float) -> None:
    """The server, in its own process: it must not share the clients' interpreter lock."""
    _Handler.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    port.send(server.server_address[1])
    server.serve_forever()


def ranges(size: int, count: int) -> list[str]:
    step = (len(FILE) - size) // count
    return [f"bytes={i * step}-{i * step + size - 1}" for i in range(count)]


def with_threads(fetch: Callable[[str], int], wanted: list[str], flight: int) -> int:
    if flight == 1:
        return sum(map(fetch, wanted))
    with ThreadPoolExecutor(flight) as pool:
        return sum(pool.map(fetch, wanted))


def run_http_client(url: str, wanted: list[str], flight: int) -> int:
    """The standard library alone, one keep-alive connection per thread: the floor."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    local = threading.local()

    def fetch(byte_range: str) -> int:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(parts.netloc)
        local.conn.request("GET", parts.path, headers={"Range": byte_range})
        return len(local.conn.getresponse().read())

    return with_threads(fetch, wanted, flight)


def run_wheelscan(url: str, wanted: list[str], flight: int) -> int:
    """wheelscan's session: urllib3 under a deadline, a cap and its own retries."""
    from wheelscan.wheel.httpclient import HttpSession

    with HttpSession() as session:
        return with_threads(
            lambda r: len(session.get(url, {"Range": r}, limit=len(FILE)).body), wanted, flight
        )


def run_urllib3(url: str, wanted: list[str], flight: int) -> int:
    import urllib3

    with urllib3.PoolManager(maxsize=flight) as pool:
        return with_threads(
            lambda r: len(pool.request("GET", url, headers={"Range": r}).data), wanted, flight
        )


def run_httpx(url: str, wanted: list[str], flight: int) -> int:
    import httpx

    limits = httpx.Limits(max_connections=flight)
    with httpx.Client(limits=limits) as client:
        return with_threads(
            lambda r: len(client.get(url, headers={"Range": r}).content), wanted, flight
        )


def run_aiohttp(url: str, wanted: list[str], flight: int) -> int:
    import aiohttp

    async def main() -> int:
        connector = aiohttp.TCPConnector(limit=flight)
        async with aiohttp.ClientSession(connector=connector) as session:
            gate = asyncio.Semaphore(flight)

            async def one(r: str) -> int:
                async with gate, session.get(url, headers={"Range": r}) as response:
                    return len(await response.read())

            return sum(await asyncio.gather(*(one(r) for r in wanted)))

    return asyncio.run(main())


CLIENTS = {
    "http.client (bare)": run_http_client,
    "wheelscan (urllib3+bounds)": run_wheelscan,
    "urllib3": run_urllib3,
    "httpx": run_httpx,
    "aiohttp": run_aiohttp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'client':28} {'range':>7} {'flight':>6} {'delay':>6} {'req/s':>8} {'MB/s':>8}")
    for size, count, flight, delay in CASES:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        server = multiprocessing.get_context("fork").Process(
            target=serve, args=(sender, delay), daemon=True
        )
        server.start()
        url = f"http://127.0.0.1:{receiver.recv()}/file"
        wanted = ranges(size, count)
        for name, run in CLIENTS.items():
            try:
                best = float("inf")
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    fetched = run(url, wanted, flight)
                    best = min(best, time.perf_counter() - started)
                assert fetched == size * count
            except ImportError:
                continue
            print(
                f"{name:28} {size >> 10:>5}Ki {flight:>6} {delay * 1000:>4.0f}ms "
                f"{count / best:>8.0f} {fetched / best / 1e6:>8.0f}"
            )
        server.terminate()
        server.join()


if __name__ == "__main__":
    sys.exit(main())
