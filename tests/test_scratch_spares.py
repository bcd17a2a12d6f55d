"""The mappings that threads sharing a budget hand on to each other (wheel/scratch.py's
``Budget``): the scratch's and the ends' one-pass buffers alike, each counted in the budget
while it is kept, given up before any thread waits for room, and the share of one that
could not be mapped given back.

Each case runs in a fresh interpreter, as a worker reading remote wheels on its threads
does (engine/inflight.py's ``share_among_threads``), measured as resident memory."""

from __future__ import annotations

import subprocess
import sys

MIB = 1 << 20

PRELUDE = """
import mmap, resource, threading
from wheelscan.wheel import end_one_pass, scratch
from wheelscan.wheel.scratch import share_among_threads, shared_budget

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * mmap.PAGESIZE

share_among_threads(64 << 20, spare_bytes=16 << 20)  # a cap below the budget
budget = shared_budget()
fill = memoryview(b"x" * (8 << 20))  # written from: no allocation while measured

def member(size):
    with scratch.scratch(size, populate=True) as view:
        view[:] = fill[:size]

def end(size):
    with end_one_pass._one_pass_buffers(size) as (out, known):
        out[:] = fill[:size]  # an end's pass writes both
        known[:] = fill[:size]
        return out.obj

def on_threads(work, *sizes):
    seen = []
    threads = [threading.Thread(target=lambda s=s: seen.append(work(s))) for s in sizes]
    for thread in threads:
        thread.start()
        thread.join()  # one after another: each finds what the last gave back
    return seen
"""


# The address space capped at what the process maps now, and a MiB: every new mapping of
# the sizes below fails (RLIMIT_DATA is not enforced everywhere: RLIMIT_AS is)
CAPPED = """
vm = next(int(l.split()[1]) << 10 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 20), resource.RLIM_INFINITY))
"""


def _run(program: str, capped: bool = False) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + (CAPPED if capped else "") + program],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.split()


def test_one_pass_buffers_are_handed_on_between_threads_and_counted() -> None:
    """A fresh pair of mappings for each end was a third of the page faults of a worker
    reading the benchmark corpus over HTTP: the next thread's end of the same size (or
    less) gets the same mapping, and while it is kept its whole length counts in the
    budget, as a thread's share would."""
    out = _run("""
seen = on_threads(end, 1 << 20, 512 << 10, 1 << 20)
print(seen[0] is seen[1] is seen[2], budget.used == budget.kept == len(seen[0]))
""")
    assert out == ["True", "True"]


def test_kept_mappings_give_way_to_a_thread_that_needs_the_room() -> None:
    """Kept pages never stand between a thread and its share: a share of the whole budget
    is taken at once, the mappings kept unmapped for it (their pages back to the system),
    and nothing is kept past the budget."""
    out = _run("""
before = resident()
on_threads(member, 3 << 20, 1 << 20, 5 << 20, 2 << 20)
on_threads(end, 1 << 20, 2 << 20)
kept, grown = budget.kept, resident() - before
taken = budget.take(budget.total)  # would wait for ever if the kept ones were not given up
all_taken = budget.used == budget.total
print(kept, grown, budget.kept, resident() - before, all_taken, budget.spare_bytes)
budget.give(taken)
""")
    kept, grown, kept_after, grown_after, all_taken, spare_bytes = out
    assert 0 < int(kept) <= int(spare_bytes)
    assert int(grown) <= int(kept) + 2 * MIB  # what is resident is what is counted
    assert int(kept_after) == 0
    assert int(grown_after) < 2 * MIB
    assert all_taken == "True"


def test_a_mapping_that_cannot_be_made_gives_its_share_back() -> None:
    """Under a memory limit a mapping may fail after its share was taken: the share goes
    back with the error, or the next thread would wait for it for ever (a worker hung)."""
    out = _run(
        """
errors = []
for work, size in ((member, 6 << 20), (end, 3 << 20)):
    try:
        work(size)
    except (OSError, MemoryError) as e:
        errors.append(type(e).__name__)
print(len(errors), budget.used, budget.kept)
""",
        capped=True,
    )
    assert out == ["2", "0", "0"]


def test_mappings_past_the_spare_bytes_are_unmapped_not_kept() -> None:
    """Six threads holding 8 MiB mappings at once give them back together: two are kept
    (the 16 MiB of spares asked for), the other four unmapped, their pages back to the
    system; the budget alone (64 MiB) would have kept them all."""
    out = _run("""
barrier = threading.Barrier(6)
def held(size):
    with scratch.scratch(size, populate=True) as view:
        view[:] = fill[:size]
        barrier.wait()
before = resident()
on_threads_at_once = [threading.Thread(target=held, args=(6 << 20,)) for _ in range(6)]
for thread in on_threads_at_once:
    thread.start()
for thread in on_threads_at_once:
    thread.join()
print(budget.kept, resident() - before, budget.spare_bytes)
""")
    kept, grown, spare_bytes = map(int, out)
    assert kept == spare_bytes == 16 * MIB
    assert grown <= kept + 2 * MIB
