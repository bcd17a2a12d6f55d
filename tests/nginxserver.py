"""nginx serving a mirror's ``web/`` tree on 127.0.0.1, as bandersnatch mirrors are served in
production: the one configuration of the tests (``test_servers.py``) and of the remote
benchmark (``benchmarks/remote.py --server nginx``).

nginx is Debian's package, which ``.ci/run`` installs. The server runs in the foreground,
one process, everything it writes under its own temporary directory; each user states what
differs between them: how many connections it takes at once, which page a ``/simple/...``
directory answers with (PEP 503 HTML, or PEP 691 JSON), and whether requests are logged.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

STARTUP = 30.0  # seconds nginx may take to listen: a bound, not a measurement

_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections {connections}; }}
http {{
    sendfile on;
    log_format stamped '$msec "$request" $status $body_bytes_sent';
    access_log {access_log};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{
        application/octet-stream whl;
        application/vnd.pypi.simple.v1+json v1_json;
        text/html html;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {web};
        location /simple/ {{ index {index}; }}
    }}
}}
"""


class NginxError(RuntimeError):
    """nginx is missing, or did not come to listen."""


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None
    )
    if found is None:
        raise NginxError("nginx is needed: Debian's nginx package, which .ci/run installs")
    return found


class Nginx:
    """nginx serving ``web`` on a free port of 127.0.0.1 while the ``with`` block runs."""

    def __init__(
        self,
        web: Path,
        tmp: Path,
        *,
        connections: int,
        pages: Literal["index.html", "index.v1_json"],
        log_requests: bool,
    ) -> None:
        self.web, self.tmp = web, tmp
        self.connections, self.pages, self.log_requests = connections, pages, log_requests
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        conf = self.tmp / "nginx.conf"
        access_log = f"{self.tmp}/access.log stamped" if self.log_requests else "off"
        conf.write_text(
            _CONF.format(
                tmp=self.tmp,
                port=self.port,
                web=self.web,
                connections=self.connections,
                access_log=access_log,
                index=self.pages,
            )
        )
        self._process = subprocess.Popen(
            [nginx_binary(), "-p", str(self.tmp), "-c", str(conf)], stderr=subprocess.DEVNULL
        )
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.tmp / "error.log"
                errors = log.read_text(errors="replace").strip() if log.is_file() else ""
                raise NginxError(f"nginx exited with status {self._process.returncode}: {errors}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise NginxError(f"nginx does not listen on 127.0.0.1:{self.port} after {STARTUP:.0f} s")

    @property
    def pid(self) -> int:
        """The one nginx process's (its CPU is the file host's: benchmarks/simulate_index.py)."""
        assert self._process is not None
        return self._process.pid

    def paths(self) -> list[str]:
        """The paths requested since the start or the last ``clear`` (``log_requests``)."""
        return [path for _, path in self.requests()]

    def requests(self) -> list[tuple[float, str]]:
        """Each request since the start or the last ``clear`` (``log_requests``): when its
        answer was sent (seconds since the epoch, to the millisecond) and its path."""
        lines = (self.tmp / "access.log").read_text().splitlines()
        return [
            (float(line.split(" ", 1)[0]), line.split('"')[1].split()[1])
            for line in lines
            if '"' in line
        ]

    def clear(self) -> None:
        (self.tmp / "access.log").write_text("")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
