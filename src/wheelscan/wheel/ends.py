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
Over WHOLE_MEMBER_LIMIT, a member whose start's tables reach past ``MAX_START`` keeps its
end placed (``EndFound``): its start is streamed only as far as its tables, its end's bytes
given to the stream as known (wheel/stream.py), not streamed to from its start.

Failing includes the parser refusing what it was given: a sound member may hold, in a
stored block, bytes that read as a block header and decode soundly to the stream's end
(tests/test_ends_failsafe.py), and the end so decoded is not the member's. So no error
leaves this module: an ElfError, or a start that does not inflate, means only that this
reading cannot tell; the member's reading from its start says what is wrong, if anything.

Neither the CRC-32 nor the stream between the ends is checked: README, known limits.

This module decides whether and how a member is read so (its costs and memory bounds) and
parses with the end in place; the end's two routes and its look-ups are modules of their
own (wheel/end_one_pass.py, wheel/end_count.py, wheel/end_lookup.py), imported only once a
member is read by its ends that way: a small wheel's ``show`` never loads them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
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
    KEPT_RESIDENT,
    RESTART_KEEP,
    populate_scratch,
    prefer_huge_scratch_pages,
    scratch,
    scratch_generation,
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
# How many times as well as the whole member the end of one counted to its end (``count_end``)
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
# A deflate stream's window: how far back a match may copy from
WINDOW = 32 * 1024
# How many times the parser's requests for unknown bytes are met by a look-up
# (wheel/end_lookup.py)
MAX_RESOLVES = 4
# The bytes of those inflations kept for the next look-up, and the most of one not kept,
# held while it is looked in (each costs four times that): zlib's blocks inflate to ~100
# KiB each (jaxlib's: 50 blocks over 5 MB)
MAX_KEPT_EARLIER = 2 * 1024 * 1024
MAX_EARLIER_CHAIN = 2 * 1024 * 1024
# A one-pass end of at most this capacity (its buffers' length, twice the end) also records,
# per unknown byte, which of the 32 KiB before the block it trusts from that byte copies
# (two bytes a byte): where the parser needs one, the bytes before are inflated from the
# next margin only up to that block (``looked_up_before``), and further back, a margin's
# length at a time, where they copy from further still; not the end again from there.
# onnxruntime 1.31.1's libonnxruntime.so, whose PT_DYNAMIC copies from 0.5 to 1.2 MB back,
# was inflated from its first margin (0.55 MB) and again from its second (1.27 MB): 1.82 MB
# where 1.29 do; its cp311 pybind11 module's, copied from further than 1.2 MB back, from
# all three (0.57, 1.2 and 5.2 MB) where 0.57 and three look-ups of 0.7-1.1 MB do (issue
# #15). Such an end holds a few MiB at most, and each of its look-ups' inflations up to
# four bytes a byte of MAX_LOOKED_UP_BEFORE (one at a time), far below END_HELD (the
# one-pass part of which is for ends of up to MAX_ONE_PASS).
WINDOWED_ONE_PASS = 2 * 1024 * 1024
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
# 19 MB, its count first reaching back 23 (taken, from an even aim, to need over 40 MiB,
# it was streamed: its reading over HTTP peaked at 230 MB, where its end held twice took
# it to 350)
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
# ask for less anyway (SKIP_WORTH of them). A start whose tables reach further is streamed
# with the end kept (``EndFound``): the stream's bound and the end's bytes, MAX_TAIL_WRITE
# counted, MAX_ONE_PASS in one pass, at most.
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
    # over WHOLE_MEMBER_LIMIT, its start's tables reach past MAX_START: the start is
    # streamed, the end in place (``EndFound``)
    LONG_START = "long-start"
    FAILED = "failed"  # this reading cannot tell: the member is read from its start


@record(slots=True)
class Attempt:
    """What ``_parse`` came to, and what the outcome needs next."""

    outcome: Outcome
    facts: ElfFacts | None = None  # FACTS: the facts
    start: int = 0  # UNKNOWN, EARLIER: the first byte the parser needs
    end: int = 0  # UNKNOWN: the byte after the last
    tail: Tail | None = None  # LONG_START: the end as the parse last had it in place


FAILED = Attempt(Outcome.FAILED)


