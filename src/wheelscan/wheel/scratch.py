"""One reusable output buffer per thread for inflated members.

An anonymous private mapping: untouched pages cost no memory, and pages once faulted in are
reused by the next member instead of being faulted in again (a fresh mapping per member cost
a fifth of the scan in page faults); the first ``KEPT_RESIDENT`` bytes stay resident
between members. Each thread has its own, so several threads can inflate
members of one wheel at once.
"""

from __future__ import annotations

import mmap
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The smallest mapping kept between members (members up to this size are inflated whole)
RETAINED = 64 * 1024 * 1024
# Pages past this, touched by a streamed member, are given back after it (page-aligned).
# Every member inflated whole stays within it, so a worker pays each page fault once: giving
# back all but 16 MiB after each larger member, and faulting the pages in again for the
# next, cost 4-6% of a batch on the benchmark corpus (two workers, four runs each way). A
# worker's peak is the same either way (its largest member, while inflated); only what it
# keeps between wheels grows, to at most this.
KEPT_RESIDENT = RETAINED


class _Scratch:
    def __init__(self) -> None:
        self.mapping: mmap.mmap | None = None
        self.populated = 0  # the first bytes already backed by pages

    def at_least(self, size: int, populate: int) -> mmap.mmap:
        if self.mapping is None or len(self.mapping) < size:
            if self.mapping is not None:
                self.mapping.close()
            # private: a shared anonymous mapping (mmap's default) would be one set of pages
            # for a parent and every worker it forks afterwards
            self.mapping = mmap.mmap(
                -1, max(size, RETAINED), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
            )
            self.populated = 0
        if populate > self.populated:
            _populate(self.mapping, self.populated, populate)
            self.populated = populate
        return self.mapping

    def done(self, size: int) -> None:
        if self.mapping is not None and size > KEPT_RESIDENT:
            # the pages a streamed member touched go back: a worker's peak is then its
            # largest member plus its heap, not its largest member plus everything it kept
            self.mapping.madvise(mmap.MADV_DONTNEED, KEPT_RESIDENT)
            self.populated = min(self.populated, KEPT_RESIDENT)


# Linux 5.14+: fault a range in with one call. Inflating 40 MB into fresh pages took 32 ms
# faulting them one by one and 23 ms populated first (the kernel zeroes them either way);
# it matters most to ``show``, whose process starts with no page of its scratch.
_MADV_POPULATE_WRITE = 23
_POPULATE = {"works": sys.platform == "linux"}


def _populate(mapping: mmap.mmap, start: int, end: int) -> None:
    if not _POPULATE["works"]:
        return
    start &= ~(mmap.PAGESIZE - 1)
    try:
        mapping.madvise(_MADV_POPULATE_WRITE, start, end - start)
    except OSError:  # an older kernel: the pages fault in as they are written
        _POPULATE["works"] = False


_PER_THREAD = threading.local()


@contextmanager
def scratch(size: int, populate: bool | int = False) -> Iterator[memoryview]:
    """A writable view of exactly ``size`` bytes (the parser takes its length as the file's),
    valid inside the ``with`` only. ``populate``: the bytes about to be written, True for all
    of them (a whole member), a count for a prefix; their pages are faulted in at once. A
    streamed member writes only the ranges it keeps, and the rest of its pages must stay
    untouched (a 1 GiB member would otherwise cost 1 GiB)."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    if buffer is None:
        buffer = _PER_THREAD.buffer = _Scratch()
    touched = size if populate is True else min(size, int(populate))
    view = memoryview(buffer.at_least(size, touched))[:size]
    try:
        yield view
    finally:
        view.release()
        buffer.done(size)
