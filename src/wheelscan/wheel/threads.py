"""How many threads a process may start within its RLIMIT_DATA.

A thread's stack is a private mapping, counted against RLIMIT_DATA (8 MiB by default: 32 of
them are 264 MiB), so a worker under a memory limit (engine/pool.py) that started threads by
the dozen would fail its wheels' own allocations, or fail to start a thread at all. The
threads that read wheels (engine/inflight.py) and those that send their range requests
(wheel/http.py) each take a share of the limit, and no more.
"""

from __future__ import annotations

import resource
import threading

# What a thread costs besides its stack (its share of the C library's arenas, its locals)
THREAD_EXTRA = 1 << 20
# glibc's stack for a thread where RLIMIT_STACK is unlimited (x86-64: ARCH_STACK_DEFAULT_SIZE)
UNLIMITED_STACK = 32 << 20


def threads_within(most: int, share: float) -> int:
    """``most``, or fewer where their stacks would take more than ``share`` of this
    process's RLIMIT_DATA; at least one."""
    limit, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if limit == resource.RLIM_INFINITY:
        return most
    stack = threading.stack_size()
    if stack == 0:  # the C library's default: RLIMIT_STACK's soft limit (glibc)
        stack, _ = resource.getrlimit(resource.RLIMIT_STACK)
        if stack == resource.RLIM_INFINITY or stack <= 0:
            stack = UNLIMITED_STACK
    return max(1, min(most, int(limit * share) // (stack + THREAD_EXTRA)))
