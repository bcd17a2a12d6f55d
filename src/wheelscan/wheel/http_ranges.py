"""A remote file's bytes, read by Range requests and held in disjoint blocks.

:class:`HttpRangeReader` is a :class:`~wheelscan.wheel.archive.ByteReader` over wheelscan's
HTTP session (wheel/httpclient.py): it fetches a wheel's tail first, then the spans a caller
plans, merged and asked for together where the server answers so (wheel/byteranges.py), on a
process-wide pool of request threads, or the whole wheel in one request where a round trip
would carry more than the ranges save. Which members it is asked for, and how they are read,
is wheel/http.py's ``RemoteWheelArchive``'s to decide: this module knows a zip only as far
as a member's span in it.

Spec: RFC 9110 section 14 (range requests: ``Range``, ``206``, ``Content-Range``).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent import futures

from wheelscan.wheel.archive import (
    Member,
    WheelError,
)
from wheelscan.wheel.byteranges import (
    PART_OVERHEAD,
    PREAMBLE_LIMIT,
    MultipartError,
    boundary_of,
    is_multipart,
    range_header,
    split_parts,
)
from wheelscan.wheel.httpclient import (
    BodyOverLimit,
    HttpError,
    HttpSession,
    Response,
    default_session,
)
from wheelscan.wheel.remote import answered_range, ranges_honoured, redact, tell_size
from wheelscan.wheel.threads import threads_within

# What a reader holds of the file: an answer's body, or a part of a multipart answer's, a view
# of its body (wheel/byteranges.py's ``split_parts``)
Block = bytes | memoryview

# The window WheelArchive searches for the end-of-central-directory record (a 64 KiB comment,
# the 22-byte record, the 20-byte ZIP64 locator): fetching it first answers that search at once.
TAIL_SIZE = 0xFFFF + 22 + 20
# Over a far link the tail asked for first is longer for a large wheel (``_tail_length``):
# a central directory past TAIL_SIZE costs a round trip of its own before the plan. 10 of
# the benchmark corpus's 36 wheels over 1 MiB have one, the deepest over HTTP among them
# (numpy 2.5.5's 85 kB, scipy 1.18's 130, pyarrow 26's 67, scikit-learn 1.9's 99: 0.13-1.1%
# of their sizes). A 64th of the wheel, where a quarter of a round trip carries that much
# (from 42 ms, and for wheels over 4.2 MB: 27 of the corpus's 43, these 10 among them),
# costs less than the round trip would in the wheels it is asked of; never more than
# TAIL_AT_MOST (four times the corpus's longest directory), whatever a slow first answer
# made of the round trip, and below ALONE_FROM, as it goes out with the prefix. Each of
# the ten one round trip shallower at 200 ms (numpy 5 deep where 6, scipy 10 where 11,
# pyarrow 13 where 14, scikit-learn 3 where 4; one thread, in-process); the corpus's
# audit at 200 ms 4.36 s where 4.68 (25.5% of its bytes where 25.4%; 5 rounds,
# benchmarks/remote.py --baseline)
CENTRAL_SHARE = 64
TAIL_AT_MOST = 512 << 10
# Where the file's size is not known (``show URL``; a PEP 503 page gives none), its end is
# asked for by a suffix range, whose answer names the size. Over a link the session has
# never had an answer from (``show``'s first request), UNKNOWN_LINK_TAIL: twice the
# corpus's longest central directory, so that a large wheel's directory, and a wheel of up
# to that size whole, come with the first round trip. Its 192 KiB more cost a quarter of a
# round trip at WHOLE_RATE from 125 ms (31 ms of transfer), a fraction of a millisecond on
# loopback. Over a link the session knows, as a sized file's tail over it (a quarter of a
# round trip's bytes: 64 KiB within 42 ms), UNKNOWN_LINK_TAIL at most, the size's share
# being unknown: an HTML index's wheels, over 200 ms, 256 KiB where 64. Never more than
# what the caller fetches whole.
UNKNOWN_LINK_TAIL = 256 << 10
# A wheel up to this size, its size known, is fetched whole in one request: the round trips
# saved (the tail, the members, their parts) cost at most this many bytes more. Members read
# in part made the larger wheels worth reading by ranges: on the benchmark corpus, whole
# below 1 MiB fetched 56.6% of the bytes in 2.7 requests a wheel, below 256 KiB 50.6% in 3.7,
# below 64 KiB 49.9% in 4.1; with wheels in flight (engine/inflight.py) the requests added
# cost no time that the benchmark could tell at 0 or 200 ms of round trip. Over loopback
# (nginx) a request costs the client 0.5-0.8 ms of CPU amid an audit's other work, 250 kB
# about 0.2: the simulated index's 1,050 wheels, 199 of them of 256-512 KiB, took 1,832
# requests where 256 KiB took 2,230, and 319 MB for 286; an audit's CPU, two workers, 7.03 s
# where it was 7.22 (mean of 6 alternated pairs, 5 lower; one process reading them one after
# another, 10 pairs, 7 lower, 0.16 s less); the benchmark corpus's wheels of 256-512 KiB are
# 0.23% of its bytes. Below 1 MiB (the simulated index's 845 kB wheels too, read in 2
# requests and a sixth of their bytes): 1,632 requests and 456 MB, and no CPU saved.
WHOLE_BELOW = 512 * 1024
# Over a slow link the threshold grows with the round trip (``whole_below_for``): a wheel read
# by its ranges waits for TRIPS_SAVED round trips more than one fetched whole (its members'
# first bytes, then the parts their program headers ask for; 3 where whole takes 1 for the
# simulated index's wheels of 643 kB), and at WHOLE_RATE those round trips carry as
# many bytes as the ranges would have left unfetched: below that size the whole wheel costs
# the link less time than the wait. Bandwidth-delay reasoning with a link assumed, not
# measured: 50 Mbit/s (GAP_TOLERANCE's too), 625 KB at 50 ms, 2.5 MB at 200 ms; at most
# WHOLE_AT_MOST, the bytes moved being the audit's other cost. Within 21 ms (loopback, a
# mirror on the LAN) it stays WHOLE_BELOW, and so do the benchmark's bytes.
TRIPS_SAVED = 2
WHOLE_RATE = 50_000_000 // 8
WHOLE_AT_MOST = 1 << 20
# The largest wheel read whole when the index gives no size and the server ignores Range (a
# CUDA build of torch is 2.5 GB): a body announced larger is refused unread.
MAX_WHEEL_SIZE = 4 << 30
# Merge spans closer than this. A round trip costs what the link carries in that time, which is
# more than 64 KiB on any link worth auditing over (10 ms at 50 Mbit/s is 62 KB).
GAP_TOLERANCE = 64 * 1024
# The file's first bytes asked for with its tail (``HttpRangeReader``), as its parts, where
# the server answers so: a wheel's first members, and where their program headers lie, come
# with its central directory, a round trip before the plan would ask for them. On the
# benchmark corpus, 10 of the 41 wheels over 256 KiB had every span of their plan within the
# first 64 KiB (or the tail), 14 within 128 KiB, 15 within 256 KiB; 64 KiB a wheel is 0.5%
# of the corpus's bytes, 128 KiB 1%. Guessed only where a round trip carries more bytes than
# it (from 21 ms at WHOLE_RATE): nearer (loopback, a mirror on the LAN) the round trip saved
# is worth less than the bytes, which every wheel would pay, a release's twins too
# (wheel/dedupe.py: a twin fetched 197 KB where it fetched 69 KB)
PREFIX_GUESS = 128 * 1024
# A local header is 30 bytes plus a name and an extra field of at most 64 KiB each (APPNOTE
# 4.3.7), and a data descriptor at most 24: a member never ends later than this past its data.
_LOCAL_OVERHEAD = 30 + 2 * 0xFFFF + 24
# A member read in part (a prefix, or its two ends) is fetched at first up to this many of its
# compressed bytes: its ELF header and program headers, in a few hundred of them, and the
# start of its tables; the rest of its start when its tables' end is known, in one more
# request (``RemoteWheelArchive.payload_starts``)
HEAD_FETCH = 16 * 1024
# A local header's fixed part, and the extra field most writers give it (none, or a few
# dozen bytes): a longer one is fetched when it is read
_LOCAL_HEADER = 30
_USUAL_EXTRA = 64
# Two blocks held side by side are joined into one up to this many bytes (``_add``)
JOIN_UP_TO = 16 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED = re.compile(r"bytes \*/(\d+)")  # a 416's Content-Range: the size
# Range requests in flight at once in a process's pool, a round trip each, overlapped: those
# of all the wheels a worker reads at once (engine/inflight.py) beyond the one each wheel's
# own thread makes. 16 left a wheel's second and later spans queued behind the others': at
# 200 ms of round trip a round of a wheel's requests took 0.5 s where 0.2 s was its due
# (benchmarks/remote.py, nginx); each thread is one more stack, and one more connection
# kept alive (httpclient.py); under a memory limit, their stacks take at most
# ``IN_FLIGHT_SHARE`` of it (wheel/threads.py)
IN_FLIGHT = 32
IN_FLIGHT_SHARE = 0.125
# Where the file's origin has answered the session within this (loopback, a mirror on the
# same LAN: HttpSession.quickest), a wheel's spans are fetched one after another on its own
# thread: the round trips so saved are worth less than the CPU the pool's threads cost,
# handing the GIL and the answers back and forth: over loopback (nginx, 1,050 wheels),
# 4% less of the audit's CPU, a fifth fewer context switches in its workers (6 of 7
# alternated pairs of runs, load 7-20). The wheels a worker reads at once still overlap
# their round trips (engine/inflight.py): 32 of them hide a few ms each
NEAR = 0.002
# A wheel's spans are asked for together, in one request (wheel/byteranges.py), where the
# server answers so: a request costs the client 0.2-0.3 ms of CPU over loopback (nginx) and
# the server its own, whatever it carries; three spans of pyinstaller's wheel asked for
# together cost 0.95 ms of CPU where one request each cost 1.45 (the tail included; a
# multipart answer's headers then cost http.client 0.13 ms more, which compiled a pattern
# for each new boundary: no more since wheel/response_headers.py); an audit over nginx
# took 2.12 requests a wheel of the simulated index's 1,050 where it took 2.87, 5.40 of the
# benchmark corpus's where 18.84. At most
# MAX_PARTS in one request (nginx takes any number; a request's header stays under 3 KB), and
# together at most TOGETHER_BELOW bytes; a span from ALONE_FROM on goes alone: a request
# of MiBs costs its bytes, not its overhead, and its multipart body would be held beside the
# copies of its parts. The answer may be at most its parts' bytes and their delimiters: a
# server that sends the whole file instead (Range ignored when it holds several ranges, as
# some do) is refused unread, and asked for one range a request from then on
MAX_PARTS = 128
# Spans asked for together are merged only this close, not GAP_TOLERANCE: a part costs no
# round trip, only its delimiter and headers (110 bytes from nginx) and a few us. On the
# benchmark corpus (benchmarks/remote_bytes.py, no twins) 167.6 MB were fetched at 64 KiB,
# 160.0 at 4 KiB, 159.8 at 1 KiB, in 6.30 requests a wheel with up to 128 parts in each
# (6.40 and 6.53 with up to 32)
TOGETHER_GAP = 4096
TOGETHER_BELOW = 4 << 20
ALONE_FROM = 1 << 20


@functools.cache
def _io_pool_of(pid: int) -> futures.ThreadPoolExecutor:
    threads = threads_within(IN_FLIGHT, IN_FLIGHT_SHARE)
    return futures.ThreadPoolExecutor(threads, thread_name_prefix="wheelscan-ranges")


def _io_pool() -> futures.ThreadPoolExecutor:
    """The process's pool of range requests (a forked worker gets its own: threads do not
    survive a fork)."""
    return _io_pool_of(os.getpid())


def coalesce(spans: Sequence[tuple[int, int]], gap: int = GAP_TOLERANCE) -> list[tuple[int, int]]:
    """Sort ``[start, end)`` spans and merge those overlapping or less than ``gap`` apart."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def round_trip_bytes(session: HttpSession, url: str) -> int:
    """What a round trip to ``url``'s origin would carry at WHOLE_RATE: the bytes worth
    fetching more to save one. From the quickest answer ``session`` has seen from that origin
    (or, before one, from any: a forked worker's session holds what the parent learnt from
    the index's first page, read before the pool starts its workers where the run's first
    source is an index: engine/run.py); 0 before any (a session that has had no answer: its
    first wheels learn it from their tails' answers, ``HttpRangeReader``'s rest of a small
    wheel in one more request)."""
    return int((session.quickest(url) or session.quickest_anywhere() or 0.0) * WHOLE_RATE)


