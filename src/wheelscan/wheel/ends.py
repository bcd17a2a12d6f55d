"""A large library read by its two ends, the code between never inflated.

A linker writes a library's symbol and version tables first and its PT_DYNAMIC last, with
megabytes of code and data between that no verdict needs. libdeflate inflates the start as
far as the parser asks; the end is found without the start (wheelscan._tail): a block
header short of PT_DYNAMIC, then the stream decoded from there to its last byte, which is
the member's last byte, so every block header met is placed at its exact member offset; the
end is then inflated from one of them, each byte that copies (through copies) from the
unknown 32 KiB before it marked unknown, with the byte it copies. A byte the parser needs
that is unknown is looked up where it copies from, in an inflation from a block further
back; failing that, the end is inflated again from further back; where anything fails, the
caller inflates the member from its start, as it would have (wheel/contents.py): whole, or,
over WHOLE_MEMBER_LIMIT, streamed.

A member of any size is read so, within the memory its streamed reading takes: its start
inflated up to ``MAX_START`` at most, its end written up to ``MAX_TAIL_WRITE``, and an end
longer than ``MAX_ONE_PASS`` counted first, never written whole. The scratch mapping the
member's size is virtual: only the pages of its start and of the end written are ever touched.

Failing includes the parser refusing what it was given: a sound member may hold, in a
stored block, bytes that read as a block header and decode soundly to the stream's end
(tests/test_ends_failsafe.py), and the end so decoded is not the member's. So no error
leaves this module: an ElfError, or a start that does not inflate, means only that this
reading cannot tell; the member's reading from its start says what is wrong, if anything.

Neither the CRC-32 nor the stream between the ends is checked: README, known limits.
"""

from __future__ import annotations

import bisect
import mmap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from wheelscan.elf import ElfError, ElfFacts, NeedBytes, PartialParser
from wheelscan.fast_enum import EnumBody, fast_enum
from wheelscan.fast_tuple import TupleBody, fast_tuple
from wheelscan.records import record
from wheelscan.wheel.archive import Member, WheelArchive, WheelError
from wheelscan.wheel.inflate import (
    PREFIX_SLACK,
    WHOLE_MEMBER_LIMIT,
    InflateError,
)
from wheelscan.wheel.partial import inflate_start
from wheelscan.wheel.scratch import (
    HUGE_PAGE,
    KEPT_RESIDENT,
    RESTART_KEEP,
    anonymous_mapping,
    populate_scratch,
    prefer_huge_pages,
    prefer_huge_pages_around,
    prefer_huge_scratch_pages,
    scratch,
    scratch_generation,
    shared_budget,
    spare_length,
)

