"""What the C allocator of a worker reading remote wheels on its threads keeps of what is freed.

glibc gives a heap's top back to the system as soon as a free leaves more there than a
threshold it raises as it goes (twice the largest block it has served by mmap, at first
256 KiB), and serves each block over another such threshold by a mapping of its own. A worker
that reads remote wheels (engine/inflight.py) allocates and frees, for each wheel, its
answers' bodies (up to 512 KiB for a small wheel fetched whole) and, for each library read by
its ends, buffers of a few MiB (wheel/ends.py): every one of them was faulted in anew and
handed back after. Over nginx on loopback, two workers auditing the simulated index's 1,050
wheels took 170k page faults where a directory audit of them takes 50k; with both thresholds
fixed at ``KEPT_FREED`` and ``ARENAS`` heaps, 65k, and a tenth less CPU (at 4 MiB: 85k), the
workers' peak RSS unchanged (58-61 MB against 63).

What this adds to what is kept is each heap's free top, up to ``KEPT_FREED``: ``KEPT_BYTES``
in all, taken from the bytes the wheels in flight are admitted within (engine/inflight.py's
``IN_FLIGHT_BYTES``). It is no bound on a worker's resident memory: a heap gives back only its
top, and blocks freed below a live one stay resident until reused (after a burst of 32
threads each freeing a 7 MiB block, ~200 MiB), as with glibc's defaults, whose mapping
threshold rises on its own to 32 MiB and keeps as much. And the heaps are capped at
``ARENAS`` only where none were made before: a worker forked from a parent whose threads
already had their own (the index's listing) inherits and uses them. What bounds a worker is
its memory limit, as before.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# A heap's top kept at most when freed, and the smallest block given a mapping of its own
KEPT_FREED = 8 << 20
# Heaps the process's threads allocate from: the main one, and one the threads share
ARENAS = 2
KEPT_BYTES = ARENAS * KEPT_FREED


def keep_freed_memory() -> bool:
    """Fix the allocator's thresholds at ``KEPT_FREED`` and its heaps at ``ARENAS``, before
    the threads that read remote wheels start (a thread keeps the heap it was given);
    False where the C library has no ``mallopt`` (musl), which changes nothing there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = (
        (_M_ARENA_MAX, ARENAS),
        (_M_MMAP_THRESHOLD, KEPT_FREED),
        (_M_TRIM_THRESHOLD, KEPT_FREED),
    )
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)
