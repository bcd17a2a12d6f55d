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
# Bytes already streamed past that a new pass of a streamed member keeps wholesale, so one
# extra pass is enough (wheel/stream.py); reading a member by its ends holds no more
# (wheel/ends.py, which needs this bound without the streaming code)
RESTART_KEEP = 128 * 1024 * 1024
# Threads that share a budget (``share_among_threads``) give their mapping back after each
# member; up to SPARE_BYTES of those mappings, none over SPARE_EACH, are kept for the next
# member of any of them, pages and all (``_Spares``). A fresh mapping per member costs its
# page faults, the kernel's zeroing and an unmap that interrupts the other threads' core:
# over nginx on loopback, a worker reading 300 small wheels one at a time in a thread
# spent 0.35-0.65 ms of CPU a wheel more than on its own thread, which keeps its mapping.
# Each is mapped a power of two long, so that one fits many members (untouched pages
# cost nothing)
SPARE_BYTES = 16 * 1024 * 1024
SPARE_EACH = 8 * 1024 * 1024


class _Scratch:
    def __init__(self) -> None:
        self.mapping: mmap.mmap | None = None
        self.populated = 0  # the first bytes already backed by pages
        # counts the times its pages were all given back (zeros since): what a reader left
        # in it for its next use (wheel/ends.py, ``_Start``) is gone when this has moved
        self.generation = 0

    def at_least(
        self, size: int, populate: int, smallest: int = RETAINED, spares: _Spares | None = None
    ) -> mmap.mmap:
        if self.mapping is None and spares is not None:
            taken = spares.take(size)
            if taken is not None:
                self.mapping, self.populated = taken
        if self.mapping is None or len(self.mapping) < size:
            if self.mapping is not None:
                self.mapping.close()
                self.mapping = None  # gone even if the next one cannot be mapped
            # private: a shared anonymous mapping (mmap's default) would be one set of pages
            # for a parent and every worker it forks afterwards
            length = max(size, smallest, 1)
            if spares is not None and length <= SPARE_EACH:
                length = 1 << (length - 1).bit_length()  # to be kept, and fit others
            self.mapping = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
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

    def give_back(self, spares: _Spares | None = None) -> None:
        """Every page goes back, and the mapping with them: unmapped, it no longer counts
        against the process's RLIMIT_DATA. (Kept, each of a worker's 32 threads would hold
        a mapping of 64 MiB at least, and of the largest member it ever streamed: 2 GiB and
        more, though the budget lets one thread at a time use that much.) Or, small enough,
        it goes to ``spares``, for the next thread's member: this one's next use finds
        another thread's bytes in it, which the moved ``generation`` says."""
        if self.mapping is not None:
            if spares is None or not spares.keep(self.mapping, self.populated):
                self.mapping.close()
            self.mapping = None
        self.populated = 0
        self.generation += 1


