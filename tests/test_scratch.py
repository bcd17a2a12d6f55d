"""The scratch mapping: untouched pages cost nothing, populated ones are there at once.

Measured in a fresh interpreter each time, as resident memory (``/proc/self/statm``) before
and inside the ``with``, so that nothing this test process did counts.
"""

from __future__ import annotations

import subprocess
import sys

MIB = 1 << 20

PROGRAM = """
import mmap, sys
from wheelscan.wheel.scratch import scratch
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * mmap.PAGESIZE
size, populate = int(sys.argv[1]), eval(sys.argv[2])  # True, False or a byte count
before = resident()
with scratch(size, populate=populate) as view:
    view[:4096] = bytes(4096)           # what a stream keeps: a few ranges
    view[size - 4096 :] = bytes(4096)
    print(resident() - before)
"""


def peak_growth(size: int, populate: bool | int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(size), repr(populate)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout)


def test_a_streamed_member_touches_only_what_it_keeps() -> None:
    """A 1 GiB member streamed into the scratch costs the pages written, not 1 GiB."""
    assert peak_growth(1024 * MIB, populate=False) < 16 * MIB


def test_a_whole_member_gets_its_pages_at_once() -> None:
    growth = peak_growth(48 * MIB, populate=True)
    assert 40 * MIB < growth < 80 * MIB


def test_a_prefix_gets_only_its_own_pages() -> None:
    growth = peak_growth(48 * MIB, populate=20 * MIB)
    assert 16 * MIB < growth < 32 * MIB


SHARED_PROGRAM = """
import mmap, threading
from wheelscan.wheel.scratch import scratch, scratch_generation, share_among_threads, shared_budget
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * mmap.PAGESIZE
share_among_threads(64 << 20, spare_bytes=16 << 20)  # a cap the budget does not make
fill = memoryview(b"x" * (5 << 20))  # written from: no allocation while measured
before = resident()
generations = []
def read_members():
    seen = []
    for size in (3 << 20, 1 << 20, 5 << 20):
        with scratch(size, populate=True) as view:
            view[:] = fill[:size]
            seen.append(scratch_generation())
    generations.append(",".join(map(str, seen)))
threads = [threading.Thread(target=read_members) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(resident() - before, shared_budget().spare_bytes)
print(" ".join(map(str, generations)))
"""


def test_threads_sharing_a_budget_keep_few_mappings_between_members() -> None:
    """Mappings given back are kept for other threads' members, within the spare bytes
    asked for (below the budget here, so that it is the cap, not the budget, that holds):
    a worker's memory between wheels stays bounded however many threads read; and each use
    finds the generation moved, so no reader trusts bytes another thread wrote there."""
    out = subprocess.run(
        [sys.executable, "-c", SHARED_PROGRAM], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    growth, spare_bytes = map(int, out[0].split())
    assert growth <= spare_bytes + 4 * MIB
    # each thread's uses, one generation each: a mapping another thread gave back is
    # never taken for what this one left in it
    assert out[1].split() == ["0,1,2"] * 8
