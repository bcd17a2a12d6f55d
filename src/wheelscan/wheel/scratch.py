"""One reusable output buffer per thread for inflated members.

An anonymous private mapping: untouched pages cost no memory, and pages once faulted in are
reused by the next member instead of being faulted in again (a fresh mapping per member cost
a fifth of the scan in page faults); the first ``KEPT_RESIDENT`` bytes stay resident
between members. Each thread has its own, so several threads can inflate
members of one wheel at once.
"""

from __future__ import annotations

import contextlib
import mmap
import sys
import threading
from collections.abc import Callable, Iterator
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
# member of any of them, pages and all (``Budget.lease``), and counted in the budget while
# kept. A fresh mapping per member costs its page faults, the kernel's zeroing and an unmap
# that interrupts the other threads' core: over nginx on loopback, a worker reading 300
# small wheels one at a time in a thread spent 0.35-0.65 ms of CPU a wheel more than on its
# own thread, which keeps its mapping. Each is mapped a power of two long, so that one fits
# many members (untouched pages cost nothing); the ends' one-pass buffers come from the
# same spares (wheel/ends.py). As many as the budget a worker's threads share (RETAINED,
# what one thread keeps between members in any case: KEPT_RESIDENT): they count in it, so
# its bound is the same, and they give way to a share that needs the room (not to memory
# asked for outside the budget: a worker's RLIMIT_DATA already had to hold the whole budget
# in use, which its shares alone may take at any time). Between wheels a worker so keeps up
# to 64 MiB of pages where it kept 16. With 16 MiB (two of 8 MiB), a worker reading the
# simulated index's 1,050 wheels through 50 ms made 62-71 fresh mappings (34-37 at 0 ms),
# where it makes 14-27 (5-6); a 6 MiB member written into a fresh mapping costs 2.4 ms of
# CPU, into a kept one 0.2: some 0.1-0.2 s of an audit's 5 (results/remote-loopback.txt,
# session 26; less than the benchmark's noise)
SPARE_BYTES = RETAINED
SPARE_EACH = 8 * 1024 * 1024


class _Scratch:
    def __init__(self) -> None:
        self.mapping: mmap.mmap | None = None
        self.populated = 0  # the first bytes already backed by pages
        # counts the times its pages were all given back (zeros since): what a reader left
        # in it for its next use (wheel/ends.py, ``_Start``) is gone when this has moved
        self.generation = 0

    def at_least(self, size: int, populate: int, smallest: int = RETAINED) -> mmap.mmap:
        if self.mapping is None or len(self.mapping) < size:
            if self.mapping is not None:
                self.mapping.close()
                self.mapping = None  # gone even if the next one cannot be mapped
            self.mapping = anonymous_mapping(max(size, smallest, 1))
            self.populated = 0
        self.populate(populate)
        return self.mapping

    def populate(self, populate: int) -> None:
        if self.mapping is not None and populate > self.populated:
            populate_pages(self.mapping, self.populated, populate)
            self.populated = populate

    def done(self, size: int) -> None:
        if self.mapping is not None and size > KEPT_RESIDENT:
            # the pages a streamed member touched go back: a worker's peak is then its
            # largest member plus its heap, not its largest member plus everything it kept
            self.mapping.madvise(mmap.MADV_DONTNEED, KEPT_RESIDENT)
            self.populated = min(self.populated, KEPT_RESIDENT)

    def lend(self, budget: Budget, size: int, populate: int) -> int:
        """Take a mapping of ``size`` bytes at least from ``budget`` (one kept there, or a
        new one), ``populate`` bytes of it populated; returns the share taken, which
        ``give_back`` returns."""
        share, kept = budget.lease(spare_length(size))
        try:
            if kept is None:
                self.mapping, self.populated = anonymous_mapping(max(share, size, 1)), 0
            else:
                self.mapping, self.populated = kept
            self.populate(populate)
        except BaseException:
            mapping, self.mapping, self.populated = self.mapping, None, 0
            budget.give_back(share, mapping, 0)
            raise
        return share

    def give_back(self, budget: Budget, share: int) -> None:
        """Every page goes back to ``budget``, and the mapping with them: kept there for the
        next thread's member, or unmapped (it then no longer counts against the process's
        RLIMIT_DATA: kept, each of a worker's 32 threads would hold a mapping of 64 MiB at
        least, and of the largest member it ever streamed, 2 GiB and more, though the
        budget lets one thread at a time use that much). This one's next use finds another
        thread's bytes in its mapping, which the moved ``generation`` says."""
        mapping, self.mapping = self.mapping, None
        budget.give_back(share, mapping, self.populated)
        self.populated = 0
        self.generation += 1


