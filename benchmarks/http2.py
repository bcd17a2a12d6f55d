"""Would HTTP/2 help wheelscan? nginx on loopback, 16 KiB ranges, measured.

The same 16 KiB ranges of a 32 MiB file, 2,000 requests, one and sixteen in flight (threads
sharing one client), from one nginx that answers HTTP/1.1 on one port and HTTP/2 with prior
knowledge (h2c) on another: urllib3 2.x over HTTP/1.1 (wheelscan's client), httpx over
HTTP/1.1, and httpx over HTTP/2 on one multiplexed connection (urllib3's own HTTP/2 is
experimental, HTTPS only and one request a connection: nothing to multiplex). Requests per
second and the client's CPU a request; three rounds. Needs ``pip install httpx h2`` (not a
test dependency); run by hand, not in CI. Results: benchmarks/results/http-clients.txt.

    python benchmarks/http2.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests")]

import httpx  # noqa: E402
import urllib3  # noqa: E402

import nginxserver  # noqa: E402

REQUESTS, SIZE, FILE = 2000, 16 << 10, 32 << 20


def ranges() -> list[str]:
    starts = [(i * 997 * SIZE) % (FILE - SIZE) for i in range(REQUESTS)]
    return [f"bytes={start}-{start + SIZE - 1}" for start in starts]


def measure(get: Callable[[str], int], flight: int) -> tuple[float, float]:
    """Requests a second, and the client's CPU microseconds a request."""
    wanted = ranges()
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(flight) as pool:
        sizes = list(pool.map(get, wanted))
    assert all(size == SIZE for size in sizes), set(sizes)
    return REQUESTS / (time.perf_counter() - started), (time.process_time() - cpu) / REQUESTS * 1e6


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    web = tmp / "web"
    web.mkdir()
    (web / "f.bin").write_bytes(os.urandom(FILE))
    h2_port = nginxserver.free_port()
    # one more port, speaking HTTP/2 with prior knowledge; and no GOAWAY after 1,000
    # requests on a connection (nginx's default), which httpx meets with an error
    http2_listen = f"listen 127.0.0.1:{{port}};\n        listen 127.0.0.1:{h2_port} http2;"
    nginxserver._CONF = nginxserver._CONF.replace(
        "http {{", "http {{\n    keepalive_requests 1000000;"
    ).replace("listen 127.0.0.1:{port};", http2_listen)
    nginx = nginxserver.Nginx(web, tmp, connections=1024, pages="index.html", log_requests=False)
    nginx.start()
    try:
        http1, http2 = f"{nginx.url}/f.bin", f"http://127.0.0.1:{h2_port}/f.bin"
        pool = urllib3.PoolManager(maxsize=32)
        httpx1 = httpx.Client(limits=httpx.Limits(max_connections=32))
        httpx2 = httpx.Client(http1=False, http2=True)
        assert httpx2.get(http2, headers={"Range": "bytes=0-9"}).http_version == "HTTP/2"
        clients: dict[str, Callable[[str], int]] = {
            "urllib3, HTTP/1.1": lambda r: len(
                pool.request("GET", http1, headers={"Range": r}).data
            ),
            "httpx, HTTP/1.1": lambda r: len(httpx1.get(http1, headers={"Range": r}).content),
            "httpx, HTTP/2": lambda r: len(httpx2.get(http2, headers={"Range": r}).content),
        }
        for _ in range(3):
            for flight in (1, 16):
                for name, get in clients.items():
                    try:
                        rate, cpu = measure(get, flight)
                    except Exception as error:  # a client's failure is a result too
                        print(f"{name:18} {flight:2} in flight: failed, {error!r}"[:160])
                        continue
                    print(f"{name:18} {flight:2} in flight: {rate:6.0f} req/s, "
                          f"{cpu:4.0f} us of CPU a request", flush=True)  # fmt: skip
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
