"""A large member's end inflated in one pass: from a block header short of PT_DYNAMIC to the
member's last byte, every byte written (``Route.ONE_PASS``: where the end is short, cheaper
than counting it first, wheel/end_count.py).

The pass writes into two buffers, the bytes and which of them are known, that a thread keeps
from member to member or leases from its worker's shared budget, and, for a short end, a
window: per unknown byte, which of the 32 KiB before the block it trusts from it copies
(wheel/end_lookup.py's ``looked_up_before``). Kept apart from wheel/ends.py, which imports
it only once a member is read by its ends this way (``show``'s start-up).
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.ends import (
    BLOCK_ALLOWANCE,
    MAX_TAIL_SEARCHES,
    NO_BIT,
    WINDOWED_ONE_PASS,
    Copied,
    Route,
    Tail,
    search_target,
    searched,
)
from wheelscan.wheel.scratch import (
    anonymous_mapping,
    prefer_huge_pages,
    prefer_huge_pages_around,
    shared_budget,
    spare_length,
)

_PER_THREAD = threading.local()
# The largest one-pass buffers kept (each), by a thread that does not share its scratch
# (``show``, a worker reading one wheel at a time): most ends of the benchmark corpus take
# up to 4 MiB, a few 9; each kept MiB is one more in a worker's peak (2 x 12 MiB made its
# 122 MB 143)
KEPT_ONE_PASS = 4 * 1024 * 1024


def _window_buffer(size: int) -> memoryview:
    """``size`` two-byte entries for a one-pass end's window (WINDOWED_ONE_PASS), a mapping
    this thread keeps from member to member as it keeps the end's buffers; nothing needs
    zeroing: an entry is read only for an unknown byte, and written with it."""
    kept: mmap.mmap | None = getattr(_PER_THREAD, "window", None)
    if kept is None:
        kept = _PER_THREAD.window = anonymous_mapping(2 * WINDOWED_ONE_PASS)
    return _advised(kept, 2 * size).cast("H")


def inflate_to_the_end(archive: WheelArchive, member: Member, begin: int) -> Tail | None:
    """The member's bytes from ``begin`` to its end, in one pass that writes them all (where
    they are few, cheaper than counting first)."""
    wanted = member.size - begin + BLOCK_ALLOWANCE
    shared = shared_budget() is not None
    with _one_pass_buffers(2 * wanted) as (out, known):
        # its buffers a thread's own (``_one_pass_buffers``): the end is handed out as a
        # view of them, not copied out (4.2 MB of fresh pages for onnxruntime 1.31.1's
        # pybind11 module, whose end is then copied into the scratch anyway: issue #15);
        # and so is its window, where it keeps one
        window = None if shared or 2 * wanted > WINDOWED_ONE_PASS else _window_buffer(2 * wanted)
        return _one_pass(archive, member, begin, out, known, shared, window)


def _one_pass(
    archive: WheelArchive,
    member: Member,
    begin: int,
    out: memoryview,
    known: memoryview,
    copy_out: bool = True,
    window: memoryview | None = None,
) -> Tail | None:
    from wheelscan._tail import inflate_tail, known_ranges

    size = member.size
    stream_bits = 8 * member.compressed_size
    wanted = size - begin + BLOCK_ALLOWANCE
    capacity = len(out)
    target = search_target(member, begin, Route.ONE_PASS)
    for _ in range(MAX_TAIL_SEARCHES):
        found = None
        for payload, floor in searched(archive, member, target):
            found = inflate_tail(payload, target, floor, out, known, window)
            if found is not None:
                break
        if found is None:
            return None
        if found[0] is None:  # out filled before the end: start later
            _, start, stop = found
            bits_per_byte = (stop - start) / capacity
            target = max(target + 8, int(stream_bits - bits_per_byte * wanted))
            continue
        length, trusted, start, trusted_bit = found
        base = size - length
        if base < 0 or length == 0:
            return None
        if base + trusted <= begin:
            # the block at ``start`` may be a false start that fell into a real boundary:
            # only the bytes from ``trusted`` on are offered as known, and this end is never
            # inflated again from ``start`` (NO_BIT). Only the bytes from ``begin`` on are
            # handed out: the parser is given none before it; copied out where the buffers
            # are a shared budget's, so that what it holds stays within the end's share of
            # the memory bound (``END_HELD``)
            ranges = [
                (max(a, begin), b)
                for a, b in known_ranges(known, trusted, base, stop=length)
                if b > begin
            ]
            inflated = out[begin - base : length]
            if window is None or copy_out:
                return Tail(NO_BIT, begin, bytearray(inflated) if copy_out else inflated, ranges)
            copied = Copied(window[begin - base : length], base + trusted, trusted_bit)
            return Tail(NO_BIT, begin, inflated, ranges, known[begin - base : length], None, copied)
        bits_per_byte = (stream_bits - start) / length
        target = max(0, int(start - bits_per_byte * (base + trusted - begin + BLOCK_ALLOWANCE)))
    return None


@contextmanager
def _one_pass_buffers(size: int) -> Iterator[tuple[memoryview, memoryview]]:
    """Two buffers of ``size`` bytes for a one-pass end. Threads that share their scratch
    (wheel/scratch.py's ``share_among_threads``: a worker's up to 128 wheel threads) take
    them from that budget for the time they use them: the two halves of one mapping that
    the budget keeps for the next of them, counted, where it is small (a power of two up to
    SPARE_EACH; untouched pages cost nothing), else unmapped. Fresh mappings for each end
    were a third of the page faults of a worker reading the benchmark corpus over HTTP;
    kept per thread, 2 x 4 MiB each, they were 0.5 to 1 GiB of a worker. A thread that
    does not share keeps them from member to member: sized for twice what the end may
    hold, they were zeroed whole each time, where only what is written needs to be, and
    copied out (1% of a batch). Those are mappings too: a bytearray of the size was zeroed
    whole once per thread all the same, and ``show`` starts its threads afresh for each
    wheel (onnxruntime's libonnxruntime.so, whose end takes a second margin: 11.0 ms to
    read, 8.6 as mappings, issue #15). Reused, a buffer holds an earlier end's bytes: each
    pass writes what it reads back (``known`` first), as the per-thread pair always did."""
    budget = shared_budget()
    if budget is not None:
        length = spare_length(2 * size)
        share, kept = budget.lease(length)
        mapping: mmap.mmap | None = None
        try:
            mapping = kept[0] if kept is not None else anonymous_mapping(length)
            half = len(mapping) // 2
            prefer_huge_pages(mapping, 0, size)  # each half only as far as it is written
            prefer_huge_pages(mapping, half, half + size)
            whole = memoryview(mapping)
            with whole, whole[:size] as out, whole[half : half + size] as known:
                yield out, known
        finally:
            budget.give_back(share, mapping, 0)
        return
    kept_pair: list[mmap.mmap] = getattr(_PER_THREAD, "buffers", [])
    if not kept_pair or len(kept_pair[0]) < size:
        # mapped KEPT_ONE_PASS long where kept: a later, longer end (a member's next margin)
        # takes up the same pages; those it never writes cost nothing
        length = max(size, KEPT_ONE_PASS)
        kept_pair = [anonymous_mapping(length), anonymous_mapping(length)]
        if size <= KEPT_ONE_PASS:  # a rare larger one is not kept: a worker's memory
            _PER_THREAD.buffers = kept_pair
    yield _advised(kept_pair[0], size), _advised(kept_pair[1], size)


def _advised(mapping: mmap.mmap, size: int) -> memoryview:
    """The first ``size`` bytes of ``mapping``, for huge pages where they are long enough:
    only they are written (from the start), so only the huge pages they lie in. Not the
    whole of a kept mapping, nor a short end's: it would fault in and zero a 2 MiB page for
    a few KiB, kept for the thread's life."""
    prefer_huge_pages_around(mapping, 0, size)
    return memoryview(mapping)[:size]