def spare_length(size: int) -> int:
    """How long a mapping of ``size`` bytes is made where threads share a budget: a power
    of two up to SPARE_EACH, to be kept and fit others (``Budget.lease``); exactly
    ``size`` past it."""
    if size > SPARE_EACH:
        return size
    return 1 << (max(size, 1) - 1).bit_length()


def anonymous_mapping(length: int) -> mmap.mmap:
    """Private: a shared anonymous mapping (mmap's default) would be one set of pages for a
    parent and every worker it forks afterwards."""
    return mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _unmap(mapping: mmap.mmap) -> None:
    # a view of it still held for a statement: unmapped with its last view
    with contextlib.suppress(BufferError):
        mapping.close()


class Budget:
    """Bytes that the threads of a process may hold at once (a thread waits for its share,
    after any asked ``before_others``; one share larger than the whole takes the whole,
    alone), the mappings they gave back and that are kept for the next of them included
    (``lease``, ``give_back``): up to ``spare_bytes`` of mappings of ``SPARE_EACH`` bytes
    at most, each counted for its whole length while kept, as a share is. A share that
    finds no room unmaps kept mappings before it waits: they never take the budget's room
    from a thread, and never hold pages it does not count."""

    def __init__(self, total: int, spare_bytes: int = 0) -> None:
        self.total = total
        self.used = 0  # the shares taken and the mappings kept
        self.spare_bytes = spare_bytes
        self._kept: list[tuple[mmap.mmap, int]] = []  # (mapping, its bytes populated)
        self.kept = 0  # their bytes
        self._changed = threading.Condition()
        self._first_waiting = 0  # the shares asked ``before_others`` that wait for room

    def take(self, size: int | Callable[[], int], *, before_others: bool = False) -> int:
        """Wait until ``size`` bytes (at most the whole budget) are free; take them, and
        return how many. ``size`` may be asked again each time the thread wakes to look
        (a function): what a share needs may change while it waits (engine/inflight.py).
        ``before_others``: taken before any share asked without it, for a thread that
        grows a share it holds (engine/inflight.py), which others taking the room as it
        comes free could otherwise keep waiting for as long as they come."""
        with self._changed:
            if before_others:
                self._first_waiting += 1
                try:
                    taken = self._make_room(size)
                finally:
                    self._first_waiting -= 1
                    self._changed.notify_all()
            else:
                taken = self._make_room(size, yielding=True)
            self.used += taken
        return taken

    def give(self, size: int) -> None:
        with self._changed:
            self.used -= size
            self._changed.notify_all()

    def lease(self, length: int) -> tuple[int, tuple[mmap.mmap, int] | None]:
        """A share for a mapping of ``length`` bytes at least, and the shortest mapping kept
        that is as long, with its bytes populated: its whole length is the share, counted
        already (no wait). None where none is: the share is then ``length`` (the whole
        budget at most), taken as ``take`` does, and the caller maps what it needs; either
        way ``give_back`` returns the share."""
        with self._changed:
            fits = [i for i, (mapping, _) in enumerate(self._kept) if len(mapping) >= length]
            if fits:
                kept = self._kept.pop(min(fits, key=lambda i: len(self._kept[i][0])))
                self.kept -= len(kept[0])
                return len(kept[0]), kept
            share = min(length, self.total)
            self._make_room(share, yielding=True)
            self.used += share
            return share, None

    def give_back(self, share: int, mapping: mmap.mmap | None, populated: int) -> None:
        """Return a lease's ``share``, and its mapping: kept for the next lease where it is
        as long as the share (its pages all counted), at most SPARE_EACH, and within
        ``spare_bytes`` with those kept; else unmapped."""
        with self._changed:
            self.used -= share
            if (
                mapping is not None
                and len(mapping) == share <= SPARE_EACH
                and self.kept + share <= self.spare_bytes
            ):
                self._kept.append((mapping, populated))
                self.kept += share
                self.used += share
                mapping = None
            self._changed.notify_all()
        if mapping is not None:
            _unmap(mapping)

    def _make_room(self, size: int | Callable[[], int], yielding: bool = False) -> int:
        """Wait until ``size`` bytes (asked again at each look, where a function; at most
        the whole budget) are free (the lock held), unmapping the mappings kept, the oldest
        first, before waiting for the shares of other threads; ``yielding``: and until no
        share asked ``before_others`` waits. Returns the bytes found free."""
        while True:
            needed = min(size() if callable(size) else size, self.total)
            if yielding and self._first_waiting:
                self._changed.wait()
            elif self.used + needed <= self.total:
                return needed
            elif self._kept:
                mapping, _ = self._kept.pop(0)
                self.kept -= len(mapping)
                self.used -= len(mapping)
                _unmap(mapping)
            else:
                self._changed.wait()


