"""Reading a member by its ends holds no more than its streamed reading would, and a member
over WHOLE_MEMBER_LIMIT is routed alike from a directory and over HTTP.

The members are built as in tests/test_ends_large.py: a small library from
tests/elfwriter.py, its PT_DYNAMIC moved behind compressible filler (64 KiB deflated once,
with a full flush, its stream repeated), so that hundreds of MiB of library weigh a few MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_ends_failsafe import MEMBER
from tests.test_ends_large import (
    WHEEL,
    large_member,
    large_wheel,
)

from wheelscan._native import facts_end
from wheelscan.wheel import ends

MiB = 1 << 20
DT_STRTAB = 5


_THREADS_KEEP_NO_BUFFERS = """
import sys, threading
from wheelscan.elf import partial_parser
from wheelscan.wheel import ends
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.scratch import RETAINED, share_among_threads

share_among_threads(RETAINED)  # as a worker reading wheels on threads (engine/inflight.py)

def resident():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

archive = WheelArchive.open(sys.argv[1])
(member,) = [m for m in archive.members if m.name == sys.argv[2]]
parse = partial_parser()
assert ends.parse_by_ends(archive, member, parse) is not None  # imports, the file's pages
before = resident()
threads = int(sys.argv[3])
read, release, results = threading.Barrier(threads + 1), threading.Event(), []

def reader():
    results.append(ends.parse_by_ends(archive, member, parse) is not None)
    read.wait()
    release.wait()  # alive, as a worker's wheel threads stay

started = [threading.Thread(target=reader) for _ in range(threads)]
for thread in started:
    thread.start()
read.wait()
print(resident() - before, results.count(True))
release.set()
"""


def test_threads_sharing_the_scratch_keep_no_one_pass_buffers(tmp_path: Path) -> None:
    """A worker's wheel threads (up to 128) kept two one-pass buffers each, up to 4 MiB
    apiece, for their lives: 32 threads that read an 8 MiB member's short end in one pass
    kept ~90 MiB between them. Sharing the scratch, they take them from its budget while
    they use them, and keep none. (malloc's threshold fixed: what it caches is not held.)"""
    member = large_member(8 * MiB, 300 * 1024)
    end = facts_end(member.head)
    assert end is not None
    route = ends._route(member.size, member.dynamic_offset, end, ends.TAIL_MARGINS[0])
    assert route is ends.Route.ONE_PASS
    path = large_wheel(tmp_path / WHEEL, member)
    threads = 32
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_KEEP_NO_BUFFERS, str(path), MEMBER, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)},
    ).stdout
    grown, read = map(int, out.split())
    assert read == threads
    assert grown < 24 * MiB, f"{grown / MiB:.0f} MiB"