# Members from this size on are read by their ends where that costs at most SKIP_WORTH of
# inflating them from the start. Per byte of the end, in libdeflate's time (one core of the
# benchmark machine, session 5: libdeflate ~650 MB/s, ~260 inflating without the start,
# search included, ~570 only counting): WRITE_COST to inflate it from a window-less start,
# COUNT_COST to decode it only to count. The end is written whole in one pass, or counted
# to its last byte and written only as far as the tables, whichever costs less; the search
# for a block header costs a few milliseconds more. (Session 6 made counting ~645 MB/s and
# writing ~500 against libdeflate's ~720; costs re-fitted to that, 2.1 and 1.05, routed no
# member better on the benchmark corpus.)
SKIP_ABOVE = 4 * 1024 * 1024
SKIP_WORTH = 0.5
# Over HTTP (``WheelArchive.fetched``) a byte of a member not inflated is not fetched either:
# reading by ends is tried from the size on which a member is read in part at all
# (contents.PREFIX_FROM), where its inflation costs at most what inflating it whole would.
# On the benchmark corpus this read 16 members of 0.5 to 4 MiB by their ends that were
# fetched whole, and 4 more of pydantic_core whose ends did not pay at 0.5: 47.3% of the
# wheel bytes fetched became 41.7% (worth 0.5: 45.2%; 2.0: 53.9%, ends costlier than whole)
# Not over WHOLE_MEMBER_LIMIT (``ends_costs``): there the member's fallback is streamed,
# which may refuse what the ends settle (``scattered-tables``), so a member is routed alike
# whether its wheel is read from a directory or over HTTP, and its facts are the same.
# (Worth 1.0 let an end of 80% of such a member be fetched where streaming fetches 20%.)
REMOTE_SKIP_ABOVE = 512 * 1024
REMOTE_SKIP_WORTH = 1.0
WRITE_COST = 2.5
COUNT_COST = 1.2
# The end is inflated from this far before PT_DYNAMIC, then from the next if a byte the
# parser needs there copies (through copies) from the unknown 32 KiB before the start and
# cannot be looked up: the further, the rarer (on the benchmark corpus, before bytes were
# looked up: 6 of 48 large libraries at 256 KiB, 2 at 1 MiB, none at 4 MiB); or from a
# little before a table the parser asks for that lies before the end inflated but past what
# the start's inflation may reach (patchelf's)
TAIL_MARGINS = (256 * 1024, 1024 * 1024, 4096 * 1024)
# Inflated past the end of the tables (``facts_end``) too: patchelf moves tables it grows
# behind PT_DYNAMIC, in the segment that holds it
TAIL_EXTRA = 64 * 1024
# At most this much of the end is inflated (the rest of a late PT_LOAD's tables included):
# each byte of it costs up to seven at once (``END_HELD``). The most the benchmark corpus's
# large libraries write from the furthest margin is 6.7 MiB (tensorflow-cpu's
# libtensorflow_cc.so.2, its tables 2.7 MiB past PT_DYNAMIC); jaxlib's 4.4 MiB
MAX_TAIL_WRITE = 8 * 1024 * 1024
# What a block of zlib's output inflates to, give or take: aimed at before the start wanted
BLOCK_ALLOWANCE = 128 * 1024
# How far back from its expected place a block header is looked for (bits of the stream):
# first this close, then as far as SEARCH_BITS where none is found (``_floors``). The
# search takes the latest sound header either way, so the first window changes no result;
# over HTTP every byte searched is fetched, and zlib's blocks are mostly 16 to 32 KiB of
# stream: on the benchmark corpus, all 33 ends met one within 32 KiB (16: 14 did not), and
# the 96 KiB not fetched per end took 41.7% of the wheel bytes fetched to 39.4%
FIRST_SEARCH_BITS = 8 * 32 * 1024
SEARCH_BITS = 8 * 128 * 1024
# Attempts at finding where the end starts in the stream
MAX_TAIL_SEARCHES = 3
# How many times as well as the whole member the end of one counted to its end (``_count``)
# is taken to compress, where the count first looks for a block before PT_DYNAMIC. Such an
# end, longer than a pass may write, holds the symbol and string tables and the debug
# information, which compress better than the code and data before them: jaxlib 0.12's
# libjax_common.so 2.3 times, tensorflow-cpu 2.21's libtensorflow_cc.so.2 2.1. Counted from
# where an evenly compressed member would place PT_DYNAMIC, the count decoded 14 MB of
# jaxlib's stream before its end's 11 MB (most of ``show``: the count takes about as long
# per byte of stream whatever it inflates to), and 25 MB before tensorflow's 22. Where the
# end compresses less well, the count starts too late: it is then taken back by the end's
# own ratio, and the stream before counted only up to where the first count began
END_DENSER = 2
# An end whose stream is longer than this (in bits) is counted on two threads (``_counted``):
# jaxlib's libjax_common.so, 87 MiB from PT_DYNAMIC to its end, took 0.15 s on one core,
# most of its `show`
COUNT_SPLIT_ABOVE = 8 * 4 * 1024 * 1024
# A deflate stream's window: how far back a match may copy from
WINDOW = 32 * 1024
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
MAX_RESOLVES = 4
# The bytes of those inflations kept for the next look-up, and the most of one not kept,
# held while it is looked in (each costs four times that): zlib's blocks inflate to ~100
# KiB each (jaxlib's: 50 blocks over 5 MB)
MAX_KEPT_EARLIER = 2 * 1024 * 1024
MAX_EARLIER_CHAIN = 2 * 1024 * 1024
# A one-pass end of at most this capacity (its buffers' length, twice the end) also records,
# per unknown byte, which of the 32 KiB before the block it trusts from that byte copies
# (two bytes a byte): where the parser needs one, the bytes before are inflated from the
# next margin only up to that block (``_looked_up_before``), not the end again from there.
# onnxruntime 1.31.1's libonnxruntime.so, whose PT_DYNAMIC copies from 0.5 to 1.2 MB back,
# was inflated from its first margin (0.55 MB) and again from its second (1.27 MB): 1.82 MB
# where 1.29 do (issue #15). Such an end and its look-up hold a few MiB at most, far below
# END_HELD (the one-pass part of which is for ends of up to MAX_ONE_PASS).
WINDOWED_ONE_PASS = 2 * 1024 * 1024
# The bytes before a windowed end, inflated for its look-ups (``_looked_up_before``): at
# most this capacity each for them and for which are known
MAX_LOOKED_UP_BEFORE = 4 * 1024 * 1024
# Passes over the start of a member, each inflating at least half as much again
MAX_PREFIX_PASSES = 4
# The longest end inflated in one pass (``Route.ONE_PASS``; a longer one is counted first):
# its two buffers are twice its length each. The longest a member up to WHOLE_MEMBER_LIMIT
# may take in one pass (SKIP_WORTH of it, at WRITE_COST a byte), so that a member over the
# limit costs no more memory than one at it.
MAX_ONE_PASS = int(WHOLE_MEMBER_LIMIT * SKIP_WORTH / WRITE_COST)
# What a streamed reading over HTTP holds of a member's stream at once (wheel/http.py's
# ``StreamedRanges``): a window of this many bytes
STREAM_WINDOW = 16 << 20
# Over WHOLE_MEMBER_LIMIT, an end whose stream is longer than this is not decoded: the
# member is streamed (``_end_fits``). Over HTTP the end's stream is fetched and held whole
# where streaming holds a window; jaxlib's libjax_common.so, whose streaming was most of
# ``show`` (issue #15), has ~23 MiB of it; tensorflow-cpu 2.21's libtensorflow_cc.so.2
# over 40 MiB (streamed, its reading over HTTP peaked at 230 MB, where its end held twice
# took it to 350)
MAX_END_STREAM = 2 * STREAM_WINDOW
# What the end's buffers hold at most at once, besides its stream. Counted: the end
# inflated with which bytes are known and where the unknown ones copy from (four bytes a
# byte), copied into the scratch (one), a longer one inflated while it is held (two); and
# the earlier inflations that look unknown bytes up (four bytes a byte). In one pass: its
# two buffers (twice the end each) and the end copied out of them (one); then, the buffers
# gone (or kept: KEPT_ONE_PASS each, at most), the end and its copy in the scratch.
END_HELD = max(
    7 * MAX_TAIL_WRITE + 4 * (MAX_KEPT_EARLIER + MAX_EARLIER_CHAIN),
    5 * (MAX_ONE_PASS + BLOCK_ALLOWANCE),
)
# The most of a member's start inflated: so that reading a member by its ends never holds
# more than its fallback may. Streamed, a member keeps RESTART_KEEP bytes of its output
# (stream.py) and, over HTTP, a window of its stream; by its ends, its start, the end's
# buffers (END_HELD) and the end's stream (MAX_END_STREAM). Members up to WHOLE_MEMBER_LIMIT
# ask for less anyway (SKIP_WORTH of them).
MAX_START = RESTART_KEEP + STREAM_WINDOW - MAX_END_STREAM - END_HELD
# The first bytes of a member, where its ELF header and program headers are
HEAD_BYTES = 4096
# How much of a member's start is inflated first (then as far as the parser asks)
FIRST_PREFIX = PREFIX_SLACK + 64 * 1024


