"""Inflate an ELF member only as far as the parser needs, keeping only the bytes it reads.

The parser wants the ELF header, the program headers, PT_DYNAMIC and the tables it points
to: a few per cent of a library, nearly all of it in the first megabytes, PT_DYNAMIC a little
further on. So the member is inflated as a stream into a sparse buffer (an anonymous mapping,
whose untouched pages cost no memory): the first ``keep`` bytes are kept, and so is any
range the parser asks for (``NeedBytes``); everything else is inflated and dropped. Parsing
stops the stream as soon as it succeeds, so the debug info and symbol tables at the end of
an unstripped library are never inflated at all. If the parser asks for bytes the stream has
already dropped (tables beyond ``keep``: rare), the member is inflated again from the start,
keeping them this time, and only as far as the parser still needs: what the last pass kept
further on (PT_DYNAMIC, which told where the tables are) is in the buffer still.

The CRC-32 is checked only when a member was inflated to its end (its last bytes are what a
CRC needs); the ``size-mismatch`` check still catches a stream that ends early or runs long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from wheelscan.elf import ElfFacts, NeedBytes, PartialParser
from wheelscan.errors import ErrorCode, WheelscanError
from wheelscan.wheel.inflate import RawInflaterError, crc32, raw_inflater
from wheelscan.wheel.scratch import RESTART_KEEP, RETAINED, scratch

INPUT_CHUNK = 1024 * 1024


class Stream(Protocol):
    """A member's compressed bytes as a stream reads them: its length, and slices taken in
    order (a memoryview; over HTTP, windows fetched as they are reached, wheel/http.py)."""

    def __len__(self) -> int: ...
    def __getitem__(self, span: slice, /) -> bytes | memoryview: ...


OUTPUT_CHUNK = 4 * 1024 * 1024
MIN_OUTPUT = 256 * 1024
# Kept from the start of every member: all of nearly every library, and the tables of the rest
DEFAULT_KEEP = RETAINED
# RESTART_KEEP (wheel/scratch.py): bytes already streamed past that a new pass keeps
# wholesale, so one extra pass is enough


class StreamError(WheelscanError):
    """A streamed member that does not inflate to what the directory says."""

    code: ErrorCode


@dataclass
class StreamStats:
    inflated: int = 0  # bytes of output produced, all passes
    passes: int = 0
    complete: bool = False  # the member was inflated to its end at least once
    parses: int = 0


@dataclass
class _Ranges:
    """Sorted, disjoint [start, end) ranges."""

    items: list[tuple[int, int]] = field(default_factory=list)

    def add(self, start: int, end: int) -> None:
        self.items = _merged([*self.items, (start, end)])

    def covers(self, start: int, end: int) -> bool:
        return any(a <= start and end <= b for a, b in self.items)

    def below(self, limit: int) -> list[tuple[int, int]]:
        return [(a, min(b, limit)) for a, b in self.items if a < limit]

    def union(self, others: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """These ranges and ``others`` (sorted, disjoint), as sorted disjoint ranges."""
        return _merged(self.items + others) if self.items else others


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` sorted and merged where they touch or overlap: one sort (of runs already
    sorted, as these lists are, in about linear time) and one walk. A large member's end
    may be known as ~100k ranges (its unknown bytes between): added one at a time, each
    sorting all of them again, they took quadratic time before the stream began."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def parse_streamed(
    payload: Stream,
    size: int,
    crc: int,
    parse: PartialParser,
    keep: int = DEFAULT_KEEP,
    stats: StreamStats | None = None,
    known: list[tuple[int, bytes]] | None = None,
) -> ElfFacts:
    """Parse the ELF file a raw deflate ``payload`` inflates to (``size`` bytes). ``known``:
    bytes of it known already, each at its offset (a large member's end, placed by
    wheel/ends.py), given to the parser from the start as an earlier pass's; the list is
    emptied as they are copied into the stream's buffer, so that they are not held twice
    while it streams."""
    stats = stats if stats is not None else StreamStats()
    if size == 0:
        raise StreamError("size-mismatch", "an empty member")
    wanted = _Ranges([(0, min(size, keep))])
    # what earlier passes kept in the buffer: the stream's own bytes, as a new pass would
    # put them there again. Given to the parser from the pass's start, so that a pass made
    # for tables the last one dropped stops once it has them, not at what the last one
    # found further on: tensorflow-cpu 2.21's libtensorflow_cc.so.2, its strings 15-97 MB
    # in and PT_DYNAMIC 580 MB in, was inflated to PT_DYNAMIC twice, and over HTTP its
    # whole 172 MB stream fetched twice
    held = _Ranges()
    with scratch(size) as buffer:
        placed = []
        while known:
            offset, data = known.pop()
            if not 0 <= offset <= size - len(data):
                raise ValueError(f"known bytes at {offset} outside the member's {size}")
            buffer[offset : offset + len(data)] = data
            placed.append((offset, offset + len(data)))
            del data
        held.items = _merged(placed)
        while True:
            stats.passes += 1
            facts = _one_pass(payload, size, crc, parse, buffer, wanted, held, stats)
            if facts is not None:
                return facts


def _one_pass(
    payload: Stream,
    size: int,
    crc: int,
    parse: PartialParser,
    buffer: memoryview,
    wanted: _Ranges,
    held: _Ranges,
    stats: StreamStats,
) -> ElfFacts | None:
    """One pass over the stream: the facts, or None when another pass must keep more bytes
    (``held`` then also has what this one kept)."""
    inflater = raw_inflater()
    position = consumed = 0
    running_crc = 0
    target = 0  # parse again once the stream reaches this offset
    pending: bytes | memoryview = b""
    while True:
        if position >= target:
            stats.parses += 1
            kept = wanted.below(position)
            try:
                return parse(buffer, held.union(kept))
            except NeedBytes as e:
                start, end = e.start, e.end
                if start < position and not wanted.covers(start, min(end, position)):
                    held.items = held.union(kept)  # (before ``wanted`` grows: not kept)
                    wanted.add(start, end)
                    if position - start <= RESTART_KEEP:
                        wanted.add(start, position)  # whatever else it wants there, too
                    return None  # already streamed past and dropped: inflate again
                wanted.add(start, end)
                target = end
        if position >= size:
            raise StreamError("size-mismatch", f"the parser wants bytes past {size}")
        try:
            if not pending:
                pending = payload[consumed : consumed + INPUT_CHUNK]
                consumed += len(pending)
            chunk = inflater.decompress(pending, _output_limit(position, target))
            pending = inflater.unconsumed_tail
        except RawInflaterError as e:
            raise StreamError("bad-deflate", str(e)) from e
        if not chunk and not pending and (inflater.eof or consumed >= len(payload)):
            raise StreamError(
                "size-mismatch", f"inflates to {position} bytes, directory says {size}"
            )
        if position + len(chunk) > size:
            raise StreamError("size-mismatch", f"inflates to more than {size} bytes")
        _keep(buffer, wanted, position, chunk)
        running_crc = crc32(chunk, running_crc)
        position += len(chunk)
        stats.inflated += len(chunk)
        if inflater.eof and position < size:
            raise StreamError(
                "size-mismatch", f"inflates to {position} bytes, directory says {size}"
            )
        if position == size:
            stats.complete = True
            if running_crc != crc:
                raise StreamError("crc-mismatch", "CRC-32 differs from the directory's")


def _output_limit(position: int, target: int) -> int:
    """How much to inflate before parsing again: up to the parser's next need, so that a
    member streamed for its long tail stops near its segments' end, not a whole output
    chunk past it. But at least a quarter of what came before: a parser that asks for one
    word at a time (a hash chain walked past the kept bytes) would otherwise be re-run every
    MIN_OUTPUT bytes, each run walking the chain from its start again."""
    return min(OUTPUT_CHUNK, max(target - position, MIN_OUTPUT, position // 4))


def _keep(buffer: memoryview, wanted: _Ranges, position: int, chunk: bytes) -> None:
    end = position + len(chunk)
    for a, b in wanted.items:
        lo, hi = max(a, position), min(b, end)
        if lo < hi:
            buffer[lo:hi] = chunk[lo - position : hi - position]
