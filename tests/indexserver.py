"""A real HTTP server on 127.0.0.1 serving a mirror's ``web/`` tree as an index does.

``/simple/...`` pages are negotiated (PEP 691: JSON when the client accepts it and the mirror
has it, PEP 503 HTML otherwise; a page URL without its trailing slash is redirected, as real
indexes do); ``/packages/...`` files honour ``Range`` requests (RFC 9110: 206 with
``Content-Range``, 416 past the end; several ranges in one request answered with their parts,
``multipart/byteranges``, as nginx answers them). Switches make it misbehave:
``ignore_range`` (always the whole file, 200), ``several_ranges`` (how a request for several
ranges is answered: ``SEVERAL_RANGES``), ``fail_next`` (that many 500s, then normal answers),
``always_fail``, ``drop_reused`` (a request on a kept-alive connection that has answered
before is dropped unanswered, the connection closed: as a server whose keep-alive timer fires
as the request arrives); ``credentials`` makes it a private index (Basic auth). Every
request is logged, with the bytes of body served; connections are counted, and the most
requests answered at once.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_RANGES = re.compile(r"bytes=\d+-\d+(?:,\d+-\d+)+")
BOUNDARY = "00000000000000000042"
# How a request for several ranges may be answered: with their parts (as nginx), the whole file
# (as a server that takes one range only), the first range alone (as pypiserver's bottle),
# 416; or hostile parts: another boundary than the one announced, a part nobody asked for,
# the first part twice, a first part with 2 KB of headers, a part one byte shorter than it says
SEVERAL_RANGES = (
    "parts", "whole", "first", "refuse",
    "wrong-boundary", "outside", "twice", "huge-headers", "cut",
)  # fmt: skip


@dataclass(frozen=True)
class Served:
    path: str
    range: str | None
    status: int
    body_bytes: int


@dataclass
class IndexServer:
    web: Path
    ignore_range: bool = False
    several_ranges: str = "parts"  # one of SEVERAL_RANGES
    fail_next: int = 0
    always_fail: bool = False
    credentials: str | None = None  # "user:password": Basic auth required, else 401
    log: list[Served] = field(default_factory=list)
    connections: int = 0
    answer_delay: float = 0.0  # seconds each file request is held before its answer
    drop_reused: bool = False  # see the module
    # a suffix longer than the file answered 416 (naming the size), where RFC 9110 serves it
    # with the whole file
    long_suffix_refused: bool = False
    dropped: int = 0  # requests dropped so
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests answered at once
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: _Server | None = None

    def __enter__(self) -> Self:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self
        self._httpd.daemon_threads = True
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple/"

    def file_url(self, path: Path) -> str:
        return f"{self.url}/{path.relative_to(self.web).as_posix()}"

    @property
    def bytes_served(self) -> int:
        return sum(s.body_bytes for s in self.log)

    def served(self, filename: str) -> list[Served]:
        """Requests whose path ends in ``filename``."""
        return [s for s in self.log if s.path.endswith("/" + filename)]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    def _failing(self) -> bool:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                return True
            return self.always_fail

    def _record(self, served: Served) -> None:
        with self._lock:
            self.log.append(served)


class _Server(ThreadingHTTPServer):
    state: IndexServer
    # socketserver listens with a backlog of 5: a client opening dozens of connections at
    # once (a worker's wheels in flight) had some of its SYNs dropped, each retried a second
    # later; nginx listens with 511
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse is visible
    server: _Server

    @property
    def state(self) -> IndexServer:
        return self.server.state

    def setup(self) -> None:
        super().setup()
        self.answered = 0  # requests answered on this connection
        with self.state._lock:
            self.state.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.state.drop_reused and self.answered:
            with self.state._lock:
                self.state.dropped += 1
            self.close_connection = True  # closed, the request read and never answered
            return
        self.answered += 1
        with self.state._lock:
            self.state.in_flight += 1
            self.state.most_in_flight = max(self.state.most_in_flight, self.state.in_flight)
        try:
            if self.path.startswith("/packages/"):
                time.sleep(self.state.answer_delay)  # held in flight: overlaps are seen
            self._answer()
        finally:
            with self.state._lock:
                self.state.in_flight -= 1

    def _answer(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        expected = self.state.credentials
        if expected and self.headers.get("Authorization") != (
            "Basic " + base64.b64encode(expected.encode()).decode()
        ):
            self._send(
                401,
                b"who are you?",
                "text/plain",
                path,
                {"WWW-Authenticate": 'Basic realm="index"'},
            )
        elif self.state._failing():
            self._send(500, b"server error", "text/plain", path)
        elif path == "/simple" or path.startswith("/simple/"):
            self._page(path)
        elif path.startswith("/packages/"):
            self._file(path)
        else:
            self._send(404, b"not found", "text/plain", path)

    def _page(self, path: str) -> None:
        if not path.endswith("/"):
            self._send(301, b"", "text/plain", path, {"Location": path + "/"})
            return
        directory = self.state.web / path.strip("/")
        accept = self.headers.get("Accept", "")
        choices = [("index.v1_json", JSON_TYPE)] if JSON_TYPE in accept else []
        for name, content_type in [*choices, ("index.html", "text/html; charset=utf-8")]:
            if (directory / name).is_file() and ".." not in path:
                self._send(200, (directory / name).read_bytes(), content_type, path)
                return
        self._send(404, b"no such project", "text/plain", path)

    def _file(self, path: str) -> None:
        file = self.state.web / path.lstrip("/")
        if ".." in path or not file.is_file():
            self._send(404, b"no such file", "text/plain", path)
            return
        data = file.read_bytes()
        requested = self.headers.get("Range")
        if not self.state.ignore_range and _RANGES.fullmatch(requested or ""):
            self._several(path, data, requested or "")
            return
        match = _RANGE.fullmatch(requested or "")
        if self.state.ignore_range or match is None or match.group(1, 2) == ("", ""):
            self._send(200, data, "application/octet-stream", path, {"Accept-Ranges": "bytes"})
            return
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        else:  # a suffix: the last N bytes
            start, end = max(0, len(data) - int(last)), len(data) - 1
            if self.state.long_suffix_refused and int(last) > len(data):
                start = len(data)
        # such a server's refusal is an error page of its own, with its own validator
        refusal = {"ETag": '"refusal"'} if self.state.long_suffix_refused else {}
        version = {"ETag": f'"{len(data)}"'} if self.state.long_suffix_refused else {}
        if start >= len(data) or start > end:
            unsatisfied = {"Content-Range": f"bytes */{len(data)}", **refusal}
            self._send(416, b"", "text/plain", path, unsatisfied)
            return
        self._send(
            206,
            data[start : end + 1],
            "application/octet-stream",
            path,
            {"Content-Range": f"bytes {start}-{end}/{len(data)}", **version},
        )

    def _several(self, path: str, data: bytes, requested: str) -> None:
        spans = [tuple(map(int, r.split("-"))) for r in requested[6:].split(",")]
        mode = self.state.several_ranges
        if mode == "whole" or any(first > last for first, last in spans):
            self._send(200, data, "application/octet-stream", path, {"Accept-Ranges": "bytes"})
            return
        spans = [(first, min(last, len(data) - 1)) for first, last in spans]
        if mode == "refuse" or any(first >= len(data) for first, _ in spans):
            self._send(416, b"", "text/plain", path, {"Content-Range": f"bytes */{len(data)}"})
            return
        if mode == "first":
            first, last = spans[0]
            range_header = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
            self._send(206, data[first : last + 1], "application/octet-stream", path, range_header)
            return
        if mode == "outside":
            spans[-1] = (spans[-1][0] + 1, spans[-1][1])
        if mode == "twice":
            spans = [spans[0], *spans]
        body = bytearray()
        for i, (first, last) in enumerate(spans):
            extra = f"X-Padding: {'x' * 2000}\r\n" if mode == "huge-headers" and not i else ""
            body += (
                f"\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n{extra}"
                f"Content-Range: bytes {first}-{last}/{len(data)}\r\n\r\n"
            ).encode()
            body += data[first : last + (0 if mode == "cut" else 1)]
        body += f"\r\n--{BOUNDARY}--\r\n".encode()
        announced = "1" + BOUNDARY if mode == "wrong-boundary" else BOUNDARY
        content_type = f"multipart/byteranges; boundary={announced}"
        self._send(206, bytes(body), content_type, path)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        path: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # logged before the headers go out (end_headers writes them): once a client has its
        # answer, the log shows it, even an answer without a body (a 416), which the
        # client has whole with its headers
        self.state._record(Served(path, self.headers.get("Range"), status, len(body)))
        self.end_headers()
        self.wfile.write(body)