def is_far(carried: int) -> bool:
    """Whether a link whose round trip carries ``carried`` bytes (``round_trip_bytes``) is
    far enough that a guess of bytes to save one is worth its bytes: from PREFIX_GUESS on
    (21 ms at WHOLE_RATE)."""
    return carried >= PREFIX_GUESS


def whole_below_for(session: HttpSession, url: str) -> int:
    """The size up to which the wheel at ``url`` is fetched whole: WHOLE_BELOW, more over a
    slow link (the comment at WHOLE_RATE)."""
    return max(WHOLE_BELOW, min(WHOLE_AT_MOST, TRIPS_SAVED * round_trip_bytes(session, url)))


class HttpRangeReader:
    """A :class:`ByteReader` over Range requests; what it fetched is held in disjoint blocks.

    Opening fetches the tail (the end-of-central-directory record and, for most wheels, the
    whole central directory). A read of bytes not held yet fetches just what is missing;
    :meth:`plan` and :meth:`prefetch` let a caller fetch everything it will read up front, in
    few requests. A wheel of at most ``whole_below`` bytes, its size known, comes whole in
    one request instead (None: ``whole_below_for``). A server that ignores ``Range`` answers
    200 with the whole file: it is then held once, and every later read is served from it.
    """

    def __init__(
        self,
        url: str,
        size: int | None = None,
        session: HttpSession | None = None,
        whole_below: int | None = None,
    ) -> None:
        self.url = url
        self.shown = redact(url)  # in messages: a private index's token is never shown
        self.session = session or default_session()
        self.size = -1 if size is None else size
        self.bytes_fetched = 0  # response bodies, whole files included
        self.requests = 0  # requests answered (the retries of one count once)
        self.validator: str | None = None  # the first answer's ETag or Last-Modified
        self._size_answered = False  # an answer has given the file's size (not the index)
        self.sha256: str | None = None  # set by close when every byte was fetched
        self.ranges_honoured = False  # whether an answer came as a 206
        # (start, data), sorted, disjoint: an answer's body, or a view of a multipart one's
        self._blocks: list[tuple[int, Block]] = []
        # the threads of ``show`` add and forget, and count (its members read at once)
        self._blocks_changing = threading.Lock()
        if size == 0:
            raise WheelError("not-zip", "empty file")
        sized = whole_below is None
        if whole_below is None:
            whole_below = whole_below_for(self.session, url)
        if size is None:  # a suffix range: the answer names the size
            # (``UNKNOWN_LINK_TAIL``'s comment)
            unknown = self.session.quickest_anywhere() is None  # no answer from any link yet
            length = UNKNOWN_LINK_TAIL if unknown else self._tail_length(UNKNOWN_LINK_TAIL)
            length = max(TAIL_SIZE, min(length, whole_below))
            self._suffix(length)
            tell_size(self.size)
        elif size <= whole_below:
            self._fetch(0, size)
        else:
            length = self._tail_length(min(size // CENTRAL_SHARE, TAIL_AT_MOST))
            tail = (max(0, size - length), size)
            if self._guess_prefix(tail[0]):
                self._fetch_group([(0, PREFIX_GUESS), tail])
            else:
                self._fetch(*tail)
            if sized and self.ranges_honoured and size <= whole_below_for(self.session, url):
                # the tail's answer told a round trip longer than was known when it was
                # asked for (a worker's first wheels, all asked for at once): the rest in one
                # request, two round trips where its ranges would take three or more
                self._fetch_missing(0, size)
                if self.whole_file() is None:  # one block (``_add`` joins neighbours)
                    self._blocks = [(0, bytes(self.read_at(0, size)))]

    def _suffix(self, length: int) -> None:
        """The file's last ``length`` bytes, whose answer names its size. A suffix longer
        than the file is the whole file (RFC 9110 14.1.2); a server that answers it 416
        instead, naming a size below it (``Content-Range: bytes */SIZE``), is asked for
        that many bytes from the start: a wheel shorter than the suffix (256 KiB at most)
        is no error. Only that size is taken from the refusal, as a bound on the request:
        its validator may be an error page's, and the answer's own range names the file's
        size and version, as any answer's does."""
        response = self._suffix_answer(length)
        if response.status != 416:
            self._take(response)
            return
        self._count(len(response.body))
        match = _UNSATISFIED.fullmatch(response.headers.get("content-range", ""))
        named = -1 if match is None else int(match[1])
        if not 0 <= named < length:  # refused, and not for its length
            raise WheelError("download-failed", f"{self.shown}: HTTP 416")
        if named == 0:
            raise WheelError("not-zip", f"{self.shown}: empty file")
        self._check_range(0, named, self._take(self._get(f"bytes=0-{named - 1}", named, named)))

    def _suffix_answer(self, length: int) -> Response:
        """The answer to a suffix of ``length`` bytes. From an origin that answers ranges
        with their parts (``ranges_honoured``), where the worker counts the wheel as that
        suffix until its size is named (engine/inflight.py), a longer answer (the whole
        file, from a server or a cache that ignores Range for it) is refused unread, and
        the origin's next wheels of no given size counted as large. From any other, a
        whole file may come: the wheel is told large before it is asked for."""
        if ranges_honoured(self.url):
            try:
                return self._get(f"bytes=-{length}", length, length)
            except WheelError as e:
                if not isinstance(e.__cause__, BodyOverLimit):
                    raise
            self._count()
            answered_range(self.url, False)
        tell_size(-1)
        return self._get(f"bytes=-{length}", length)

    def _tail_length(self, most: int) -> int:
        """How much of the file's end its first request asks for: TAIL_SIZE, or over a far
        link a quarter of what a round trip carries, up to ``most`` (a large wheel's central
        directory, ``CENTRAL_SHARE``; an unknown size's, ``UNKNOWN_LINK_TAIL``)."""
        carried = round_trip_bytes(self.session, self.url)
        return max(TAIL_SIZE, min(carried // 4, most))

    def _guess_prefix(self, tail_from: int) -> bool:
        """Whether the file's first ``PREFIX_GUESS`` bytes are asked for with its tail: only
        where a round trip is known to carry more than they are (``round_trip_bytes``), and
        not where they would touch the tail, nor from a server that answers ranges asked
        together otherwise than with their parts."""
        return (
            tail_from > PREFIX_GUESS
            and self.session.ranges_together(self.url) is not False
            and is_far(round_trip_bytes(self.session, self.url))
        )

    def read_at(self, offset: int, length: int) -> memoryview:
        end = min(offset + length, self.size)
        if offset >= end:
            return memoryview(b"")
        blocks = self._blocks  # replaced whole when it changes (``_add``)
        if len(blocks) == 1:
            # most often a wheel fetched whole: its reads (a dozen a wheel) look for no gap
            start, data = blocks[0]
            if start <= offset and end <= start + len(data):
                return memoryview(data)[offset - start : end - start]
        self._fetch_missing(offset, end)
        blocks = self._blocks
        first = next(i for i, b in enumerate(blocks) if offset < b[0] + len(b[1]))
        start, data = blocks[first]
        if end <= start + len(data):
            return memoryview(data)[offset - start : end - start]  # the usual case: no copy
        # a read across fetches (the directory beyond the tail): join just the bytes asked for
        pieces, position = [], offset
        for block_start, block in blocks[first:]:
            if position >= end:
                break
            pieces.append(block[position - block_start : end - block_start])
            position = block_start + len(block)
        return memoryview(b"".join(pieces))

    def plan(
        self,
        members: Sequence[Member],
        in_part: Callable[[Member], bool],
        starts: Sequence[int],
    ) -> list[tuple[int, int]]:
        """The spans holding ``members`` (RECORD and those that :func:`may_be_elf`, as
        ``RemoteWheelArchive`` picks them); of a member ``in_part`` says is read in part,
        only its local header and first ``HEAD_FETCH`` compressed bytes (what its ELF magic,
        headers and program headers inflate from).

        A member's span runs from its local header to the next local header of ``starts``
        (sorted: every member's), or to the file's end: exact for a zip written without
        gaps, and capped by the format's bound otherwise.
        """
        spans = []
        for member in sorted(members, key=lambda m: m.header_offset):
            following = bisect.bisect_right(starts, member.header_offset)
            end = starts[following] if following < len(starts) else self.size
            if in_part(member):
                header = _LOCAL_HEADER + len(member.raw_name) + _USUAL_EXTRA
                wanted = header + min(member.compressed_size, HEAD_FETCH)
            else:
                wanted = _LOCAL_OVERHEAD + member.compressed_size
            spans.append((member.header_offset, min(end, member.header_offset + wanted)))
        return spans

    def prefetch(self, spans: Sequence[tuple[int, int]]) -> None:
        """Fetch every span not held yet, neighbours merged: their ranges asked for together
        where the server answers so (``_grouped``), else one request per merged span; all
        at once once the server has shown it honours Range (a server that ignores it would
        send the whole file once per request): the first on this thread, the others on the
        process's pool (up to ``IN_FLIGHT`` of its wheels' at once). From a server that
        answered within ``NEAR``, one after another on this thread."""
        together = self.ranges_honoured and self.session.ranges_together(self.url) is not False
        merged = coalesce(spans, TOGETHER_GAP if together else GAP_TOLERANCE)
        gaps = [gap for start, end in merged for gap in self._gaps(start, end)]
        groups = self._grouped(gaps)
        quickest = self.session.quickest(self.url)
        near = quickest is not None and quickest < NEAR
        if len(groups) < 2 or not self.ranges_honoured or near:
            for group in groups:
                self._fetch_group(group)
            return
        pool = _io_pool()
        pending = [pool.submit(self._get_group, group) for group in groups[1:]]
        # this thread would only wait: its request takes no place in the pool, and goes out
        # at once whatever the other wheels have queued there
        first: futures.Future[Response | None] = futures.Future()
        try:
            first.set_result(self._get_group(groups[0]))
        except WheelError as error:
            first.set_exception(error)
        futures.wait(pending)  # every request done before any answer is judged
        left = []
        for group, answer in zip(groups, [first, *pending], strict=True):
            left += self._take_group(group, answer.result())
        for start, end in left:
            self._fetch_missing(start, end)

    def _grouped(self, gaps: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
        """The gaps as requests: one each, or where the server answers several ranges
        together (or may), neighbours packed up to ``MAX_PARTS`` and ``TOGETHER_BELOW``
        bytes a request, and each from ``ALONE_FROM`` bytes on alone."""
        if (
            len(gaps) < 2
            or not self.ranges_honoured
            or self.session.ranges_together(self.url) is False
        ):
            return [[gap] for gap in gaps]
        groups: list[list[tuple[int, int]]] = []
        packed: list[tuple[int, int]] = []
        packed_bytes = 0
        for start, end in gaps:
            if end - start >= ALONE_FROM:
                groups.append([(start, end)])
                continue
            if packed and (len(packed) == MAX_PARTS or packed_bytes + end - start > TOGETHER_BELOW):
                groups.append(packed)
                packed, packed_bytes = [], 0
            packed.append((start, end))
            packed_bytes += end - start
        if packed:
            groups.append(packed)
        return groups

    def _limit(self, group: Sequence[tuple[int, int]]) -> int | None:
        """The largest body an answer to ``group`` may have: for one range ``_get``'s own
        (None: the file's size, as a server ignoring Range sends it whole), the parts' bytes
        and their delimiters and headers for several."""
        if len(group) < 2:
            return None
        asked = sum(end - start for start, end in group)
        return asked + PREAMBLE_LIMIT + PART_OVERHEAD * len(group)

    def _get_group(self, group: list[tuple[int, int]]) -> Response | None:
        """The answer to ``group``'s ranges, or None where it was refused unread for being
        longer than they are (the whole file, say): the server is then asked for no more
        ranges together."""
        try:
            limit = self._limit(group)
            asked = sum(end - start for start, end in group)
            return self._get(range_header(group), limit or asked, limit)
        except WheelError as e:
            if len(group) < 2 or not isinstance(e.__cause__, BodyOverLimit):
                raise
        self._count()
        self.session.answered_ranges_together(self.url, False)
        return None

    def _fetch_group(self, group: list[tuple[int, int]]) -> None:
        if len(group) > 1:
            group = self._take_group(group, self._get_group(group))
        for start, end in group:
            self._fetch_missing(start, end)

    def _take_group(
        self, group: list[tuple[int, int]], response: Response | None
    ) -> list[tuple[int, int]]:
        """Hold the answer to ``group``'s ranges, checked; returns the spans it did not
        bring. A multipart answer is taken whole or not at all (``split_parts``); one range
        must be one of those asked for; the whole file (200) serves them all. Any answer
        but sound parts and the server is asked for no more ranges together."""
        if response is None:  # refused unread (``_get_group``)
            return group
        if len(group) == 1:
            ((start, end),) = group
            self._check_range(start, end, self._take(response))
            return []
        multipart = response.status == 206 and is_multipart(response.headers)
        if response.status in (200, 206) and not multipart:
            # the server's way with ranges asked together: one of them, or the whole file.
            # (Not an error: a 404 or a 416 says what became of this file, not of the
            # server's ranges, and the next wheel asks together again.)
            self.session.answered_ranges_together(self.url, False)
        if response.status == 416:
            # ranges together refused, or the file shrank: the first span asked for alone
            # tells which (raising where the file is at fault), then the others follow it
            self._count()
            self._fetch_missing(*group[0])
            self.session.answered_ranges_together(self.url, False)
            return group[1:]
        if not multipart:
            got, body = self._checked(response, keep=False)
            if response.status == 206:
                if (got, got + len(body)) not in group:
                    raise WheelError(
                        "download-failed",
                        f"{self.shown}: asked for {range_header(group)}, got bytes {got}-"
                        f"{got + len(body) - 1}",
                    )
                self._add(got, body)
            return [span for span in group if self._first_gap(*span) is not None]
        self._count(len(response.body))
        if response.encoded:
            raise WheelError("download-failed", f"{self.shown}: ranges sent content-encoded")
        try:
            boundary = boundary_of(response.headers.get("content-type", ""))
            parts, size = split_parts(response.body, boundary, group)
        except MultipartError as e:
            # the next wheels are asked for one range a request: each answer checked as
            # ever, a server whose parts are unsound costs this wheel only
            self.session.answered_ranges_together(self.url, False)
            raise WheelError(
                "download-failed", f"{self.shown}: {range_header(group)}: {e.reason}"
            ) from e
        self.session.answered_ranges_together(self.url, True)
        if not self.ranges_honoured:
            answered_range(self.url, True)
            self.ranges_honoured = True
        self._check_version(response, size)
        for (start, _), data in parts.items():
            self._add(start, data)
        return [span for span in group if span not in parts]

    def close(self) -> None:
        whole = self.whole_file()
        if whole is not None:
            self.sha256 = hashlib.sha256(whole).hexdigest()
        self._blocks = []  # views handed out keep their own block alive

    def _fetch_missing(self, start: int, end: int) -> None:
        # gaps are found again after each fetch: a server ignoring Range may have sent it all
        while (gap := self._first_gap(start, end)) is not None:
            self._fetch(*gap)

    def _first_gap(self, start: int, end: int) -> tuple[int, int] | None:
        for block_start, data in self._blocks:
            if block_start > start:
                return start, min(end, block_start)
            start = max(start, block_start + len(data))
            if start >= end:
                return None
        return (start, end) if start < end else None

    def holds(self, start: int, end: int) -> bool:
        """Whether every byte of ``[start, end)`` is held."""
        return self._first_gap(start, end) is None

    def _gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """Every span of ``[start, end)`` not held yet."""
        gaps, end = [], min(end, self.size)
        for block_start, data in self._blocks:
            if start >= end:
                break
            if block_start > start:
                gaps.append((start, min(end, block_start)))
            start = max(start, block_start + len(data))
        if start < end:
            gaps.append((start, end))
        return gaps

    def _fetch(self, start: int, end: int) -> None:
        self._check_range(start, end, self._request(f"bytes={start}-{end - 1}", end - start))

    def _check_range(self, start: int, end: int, got: int) -> None:
        if got > start or self._first_gap(start, end) is not None:
            raise WheelError(
                "download-failed", f"{self.shown}: asked for bytes {start}-{end - 1}, got others"
            )

    def _request(self, byte_range: str, expected: int) -> int:
        """One Range request; returns where the bytes received start."""
        return self._take(self._get(byte_range, expected))

    def _get(self, byte_range: str, expected: int, limit: int | None = None) -> Response:
        """The request alone (safe in any thread): what it brings is taken by ``_take``;
        its body is at most ``limit`` bytes (the file's size), read in one piece where it is
        announced at no more than ``expected``, what the ranges ask for."""
        # identity: a ranged answer in another encoding counts its offsets in that encoding
        headers = {"Range": byte_range, "Accept-Encoding": "identity"}
        if limit is None:
            limit = self.size if self.size >= 0 else MAX_WHEEL_SIZE
        try:
            return self.session.get(self.url, headers, limit=limit, expected=expected)
        except HttpError as e:
            tries = f" (after {self.session.tries} tries)" if e.transient else ""
            raise WheelError("download-failed", f"{self.shown}: {e.reason}{tries}") from e

    def passing(self, start: int, end: int) -> bytes | memoryview:
        """Bytes ``[start, end)`` checked as every answer is, but not held: for a stream
        that reads them once, in order (``StreamedRanges``). Served from what is held when
        that covers them (a server that ignored Range sent it all)."""
        if self._first_gap(start, end) is None:
            return self.read_at(start, end - start)
        got, body = self._checked(self._get(f"bytes={start}-{end - 1}", end - start), keep=False)
        if got != start or len(body) != end - start:
            raise WheelError(
                "download-failed", f"{self.shown}: asked for bytes {start}-{end - 1}, got others"
            )
        return body

    def passing_ahead(self, start: int, end: int) -> futures.Future[bytes | memoryview]:
        """``passing``'s bytes, asked for now on the process's pool of range requests: a
        stream's next window fetched while it inflates this one (``StreamedRanges``)."""
        return _io_pool().submit(self.passing, start, end)

    def _count(self, body_bytes: int = 0) -> None:
        """One request more, and the bytes of its body: counted under the blocks' lock, as
        ``show`` reads a wheel's members on several threads (engine/task.py)."""
        with self._blocks_changing:
            self.requests += 1
            self.bytes_fetched += body_bytes

    def _take(self, response: Response) -> int:
        """Hold an answer's bytes, checked; returns where they start."""
        return self._checked(response, keep=True)[0]

    def _checked(self, response: Response, keep: bool) -> tuple[int, bytes]:
        """An answer's bytes, checked, and where they start; held if ``keep`` (a whole
        file always is)."""
        self._count(len(response.body))
        if response.status == 200:  # Range ignored: the whole file
            answered_range(self.url, False)
            self._check_version(response, len(response.body))
            with self._blocks_changing:
                self._blocks = [(0, response.body)]
            return 0, response.body
        if response.status != 206:
            raise WheelError("download-failed", f"{self.shown}: HTTP {response.status}")
        if not self.ranges_honoured:
            answered_range(self.url, True)
            self.ranges_honoured = True
        if response.encoded:
            raise WheelError("download-failed", f"{self.shown}: a range sent content-encoded")
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if match is None or int(match[2]) - int(match[1]) + 1 != len(response.body):
            raise WheelError(
                "download-failed", f"{self.shown}: 206 without a matching Content-Range"
            )
        self._check_version(response, None if match[3] == "*" else int(match[3]))
        if keep:
            self._add(int(match[1]), response.body)
        return int(match[1]), response.body

    def _check_version(self, response: Response, size: int | None) -> None:
        """Every answer must come from one version of the file: same size, same validator.

        A file replaced between two requests would otherwise give a wheel made of two files'
        bytes; ETag (or, without one, Last-Modified: RFC 9110 8.8) tells the versions apart.
        """
        validator = response.headers.get("etag") or response.headers.get("last-modified")
        if validator is not None:
            if self.validator is not None and validator != self.validator:
                raise WheelError(
                    "file-changed",
                    f"{self.shown}: the file changed while it was read "
                    f"(validator {self.validator} then {validator})",
                )
            self.validator = validator
        if size is None:
            return
        if self.size >= 0 and size != self.size:
            # the index's size wrong from the start, or the file changed since an answer
            # (counting requests would not tell: a refused one gives no size)
            code = "file-changed" if self._size_answered else "download-failed"
            said = "an earlier answer" if self._size_answered else "the index"
            raise WheelError(
                code, f"{self.shown}: the server has {size} bytes, {said} said {self.size}"
            )
        if size == 0:
            raise WheelError("not-zip", f"{self.shown}: empty file")
        self.size, self._size_answered = size, True

    def whole_file(self) -> Block | None:
        """The file's bytes when every one of them was fetched (one block), else None."""
        if (
            len(self._blocks) == 1
            and self._blocks[0][0] == 0
            and len(self._blocks[0][1]) == self.size
        ):
            return self._blocks[0][1]
        return None

    def _add(self, start: int, data: Block) -> None:
        """Hold ``data`` from ``start`` on. Only gaps are fetched, so a new block never
        overlaps one held; where it touches one, the two become one block (up to JOIN_UP_TO
        bytes): the gap was fetched for a read across both, which would otherwise join them
        anew at each read (a member's start, read again by each pass over it: 230 MB joined
        in 950 reads over the simulated index's 1,050 wheels)."""
        with self._blocks_changing:
            at = bisect.bisect_left(self._blocks, start, key=lambda b: b[0])
            end = start + len(data)
            joined: list[Block] = [data]
            first, last = at, at
            if at > 0:
                before_start, before = self._blocks[at - 1]
                if before_start + len(before) == start and len(before) + len(data) <= JOIN_UP_TO:
                    joined.insert(0, before)
                    first, start = at - 1, before_start
            if at < len(self._blocks):
                after_start, after = self._blocks[at]
                if after_start == end and end - start + len(after) <= JOIN_UP_TO:
                    joined.append(after)
                    last = at + 1
            block = data if len(joined) == 1 else b"".join(joined)
            # a new list: a read on another thread (``show``'s) goes on with the one it took
            self._blocks = [*self._blocks[:first], (start, block), *self._blocks[last:]]

    def forget(self, start: int, end: int) -> None:
        """Bytes ``[start, end)`` are no longer held (a caller copied them, or is done with
        them): read again, they are fetched again. What a block holds beside them is kept,
        copied; a whole file (a server that ignored Range) is kept whole."""
        if self.whole_file() is not None:
            return
        with self._blocks_changing:
            kept: list[tuple[int, Block]] = []
            for block_start, data in self._blocks:
                block_end = block_start + len(data)
                if block_end <= start or end <= block_start:
                    kept.append((block_start, data))
                    continue
                # copied: a view would keep the whole body it is a part of
                if block_start < start:
                    kept.append((block_start, bytes(data[: start - block_start])))
                if end < block_end:
                    kept.append((end, bytes(data[end - block_start :])))
            self._blocks = kept
