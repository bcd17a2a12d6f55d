"""Wheels read over HTTP: the zip's tail, then only the members an audit needs, by Range requests.

:class:`HttpSession` is wheelscan's one HTTP client (keep-alive connections per origin,
redirects, retries); :class:`~wheelscan.wheel.http_ranges.HttpRangeReader` is a
:class:`~wheelscan.wheel.archive.ByteReader` over it (wheel/http_ranges.py: how bytes are
fetched); :func:`open_remote_archive` ties them to :class:`WheelArchive`, and this module
decides which members are fetched, and how far (``RemoteWheelArchive``).

Spec: RFC 9110 section 14 (range requests: ``Range``, ``206``, ``Content-Range``).
"""

from __future__ import annotations

import contextlib
import mmap
import zlib
from collections.abc import Iterator, Sequence
from concurrent import futures

from wheelscan.elf import ElfFacts
from wheelscan.wheel.archive import (
    DEFLATED,
    ELF_MAGIC,
    GIVE_BACK_ABOVE,
    Limits,
    Member,
    WheelArchive,
    WheelError,
)
from wheelscan.wheel.contents import PREFIX_FROM, WHOLE_ABOVE, verify_members
from wheelscan.wheel.dedupe import ReleaseScope
from wheelscan.wheel.ends import (
    FIRST_PREFIX,
    FIRST_SEARCH_BITS,
    HEAD_BYTES,
    STREAM_WINDOW,
    extended_prefix,
    first_decoded,
    search_target,
    start_reaches,
)
from wheelscan.wheel.http_ranges import (
    HEAD_FETCH,
    TRIPS_SAVED,
    HttpRangeReader,
    is_far,
    round_trip_bytes,
)
from wheelscan.wheel.httpclient import (
    HttpError,
    HttpSession,
    Response,
    default_session,
)
from wheelscan.wheel.inflate import PREFIX_SLACK, WHOLE_MEMBER_LIMIT
from wheelscan.wheel.scratch import populate_pages
from wheelscan.wheel.stream import Stream

__all__ = [
    "HttpError",
    "HttpSession",
    "Response",
    "default_session",
    "open_remote_archive",
]

# How much of a start's output is inflated (a MiB at a time, none of it kept) to learn its
# ratio (``inflation_ratio``): plenty to tell it by, and a start of tens of MiB that fell
# short is not inflated again whole, nor held, to size the next
RATIO_SAMPLE = 4 << 20
# A block header found by the end's search may start up to 7 bits before the byte asked for
_END_SLACK = 16
# Over a far link, how much further than its guess a start read by its ends is fetched at
# most (``_start_ahead``; its headers' bound most often stops it first): a share of what a
# round trip carries, and a bound on the bytes a start holds so. Half a round trip or a
# whole one: as deep on the benchmark corpus at 50 and 200 ms, a whole one 3 MB more (the
# corpus at 200 ms 3.35 s where 4.29 with the tree that fetched the guess alone: the lab
# notes of results/remote-loopback.txt, session 24). 1 MiB: what half of 320 ms carries;
# the longest extension the corpus's starts took was 775 KiB
START_AHEAD = 0.5
START_AHEAD_AT_MOST = 1 << 20
# Extensions no ELF file wears in a real wheel (compared in lower case).
_NEVER_ELF = (
    ".py",
    ".pyi",
    ".pyc",
    ".txt",
    ".md",
    ".rst",
    ".json",
    ".toml",
    ".cfg",
    ".ini",
    ".yaml",
    ".yml",
    ".h",
    ".hpp",
    ".c",
    ".cc",
    ".cpp",
    ".pyx",
    ".pxd",
    ".pxi",
    ".html",
    ".css",
    ".js",
    ".svg",
    ".png",
    ".jpg",
    ".gif",
    ".ico",
    ".csv",
    ".typed",
    ".mo",
    ".po",
    ".xml",
    ".pem",
    ".license",
)


