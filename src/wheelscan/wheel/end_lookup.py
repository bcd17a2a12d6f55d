"""An end's unknown bytes looked up in the bytes before it.

An end inflated from a block header without the 32 KiB before it (wheel/ends.py) marks
unknown each byte that copies (through copies) from those 32 KiB, with the byte it copies.
Where the parser needs one, it is found here: in an inflation from a counted block further
back, and so on down a chain (``resolve``, a counted end); or, for an end in one pass, in the
bytes before it inflated from the next margin only up to the block it trusts from, and so on
down a chain of such inflations, each up to the block the last trusts from
(``looked_up_before``). Kept apart from wheel/ends.py, which imports it only when a parse
asks for such a byte: most ends never do (``show``'s start-up).
"""

from __future__ import annotations

from wheelscan.records import record
from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.ends import (
    BLOCK_ALLOWANCE,
    MAX_EARLIER_CHAIN,
    MAX_KEPT_EARLIER,
    MAX_TAIL_WRITE,
    WINDOW,
    Counted,
    Route,
    Tail,
    block_at_or_before,
    inflate_at,
    reach_of,
    search_target,
    searched,
)
from wheelscan.wheel.scratch import HUGE_PAGE, anonymous_mapping, prefer_huge_pages_around

# How many inflations further back an unknown byte may be looked for (``_copied_bytes``),
# and how many times the parser's requests for unknown bytes are met so. Each inflation of
# a chain lies before the last, so a chain inflates at most the member's bytes before the
# end; MAX_CHAIN_INFLATED bounds that too, at what the end itself may write. jaxlib's
# libjax_common.so: 32 deep, 4.6 MB, from its first margin
MAX_RESOLVE_DEPTH = 128
MAX_CHAIN_INFLATED = MAX_TAIL_WRITE
# The bytes looked up, summed over a chain's levels: each level holds its look-ups (Python
# lists and a dict) until the chain's end, outside the buffers' budget. jaxlib's chain looks
# up 301 bytes at each of 33 levels; 64 KiB of unknown bytes copied level after level took
# 205 MiB and, with a look-up that scanned every block per byte, 28 s before this bound
MAX_CHAIN_LOOKUPS = 1 << 16
# Over HTTP, from a chain's second level on, the stream of this many levels' steps is
# fetched at once where the next level's is not at hand (``_looked_up``): the first level
# settles most look-ups, and a chain that goes on goes on for a few more. onnxruntime
# 1.31.1's cp311 pybind11 module over 50 ms: its three levels fetched in 3 round trips one
# after another, where the margins before the chain took 2
FETCH_AHEAD = 4
# The bytes before a windowed end inflated at once for its look-ups (each level of
# ``_looked_up``): at most this capacity for them, as much for which are known, and twice as
# much for where the unknown ones copy from; one level held at a time
MAX_LOOKED_UP_BEFORE = 4 * 1024 * 1024


def resolve(counted: Counted, tail: Tail, start: int, end: int) -> Tail | None:
    """``tail`` with its bytes [start, end) known, each unknown one found where it copies
    from, in an inflation from a block further back (and so on: ``_copied_bytes``);
    None if one cannot be."""
    from wheelscan._tail import known_ranges

    known = tail.known
    if known is None:
        return None
    span = range(max(start, tail.begin), min(end, tail.end))
    positions = [p for p in span if not known[p - tail.begin]]
    if not positions:
        return tail if any(a <= start and end <= b for a, b in tail.ranges) else None
    values = _copied_bytes(counted, tail, positions)
    if values is None:
        return None
    for position, value in zip(positions, values, strict=True):
        tail.inflated[position - tail.begin] = value
        known[position - tail.begin] = 1
    ranges = known_ranges(known, 0, tail.begin)
    if not any(a <= start and end <= b for a, b in ranges):
        return None  # still not offered (past the end, or in a run too short to list)
    return tail._replace(ranges=ranges)