@fast_enum(Enum)
class Route(EnumBody):
    """How the end is inflated from a margin before PT_DYNAMIC (``_route``)."""

    ONE_PASS = "one pass"  # all of it, written
    COUNTED = "counted"  # decoded to its last byte only to count, then written to the tables
    FROM_THE_START = "from the start"  # neither pays: the member is inflated from its start


@fast_enum(Enum)
class Outcome(EnumBody):
    """What a parse with the end in place (``_parse``) came to."""

    FACTS = "facts"  # the member's facts
    UNKNOWN = "unknown"  # it needs bytes [start, end) of the end that copy from before it
    EARLIER = "earlier"  # it needs bytes from ``start`` on, before the end, past the start's
    FAILED = "failed"  # this reading cannot tell: the member is read from its start


@record(slots=True)
class Attempt:
    """What ``_parse`` came to, and what the outcome needs next."""

    outcome: Outcome
    facts: ElfFacts | None = None  # FACTS: the facts
    start: int = 0  # UNKNOWN, EARLIER: the first byte the parser needs
    end: int = 0  # UNKNOWN: the byte after the last


FAILED = Attempt(Outcome.FAILED)


# A tail that cannot be inflated further (its first block was not checked)
NO_BIT = -1


@fast_tuple
class Tail(TupleBody):
    bit: int  # where, in the stream, the checked block the inflation began with starts
    begin: int  # the member offset of inflated[0]
    inflated: bytearray | memoryview  # a view: an end in one pass, not copied out
    ranges: list[tuple[int, int]]  # the member's bytes known exactly
    known: bytearray | memoryview | None = None  # per byte, as ``inflate_from`` marks it
    window: memoryview | None = None  # per unknown byte, which of the 32 KiB before it
    copied: Copied | None = None  # a windowed one-pass end's (WINDOWED_ONE_PASS)

    @property
    def end(self) -> int:
        return self.begin + len(self.inflated)