@record(slots=True)
class EndFound:
    """A member over WHOLE_MEMBER_LIMIT whose end ``parse_by_ends`` placed, but whose start's
    tables reach further than it may inflate (MAX_START): the end's bytes known exactly,
    each at its member offset, for a streamed reading of the start to begin with
    (wheel/stream.py's ``known``). tensorflow-cpu 2.21's libtensorflow_cc.so.2, its strings
    15-97 MB in and PT_DYNAMIC 580 MB in, was streamed to PT_DYNAMIC, 154 of its stream's
    172 MB, where its end, counted, is the last 19."""

    known: list[tuple[int, bytes]]


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
    # the bytes before ``above`` found so far by look-ups, by member offset
    # (``looked_up_before``): a later parse that asks for more looks up only what is new;
    # and the bytes those look-ups inflated, which all of them together may not pass
    found: dict[int, int] | None = None
    inflated: int = 0


@fast_tuple
class Counted(TupleBody):
    """The stream decoded from a block header to its end: each later block header with
    the member offset where its output begins."""

    payload: memoryview
    starts: list[tuple[int, int]]  # (bit in the stream, member offset)
    # the inflations wheel/end_lookup.py's ``_copied_bytes`` made, by (bit, begin, end): a
    # chain of copies looked up from one margin is looked up again, and further, from the
    # next (jaxlib's libjax_common.so: one byte of PT_DYNAMIC copied through 50 blocks, 5 MB
    # back, inflated 51 times where 20 do)
    earlier: dict[tuple[int, int, int], Tail]