def is_record(name: str) -> bool:
    """The wheel's own ``<name>.dist-info/RECORD`` (what :func:`record_paths` reads)."""
    return name.endswith(".dist-info/RECORD") and name.count("/") == 1


def may_be_elf(name: str) -> bool:
    """Whether a member must be fetched because it may be an ELF file, decided from its name.

    auditwheel examines every RECORD member not ending in ``.py``, whatever its name, and a
    local audit finds ELF files by their magic. Over HTTP that would mean reading every member,
    so a remote audit skips names that are never ELF files in practice: ``.py`` (never examined
    anyway), the extensions in ``_NEVER_ELF``, and everything under ``.dist-info/``. This is the
    one place where a remote audit may differ from a local one: an ELF file hidden under such a
    name is seen locally and missed remotely, in a wheel read by its ranges (one fetched
    whole as it is opened is looked at as a local one: ``RemoteWheelArchive``).
    """
    lowered = name.lower()
    return not (name.endswith("/") or lowered.endswith(_NEVER_ELF) or ".dist-info/" in name)


def read_in_part(member: Member) -> bool:
    """Whether ``read_wheel_facts`` may read a member by a prefix or by its ends (a deflated
    one of ``PREFIX_FROM`` or more bytes, inflated whole into the scratch buffer otherwise),
    or streams it (over ``WHOLE_MEMBER_LIMIT``): its bytes are then fetched as its reading
    asks for them."""
    return member.method == DEFLATED and member.size >= PREFIX_FROM and not is_record(member.name)


def inflation_ratio(stream: bytes | memoryview, limit: int) -> float | None:
    """Bytes put out per byte taken of a raw deflate stream's start, inflating at most
    ``limit`` bytes of it a MiB at a time (none of them kept); None if nothing comes out
    or the stream is unsound there."""
    inflater, produced, rest = zlib.decompressobj(-15), 0, stream
    try:
        while rest and produced < limit:
            produced += len(inflater.decompress(rest, min(limit - produced, 1 << 20)))
            rest = inflater.unconsumed_tail
    except zlib.error:
        return None
    taken = len(stream) - len(rest) - len(inflater.unused_data)
    return produced / taken if produced and taken else None


