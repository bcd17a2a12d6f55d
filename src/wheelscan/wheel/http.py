"""Wheels read over HTTP: the zip's tail, then only the members an audit needs, by Range requests.

:class:`HttpSession` is wheelscan's one HTTP client (keep-alive connections per origin,
redirects, retries); :class:`HttpRangeReader` is a :class:`~wheelscan.wheel.archive.ByteReader`
over it; :func:`open_remote_archive` ties them to :class:`WheelArchive`.

Spec: RFC 9110 section 14 (range requests: ``Range``, ``206``, ``Content-Range``).
"""

from __future__ import annotations

import atexit
import base64
import bisect
import functools
import http.client
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from wheelscan.wheel.archive import ELF_MAGIC, Limits, Member, WheelArchive, WheelError
from wheelscan.wheel.remote import USER_AGENT, redact

# The window WheelArchive searches for the end-of-central-directory record (a 64 KiB comment,
# the 22-byte record, the 20-byte ZIP64 locator): fetching it first answers that search at once.
TAIL_SIZE = 0xFFFF + 22 + 20
# Merge spans closer than this. A round trip costs what the link carries in that time, which is
# more than 64 KiB on any link worth auditing over (10 ms at 50 Mbit/s is 62 KB).
GAP_TOLERANCE = 64 * 1024
# A local header is 30 bytes plus a name and an extra field of at most 64 KiB each (APPNOTE
# 4.3.7), and a data descriptor at most 24: a member never ends later than this past its data.
_LOCAL_OVERHEAD = 30 + 2 * 0xFFFF + 24
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
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
    name is seen locally and missed remotely.
    """
    lowered = name.lower()
    return not (name.endswith("/") or lowered.endswith(_NEVER_ELF) or ".dist-info/" in name)


class HttpError(OSError):
    """A request failed for good (after retries), or the server's answer makes no sense."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{redact(url)}: {reason}")  # a token in the URL is never shown
        self.url, self.reason, self.status = url, reason, status


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class HttpSession:
    """Keep-alive connections per origin, redirects and retries; safe across threads and forks.

    5xx, 429 and connection errors are retried ``tries`` times in all, with exponential
    backoff; any other answer (4xx included) goes back to the caller to judge.
    """

    def __init__(self, timeout: float = 60.0, tries: int = 3, backoff: float = 0.5) -> None:
        self.timeout, self.tries, self.backoff = timeout, tries, backoff
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        failure = HttpError(url, "no attempt made")
        for attempt in range(self.tries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._follow(url, dict(headers or {}))
            except (OSError, http.client.HTTPException) as e:
                failure = HttpError(url, f"{type(e).__name__}: {e}")
                continue
            if response.status < 500 and response.status != 429:
                return response
            failure = HttpError(url, f"HTTP {response.status}", response.status)
        raise failure

    def _follow(self, url: str, headers: dict[str, str]) -> Response:
        for _ in range(5):
            response = self._once(url, headers)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return response
            url = urllib.parse.urljoin(url, location)
        raise HttpError(url, "too many redirects")

    def _once(self, url: str, headers: dict[str, str]) -> Response:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(url, "not an http(s) URL")
        origin = (parts.scheme, parts.netloc.rpartition("@")[2])
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {"User-Agent": USER_AGENT, **headers}
        if parts.username is not None:  # a private index: https://user:token@host/simple/
            headers["Authorization"] = (
                "Basic "
                + base64.b64encode(
                    f"{urllib.parse.unquote(parts.username)}:"
                    f"{urllib.parse.unquote(parts.password or '')}".encode()
                ).decode()
            )
        conn, reused = self._acquire(origin)
        try:
            try:
                conn.request("GET", target, headers=headers)
                answer = conn.getresponse()
            except ConnectionError:
                if not reused:
                    raise
                # the server closed an idle keep-alive connection: not a failure of the request
                conn.close()
                conn = self._connect(origin)
                conn.request("GET", target, headers=headers)
                answer = conn.getresponse()
            body = answer.read()
        except BaseException:
            conn.close()
            raise
        if answer.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.setdefault(origin, []).append(conn)
        return Response(url, answer.status, {k.lower(): v for k, v in answer.getheaders()}, body)

    def _acquire(self, origin: tuple[str, str]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if os.getpid() != self._pid:
                # a forked child must not share its parent's sockets: forget them, don't close
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        return self._connect(origin), False

    def _connect(self, origin: tuple[str, str]) -> http.client.HTTPConnection:
        scheme, netloc = origin
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=self.timeout)
        return http.client.HTTPConnection(netloc, timeout=self.timeout)

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle = {}
        for conn in connections:
            conn.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def default_session() -> HttpSession:
    """One session per process (a forked worker drops what it inherited, see ``_acquire``)."""
    session = HttpSession()
    atexit.register(session.close)
    return session


def coalesce(spans: Sequence[tuple[int, int]], gap: int = GAP_TOLERANCE) -> list[tuple[int, int]]:
    """Sort ``[start, end)`` spans and merge those overlapping or less than ``gap`` apart."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class HttpRangeReader:
    """A :class:`ByteReader` over Range requests; what it fetched is held in disjoint blocks.

    Opening fetches the tail (the end-of-central-directory record and, for most wheels, the
    whole central directory). A read of bytes not held yet fetches just what is missing;
    :meth:`plan` and :meth:`prefetch` let a caller fetch everything it will read up front, in
    few requests. A server that ignores ``Range`` answers 200 with the whole file: it is then
    held once, and every later read is served from it.
    """

    def __init__(
        self, url: str, size: int | None = None, session: HttpSession | None = None
    ) -> None:
        self.url = url
        self.session = session or default_session()
        self.size = -1 if size is None else size
        self.bytes_fetched = 0  # response bodies, whole files included
        self.requests = 0  # requests answered (the retries of one count once)
        self._blocks: list[tuple[int, bytes]] = []  # (start, data), sorted, disjoint
        if size == 0:
            raise WheelError("not-zip", "empty file")
        if size is None:
            self._request(f"bytes=-{TAIL_SIZE}")  # a suffix range: the answer names the size
        else:
            self._fetch(max(0, size - TAIL_SIZE), size)

    def read_at(self, offset: int, length: int) -> memoryview:
        end = min(offset + length, self.size)
        if offset >= end:
            return memoryview(b"")
        self._fetch_missing(offset, end)
        first = next(i for i, b in enumerate(self._blocks) if offset < b[0] + len(b[1]))
        start, data = self._blocks[first]
        if end <= start + len(data):
            return memoryview(data)[offset - start : end - start]  # the usual case: no copy
        # a read across fetches (the directory beyond the tail): join just the bytes asked for
        pieces, position = [], offset
        for block_start, block in self._blocks[first:]:
            if position >= end:
                break
            pieces.append(block[position - block_start : end - block_start])
            position = block_start + len(block)
        return memoryview(b"".join(pieces))

    def plan(self, members: Sequence[Member]) -> list[tuple[int, int]]:
        """The spans holding RECORD and every member that :func:`may_be_elf`.

        A member's span runs from its local header to the next member's (or the file's end):
        exact for a zip written without gaps, and capped by the format's bound otherwise.
        """
        ordered = sorted(members, key=lambda m: m.header_offset)
        ends = [m.header_offset for m in ordered[1:]] + [self.size]
        return [
            (m.header_offset, min(end, m.header_offset + _LOCAL_OVERHEAD + m.compressed_size))
            for m, end in zip(ordered, ends, strict=True)
            if is_record(m.name) or (may_be_elf(m.name) and m.size >= len(ELF_MAGIC))
        ]

    def prefetch(self, spans: Sequence[tuple[int, int]]) -> None:
        """Fetch every span not held yet, neighbours merged: one request per merged span."""
        for start, end in coalesce(spans):
            self._fetch_missing(start, min(end, self.size))

    def close(self) -> None:
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

    def _fetch(self, start: int, end: int) -> None:
        got = self._request(f"bytes={start}-{end - 1}")
        if got > start or self._first_gap(start, end) is not None:
            raise WheelError(
                "download-failed", f"{self.url}: asked for bytes {start}-{end - 1}, got others"
            )

    def _request(self, byte_range: str) -> int:
        """One Range request; returns where the bytes received start."""
        try:
            response = self.session.get(self.url, {"Range": byte_range})
        except HttpError as e:
            raise WheelError(
                "download-failed", f"{self.url}: {e.reason} (after {self.session.tries} tries)"
            ) from e
        self.requests += 1
        self.bytes_fetched += len(response.body)
        if response.status == 200:  # Range ignored: the whole file
            self._check_size(len(response.body))
            self._blocks = [(0, response.body)]
            return 0
        if response.status != 206:
            raise WheelError("download-failed", f"{self.url}: HTTP {response.status}")
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if match is None or int(match[2]) - int(match[1]) + 1 != len(response.body):
            raise WheelError("download-failed", f"{self.url}: 206 without a matching Content-Range")
        if match[3] != "*":
            self._check_size(int(match[3]))
        self._add(int(match[1]), response.body)
        return int(match[1])

    def _check_size(self, size: int) -> None:
        if self.size >= 0 and size != self.size:
            raise WheelError(
                "download-failed",
                f"{self.url}: the server has {size} bytes, the index said {self.size}",
            )
        if size == 0:
            raise WheelError("not-zip", f"{self.url}: empty file")
        self.size = size

    def _add(self, start: int, data: bytes) -> None:
        # only gaps are fetched, so a new block never overlaps one held (it may touch one)
        bisect.insort(self._blocks, (start, data), key=lambda b: b[0])


class RemoteWheelArchive(WheelArchive):
    """A :class:`WheelArchive` whose search for ELF members looks only where :meth:`plan` did.

    The base class reads the first bytes of every member; over HTTP each such read would be a
    request, so only the members that :func:`may_be_elf` are probed. Opening it fetches those
    members and RECORD, except members over the limits: reading one raises before its data is
    needed, so fetching it would be waste (think of a 2 GiB zip bomb).
    """

    reader: HttpRangeReader

    def __init__(self, reader: HttpRangeReader, limits: Limits = Limits()) -> None:
        super().__init__(reader, limits)
        reader.prefetch(reader.plan([m for m in self.members if self._within_limits(m)]))

    def _within_limits(self, member: Member) -> bool:
        try:
            self.check_limits(member)
        except WheelError:
            return False
        return True

    def elf_members(self) -> Iterator[Member]:
        for member in self.members:
            if (
                may_be_elf(member.name)
                and member.size >= len(ELF_MAGIC)
                and self.head(member) == ELF_MAGIC
            ):
                yield member


def open_remote_archive(
    url: str, size: int | None = None, limits: Limits = Limits(), session: HttpSession | None = None
) -> WheelArchive:
    """Open a wheel by URL: its central directory, RECORD and possible ELF members fetched.

    ``read_wheel_facts`` then runs on it unchanged, served from what was fetched here; the
    reader (``archive.reader``, an :class:`HttpRangeReader`) counts ``bytes_fetched``.
    """
    return RemoteWheelArchive(HttpRangeReader(url, size, session), limits)