_SHARED: dict[str, Budget] = {}


def share_among_threads(total: int, spare_bytes: int = SPARE_BYTES) -> None:
    """From now on the threads of this process hold at most ``total`` bytes of scratch at
    once, together, the mappings kept for the next of them included, ``spare_bytes`` of
    them at most (``Budget``): a thread takes a member's size of it (the whole of it, at
    most) for the time it uses its scratch, and gives its mapping back after (every page,
    and the mapping). For a worker that reads several wheels on threads
    (engine/inflight.py): its memory stays what one thread's was, whatever the threads, at
    the price of faulting pages in again for each member larger than the mappings kept."""
    _SHARED["budget"] = Budget(total, min(total, spare_bytes))


def shared_budget() -> Budget | None:
    """The budget this process's threads share (``share_among_threads``), if any: what a
    reader holds besides its scratch is taken from it too (wheel/ends.py's one-pass buffers)."""
    return _SHARED.get("budget")


def populate_scratch(start: int, end: int) -> None:
    """Fault the pages of this thread's scratch from ``start`` to ``end`` in at once, inside
    a ``scratch`` block, before bytes are copied there (an end read beside the start)."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    if buffer is not None and buffer.mapping is not None:
        populate_pages(buffer.mapping, start, min(end, len(buffer.mapping)))


def scratch_generation() -> int:
    """This thread's scratch's ``generation``."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    return 0 if buffer is None else buffer.generation


# Linux 5.14+: fault a range in with one call. Inflating 40 MB into fresh pages took 32 ms
# faulting them one by one and 23 ms populated first (the kernel zeroes them either way);
# it matters most to ``show``, whose process starts with no page of its scratch.
_MADV_POPULATE_WRITE = 23
_POPULATE = {"works": sys.platform == "linux"}


def populate_pages(mapping: mmap.mmap, start: int, end: int) -> None:
    """Fault the pages of ``mapping[start:end]`` in at once, before they are written."""
    if not _POPULATE["works"] or end <= start:
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
# Where a range written whole is at least this share of a huge page, the huge pages it lies
# in are advised whole (``prefer_huge_pages_around``): one fault and 2 MiB zeroed each,
# 0.07 ms on the benchmark machine, where the range's 64 faults of 4 KiB at least take 0.15
# (2.3 us each). The ends of onnxruntime 1.31.1's two libraries (0.3 to 1.2 MB each, one
# written twice, wheel/ends.py), in the fresh threads of a ``show``, took 0.9k faults fewer
HUGE_PAGE_SHARE = HUGE_PAGE // 8
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


def prefer_huge_pages_around(mapping: mmap.mmap, start: int, end: int) -> None:
    """``prefer_huge_pages`` for the whole huge pages ``mapping[start:end]`` lies in, where
    it is HUGE_PAGE_SHARE of one at least: a range about to be written whole, which would
    otherwise fault in 4 KiB at a time (HUGE_PAGE_SHARE's note)."""
    if end - start < HUGE_PAGE_SHARE:
        return
    first = start - start % HUGE_PAGE
    last = min(len(mapping), -(-end // HUGE_PAGE) * HUGE_PAGE)
    prefer_huge_pages(mapping, first, last)


def prefer_huge_scratch_pages(start: int, end: int) -> None:
    """``prefer_huge_pages_around`` for this thread's scratch, inside a ``scratch`` block."""
    buffer: _Scratch | None = getattr(_PER_THREAD, "buffer", None)
    if buffer is not None and buffer.mapping is not None and end <= len(buffer.mapping):
        prefer_huge_pages_around(buffer.mapping, start, end)


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
    if budget is None:
        view = memoryview(buffer.at_least(size, touched))[:size]
        try:
            yield view
        finally:
            view.release()
            buffer.done(size)
        return
    # sharing a budget, a thread maps only what it uses, and gives it back after: unmapped,
    # or kept for the next thread where small (``Budget.lease``)
    share = buffer.lend(budget, size, touched)
    try:
        assert buffer.mapping is not None
        view = memoryview(buffer.mapping)[:size]
        try:
            yield view
        finally:
            view.release()
    finally:
        buffer.give_back(budget, share)