class StreamedRanges:
    """A member's compressed bytes for a streamed reading (wheel/stream.py), fetched a part
    of ``STREAM_WINDOW // 2`` bytes at a time as the stream reaches it; from the second part
    on, the next is asked for on the range requests' pool as the stream takes this one, and
    fetched while the stream inflates it: no round trip is waited for between two parts
    (tensorflow-cpu 2.21's 170 MB library, streamed twice, waited for 20 windows one after
    another). In the first part, only once the stream is past its middle: most streams stop
    there, where the parser has what it needs, and a part asked ahead would be 8 MiB
    fetched for nothing. (Asked ahead only past each part's middle, tensorflow-cpu's `show
    URL` at 50 ms gained nothing: half a part inflates faster than a round trip and 8 MiB
    come through the benchmark's proxy.)
    Held at once: the part read and the next, one ``STREAM_WINDOW``, as one window was
    before; a member over the scratch's size (a 328 MB library) costs a worker that, not
    its whole compressed size. Each pass of the stream fetches it again. ``close`` ends
    what was asked ahead (``RemoteWheelArchive.done_with`` and ``close`` call it): nothing
    fetched for the stream outlives its reading, or is counted after it."""

    def __init__(self, reader: HttpRangeReader, begin: int, length: int) -> None:
        self.reader, self.begin, self.length = reader, begin, length
        self.part = STREAM_WINDOW // 2
        self._current: tuple[int, bytes | memoryview] | None = None  # (part, its bytes)
        self._ahead: tuple[int, futures.Future[bytes | memoryview]] | None = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, span: slice, /) -> bytes | memoryview:
        start, stop, _ = span.indices(self.length)
        if stop - start > STREAM_WINDOW:
            raise ValueError(f"a slice of {stop - start} bytes, over the window")
        if start >= stop:
            return b""
        first, last = start // self.part, (stop - 1) // self.part
        if first == last:
            at = first * self.part
            data = self._part(first)
            if first > 0 or start >= self.part // 2:
                self._ask_ahead(first + 1)
            return memoryview(data)[start - at : stop - at]
        # across two parts (the stream asks for a MiB at a time): copied
        pieces = []
        for index in range(first, last + 1):
            at = index * self.part
            data = self._part(index)
            pieces.append(bytes(data[max(start, at) - at : min(stop, at + len(data)) - at]))
        return b"".join(pieces)

    def close(self) -> None:
        """End what was asked ahead: dropped if not sent yet, else waited for (counted,
        and not left running past the reading, nor past the process's last wheel)."""
        ahead, self._ahead = self._ahead, None
        self._current = None
        if ahead is not None and not ahead[1].cancel():
            futures.wait([ahead[1]])

    def _part(self, index: int) -> bytes | memoryview:
        """Part ``index``'s bytes: asked ahead, or fetched now."""
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        ahead, self._ahead = self._ahead, None
        self._current = None  # let go of before the next is held
        if ahead is not None and ahead[0] == index and not ahead[1].cancel():
            data = ahead[1].result()  # under way: its answer
        else:
            # not asked ahead, still queued behind other wheels' requests on the pool (sent
            # now, as prefetch sends its first: dropped there), or another part (a new pass
            # from the stream's start: what was asked ahead is not wanted)
            if ahead is not None and ahead[0] != index and not ahead[1].cancel():
                futures.wait([ahead[1]])  # counted before this part is
            data = self.reader.passing(*self._span(index))
        self._current = (index, data)
        return data

    def _ask_ahead(self, index: int) -> None:
        if self._ahead is None and index * self.part < self.length:
            self._ahead = (index, self.reader.passing_ahead(*self._span(index)))

    def _span(self, index: int) -> tuple[int, int]:
        """Where part ``index`` lies in the file."""
        start = self.begin + index * self.part
        return start, min(self.begin + self.length, start + self.part)


