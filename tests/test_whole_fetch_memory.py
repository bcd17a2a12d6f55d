"""A remote wheel fetched whole (``--strict``, or to learn its sha256: engine/task.py's
``_fetched_whole``) is read into one buffer when the index gives its size, as a range is
(``HttpSession.get``'s ``expected``): read in 1 MiB chunks and joined, the chunks and their
join were held together, twice the wheel, and the chunks' heap stayed resident after.
Measured in a process of its own, over a real server on 127.0.0.1; its resident memory
sampled as it works (the kernel's high-water mark missed a buffer freed by then)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from wheelbuilder import build_wheel

NOISE = 48 << 20

# The task on the wheel, its resident memory sampled every half millisecond by a thread
# (the heap a freed buffer leaves resident is seen afterwards too): the most above what it
# was before, in KiB, and the verdict's kind
_PROBE = r"""
import sys, threading, time
from wheelscan.engine.task import AuditTask
from wheelscan.sources.base import WheelRef

def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

url, name, size, sha256 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
task = AuditTask(strict=True)
most, going = [0], [True]

def sample():
    while going[0]:
        most[0] = max(most[0], resident())
        time.sleep(0.0005)

base = resident()
sampler = threading.Thread(target=sample)
sampler.start()
result = task(WheelRef(name, "big", "1.0", url, sha256=sha256, size=size))
going[0] = False
sampler.join()
print(type(result.verdict).__name__, result.bytes_read, max(most[0], resident()) - base)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IndexServer, Path]]:
    web = tmp_path_factory.mktemp("web")
    (web / "packages").mkdir()
    name = "big-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path = web / "packages" / name
    files = {
        "big/_mod.cpython-312-x86_64-linux-gnu.so": build_elf(sample_spec("x86_64")),
        "big/data.bin": os.urandom(NOISE),
    }
    path.write_bytes(build_wheel(files, name="big", compression=zipfile.ZIP_STORED))
    with IndexServer(web) as server:
        yield server, path


def test_a_wheel_fetched_whole_is_held_once(served: tuple[IndexServer, Path]) -> None:
    server, path = served
    size = path.stat().st_size
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, server.file_url(path), path.name, str(size), sha256],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    verdict, fetched, most_kib = done.stdout.split()
    assert verdict == "Verdict" and int(fetched) == size  # judged, from every byte
    # the wheel once, and a margin for what reading it takes beside (twice: 96 MiB)
    assert int(most_kib) * 1024 < 1.5 * size