def parse_by_ends(
    archive: WheelArchive, member: Member, parse: PartialParser
) -> ElfFacts | EndFound | None:
    """The facts from the member's first tables and its end; None where reading it so would
    not pay, or fails. Over WHOLE_MEMBER_LIMIT, where its end is placed but its start's
    tables reach past MAX_START, the end's bytes (``EndFound``): its start is streamed."""
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
        if route is Route.FROM_THE_START or not _first_reach_fits(member, offset - margin, route):
            return None
        if route is Route.ONE_PASS:
            from wheelscan.wheel.end_one_pass import inflate_to_the_end

            tail = inflate_to_the_end(archive, member, offset - margin)
        else:
            if counted is None or counted.starts[0][1] > offset - margin:
                # from as far back as any margin counted may need; over HTTP, only as far
                # as this one: the bytes further back are fetched only if ever needed
                reach = max(
                    [
                        m
                        for m in margins
                        if _route(member.size, offset, end, m, worth) is Route.COUNTED
                        and _first_reach_fits(member, offset - m, Route.COUNTED)
                        and not archive.fetched
                    ],
                    default=margin,
                )
                from wheelscan.wheel.end_count import count_end

                counted = count_end(archive, member, offset - max(reach, margin))
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
            from wheelscan.wheel.end_lookup import looked_up_before, resolve

            if counted is not None and tail.window is not None:
                resolved = resolve(counted, tail, attempt.start, attempt.end)
            elif tail.copied is not None and margins:
                # an end in one pass: the bytes before it inflated from the next margin
                resolved = looked_up_before(
                    archive, member, tail, attempt.start, attempt.end, offset - margins[0]
                )
            else:
                break
            if resolved is None:
                break
            tail = resolved
        if attempt.outcome is Outcome.FACTS:
            return attempt.facts
        if attempt.outcome is Outcome.LONG_START and attempt.tail is not None:
            placed = attempt.tail
            inflated, begin = memoryview(placed.inflated), placed.begin  # (not sliced twice)
            return EndFound([(a, bytes(inflated[a - begin : b - begin])) for a, b in placed.ranges])
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
    the member from ``begin``, if the member compressed evenly (wheel/end_count.py,
    wheel/end_one_pass.py): a block allowance before it, and as far back as SEARCH_BITS."""
    aim = max(0, begin - BLOCK_ALLOWANCE)
    return max(0, member.compressed_size * aim // member.size - SEARCH_BITS // 8)


def reach_of(member: Member, begin: int) -> int | None:
    """The first byte of the stream an end inflated from member offset ``begin`` would
    reach back to (``_aimed``), where it may be decoded (``_end_fits``); else None."""
    aim = _aimed(member, begin)
    return aim if _end_fits(member, aim) else None


def _first_reach_fits(member: Member, begin: int, route: Route) -> bool:
    """Whether the end decoded from member offset ``begin`` on ``route`` may be, from where
    its first search reaches back to (``_end_fits``): counted, from the first floor of the
    count's search (``search_target``; ``searched`` checks each floor after it); in one
    pass, from where an evenly compressed member would place it (``_aimed``). (Counted
    ends over WHOLE_MEMBER_LIMIT were checked at the even aim too: tensorflow-cpu 2.21's
    libtensorflow_cc.so.2, whose end compresses more than twice as well as the member,
    was taken to need 45 MB of stream where the count reaches back 23 MB (the end is 19),
    and was streamed.)"""
    if route is Route.COUNTED:
        return _end_fits(member, _floors(search_target(member, begin, route))[0] // 8)
    return _end_fits(member, _aimed(member, begin))


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
    if route is Route.FROM_THE_START or not _first_reach_fits(
        member, dynamic_offset - margin, route
    ):
        return None
    if route is Route.COUNTED and not fetched:
        counted = [
            m
            for m in later
            if _route(size, dynamic_offset, end, m, worth) is Route.COUNTED
            and _first_reach_fits(member, dynamic_offset - m, Route.COUNTED)
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


def count_target(member: Member, aim: int) -> int:
    """Where the count first searches back from for a block header (a bit of the stream)
    to place member offset ``aim``: as if the stream from there to its end were the end's
    share of the member's bytes, over END_DENSER for a member over WHOLE_MEMBER_LIMIT
    (``count_end``). A smaller one is aimed as if it compressed evenly: there the count is
    short, and a count begun later holds fewer blocks for a byte copied from before the
    end to be looked up in (wheel/end_lookup.py): cryptography 50's armv7l `_rust.abi3.so`
    was then read from its start, over HTTP 4.25 MB fetched where its ends took 1.56."""
    stream_bits = 8 * member.compressed_size
    denser = END_DENSER if member.size > WHOLE_MEMBER_LIMIT else 1
    return max(0, stream_bits - int(stream_bits * (member.size - aim) / member.size / denser))


def _floors(target: int) -> list[int]:
    """Where a search for a block header from bit ``target`` back stops: FIRST_SEARCH_BITS
    before it, then, if it found none, SEARCH_BITS before it."""
    first = max(0, target - FIRST_SEARCH_BITS)
    return [first] if first == 0 else [first, max(0, target - SEARCH_BITS)]


def searched(
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
    block = block_at_or_before(counted, begin)
    if block is None:
        return None
    bit, start = block
    return inflate_at(counted.payload, bit, start, end, keep_window=True)


def block_at_or_before(counted: Counted, offset: int) -> tuple[int, int] | None:
    """The last counted block header (bit, member offset) whose output begins at or before
    ``offset`` (the starts are in order of both), or None."""
    found = bisect.bisect_right(counted.starts, offset, key=lambda s: s[1])
    return counted.starts[found - 1] if found else None


def inflate_at(
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


def start_reaches(size: int) -> int:
    """How far into a member of ``size`` bytes the parser extends its start at most
    (``_parse``): tables further are read otherwise (its end, or its start streamed)."""
    return min(int(size * SKIP_WORTH), MAX_START - PREFIX_SLACK)


def extended_prefix(wanted: int, prefix: int) -> int:
    """How far a start inflated to ``prefix`` is inflated next, the parser having asked for
    bytes up to ``wanted`` (``_parse``): the version tables follow the strings a linker
    writes, so an eighth more and PREFIX_SLACK, and half as far again at least. Over a far
    link the first fetch of a start foresees this (wheel/http.py, ``_start_ahead``)."""
    return max(wanted + wanted // 8 + PREFIX_SLACK, prefix * 3 // 2)


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
                    longer = inflate_at(
                        archive.payload_from(member, tail.bit // 8),
                        tail.bit,
                        tail.begin,
                        min(size, wanted + TAIL_EXTRA),
                    )
                    if longer is None:
                        return FAILED
                    tail = longer
                    buffer[tail.begin : tail.end] = tail.inflated
                elif wanted <= tail.begin and wanted <= start_reaches(size):
                    prefix = extended_prefix(wanted, prefix)
                elif start >= tail.begin:
                    # bytes of the end it could not know
                    return Attempt(Outcome.UNKNOWN, start=start, end=wanted)
                elif start > size * SKIP_WORTH:
                    return Attempt(Outcome.EARLIER, start=start)
                elif size > WHOLE_MEMBER_LIMIT and wanted <= min(tail.begin, size * SKIP_WORTH):
                    # tables at the start, further than it may inflate: streamed to them
                    return Attempt(Outcome.LONG_START, tail=tail)
                else:
                    return FAILED  # most of the member, or a layout this reading does not foresee
        finally:
            # what the scratch keeps of it once this use ends (``scratch.done``)
            kept = valid if size <= KEPT_RESIDENT else min(valid, KEPT_RESIDENT)
            start_inflated.prefix, start_inflated.valid = prefix, kept
            start_inflated.generation = generation
    return FAILED
