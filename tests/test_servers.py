"""One mirror, three ways in: a directory, nginx serving it as mirrors are served in
production (``nginxserver.py``; Debian's package, which ``.ci/run`` installs), and
pypiserver. The store's facts and verdicts must be identical whichever way the wheels were
read.

Both servers listen on 127.0.0.1 only, on a port the test picked, and are stopped by it.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wheelscan.store.codec import unpack

from elfwriter import build_elf, sample_spec
from mirror import Mirror, build_mirror
from nginxserver import Nginx, NginxError, free_port
from wheelbuilder import build_wheel

STARTUP = 30.0  # seconds pypiserver may take to listen: a bound, not a measurement


def wait_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with status {server.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on 127.0.0.1:{port} after {STARTUP:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, real_wheels: list[Path]) -> Mirror:
    built = tmp_path_factory.mktemp("built")
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    demo = build_wheel({"demo/_mod.cpython-312-x86_64-linux-gnu.so": elf})
    (built / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(demo)
    wheels = [*real_wheels, *built.iterdir()]
    return build_mirror(tmp_path_factory.mktemp("mirror"), wheels, json_pages=False)


@pytest.fixture(scope="module")
def nginx(mirror: Mirror, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # a few connections (an audit's two workers), the PEP 503 pages the mirror was built
    # with, no request log: what is checked is what the store holds
    server = Nginx(
        mirror.web,
        tmp_path_factory.mktemp("nginx"),
        connections=64,
        pages="index.html",
        log_requests=False,
    )
    try:
        server.start()
    except NginxError as e:
        pytest.fail(str(e))
    try:
        yield f"{server.url}/simple/"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pypiserver(mirror: Mirror) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
               "--hash-algo", "sha256", str(mirror.web / "packages")]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, server)
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        stop(server)


def audited(source: str, db: Path) -> dict[str, tuple[Any, ...]]:
    """filename -> (sha256, facts, verdict, read error, size) as one audit of ``source``
    stored them. The size too: a PEP 503 page gives none (nginx's here, pypiserver's), and
    the store kept none where the server named it as the wheel was read."""
    result = subprocess.run(
        [sys.executable, "-m", "wheelscan", "audit", source, "--db", str(db), "--workers", "2"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(db) as store:
        rows = store.execute(
            "SELECT w.filename, w.sha256, w.facts, v.verdict, w.read_error_code, w.size "
            "FROM wheels w "
            "LEFT JOIN verdicts v ON v.wheel_id = w.id"
        ).fetchall()
        assert store.execute("SELECT count(*) FROM run_failures").fetchone() == (0,)
    return {
        name: (sha, facts and unpack(facts), verdict and unpack(verdict), error, size)
        for name, sha, facts, verdict, error, size in rows
    }


def test_a_directory_nginx_and_pypiserver_give_one_store(
    mirror: Mirror, nginx: str, pypiserver: str, tmp_path: Path
) -> None:
    local = audited(str(mirror.web / "packages"), tmp_path / "dir.sqlite")
    assert local, "the directory audit found no wheel"
    assert {name: row[0] for name, row in local.items()} == {
        name: mirror.sha256[name] for name in local
    }
    assert {name: row[4] for name, row in local.items()} == {
        path.name: path.stat().st_size for path in (mirror.web / "packages").rglob("*.whl")
    }
    for name, source in (("nginx", nginx), ("pypiserver", pypiserver)):
        remote = audited(source, tmp_path / f"{name}.sqlite")
        assert remote.keys() == local.keys(), name
        for filename, row in local.items():
            assert remote[filename] == row, (name, filename)