class Budget:
    """Bytes that the threads of a process may hold at once (a thread waits for its share;
    one share larger than the whole takes the whole, alone)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._changed = threading.Condition()

    def take(self, size: int) -> int:
        """Wait until ``size`` bytes (at most the whole budget) are free; take them."""
        size = min(size, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.used + size <= self.total)
            self.used += size
        return size

    def give(self, size: int) -> None:
        with self._changed:
            self.used -= size
            self._changed.notify_all()


class _Spares:
    """Mappings threads gave back, kept for the next (``SPARE_BYTES``)."""

    def __init__(self) -> None:
        self._kept: list[tuple[mmap.mmap, int]] = []  # (mapping, its bytes populated)
        self._bytes = 0
        self._changing = threading.Lock()

    def take(self, size: int) -> tuple[mmap.mmap, int] | None:
        """The shortest mapping kept of ``size`` bytes or more, and its bytes populated."""
        with self._changing:
            fits = [i for i, (mapping, _) in enumerate(self._kept) if len(mapping) >= size]
            if not fits:
                return None
            taken = self._kept.pop(min(fits, key=lambda i: len(self._kept[i][0])))
            self._bytes -= len(taken[0])
            return taken

    def keep(self, mapping: mmap.mmap, populated: int) -> bool:
        """Whether ``mapping`` was kept (else its owner unmaps it)."""
        if len(mapping) > SPARE_EACH:
            return False
        with self._changing:
            if self._bytes + len(mapping) > SPARE_BYTES:
                return False
            self._kept.append((mapping, populated))
            self._bytes += len(mapping)
            return True


_SHARED: dict[str, Budget] = {}
_SPARES: dict[str, _Spares] = {}


def share_among_threads(total: int) -> None:
    """From now on the threads of this process hold at most ``total`` bytes of scratch at
    once, together: a thread takes a member's size of it (the whole of it, at most) for the
    time it uses its scratch, and unmaps it after (every page back, and the mapping). For a
    worker that reads several wheels on threads (engine/inflight.py): its memory stays what
    one thread's was, whatever the threads, at the price of faulting pages in again for
    each member."""
    _SHARED["budget"] = Budget(total)
    _SPARES["spares"] = _Spares()


def shared_budget() -> Budget | None:
    """The budget this process's threads share (``share_among_threads``), if any: what a
    reader holds besides its scratch is taken from it too (wheel/ends.py's one-pass buffers)."""
    return _SHARED.get("budget")


def scratch_generation() -> int:
    """This thread's scratch's ``generation``."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    return 0 if buffer is None else buffer.generation


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


# Where a range of an anonymous mapping is written whole, megabytes at a time (the end of a
# large member, wheel/ends.py), the kernel may back it with 2 MiB pages (transparent huge
# pages, which Linux offers to ranges advised so in its default "madvise" mode): one fault
# and one zeroing each, where 4 KiB pages take 512. onnxruntime 1.31.1's pybind11 module,
# whose end is written from three margins in a ``show``'s fresh process (wheel/ends.py), took
# 5.7k page faults and 32.8 ms of one core, 2.0k and 26.8 with its large mappings advised
# (median of 8). Not the small ranges, nor the scratch as a whole: a member of a few KiB
# would then fault in, and a worker keep, 2 MiB of zeros.
HUGE_PAGE = 2 * 1024 * 1024
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)
_HUGE_PAGES = {"work": True}


def prefer_huge_pages(mapping: mmap.mmap, start: int = 0, end: int | None = None) -> None:
    """Let the kernel back ``mapping[start:end]`` (all of it by default) with huge pages
    where it is at least HUGE_PAGE long (HUGE_PAGE's note)."""
    end = len(mapping) if end is None else end
    start &= ~(mmap.PAGESIZE - 1)
    if _MADV_HUGEPAGE is None or end - start < HUGE_PAGE or not _HUGE_PAGES["work"]:
        return
    try:
        mapping.madvise(_MADV_HUGEPAGE, start, end - start)
    except OSError:  # a kernel without them: its pages are 4 KiB, as before
        _HUGE_PAGES["work"] = False


def prefer_huge_scratch_pages(start: int, end: int) -> None:
    """``prefer_huge_pages`` for this thread's scratch, inside a ``scratch`` block."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    if buffer is not None and buffer.mapping is not None and end <= len(buffer.mapping):
        prefer_huge_pages(buffer.mapping, start, end)


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
    budget = _SHARED.get("budget")
    spares = _SPARES.get("spares")
    taken = budget.take(size) if budget is not None else 0
    try:
        # sharing a budget, a thread maps only what it uses, and gives it back after
        # (give_back): unmapped, or kept for the next thread where small (``_Spares``)
        smallest = RETAINED if budget is None else 0
        view = memoryview(buffer.at_least(size, touched, smallest, spares))[:size]
        try:
            yield view
        finally:
            view.release()
            if budget is None:
                buffer.done(size)
            else:
                buffer.give_back(spares)
    finally:
        if budget is not None:
            budget.give(taken)