@fast_tuple
class Copied(TupleBody):
    """Where the unknown bytes of a one-pass end copy from: each one of the 32 KiB before
    member offset ``above``, where the block it trusts from begins (its header at ``bit``)."""

    window: memoryview  # per byte of the end (``Tail.inflated``), which of those 32 KiB
    above: int
    bit: int
    # those 32 KiB and which of them are known, once inflated (``_looked_up_before``)
    before: bytes | None = None
    before_known: bytes | None = None


@fast_tuple
class Counted(TupleBody):
    """The stream decoded from a block header to its end: each later block header with
    the member offset where its output begins."""

    payload: memoryview
    starts: list[tuple[int, int]]  # (bit in the stream, member offset)
    # the inflations ``_copied_bytes`` made, by (bit, begin, end): a chain of copies looked
    # up from one margin is looked up again, and further, from the next (jaxlib's
    # libjax_common.so: one byte of PT_DYNAMIC copied through 50 blocks, 5 MB back, inflated
    # 51 times where 20 do)
    earlier: dict[tuple[int, int, int], Tail]


def parse_by_ends(archive: WheelArchive, member: Member, parse: PartialParser) -> ElfFacts | None:
    """The facts from the member's first tables and its end; None where reading it so would
    not pay, or fails."""
    from wheelscan._native import dynamic_segment, facts_end

    skip_above, worth = ends_costs(archive.fetched, member.size)
    if member.size < skip_above:
        return None
    try:
        head = archive.head(member, HEAD_BYTES)
    except WheelError:
        return None  # its start does not inflate: the reading from the start says so
    dynamic, end = dynamic_segment(head), facts_end(head)
    if dynamic is None or end is None:
        return None
    offset = dynamic[0]
    counted: Counted | None = None
    start = _Start()  # the start inflated into the scratch, kept from attempt to attempt
    margins = list(TAIL_MARGINS)
    while margins:
        margin = margins.pop(0)
        route = _route(member.size, offset, end, margin, worth)
        if route is Route.FROM_THE_START or not _end_fits(member, _aimed(member, offset - margin)):
            return None
        if route is Route.ONE_PASS:
            tail = _inflate_to_the_end(archive, member, offset - margin)
        else:
            if counted is None or counted.starts[0][1] > offset - margin:
                # from as far back as any margin counted may need; over HTTP, only as far
                # as this one: the bytes further back are fetched only if ever needed
                reach = max(
                    [
                        m
                        for m in margins
                        if _route(member.size, offset, end, m, worth) is Route.COUNTED
                        and _end_fits(member, _aimed(member, offset - m))
                        and not archive.fetched
                    ],
                    default=margin,
                )
                counted = _count(archive, member, offset - max(reach, margin))
                if counted is None:
                    return None
            tail = _inflate_counted(counted, offset - margin, min(member.size, end + TAIL_EXTRA))
        if tail is None:
            return None
        # bytes the parser asks for (PT_DYNAMIC's first) that copy from before the start are
        # looked up further back; failing that, the next margin
        for resolves in range(MAX_RESOLVES + 1):
            attempt = _parse(archive, member, tail, start, parse)
            if attempt.outcome is not Outcome.UNKNOWN or resolves == MAX_RESOLVES:
                break
            if counted is not None and tail.window is not None:
                resolved = _resolve(counted, tail, attempt.start, attempt.end)
            elif tail.copied is not None and margins:
                # an end in one pass: the bytes before it inflated from the next margin
                resolved = _looked_up_before(
                    archive, member, tail, attempt.start, attempt.end, offset - margins[0]
                )
            else:
                break
            if resolved is None:
                break
            tail = resolved
        if attempt.outcome is Outcome.FACTS:
            return attempt.facts
        if attempt.outcome is Outcome.FAILED:
            return None
        if attempt.outcome is Outcome.EARLIER:
            # a table before the end inflated (patchelf put it there): from before it
            margins = [offset - attempt.start + TAIL_MARGINS[0]]
    return None