def _copied_bytes(counted: Counted, tail: Tail, positions: list[int]) -> list[int] | None:
    """The bytes that the unknown ``positions`` of ``tail`` copy from the 32 KiB before it.

    Each is looked up in an inflation from the last counted block at or before it; where it
    is unknown there too, in one from a block further back, and so on down a chain of
    inflations, each of the member's bytes before the last's. Of an inflation not kept
    (MAX_KEPT_EARLIER) only its looked-up bytes are held once the next is made: one at a
    time, MAX_EARLIER_CHAIN at most. Holding them all to the chain's end bounded it at 16
    deep, and jaxlib's PT_DYNAMIC, copied through 32 blocks back from its first margin,
    was looked up from all three margins: the two vain chains, and the two ends inflated
    for them, were a third of its ``show`` past the count (issue #15)."""
    # per level, from ``tail`` down: the bytes looked up there, those known there (by
    # position), those not (looked up at the next level, in that order), and its inflation
    # where it is kept (what is found for it is written into it: a later look-up stops there)
    levels: list[tuple[list[int], dict[int, int], list[int], Tail | None]] = []
    current: Tail | None = tail
    inflated = looked_up_in_all = 0
    while current is not None:
        looked_up_in_all += len(positions)
        if (
            len(levels) == MAX_RESOLVE_DEPTH
            or looked_up_in_all > MAX_CHAIN_LOOKUPS
            or current.window is None
        ):
            return None
        above, window = current.begin, current.window
        sources = [above - WINDOW + window[p - above] for p in positions]
        current = None  # one inflation not kept is held at a time
        block = block_at_or_before(counted, min(sources))
        if block is None:
            return None
        bit, begin = block
        key = (bit, begin, above)
        current = counted.earlier.get(key)
        kept = current is not None
        if current is None:
            length = above - begin
            kept = _kept_bytes(counted) + length <= MAX_KEPT_EARLIER
            inflated += length
            if inflated > MAX_CHAIN_INFLATED or (not kept and length > MAX_EARLIER_CHAIN):
                return None
            current = inflate_at(counted.payload, bit, begin, above, keep_window=True)
            if current is None:
                return None
            if kept:
                counted.earlier[key] = current
        known = current.known
        if known is None:
            return None
        looked_up = sorted(set(sources))
        found = {s: current.inflated[s - begin] for s in looked_up if known[s - begin]}
        unknown = [s for s in looked_up if s not in found]
        levels.append((sources, found, unknown, current if kept else None))
        if not unknown:
            break
        positions = unknown
    values: list[int] = []
    for sources, found, unknown, kept_inflation in reversed(levels):
        found.update(zip(unknown, values, strict=True))  # the level below's, in its order
        if kept_inflation is not None and kept_inflation.known is not None:
            for source, value in zip(unknown, values, strict=True):
                kept_inflation.inflated[source - kept_inflation.begin] = value
                kept_inflation.known[source - kept_inflation.begin] = 1
        values = [found[s] for s in sources]
    return values


def _kept_bytes(counted: Counted) -> int:
    return sum(len(tail.inflated) for tail in counted.earlier.values())


def looked_up_before(
    archive: WheelArchive, member: Member, tail: Tail, start: int, end: int, earlier: int
) -> Tail | None:
    """``tail`` (a windowed end in one pass) with its bytes [start, end) known, each unknown
    one found where it copies from, in the 32 KiB before the block the end trusts from: in an
    inflation from a block header before member offset ``earlier`` up to that block, and,
    where a byte is unknown there too, in one as far again further back, up to the block
    that inflation trusts from, and so on down a chain (``_looked_up``); None if one cannot
    be (the parser's next margin inflates the end from there)."""
    from wheelscan._tail import known_ranges

    copied, known = tail.copied, tail.known
    if copied is None or known is None:
        return None
    span = range(max(start, tail.begin), min(end, tail.end))
    positions = [p for p in span if not known[p - tail.begin]]
    if not positions:
        return None  # past the end, or in a run too short to be offered: not for a look-up
    above = copied.above
    sources = [above - WINDOW + copied.window[p - tail.begin] for p in positions]
    found = copied.found if copied.found is not None else {}
    wanted = {s for s in sources if s not in found}
    if wanted:
        budget = MAX_CHAIN_INFLATED - copied.inflated  # what this end's look-ups have left
        looked_up = _looked_up(archive, member, above, copied.bit, wanted, above - earlier, budget)
        if looked_up is None:
            # what it spent goes uncounted: a look-up that fails is this end's last (the
            # parser's next margin inflates a new end, whose look-ups start afresh)
            return None
        more, inflated = looked_up
        found.update(more)
        copied = copied._replace(inflated=copied.inflated + inflated)
    for position, source in zip(positions, sources, strict=True):
        tail.inflated[position - tail.begin] = found[source]
        known[position - tail.begin] = 1
    ranges = known_ranges(known, 0, tail.begin)
    if not any(a <= start and end <= b for a, b in ranges):
        return None
    return tail._replace(ranges=ranges, copied=copied._replace(found=found))


