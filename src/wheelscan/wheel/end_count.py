"""A large member's end placed by counting: the stream decoded from a block header short of
PT_DYNAMIC to its last byte, only to note where each later block header's output begins.

The count is ``Route.COUNTED``'s first step (wheel/ends.py): an end too long to write in one
pass is counted to the member's last byte, which places every block header met at its exact
member offset, and then written only from one of them as far as the tables. Kept apart from
wheel/ends.py, which imports it only once a member is read by its ends this way: most
members, and every one of a small wheel's, never are (``show``'s start-up).
"""

from __future__ import annotations

import threading

from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.ends import (
    BLOCK_ALLOWANCE,
    MAX_TAIL_SEARCHES,
    SEARCH_BITS,
    Counted,
    Route,
    search_target,
    searched,
)

# An end whose stream is longer than this (in bits) is counted on two threads (``_counted``):
# jaxlib's libjax_common.so, 87 MiB from PT_DYNAMIC to its end, took 0.15 s on one core,
# most of its `show`
COUNT_SPLIT_ABOVE = 8 * 4 * 1024 * 1024


def count_end(archive: WheelArchive, member: Member, begin: int) -> Counted | None:
    """Block headers from at or before ``begin`` to the end, placed by counting."""
    size = member.size
    stream_bits = 8 * member.compressed_size
    # where ``begin`` lies in the stream if the end compresses END_DENSER times as well as
    # the member does, and a block before (the first block found is not used); a start
    # found too late moves the search back, by what the end's own ratio says, and the
    # stream from there is counted only up to the first block already counted (``_joined``)
    aim = max(0, begin - BLOCK_ALLOWANCE)
    target = search_target(member, begin, Route.COUNTED)
    later: tuple[int, list[tuple[int, int]]] | None = None
    for _ in range(MAX_TAIL_SEARCHES):
        found = None
        for payload, floor in searched(archive, member, target):
            if later is None:
                found = _counted(payload, target, floor)
            else:
                found = _joined(payload, target, floor, later)
            if found is not None:
                break
        if found is None:
            return None
        total, starts = found
        base = size - total
        if not starts or base < 0:  # (a stream longer than its member: inflated whole)
            return None
        if base + starts[0][1] <= begin:
            return Counted(payload, [(bit, base + output) for bit, output in starts], {})
        first_bit, first_output = starts[0]
        if total == first_output:
            return None
        bits_per_byte = (stream_bits - first_bit) / (total - first_output)
        target = max(0, int(first_bit - bits_per_byte * (base + first_output - aim)))
        later = found
    return None


def _joined(
    payload: memoryview,
    search_from: int,
    search_to: int,
    later: tuple[int, list[tuple[int, int]]],
) -> tuple[int, list[tuple[int, int]]] | None:
    """``block_starts(payload, search_from, search_to)``, where ``later`` is its count from a
    block header further on (``block_starts``' result from a later search): the stream is
    decoded only up to the first header at or past ``later``'s first, and where that is one
    of ``later``'s headers, the rest is ``later``'s count from it (decoding from a block
    header is the same whatever came before, as in ``_counted``); elsewhere, or where no
    header before it is trusted yet, counted to the end as ``_counted`` counts."""
    from wheelscan._tail import block_starts_until

    starts = later[1]
    if not starts or search_from >= starts[0][0]:
        return _counted(payload, search_from, search_to)
    first = block_starts_until(payload, search_from, search_to, starts[0][0])
    if first is None or len(first) == 2:
        return first  # nothing decodes soundly that far; or the stream ended first
    produced, before, stopped = first
    spliced = _spliced(produced, before, stopped, later) if before else None
    return spliced if spliced is not None else _counted(payload, search_from, search_to)


def _counted(
    payload: memoryview, search_from: int, search_to: int
) -> tuple[int, list[tuple[int, int]]] | None:
    """``block_starts(payload, search_from, search_to)``; over COUNT_SPLIT_ABOVE bits to
    count, on two threads: the first half from the header found as block_starts finds it,
    up to the first header at or past the middle; the second from a header found before
    the middle (a search of its own) to the end. Where the first half reaches a header the
    second half noted, the rest is the second half's count from it (decoding from a block
    header is the same whatever came before, so the result is block_starts' own);
    elsewhere the first half goes on alone from where it stopped, and where that fails,
    block_starts runs as it would have."""
    from wheelscan._tail import block_starts, block_starts_until, count_from

    stream_bits = 8 * len(payload)
    if stream_bits - search_from < COUNT_SPLIT_ABOVE:
        return block_starts(payload, search_from, search_to)
    middle = search_from + (stream_bits - search_from) // 2
    second: list[tuple[int, list[tuple[int, int]]] | None] = []
    helper = threading.Thread(
        target=lambda: second.append(block_starts(payload, middle, middle - SEARCH_BITS)),
        name="wheelscan-count",
        daemon=True,
    )
    try:
        helper.start()
    except RuntimeError:  # no thread to be had (its stack, past RLIMIT_DATA): one thread
        return block_starts(payload, search_from, search_to)
    try:
        first = block_starts_until(payload, search_from, search_to, middle)
    finally:
        helper.join()
    if first is None or len(first) == 2:
        return first  # nothing decodes soundly to the middle; or the stream ended first
    produced, starts, stopped = first
    if not starts:
        # no header trusted yet (block_starts' rule): where it would begin to note them
        # depends on the blocks after the middle too
        return block_starts(payload, search_from, search_to)
    rest = second[0] if second else None
    spliced = _spliced(produced, starts, stopped, rest) if rest is not None else None
    if spliced is not None:
        return spliced
    alone = count_from(payload, stopped)
    if alone is None:
        return block_starts(payload, search_from, search_to)
    total, later = alone
    return produced + total, starts + [(b, o + produced) for b, o in later]


def _spliced(
    produced: int,
    before: list[tuple[int, int]],
    stopped: int,
    later: tuple[int, list[tuple[int, int]]],
) -> tuple[int, list[tuple[int, int]]] | None:
    """A count decoded up to bit ``stopped`` (``produced`` bytes, headers ``before``) joined
    with ``later``, a count from a header further back or on: where ``stopped`` is one of
    ``later``'s headers, the rest is ``later``'s count from it, shifted to where this count
    put that header (decoding from a block header is the same whatever came before); None
    where it is not, and the count must go on decoding."""
    total, starts = later
    at = dict(starts)
    if stopped not in at:
        return None
    offset = produced - at[stopped]
    return total + offset, before + [(b, o + offset) for b, o in starts if b >= stopped]
