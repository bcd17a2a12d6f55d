"""The workers of an audit over a far index read their first wheels as a far link asks.

The listing's first page (the index's own, or with ``--project`` the first project's) is
read before the workers are forked (sources/simple_index.py's ``prepare``, called by
engine/run.py's ``audit``): they inherit the round trip its answer showed. Forked before it,
as they were, a worker knew nothing of the link until its own first answers came back, and
read its first wheels as a near link asks: a wheel of 700 kB, which a far link fetches
whole in one request (wheel/http_ranges.py's ``whole_below``), cost a request for its tail
and a second one, after it, for its library. Round trips are counted by the delaying proxy
(tests/latencyproxy.py), never timed."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wheelscan.wheel.http_ranges import TAIL_SIZE, WHOLE_AT_MOST, WHOLE_BELOW

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from mirror import build_mirror
from wheelbuilder import build_wheel

# Long beside a busy machine's scheduling: requests sent together stay together
RTT = 0.3
WHEEL = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"


def _far_enough_wheel(directory: Path) -> Path:
    """A wheel over what a near link fetches whole and within what a far one does: its
    library first, then 700 kB that do not compress, so that its tail holds no library."""
    padding = random.Random(WHEEL).randbytes(700_000)
    library = build_elf(sample_spec("x86_64", interpreter=None))
    path = directory / WHEEL
    path.write_bytes(build_wheel({"demo/_ext.so": library, "demo/padding.bin": padding}))
    assert WHOLE_BELOW < path.stat().st_size < WHOLE_AT_MOST
    assert path.stat().st_size - TAIL_SIZE > len(library)  # read in part: two requests
    return path


@pytest.mark.parametrize("narrowed", [False, True], ids=["whole-index", "project"])
def test_the_first_wheels_are_read_as_the_far_link_asks(tmp_path: Path, narrowed: bool) -> None:
    (tmp_path / "wheels").mkdir()
    mirror = build_mirror(tmp_path / "mirror", [_far_enough_wheel(tmp_path / "wheels")])
    path = "/" + mirror.files[WHEEL].relative_to(mirror.web).as_posix()
    db = tmp_path / "far.db"
    with (
        IndexServer(mirror.web) as server,
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
    ):
        command = [
            sys.executable, "-m", "wheelscan", "audit", f"http://{proxy.address}/simple/",
            "--db", str(db), "--workers", "1", "--fail-on", "none",
            *(["--project", "demo"] if narrowed else ["--whole-index"]),
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        deepest = proxy.deepest(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 audited" in done.stdout, done.stdout
    with sqlite3.connect(db) as store:
        read = store.execute("SELECT facts IS NOT NULL, read_error_code FROM wheels").fetchall()
    assert read == [(1, None)]  # its facts read, from the bytes fetched whole
    # fetched whole, one request: the worker knew the link was far before its first wheel
    assert deepest == 1
    size = mirror.files[WHEEL].stat().st_size
    assert [served.body_bytes for served in server.served(WHEEL)] == [size]
