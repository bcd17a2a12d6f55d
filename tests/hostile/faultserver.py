"""A file server on 127.0.0.1 that fails the way networks fail, request by request.

It serves ``files`` (URL path -> bytes) with single ``Range`` requests (206 and
Content-Range; a suffix range ``bytes=-N`` too), over keep-alive HTTP/1.1 connections, and
applies a fault to a request when one is due: the next ones queued in ``faults`` (first in,
first out), else ``always[path]``. Faults:

- ``truncate``: the headers promise the whole body (Content-Length), half of it is sent,
  then the connection is closed.
- ``truncate-unframed``: no Content-Length, ``Connection: close``; half the body, then
  close. A client cannot tell this short body from a whole one except by what it asked for.
- ``reset``: the request is read, then the connection is reset (RST, not FIN).
- ``slow``: nothing is sent for ``slow_seconds``, then the connection is closed.
- ``trickle``: headers, then the body one byte every ``trickle_interval`` seconds, never
  done within any sane per-wheel budget.
- ``trickle-headers``: the status line and headers themselves, one byte at a time.
- ``huge-length``: ``Content-Length: 1 TB``, then the real body, then the connection closed.
- ``gzip``: the body gzip-compressed, with ``Content-Encoding: gzip`` (asked for or not).
- ``brotli``: the body as is, labelled ``Content-Encoding: br`` (an encoding the client
  never asked for, and cannot decode).

``versions`` makes a path a file that changes: its n-th request gets the n-th version (the
last one from then on), with ``ETag: "v<n>"`` unless ``etags`` is off. ``types`` gives a
path its ``Content-Type``; ``credentials`` ("user:password") makes every
path answer 401 without them. ``redirects`` makes a path answer 302 with that ``Location``.

Every request is logged as (path, range, fault).
"""

from __future__ import annotations

import base64
import gzip
import re
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Self

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class FaultServer:
    files: dict[str, bytes]
    faults: list[str] = field(default_factory=list)
    always: dict[str, str] = field(default_factory=dict)
    slow_seconds: float = 2.0
    trickle_interval: float = 0.2
    types: dict[str, str] = field(default_factory=dict)
    versions: dict[str, list[bytes]] = field(default_factory=dict)
    etags: bool = True
    credentials: str | None = None
    redirects: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stopping.set()  # slow and trickling answers stop early
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def fault_for(self, path: str, byte_range: str | None) -> str | None:
        with self._lock:
            fault = self.faults.pop(0) if self.faults else self.always.get(path)
            self.log.append((path, byte_range, fault))
            return fault

    def requests(self, path: str) -> list[tuple[str | None, str | None]]:
        with self._lock:
            return [(r, f) for p, r, f in self.log if p == path]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    state: FaultServer


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except OSError:  # the client gave up (a timeout): nothing to answer
            pass

    def _one_request(self) -> bool:
        line = self.rfile.readline(8192)
        if not line:
            return False
        _, path, _ = line.decode("latin-1").split(" ", 2)
        headers = {}
        while (header := self.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        state = self.server.state
        byte_range = headers.get("range")
        fault = state.fault_for(path, byte_range)
        data = state.files.get(path.split("?")[0])
        version = None
        if path in state.versions:
            # the request is logged already: the first one is version 0
            version = min(len(state.requests(path)), len(state.versions[path])) - 1
            data = state.versions[path][version]
        if state.credentials is not None and headers.get("authorization") != (
            "Basic " + base64.b64encode(state.credentials.encode()).decode()
        ):
            self._send(401, {"WWW-Authenticate": 'Basic realm="index"'}, b"who are you?")
            return True
        if path in state.redirects:
            self._send(302, {"Location": state.redirects[path]}, b"")
            return True
        if data is None:
            self._send(404, {}, b"no such file")
            return True
        status, extra, body = self._ranged(data, byte_range)
        if path in state.types:
            extra["Content-Type"] = state.types[path]
        if version is not None and state.etags:
            extra["ETag"] = f'"v{version}"'
        if fault == "huge-length":
            self._send(status, extra, body, length=1 << 40)
            return False
        if fault == "gzip":
            self._send(status, {**extra, "Content-Encoding": "gzip"}, gzip.compress(body))
            return True
        if fault == "brotli":
            self._send(status, {**extra, "Content-Encoding": "br"}, body)
            return True
        if fault == "trickle-headers":
            for byte in f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n".encode():
                if state._stopping.wait(state.trickle_interval):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            return False
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False  # closing now sends RST
        if fault == "slow":
            state._stopping.wait(state.slow_seconds)
            return False
        if fault == "truncate":
            self._send(status, extra, body[: len(body) // 2], length=len(body))
            return False
        if fault == "truncate-unframed":
            self._send(
                status, {**extra, "Connection": "close"}, body[: len(body) // 2], length=None
            )
            return False
        if fault == "trickle":
            self._send(status, extra, b"", length=len(body))
            for byte in body:
                if state._stopping.wait(state.trickle_interval):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            return False
        self._send(status, extra, body)
        return True

    @staticmethod
    def _ranged(data: bytes, requested: str | None) -> tuple[int, dict[str, str], bytes]:
        match = _RANGE.fullmatch(requested or "")
        if match is None or match.group(1, 2) == ("", ""):
            return 200, {}, data
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        else:
            start, end = max(0, len(data) - int(last)), len(data) - 1
        return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start : end + 1]

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = -1
    ) -> None:
        lines = [f"HTTP/1.1 {status} X"]
        if length is not None:
            lines.append(f"Content-Length: {len(body) if length == -1 else length}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()
        time.sleep(0)  # let the client read before a close that follows