def ends_costs(fetched: bool, size: int) -> tuple[int, float]:
    """From what size a member is read by its ends, and at most what share of inflating it
    whole that may cost (``_route``): a wheel's bytes at hand, or fetched over HTTP; over
    WHOLE_MEMBER_LIMIT, the same either way (REMOTE_SKIP_WORTH's note)."""
    if fetched and size <= WHOLE_MEMBER_LIMIT:
        return REMOTE_SKIP_ABOVE, REMOTE_SKIP_WORTH
    return SKIP_ABOVE, SKIP_WORTH


def _aimed(member: Member, begin: int) -> int:
    """Where the end's search first reaches back to in the stream (a byte of it) to decode
    the member from ``begin``, if the member compressed evenly (``_count``, ``_one_pass``):
    a block allowance before it, and as far back as SEARCH_BITS."""
    aim = max(0, begin - BLOCK_ALLOWANCE)
    return max(0, member.compressed_size * aim // member.size - SEARCH_BITS // 8)


def _end_fits(member: Member, stream_from: int) -> bool:
    """Whether the end's stream from byte ``stream_from`` on may be decoded: over
    WHOLE_MEMBER_LIMIT, only up to MAX_END_STREAM bytes of it (over HTTP it is fetched and
    held whole; a longer one, the member is streamed, a window at a time). Decided from the
    member's bytes alone, so alike from a directory and over HTTP."""
    return (
        member.size <= WHOLE_MEMBER_LIMIT or member.compressed_size - stream_from <= MAX_END_STREAM
    )


def first_decoded(
    member: Member, dynamic_offset: int, end: int, fetched: bool = True
) -> tuple[int, Route] | None:
    """Where ``parse_by_ends`` first decodes the end of ``member`` from (a member offset,
    before the block allowance), and on which route, given where its PT_DYNAMIC begins and
    its tables end; None if it would read the member from its start. For a reader that
    fetches the stream before it is decoded (wheel/http.py): the first attempt's reach, as
    below, whose search begins at ``search_target``."""
    size = member.size
    skip_above, worth = ends_costs(fetched, size)
    if size < skip_above:
        return None
    margin, *later = TAIL_MARGINS
    route = _route(size, dynamic_offset, end, margin, worth)
    if route is Route.FROM_THE_START or not _end_fits(
        member, _aimed(member, dynamic_offset - margin)
    ):
        return None
    if route is Route.COUNTED and not fetched:
        counted = [
            m
            for m in later
            if _route(size, dynamic_offset, end, m, worth) is Route.COUNTED
            and _end_fits(member, _aimed(member, dynamic_offset - m))
        ]
        margin = max(counted, default=margin)
    return dynamic_offset - margin, route


def search_target(member: Member, begin: int, route: Route) -> int:
    """The bit of the stream from which the end's first search for a block header reaches
    back (FIRST_SEARCH_BITS, then SEARCH_BITS: ``_floors``) to decode the member from
    ``begin`` on ``route``: counted, ``count_target``'s (over WHOLE_MEMBER_LIMIT the end is
    taken to compress END_DENSER times as well as the member); in one pass, where an evenly
    compressed member would place it. wheel/http.py fetches the end's stream from there: from
    the even aim, it fetched 13 MB of jaxlib's that the count never decoded."""
    aim = max(0, begin - BLOCK_ALLOWANCE)
    if route is Route.COUNTED:
        return count_target(member, aim)
    return 8 * member.compressed_size * aim // member.size


def _route(size: int, offset: int, end: int, margin: int, worth: float | None = None) -> Route:
    """How to inflate the end from ``margin`` before PT_DYNAMIC, whichever costs less, if
    either pays (costs at most ``worth``, SKIP_WORTH unless given, of inflating it whole)."""
    if offset <= margin:
        return Route.FROM_THE_START
    tail = size - offset + margin
    written = min(size, end + TAIL_EXTRA) - offset + margin
    one_pass = WRITE_COST * tail if tail <= MAX_ONE_PASS else float("inf")
    counted = COUNT_COST * tail + WRITE_COST * written
    if min(one_pass, counted) > (SKIP_WORTH if worth is None else worth) * size:
        return Route.FROM_THE_START
    return Route.ONE_PASS if one_pass <= counted else Route.COUNTED


def _count(archive: WheelArchive, member: Member, begin: int) -> Counted | None:
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
        for payload, floor in _searched(archive, member, target):
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


def count_target(member: Member, aim: int) -> int:
    """Where the count first searches back from for a block header (a bit of the stream)
    to place member offset ``aim``: as if the stream from there to its end were the end's
    share of the member's bytes, over END_DENSER for a member over WHOLE_MEMBER_LIMIT
    (``_count``). A smaller one is aimed as if it compressed evenly: there the count is
    short, and a count begun later holds fewer blocks for a byte copied from before the
    end to be looked up in (``_copied_bytes``): cryptography 50's armv7l `_rust.abi3.so`
    was then read from its start, over HTTP 4.25 MB fetched where its ends took 1.56."""
    stream_bits = 8 * member.compressed_size
    denser = END_DENSER if member.size > WHOLE_MEMBER_LIMIT else 1
    return max(0, stream_bits - int(stream_bits * (member.size - aim) / member.size / denser))


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


def _floors(target: int) -> list[int]:
    """Where a search for a block header from bit ``target`` back stops: FIRST_SEARCH_BITS
    before it, then, if it found none, SEARCH_BITS before it."""
    first = max(0, target - FIRST_SEARCH_BITS)
    return [first] if first == 0 else [first, max(0, target - SEARCH_BITS)]


def _searched(
    archive: WheelArchive, member: Member, target: int
) -> Iterator[tuple[memoryview, int]]:
    """For each floor of a search from bit ``target`` (``_floors``), the member's stream
    to decode from it (nothing before it is decoded) and the floor; none from a floor whose
    stream may not be decoded (``_end_fits``), nor further back."""
    for floor in _floors(target):
        if not _end_fits(member, floor // 8):
            return
        yield archive.payload_from(member, floor // 8), floor


def _inflate_counted(counted: Counted, begin: int, end: int) -> Tail | None:
    """The member's bytes from the last counted block header at or before ``begin``."""
    block = _block_at_or_before(counted, begin)
    if block is None:
        return None
    bit, start = block
    return _inflate_at(counted.payload, bit, start, end, keep_window=True)


def _block_at_or_before(counted: Counted, offset: int) -> tuple[int, int] | None:
    """The last counted block header (bit, member offset) whose output begins at or before
    ``offset`` (the starts are in order of both), or None."""
    found = bisect.bisect_right(counted.starts, offset, key=lambda s: s[1])
    return counted.starts[found - 1] if found else None


def _inflate_at(
    payload: memoryview, bit: int, begin: int, end: int, keep_window: bool = False
) -> Tail | None:
    """The member's bytes [begin, end), inflated from the block header at ``bit``
    (``keep_window``: with which byte before ``begin`` each unknown one copies)."""
    from wheelscan._tail import inflate_from, known_ranges

    if end - begin > MAX_TAIL_WRITE:
        return None
    out, known = bytearray(end - begin), bytearray(end - begin)
    window = memoryview(bytearray(2 * (end - begin))).cast("H") if keep_window else None
    if inflate_from(payload, bit, out, known, window) != len(out):
        return None
    return Tail(bit, begin, out, known_ranges(known, 0, begin), known, window)


def _resolve(counted: Counted, tail: Tail, start: int, end: int) -> Tail | None:
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
        block = _block_at_or_before(counted, min(sources))
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
            current = _inflate_at(counted.payload, bit, begin, above, keep_window=True)
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


def _looked_up_before(
    archive: WheelArchive, member: Member, tail: Tail, start: int, end: int, earlier: int
) -> Tail | None:
    """``tail`` (a windowed end in one pass) with its bytes [start, end) known, each unknown
    one found where it copies from: in the 32 KiB before the block the end trusts from,
    inflated (once an end) from a block header before member offset ``earlier`` up to that
    block; None if one cannot be (the parser's next margin inflates the end from there)."""
    from wheelscan._tail import known_ranges

    copied, known = tail.copied, tail.known
    if copied is None or known is None:
        return None
    span = range(max(start, tail.begin), min(end, tail.end))
    positions = [p for p in span if not known[p - tail.begin]]
    if not positions:
        return None  # past the end, or in a run too short to be offered: not for a look-up
    if copied.before is None or copied.before_known is None:
        before = _inflated_before(archive, member, earlier, copied)
        if before is None:
            return None
        copied = copied._replace(before=before[0], before_known=before[1])
        assert copied.before is not None and copied.before_known is not None  # (for mypy)
    for position in positions:
        source = copied.window[position - tail.begin]
        if not copied.before_known[source]:
            return None  # copied from further back: the next margin's
        tail.inflated[position - tail.begin] = copied.before[source]
        known[position - tail.begin] = 1
    ranges = known_ranges(known, 0, tail.begin)
    if not any(a <= start and end <= b for a, b in ranges):
        return None
    return tail._replace(ranges=ranges, copied=copied)


def _inflated_before(
    archive: WheelArchive, member: Member, earlier: int, copied: Copied
) -> tuple[bytes, bytes] | None:
    """The 32 KiB before member offset ``copied.above`` and which of them are known,
    inflated from a block header found where an end inflated in one pass from ``earlier``
    would look for one, up to the block header at ``copied.bit``; None where none is found
    that inflates soundly that far, within MAX_LOOKED_UP_BEFORE."""
    from wheelscan._tail import inflate_until

    capacity = 2 * (copied.above - earlier + BLOCK_ALLOWANCE)
    if earlier >= copied.above or capacity > MAX_LOOKED_UP_BEFORE:
        return None
    target = search_target(member, earlier, Route.ONE_PASS)
    # mapped, not bytearrays: only the pages written cost anything (they are sized for twice
    # what they are likely to hold), where a bytearray was zeroed whole; and a huge page at
    # least, advised so (wheel/scratch.py's HUGE_PAGE_SHARE: 4 KiB pages were 400 faults)
    length = max(capacity, HUGE_PAGE)
    with anonymous_mapping(length) as out, anonymous_mapping(length) as known:
        prefer_huge_pages_around(out, 0, capacity)
        prefer_huge_pages_around(known, 0, capacity)
        found = None
        for payload, floor in _searched(archive, member, target):
            found = inflate_until(payload, target, floor, copied.bit, out, known)
            if found is not None:
                break
        if found is None:
            return None
        length = found[0]  # (its bytes before a block it trusts are all marked unknown)
        missing = bytes(max(0, WINDOW - length))  # before the start found: unknown
        kept = max(0, length - WINDOW)
        return missing + out[kept:length], missing + known[kept:length]


def _window_buffer(size: int) -> memoryview:
    """``size`` two-byte entries for a one-pass end's window (WINDOWED_ONE_PASS), a mapping
    this thread keeps from member to member as it keeps the end's buffers; nothing needs
    zeroing: an entry is read only for an unknown byte, and written with it."""
    kept: mmap.mmap | None = getattr(_PER_THREAD, "window", None)
    if kept is None:
        kept = _PER_THREAD.window = anonymous_mapping(2 * WINDOWED_ONE_PASS)
    return _advised(kept, 2 * size).cast("H")


def _inflate_to_the_end(archive: WheelArchive, member: Member, begin: int) -> Tail | None:
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
        for payload, floor in _searched(archive, member, target):
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


_PER_THREAD = threading.local()
# The largest one-pass buffers kept (each), by a thread that does not share its scratch
# (``show``, a worker reading one wheel at a time): most ends of the benchmark corpus take
# up to 4 MiB, a few 9; each kept MiB is one more in a worker's peak (2 x 12 MiB made its
# 122 MB 143)
KEPT_ONE_PASS = 4 * 1024 * 1024


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


class _Start:
    """How much of a member's start is inflated in this thread's scratch (``valid``), and
    how much the parser was last given (``prefix``): a member's later attempts, at another
    margin, take it up where the last one left it. (Nothing else writes the scratch
    between them but the scratch giving back the pages past KEPT_RESIDENT, after a member
    larger than that: ``valid`` stops there then.)"""

    def __init__(self) -> None:
        self.prefix = FIRST_PREFIX
        self.valid = 0
        self.generation = -1  # the scratch's when ``valid`` was set (scratch_generation)


def _parse(
    archive: WheelArchive,
    member: Member,
    tail: Tail,
    start_inflated: _Start,
    parse: PartialParser,
) -> Attempt:
    """Parse with the end in place and the start inflated as far as the parser asks (and
    the end further, if it asks for bytes past it: tables patchelf moved behind
    PT_DYNAMIC, in the segment that holds it). FAILED where the start does not inflate or
    the parser refuses the bytes: the end may have been decoded from a false start."""
    size = member.size
    prefix = start_inflated.prefix
    with scratch(size, populate=False) as buffer:
        generation = scratch_generation()
        valid = 0  # the scratch was given back since (threads sharing a budget): inflate again
        if start_inflated.generation == generation:
            valid = min(start_inflated.valid, tail.begin)  # the end written over the rest
        prefer_huge_scratch_pages(tail.begin, tail.end)
        populate_scratch(tail.begin, tail.end)  # faulted in at once, not as the copy meets them
        buffer[tail.begin : tail.end] = tail.inflated
        try:
            for _ in range(MAX_PREFIX_PASSES):
                prefix = min(prefix, tail.begin, MAX_START)
                if valid < prefix - PREFIX_SLACK:
                    with buffer[:prefix] as part:
                        try:
                            valid = inflate_start(archive, member, part)
                        except InflateError:
                            return FAILED
                try:
                    facts = parse(buffer, [(0, valid), *tail.ranges])
                    return Attempt(Outcome.FACTS, facts)
                except NeedBytes as e:
                    start, wanted = e.start, e.end
                except ElfError:
                    return FAILED
                if start >= tail.end and tail.bit != NO_BIT:
                    longer = _inflate_at(
                        archive.payload_from(member, tail.bit // 8),
                        tail.bit,
                        tail.begin,
                        min(size, wanted + TAIL_EXTRA),
                    )
                    if longer is None:
                        return FAILED
                    tail = longer
                    buffer[tail.begin : tail.end] = tail.inflated
                elif wanted <= tail.begin and wanted <= min(
                    size * SKIP_WORTH, MAX_START - PREFIX_SLACK
                ):
                    # the version tables follow the strings a linker writes: ask for them too
                    prefix = max(wanted + wanted // 8 + PREFIX_SLACK, prefix * 3 // 2)
                elif start >= tail.begin:
                    # bytes of the end it could not know
                    return Attempt(Outcome.UNKNOWN, start=start, end=wanted)
                elif start > size * SKIP_WORTH:
                    return Attempt(Outcome.EARLIER, start=start)
                else:
                    return FAILED  # most of the member, or a layout this reading does not foresee
        finally:
            # what the scratch keeps of it once this use ends (``scratch.done``)
            kept = valid if size <= KEPT_RESIDENT else min(valid, KEPT_RESIDENT)
            start_inflated.prefix, start_inflated.valid = prefix, kept
            start_inflated.generation = generation
    return FAILED