def _looked_up(
    archive: WheelArchive,
    member: Member,
    above: int,
    bit: int,
    wanted: set[int],
    step: int,
    budget: int,
) -> tuple[dict[int, int], int] | None:
    """The bytes at member offsets ``wanted`` (each before ``above``, where the block whose
    header is at ``bit`` begins), by offset, and the bytes inflated to find them (at most
    ``budget``); None where one cannot be found.

    Each level of the chain inflates from a block header found ``step`` bytes before its
    ``above`` up to exactly the block at ``bit``. A byte wanted that it holds known is
    found; one it holds unknown from the block it trusts from on copies a byte of the 32 KiB
    before that block (its window), which is wanted from the next level, inflated up to that
    block; one before that block (not trusted: the search may have found a false start) or
    before the level is wanted from the next level as it is. onnxruntime 1.31.1's cp311
    pybind11 module, whose PT_DYNAMIC copies through copies from over 1.2 MB before it,
    was inflated again from the second margin (1.2 MB) and the third (5.2 MB: most of its
    ``show``), where three levels of 0.7 to 1.1 MB do (issue #15). Within
    MAX_RESOLVE_DEPTH levels, ``budget`` bytes (an end's look-ups together inflate at most
    MAX_CHAIN_INFLATED) and MAX_CHAIN_LOOKUPS look-ups in all: one level at a time is held,
    and of it only where each wanted byte leads."""
    copies: dict[int, int] = {}  # a wanted offset -> the offset it copies, a level further
    values: dict[int, int] = {}
    inflated = looked_up_in_all = 0
    # over HTTP, the member offset from which a level's search finds its stream at hand,
    # fetched ahead
    covered_from = above
    for depth in range(MAX_RESOLVE_DEPTH):
        looked_up_in_all += len(wanted)
        if looked_up_in_all > MAX_CHAIN_LOOKUPS:
            return None
        if depth and archive.fetched and above - step < covered_from:
            # the stream of the next FETCH_AHEAD levels in one request, no further back than
            # what is left of the budget may inflate
            reach = max(0, above - min(FETCH_AHEAD * step, budget - inflated))
            if _fetch_ahead(archive, member, reach):
                covered_from = reach
        level = _level(archive, member, above, bit, max(0, above - step), wanted)
        if level is None:
            return None
        inflated += above - level.begin
        if inflated > budget or level.trusted_above >= above:
            return None  # too much, or no block trusted: nothing to go further back from
        values.update(level.values)
        copies.update(level.copies)
        wanted = {offset for offset in level.further if offset not in values}
        if not wanted:
            break
        above, bit = level.trusted_above, level.trusted_bit
    else:
        return None
    found: dict[int, int] = {}
    for offset in copies.keys() | values.keys():
        source = offset
        while source not in values:
            source = copies[source]  # each a level further back: the chain ends
        found[offset] = values[source]
    return found, inflated


def _fetch_ahead(archive: WheelArchive, member: Member, begin: int) -> bool:
    """Over HTTP, the stream an end inflated in one pass from ``begin`` would reach back to,
    fetched now (each level of a chain fetches the stream before the last one's, a round
    trip each, one after another); False where it may not be decoded (``searched``'s bound)
    and nothing was fetched."""
    aim = reach_of(member, begin)
    if aim is None:
        return False
    archive.payload_from(member, aim)
    return True


@record(slots=True)
class _Level:
    """What one inflation of a chain of look-ups (``_level``) gave."""

    begin: int  # the member offset of its first byte
    values: dict[int, int]  # the wanted bytes it holds known, by offset
    copies: dict[int, int]  # a wanted offset it holds unknown -> the offset that byte copies
    further: set[int]  # the offsets wanted from the next level
    trusted_above: int  # where the block it trusts from begins
    trusted_bit: int  # and its header's bit


def _level(
    archive: WheelArchive, member: Member, above: int, bit: int, earlier: int, wanted: set[int]
) -> _Level | None:
    """The member's bytes before offset ``above`` inflated from a block header found where
    an end inflated in one pass from ``earlier`` would look for one, up to the block header
    at ``bit``, and what they say of the bytes at offsets ``wanted``: each known, or a copy
    of a byte in the 32 KiB before the block the inflation trusts from (its window), or
    before that block or before the inflation (looked for further back as it is); None where
    none inflates soundly that far within MAX_LOOKED_UP_BEFORE."""
    from wheelscan._tail import inflate_until

    capacity = 2 * (above - earlier + BLOCK_ALLOWANCE)
    if earlier >= above or capacity > MAX_LOOKED_UP_BEFORE:
        return None
    target = search_target(member, earlier, Route.ONE_PASS)
    # mapped, not bytearrays: only the pages written cost anything (they are sized for twice
    # what they are likely to hold), where a bytearray was zeroed whole; and a huge page at
    # least, advised so (wheel/scratch.py's HUGE_PAGE_SHARE: 4 KiB pages were 400 faults)
    length = max(capacity, HUGE_PAGE)
    with (
        anonymous_mapping(length) as out,
        anonymous_mapping(length) as known,
        anonymous_mapping(2 * length) as window_bytes,
    ):
        prefer_huge_pages_around(out, 0, capacity)
        prefer_huge_pages_around(known, 0, capacity)
        prefer_huge_pages_around(window_bytes, 0, 2 * capacity)
        window = memoryview(window_bytes).cast("H")
        try:
            found = None
            for payload, floor in searched(archive, member, target):
                found = inflate_until(payload, target, floor, bit, out, known, window)
                if found is not None:
                    break
            if found is None:
                return None
            length, trusted, _, trusted_bit = found
            begin = above - length
            trusted_above = begin + trusted
            level = _Level(begin, {}, {}, set(), trusted_above, trusted_bit)
            # its bytes before the block it trusts are all marked unknown: the search may
            # have begun at a false start
            for offset in wanted:
                i = offset - begin
                if i >= 0 and known[i]:
                    level.values[offset] = out[i]
                elif offset >= trusted_above:
                    source = trusted_above - WINDOW + window[i]
                    level.copies[offset] = source
                    level.further.add(source)
                else:
                    level.further.add(offset)
            return level
        finally:
            window.release()