class RemoteWheelArchive(WheelArchive):
    """A :class:`WheelArchive` whose search for ELF members looks only where :meth:`plan` did.

    The base class reads the first bytes of every member; over HTTP each such read would be a
    request, so only the members that :func:`may_be_elf` are probed. Opening it fetches those
    members and RECORD, except members over the limits: reading one raises before its data is
    needed, so fetching it would be waste (think of a 2 GiB zip bomb).

    A member that the reader may read by a prefix or by its ends (:func:`read_in_part`) is
    fetched only as far as its first ``HEAD_FETCH`` compressed bytes at first; what its
    reading then asks for (a longer start, ``payload_starts``; the stream's end,
    ``payload_from``; or all of it) is fetched when asked for.
    """

    reader: HttpRangeReader
    fetched = True  # members from PREFIX_FROM on are read by their ends where that pays

    def __init__(
        self, reader: HttpRangeReader, limits: Limits = Limits(), twins: ReleaseScope | None = None
    ) -> None:
        # every byte at hand (a wheel fetched whole, or sent whole by a server that ignored
        # Range): read as a local file is, its local headers and first bytes looked at
        # natively (``sniff``), with nothing to fetch or size; and every member looked at by
        # its magic, whatever its name, as a local read looks (``may_be_elf``'s blind spot is
        # for bytes not fetched). 658 of the simulated index's 1,050 wheels, whose members
        # were each probed by a zlib inflater of its own
        whole = reader.whole_file()
        self._held = None if whole is None else memoryview(whole)
        super().__init__(reader, limits)
        # member -> (the first payload byte held, the payload with zeros before it)
        self._tails: dict[int, tuple[int, mmap.mmap]] = {}
        # member -> its streamed reading (``streamed_payload``), closed when done with
        self._streams: dict[int, StreamedRanges] = {}
        # member -> how many bytes its first compressed bytes inflate to, per byte
        self._start_ratios: dict[int, float] = {}
        # the release's twins (wheel/dedupe.py): member -> facts a twin settled
        self._twins = None if verify_members() else twins
        self._reused: dict[int, ElfFacts] = {}
        partly = read_in_part if not verify_members() else (lambda member: False)
        # each member's name looked at once (a wheel holds hundreds, 125k on the simulated
        # index's 1,050): those that may be ELF files, probed by ``elf_members``, and RECORD
        self._probed: list[Member] = []
        fetched: list[Member] = []
        for member in self.members:
            name = member.name
            if name[-3:] == ".py":
                continue  # most members (95% of the simulated index's): neither probed nor RECORD
            if (
                WheelArchive.may_be_elf(member)  # every byte at hand: the local rule
                if self._held is not None
                else member.size >= len(ELF_MAGIC) and may_be_elf(name)
            ):
                self._probed.append(member)
            elif not is_record(name):
                continue
            if self._within_limits(member):
                fetched.append(member)
        # member -> what ``sniff`` found of its first bytes (1 ELF, 0 not, -1 not known)
        self._sniffed: dict[int, int] = {}
        if self._held is not None:
            sniffed = self.sniff(self._probed)
            self._sniffed = {m.header_offset: s for m, s in zip(self._probed, sniffed, strict=True)}
        starts = list(self._ends)  # every member's local header, in order (``_member_ends``)
        spans = reader.plan(fetched, partly, starts)
        if self._held is None:
            reader.prefetch(spans)
        if not verify_members():
            try:
                if self._twins is not None:
                    self._reused = self._twins.claim(self._heads(spans))
                if self._held is None:
                    reader.prefetch(self._planned_parts(spans))
            except BaseException:
                self.close()  # nobody waits for this wheel's claims
                raise

    def _heads(self, planned: Sequence[tuple[int, int]]) -> list[tuple[Member, bytes]]:
        """The members read in part, each with its first compressed bytes as the plan
        fetched them (``HEAD_FETCH`` of them, or all where fewer): their identity in the
        release, with the name, CRC-32 and sizes. No request: the plan holds them."""
        ends = dict(planned)
        heads = []
        for member in self.members:
            if member.header_offset not in ends or not read_in_part(member):
                continue
            try:
                begin = self.data_offset(member)
            except WheelError:
                continue  # its reading meets this again, and says so
            length = min(HEAD_FETCH, member.compressed_size)
            if ends[member.header_offset] - begin < length:
                continue  # a long extra field: not all of its first bytes came
            try:
                if not self.is_elf(member, self._sniffed.get(member.header_offset, -1)):
                    continue  # no ELF file (a large .dat): never parsed, never a twin's
            except WheelError:
                continue
            heads.append((member, bytes(self.reader.read_at(begin, length))))
        return heads

    def held(self) -> memoryview | None:
        return self._held

    def reused_facts(self, member: Member) -> ElfFacts | None:
        return self._reused.get(member.header_offset)

    def parsed(self, member: Member, facts: ElfFacts) -> None:
        if self._twins is not None:
            self._twins.remember(member, facts)

    def close(self) -> None:
        if self._twins is not None:
            self._twins.close()
        for stream in list(self._streams.values()):  # members whose reading failed
            stream.close()
        self._streams.clear()
        # the body let go of (from a server that ignores Range, up to MAX_WHEEL_SIZE): a
        # closed archive may be held on, by a traceback or a twin's record
        self._held = None
        super().close()

    def _planned_parts(self, planned: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """What the reading of each member fetched in part will ask for first (``_parts``).
        All of them are fetched at once, a round trip for the wheel where each would take one
        of its own; a guess that falls short costs the request that completes it, never a
        verdict.

        Over a far link a member whose compressed bytes one round trip carries
        (``round_trip_bytes``) is fetched whole instead where its parts are not all held
        already, up to TRIPS_SAVED round trips' worth a wheel (as a wheel is fetched whole
        below that; with no cap beside: a whole wheel's bytes are mostly not its libraries',
        hence WHOLE_AT_MOST, where a member's are all its library's). Read in part, each guess
        that falls short costs a round trip, one after another (a start extended once its end
        named the strings' place, an end's search stepping back, a look-up further back): 60
        of the benchmark corpus's 164 starts read by ends were extended; at 160 ms pyzmq's
        musllinux wheel went 5 round trips deep (1.36 of its 1.89 MB) where 3 do (1.80 MB).
        Whole, a member is read as it would be in part (its reading is decided by its bytes,
        not by what is held): no fact changes. (A wheel whose every byte comes so has its
        sha256 checked against the index's, as any wheel fetched whole,
        ``HttpRangeReader.close``; its streams are then served from what is held, and no
        helper thread starts: task.py.) At 200 ms the corpus's audit took 4.63 s where 4.93
        (25.4% of its bytes where 23.9%; 5 rounds, benchmarks/remote.py). The link's rate
        is assumed for each wheel alone; where many wheels in flight fill it (the corpus's
        140 MB take 22 s at 50 Mbit/s, where its round trips take 4.6 s), the audit is
        bound by its bytes, and these 6% more cost 6% more time. Near (loopback, a LAN) a
        round trip carries a few KiB: only a library that compresses to less is fetched
        whole. Over a far link, a start read by its ends is fetched as far as its tables
        may reach (``_start_ahead``), for its extension costs a round trip too."""
        ends = dict(planned)
        spans: list[tuple[int, int]] = []
        carried = round_trip_bytes(self.reader.session, self.reader.url)
        whole_left = TRIPS_SAVED * carried  # what the members fetched whole may weigh together
        far = is_far(carried)
        for member in self.members:
            if member.header_offset not in ends or not read_in_part(member):
                continue
            if member.header_offset in self._reused:
                continue  # its twin's facts serve: nothing more of it is fetched
            try:
                head = self.head(member, HEAD_BYTES)
                begin = self.data_offset(member)
            except WheelError:
                continue  # its reading meets this again, and says so
            if head[:4] != ELF_MAGIC:
                continue
            self._learn_start_ratio(member, begin, ends[member.header_offset])
            parts = self._parts(member, head, begin)
            whole = (begin, begin + member.compressed_size)
            if (
                member.compressed_size <= min(carried, whole_left)
                # (over WHOLE_MEMBER_LIMIT a member is never held whole: its reading holds a
                # window of it, or its end, however well it compresses)
                and member.size <= WHOLE_MEMBER_LIMIT
                and whole not in parts  # (all of it asked for anyway, as its start or end)
                and not all(self.reader.holds(*part) for part in parts)
            ):
                whole_left -= member.compressed_size
                parts = [whole]
            elif far and len(parts) == 2:  # read by its ends: its end's span, then its start's
                parts[1] = self._start_ahead(member, head, parts, carried)
            spans += parts
        return spans

    def _parts(self, member: Member, head: bytes, begin: int) -> list[tuple[int, int]]:
        """What the reading of ``member`` (its payload from ``begin``) will ask for first,
        from the program headers ``head`` holds: the end's stream from where its search
        begins, then the start as far as the parser first inflates it (``parse_by_ends``,
        whatever the member's size; sized by the ratio ``_learn_start_ratio`` found): the
        one case of two spans; or the start up to its tables' end (a prefix), or the rest
        of it (read whole; over WHOLE_MEMBER_LIMIT, streamed: nothing planned)."""
        from wheelscan._native import dynamic_segment, facts_end

        size, compressed = member.size, member.compressed_size
        dynamic, end = dynamic_segment(head), facts_end(head)
        first = first_decoded(member, dynamic[0], end) if dynamic and end else None
        parts = []
        if first is not None:
            # where the end's first search reaches back to, as ends.py searches it
            target = search_target(member, *first)
            searched = max(0, (target - FIRST_SEARCH_BITS) // 8 - _END_SLACK)
            parts.append((begin + searched, begin + compressed))
            inflated = FIRST_PREFIX
        elif size > WHOLE_MEMBER_LIMIT:
            return parts  # streamed: fetched as the stream reaches its bytes
        elif end is not None and end + PREFIX_SLACK < WHOLE_ABOVE * size:
            inflated = end + PREFIX_SLACK
        else:
            inflated = size
        parts.append((begin, begin + self._start_length(member, inflated)))
        return parts

    def _start_ahead(
        self, member: Member, head: bytes, parts: list[tuple[int, int]], carried: int
    ) -> tuple[int, int]:
        """Over a far link, the start of a member read by its ends (``parts``: its end's
        span, then its start's) as its first fetch takes it: as far as the parser would
        extend it were its tables to end where its program headers bound them
        (``tables_bound``: the first segment's end where it maps no code, else the entry
        point; where they bound nothing, as far as the parser extends a start at all), and
        never more than START_AHEAD of a round trip's bytes past its guess, nor
        START_AHEAD_AT_MOST. A start that falls short waits for its end, which names where
        the strings lie, and then for its own extension: a round trip more for its wheel,
        one after another. Where the tables end within the guess, nothing more."""
        from wheelscan._native import tables_bound

        (end_from, _), (begin, guessed) = parts
        reach = start_reaches(member.size)
        bound = tables_bound(head)
        if bound is not None:
            reach = min(reach, bound)
        if reach <= FIRST_PREFIX - PREFIX_SLACK:  # within what the guess inflates
            return begin, guessed
        foreseen = self._start_length(member, extended_prefix(reach, FIRST_PREFIX))
        ahead = min(int(carried * START_AHEAD), START_AHEAD_AT_MOST)
        furthest = min(guessed + ahead, begin + foreseen, end_from)
        return begin, max(guessed, furthest)

    def _learn_start_ratio(self, member: Member, begin: int, held: int) -> None:
        """How much the member's first compressed bytes, fetched with its plan (up to
        ``held``), inflate to: its tables' compression ratio, closer to what a prefix needs
        than the whole member's (``_start_length``)."""
        length = min(HEAD_FETCH, member.compressed_size, held - begin)
        if length <= 0 or length >= member.compressed_size:
            return
        ratio = inflation_ratio(self.reader.read_at(begin, length), RATIO_SAMPLE)
        if ratio is not None:
            self._start_ratios[member.header_offset] = ratio

    def _start_length(self, member: Member, inflated: int) -> int:
        """The compressed bytes first fetched to inflate ``inflated`` bytes of the member:
        its share at the ratio of the member's first bytes (``_learn_start_ratio``; else of
        the whole member) and a quarter more, and ``HEAD_FETCH`` more; all of it for the
        whole member. (The starts of the benchmark corpus's libraries compress 0.9 to 2.1
        times worse than the whole. With wheels below 1 MiB fetched whole, a quarter more,
        then half as much again each time, fetched 54.9% of its bytes in 2.68 requests a
        wheel; half more then twice as much, 56.6% in 2.67; 2.1 times, then half more, 56.5%
        in 2.62. At the first 16 KiB's ratio, the 135 starts of 512 KiB and more that the
        corpus's libraries inflate first were fetched with 3.5 MB more than they needed,
        13 of them short; at the whole's, 5.1 MB more, 16 short.)"""
        size = member.compressed_size
        if inflated >= member.size:
            return size
        ratio = self._start_ratios.get(member.header_offset, member.size / max(1, size))
        return min(size, int(inflated * 5 / (4 * ratio)) + HEAD_FETCH)

    def payload_starts(self, member: Member, inflated: int) -> Iterator[memoryview]:
        """Starts sized from the member's compression ratio (``_start_length``), then each
        from the ratio of the last, which fell short: what it inflated to, its share of
        ``inflated`` and a quarter more (at least HEAD_FETCH more than the last). (Half as
        long again as the last, the corpus's prefixes fetched 2.3 MB more than they needed,
        most of it from the last extension.)"""
        if self._held is not None:
            yield self.payload(member)  # all of it at hand: the first start is the last
            return
        size = member.compressed_size
        begin = self.data_offset(member)
        length = self._start_length(member, inflated)
        while True:
            start = self.reader.read_at(begin, length)
            yield start
            if length >= size:
                return
            ratio = inflation_ratio(start, RATIO_SAMPLE)  # None: the whole payload says why
            wanted = int(inflated * 5 / (4 * ratio)) if ratio is not None else size
            # a quarter longer at least: the ratio is sampled on the start's first output,
            # which may compress better than the rest (a round trip and a new inflation
            # each time, it must not creep by HEAD_FETCH)
            length = min(size, max(length * 5 // 4, wanted) + HEAD_FETCH)

    def streamed_payload(self, member: Member) -> Stream:
        """Fetched as it is read (``StreamedRanges``), unless every member is read whole
        (``WHEELSCAN_VERIFY``) or a server ignoring Range sent the file whole."""
        if verify_members() or self.reader.whole_file() is not None:
            return self.payload(member)
        stream = StreamedRanges(self.reader, self.data_offset(member), member.compressed_size)
        earlier = self._streams.pop(member.header_offset, None)
        if earlier is not None:
            earlier.close()
        self._streams[member.header_offset] = stream
        return stream

    def payload_from(self, member: Member, start: int) -> memoryview:
        """The bytes from ``start`` to the end fetched (and from a little before it: a block
        header may begin a few bits early), in a mapping whose untouched pages cost nothing.
        Over WHOLE_MEMBER_LIMIT the reader forgets them once copied there, or the end
        (planned, ``_planned_parts``) would be held twice until the wheel closes: 70 MB of
        tensorflow-cpu's."""
        size = member.compressed_size
        start = max(0, min(start, size) - _END_SLACK)
        if start == 0 or self._held is not None:
            return self.payload(member)
        begin = self.data_offset(member)
        held, buffer = self._tails.get(member.header_offset, (size, None))
        if buffer is None:
            buffer = mmap.mmap(-1, max(1, size), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if start < held:
            # its pages faulted in at once, not one by one as the copy meets them: a third
            # of the page faults of a worker reading the benchmark corpus over HTTP were
            # copies into fresh pages, these first among them
            populate_pages(buffer, start, held)
            buffer[start:held] = self.reader.read_at(begin + start, held - start)
            if member.size > WHOLE_MEMBER_LIMIT:
                # (a smaller member's whole reading, where its ends fail, takes them from
                # the reader: forgotten, they would be fetched twice)
                self.reader.forget(begin + start, begin + held)
            self._tails[member.header_offset] = (start, buffer)
        return memoryview(buffer)[:size]

    def done_with(self, member: Member) -> None:
        self._tails.pop(member.header_offset, None)
        stream = self._streams.pop(member.header_offset, None)
        if stream is not None:
            stream.close()  # its part asked ahead: ended before its reading is counted
        if member.compressed_size >= GIVE_BACK_ABOVE:
            # what its reading fetched (its start, say) goes too, not at the wheel's close
            with contextlib.suppress(WheelError):
                begin = self.data_offset(member)
                self.reader.forget(begin, begin + member.compressed_size)
        super().done_with(member)

    def _within_limits(self, member: Member) -> bool:
        try:
            self.check_limits(member)
        except WheelError:
            return False
        return True

    def elf_members(self) -> Iterator[Member]:
        for member in self._probed:
            if self.is_elf(member, self._sniffed.get(member.header_offset, -1)):
                yield member


def open_remote_archive(
    url: str,
    size: int | None = None,
    limits: Limits = Limits(),
    session: HttpSession | None = None,
    whole_below: int | None = None,
) -> WheelArchive:
    """Open a wheel by URL: its central directory, RECORD and possible ELF members fetched
    (or, at most ``whole_below`` bytes, ``whole_below_for`` where None, the whole wheel in
    one request).

    ``read_wheel_facts`` then runs on it unchanged, served from what was fetched here; the
    reader (``archive.reader``, an :class:`HttpRangeReader`) counts ``bytes_fetched``.
    """
    return RemoteWheelArchive(HttpRangeReader(url, size, session, whole_below), limits)
