"""wheelscan's one HTTP client: urllib3's connection pools, under bounds on every request that
a hostile or broken server cannot talk its way past.

Why urllib3 2.x (``benchmarks/http_clients.py``, loopback, server in its own process, two runs
on a shared 2-core machine): on 1 MiB ranges it moved 270-1100 MB/s where httpx moved 68-200
and aiohttp 156-280; on 16 KiB ranges it was between them and the best; at 50 ms round trip all
four are bound by the round trip alone (19 req/s one at a time, 310 with 16 in flight), so
latency is hidden by requests in flight, not by the choice of client. It is already beside pip
everywhere, needs no event loop in the workers, and provides what a hand-written client had to
redo: pooled keep-alive connections, verified TLS (the ``ssl_context`` given, see
:func:`tls_context`), HTTP(S) proxies with CONNECT tunnels. Redirects are followed here, not by
urllib3 (``HttpSession._exchange``): the credentials dropped on a change of origin, a
redirect's body left unread unless short. None of the three bounds a request as a whole
(aiohttp's ``total`` comes close, at a quarter of the throughput), so two bounds are
wheelscan's own:

- **A deadline per request.** A socket timeout bounds each read, so a server that trickles a
  byte a second would hold a request for ever. Here every request, headers and body, must be
  done by its deadline: ``timeout`` seconds, plus the time its body takes at ``MIN_RATE``.
  One watchdog thread per process shuts down the socket of any request past its deadline.
- **A cap on every body.** The caller says how many bytes it will take (``limit``); a
  ``Content-Length`` above it is refused before a byte is read (http.client allocated the
  declared length at once: ``Content-Length: 1 TB`` was a ``MemoryError``), and a body
  without a length is read in chunks and refused as soon as it passes the cap.

Bodies sent with ``Content-Encoding: gzip`` or ``deflate`` are decoded, within the same cap
(a gzip bomb is a body over the cap); any other encoding is refused loudly. A body whose
encoding is not understood must never be parsed as if it were plain.
"""

from __future__ import annotations

import atexit
import base64
import collections
import contextlib
import dataclasses
import email.utils
import functools
import heapq
import http.client
import netrc
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.util import Url

from wheelscan.wheel.remote import SCHEME, USER_AGENT, redact
from wheelscan.wheel.response_headers import HeadersOnlyResponse

DEFAULT_TIMEOUT = 60.0
# The slowest transfer a request's deadline allows for beyond ``timeout``: 1 MiB/s.
MIN_RATE = 1 << 20
# The longest wait a Retry-After may ask for before the session gives up instead.
MAX_RETRY_AFTER = 120.0
_CHUNK = 1 << 20
# A body of announced length up to what the caller expects, and up to this, is read in one
# piece (``_body_chunks``), its buffer taken at once: no more than a worker's largest fetch
# of a member's end holds; a longer one in chunks as it comes
_ONE_PIECE_UP_TO = 64 << 20
_DECODED = frozenset({"gzip", "x-gzip", "deflate"})


class HttpError(OSError):
    """A request failed for good (after retries), or the server's answer makes no sense.

    ``transient`` says whether trying again may help (a reset, a 503, a missed deadline); a
    body over its cap or in an encoding not understood is the server's choice, not bad luck.
    """

    def __init__(
        self, url: str, reason: str, status: int | None = None, transient: bool = True
    ) -> None:
        super().__init__(f"{redact(url)}: {reason}")  # a token in the URL is never shown
        self.url, self.reason, self.status, self.transient = url, reason, status, transient


class BodyOverLimit(HttpError):
    """A body longer than the caller said it would take, refused (unread where its length
    was announced): the server's choice, not bad luck."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason, None, transient=False)


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # looked up in any case
    body: bytes  # decoded when the server sent it gzip- or deflate-encoded
    encoded: bool = False  # whether it was: its bytes are then not the file's own bytes


class _Watch:
    """One request's deadline, as its thread and the watchdog's share it. The deadline is
    written by the request alone (a stale read costs the watchdog a tick); firing and
    releasing decide under the watch's own lock, never contended but at that moment, so
    that a socket released to the pool is never shut afterwards."""

    __slots__ = ("deadline", "done", "fired", "lock", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline
        self.done = self.fired = False
        self.lock = threading.Lock()


class _Watchdog:
    """Shuts down the socket of every request still running at its deadline.

    A shut-down socket makes the blocked ``recv`` return at once, in whatever thread waits on
    it; the request then fails as a missed deadline. One thread serves the whole process,
    looking every ``TICK`` seconds: a request registers and extends its deadline without a
    lock (a deque's append, a field's write), and releases it under its own watch's lock.
    With 64 threads and more making requests, one lock taken three times a request became a
    convoy: a third of a remote worker's samples waited on it (py-spy, 1,050 wheels over
    loopback).
    """

    # deadlines are seconds long (--timeout, 60 s at most, plus 1 s a MiB): one fires at
    # most this late
    TICK = 0.1
    # done requests are dropped from the heap when it grows past this, else at their deadline
    PRUNE_ABOVE = 4096

    def __init__(self) -> None:
        self._new: collections.deque[_Watch] = collections.deque()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> _Watch:
        watched = _Watch(sock, deadline)
        self._new.append(watched)
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="wheelscan-deadlines", daemon=True
                    )
                    self._thread.start()
        return watched

    @staticmethod
    def extend(watched: _Watch, deadline: float) -> None:
        watched.deadline = deadline

    @staticmethod
    def release(watched: _Watch) -> bool:
        """Stop watching; True when the deadline had passed (and the socket was shut)."""
        with watched.lock:
            watched.done = True
            return watched.fired

    def _run(self) -> None:
        heap: list[tuple[float, int, _Watch]] = []
        while True:
            while self._new:
                watched = self._new.popleft()
                heapq.heappush(heap, (watched.deadline, id(watched), watched))
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                _, _, watched = heapq.heappop(heap)
                if watched.done:
                    continue
                if watched.deadline > now:  # extended since it was queued
                    heapq.heappush(heap, (watched.deadline, id(watched), watched))
                    continue
                with watched.lock:
                    if watched.done:  # released meanwhile: its socket may be pooled again
                        continue
                    watched.fired = True
                    # already closed: the request has failed on its own
                    with contextlib.suppress(OSError):
                        watched.sock.shutdown(socket.SHUT_RDWR)
            if len(heap) > self.PRUNE_ABOVE:
                heap = [entry for entry in heap if not entry[2].done]
                heapq.heapify(heap)
            time.sleep(self.TICK)


_WATCHDOG = _Watchdog()


# The sessions ``default_session`` made: this process's own, which its source and its
# workers' tasks share (``session_for``); ``quickest_answer`` reads what they have learnt
_DEFAULT_SESSIONS: list[HttpSession] = []


def quickest_answer(url: str | None = None) -> float | None:
    """The shortest wait for an answer this process's own sessions (``default_session``)
    have seen, from ``url``'s origin (``HttpSession.quickest``) or, without one, from any
    (``HttpSession.quickest_anywhere``); None before their first answer: the pool, which
    holds no session, sizes the wheels read at once by it (engine/inflight.py), from the
    index's pages, which the parent reads first. A session a caller made keeps what it
    learns to itself: no other session's sizing, nor a later test's, depends on it."""
    if url is None:
        seen = [s.quickest_anywhere() for s in _DEFAULT_SESSIONS]
    else:
        seen = [s.quickest(url) for s in _DEFAULT_SESSIONS]
    return min((s for s in seen if s is not None), default=None)


def _new_watchdog() -> None:
    # a forked child has no watchdog thread and maybe a lock held by the parent's: start over
    global _WATCHDOG  # noqa: PLW0603
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog)


def _body_chunks(
    answer: urllib3.BaseHTTPResponse, url: str, limit: int, one_piece_up_to: int
) -> Iterator[bytes]:
    """The raw body, never more than ``limit`` bytes in all: a body of announced length
    (within the limit, or refused unread) up to ``one_piece_up_to`` in one piece, read
    into one buffer taken at once; any other in chunks of at most 1 MiB, as it comes (a
    server may announce a length and send nothing: the buffer is taken only for what the
    caller expects). (In 1 MiB chunks joined, a
    range of 1.1 MB cost the client 1.4 ms of CPU over loopback (nginx), 2 MiB 3.0 ms and
    4 MiB 3.5 ms, where 1 MiB cost 0.38: two buffers more and their join, each on pages the
    allocator had given back and faulted in anew. In one piece: 0.32, 0.59 and 0.62 ms.)"""
    declared = answer.length_remaining  # None when chunked or delimited by the close
    if declared is not None and declared > limit:
        raise BodyOverLimit(
            url, f"the server announces {declared} bytes, more than the {limit} asked for"
        )
    received = 0
    whole = declared is not None and declared <= one_piece_up_to
    while declared is None or received < declared:
        wanted = declared - received if whole and declared is not None else _CHUNK
        chunk = answer.read(min(wanted, limit + 1 - received), decode_content=False)
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise BodyOverLimit(url, f"a body over the {limit} bytes asked for")
        yield chunk
    # a body cut short raises in urllib3 (enforce_content_length); counted here as well
    if declared is not None and received != declared:
        raise HttpError(url, f"body cut short: {received} of {declared} bytes")


def _decoded(chunks: Iterator[bytes], encoding: str, url: str, limit: int) -> bytes:
    """gzip or zlib-wrapped deflate, decoded as it arrives and never past ``limit`` bytes."""
    # wbits 32 + 15: a gzip or a zlib header, told apart by zlib; servers also send raw deflate
    # under "deflate" (RFC 9110 8.4.1.2 says zlib): tried when the zlib header is absent
    decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)
    out = bytearray()
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out += decoder.decompress(data, limit + 1 - len(out))
                if len(out) > limit:  # refused as an announced one is (a whole file, say)
                    raise BodyOverLimit(url, f"a {encoding} body inflating past {limit} bytes")
                data = decoder.unconsumed_tail
    except zlib.error as e:
        raise HttpError(url, f"a {encoding} body that does not decode: {e}") from e
    if not decoder.eof:
        raise HttpError(url, f"a {encoding} body cut short")
    return bytes(out)


def _basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def credentials(url: Url, netrc_version: NetrcVersion | None = None) -> dict[str, str]:
    """The Authorization header for ``url``: its own userinfo, else the user's ``.netrc``
    entry for its host (as pip does), else none. ``netrc_version``: the session's look at
    the file (``NetrcVersion``), else one made now."""
    if url.auth is not None:
        user, _, password = url.auth.partition(":")
        return _basic_auth(urllib.parse.unquote(user), urllib.parse.unquote(password))
    named, version = (netrc_version or NetrcVersion(0.0)).current()
    if version is None:
        return {}  # no .netrc: no credentials from it
    # the default file's HOME in the key too: another HOME's .netrc written in the same
    # clock tick would have the same version
    home = None if named else os.environ.get("HOME")
    return _netrc_credentials(named, home, version, _hostname(url))


_NetrcLook = tuple[tuple[str | None, str | None], float, tuple[int, int] | None]


class NetrcVersion:
    """Which ``.netrc`` a session's requests read (``NETRC``, else ``~/.netrc``), and its
    version (mtime and ctime: contents, mode or owner changed, it is parsed again), looked
    at again at most every ``recheck`` seconds. A look is an ``os.stat`` and an
    ``expanduser``: once a request, it was paid for by thousands of range requests a second
    for a file that changes once in a blue moon. An edit made during a run is seen a
    ``recheck`` later; the variables that name the file are read at every request, so
    pointing NETRC (or HOME) elsewhere takes effect at once."""

    def __init__(self, recheck: float) -> None:
        self.recheck = recheck
        # ((NETRC, HOME), when looked at, the version then: None where there was no file),
        # replaced whole (one assignment: threads sharing the session need no lock)
        self._seen: _NetrcLook | None = None

    def current(self) -> tuple[str | None, tuple[int, int] | None]:
        """``NETRC``'s value and the file's version (None: no file to read)."""
        named = os.environ.get("NETRC")
        key = (named, os.environ.get("HOME"))
        now = time.monotonic()
        seen = self._seen
        if seen is not None and seen[0] == key and now - seen[1] < self.recheck:
            return named, seen[2]
        try:
            found = os.stat(named or os.path.expanduser("~/.netrc"))
            version: tuple[int, int] | None = (found.st_mtime_ns, found.st_ctime_ns)
        except OSError:
            version = None
        self._seen = (key, now, version)
        return named, version


@functools.lru_cache(maxsize=64)
def _netrc_credentials(
    named: str | None, home: str | None, version: tuple[int, int], host: str
) -> dict[str, str]:
    # parsed once per file version and host, not per request: a listing makes thousands of
    # requests, and a parse per request cost its threads more than the pages themselves.
    # ``named`` None: the default ~/.netrc, which Python's netrc refuses where others may
    # read its passwords (it checks only the file it finds itself, not one named to it)
    del home, version  # the cache's key only
    try:
        entry = netrc.netrc(named).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return {}  # a .netrc that cannot be read, or is not safe: no credentials from it
    return _basic_auth(entry[0], entry[2] or "") if entry else {}


def tls_context() -> ssl.SSLContext:
    """Verified TLS: pip's ``cert`` setting when there is one (it replaces the store, as in
    pip), else the system store, which OpenSSL reads from ``SSL_CERT_FILE``/``SSL_CERT_DIR``
    when they are set."""
    from wheelscan.sources.index_url import pip_setting

    return ssl.create_default_context(cafile=pip_setting("cert"))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """RFC 9110 10.2.3: seconds, or an HTTP date."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _keep_userinfo(response: Response, asked: Url, final: Url) -> Response:
    """The answer, its URL given back the userinfo of the URL asked for when it is of the
    same origin: links on a private index's pages are resolved against it, and inherit it.
    The whole origin: after a redirect from https to plain http on the same host, those
    links would carry the credentials in the clear."""
    if asked.auth is None or _origin(asked) != _origin(final):
        return response
    return dataclasses.replace(response, url=final._replace(auth=asked.auth).url)


# Every failure is left to HttpSession.get's own retries, which also cover reading the body;
# redirects are followed by HttpSession._exchange
_NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=0)
# As urllib3's PoolManager: a chain of redirects longer than this is refused
MAX_REDIRECTS = 5
# The headers never sent across a redirect to another origin (urllib3's Retry's default)
_NOT_ACROSS_ORIGINS = frozenset({"authorization", "cookie", "proxy-authorization"})
# What urllib's proxy lookup reads on this platform: HTTP(S)_PROXY and NO_PROXY in either
# case, and REQUEST_METHOD (under CGI, HTTP_PROXY is a client's header, and not trusted)
_PROXY_VARIABLES = (
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "REQUEST_METHOD",
)  # fmt: skip


def _proxy_settings() -> tuple[str | None, ...]:
    return tuple(map(os.environ.get, _PROXY_VARIABLES))


@functools.lru_cache(maxsize=256)
def _proxy_for(scheme: str, host: str, settings: tuple[str | None, ...]) -> str | None:
    """The proxy a request to ``host`` goes through, or None; looked up again whenever the
    variables it is read from change (``settings``). urllib's lookup reads the whole
    environment twice, 0.1 ms, as much as the rest of a range request's own work."""
    del settings  # the cache's key only
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and "://" not in proxy:
        # ``host:port``, as pip takes it (requests prepends the scheme): an http proxy
        return "http://" + proxy
    return proxy or None


# The proxies urllib3 speaks to without an extra (SOCKS needs urllib3[socks])
_PROXY_SCHEMES = ("http://", "https://")


@functools.lru_cache(maxsize=16)
def _proxy_refused(proxy: str) -> str | None:
    """Why the proxy setting cannot be used, or None: a setting to fix, said once and never
    tried again, in words that hold none of it (its userinfo is a password)."""
    scheme, sep, _ = proxy.partition("://")
    if not proxy.lower().startswith(_PROXY_SCHEMES):
        if sep and re.fullmatch(SCHEME, scheme):
            return f"a proxy of scheme {scheme!r} (only http and https)"
        return "a proxy of a scheme not spoken (only http and https)"
    try:
        urllib3.util.parse_url(proxy)
    except ValueError:  # LocationParseError; its message shows the whole setting
        return "a proxy setting (HTTP(S)_PROXY) that is not a valid URL"
    return None


# What no host may hold: a space or a control character
_NOT_IN_A_HOST = re.compile(r"[\x00-\x20\x7f]")
# A URL urllib3's parse leaves as it is: http(s), a lower-case host of letters, digits, dots
# and hyphens, a port without leading zeros, a path of the characters RFC 3986 allows
# unescaped (no "%", no "\\"), and no userinfo, query or fragment. ``_plain_url`` then makes
# the parse's very result without it (a segment that starts with "." is left to the parse:
# it may be a dot segment, which the parse removes)
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9.-]+)(?::([1-9][0-9]{0,4}))?(/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?"
)


def _plain_url(url: str) -> Url | None:
    """``urllib3.util.parse_url(url)`` for a URL it leaves unchanged (``_PLAIN_URL``), else
    None. A page's or a wheel's URL is new to each request's cache (``_normalised``): the
    parse percent-encodes its path a byte at a time in Python, 45 µs a URL (a listing's
    pages, then each wheel in a worker and again in the parent, which sizes the worker's
    queue by its origin: 3 parses a wheel of the simulated index, 1,050 pages of one wheel)."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None:
        return None
    scheme, host, port, path = plain.groups()
    if (path is not None and "/." in path) or (port is not None and int(port) > 65535):
        return None  # dot segments to remove, a port the parse refuses: the parse decides
    return Url(scheme, None, host, None if port is None else int(port), path, None, None)


@functools.lru_cache(maxsize=1024)
def _normalised(url: str) -> Url:
    """``url`` parsed once, as urllib3 parses it: every decision on a request (its origin,
    its credentials, its proxy, where it goes) is taken from this one parse.

    urllib.parse and urllib3 read some URLs differently: ``http://evil:81\\@good:82/`` is
    good:82 to ``urlsplit`` and evil:81 to urllib3 (and to browsers), which is where a
    request through a proxy went while the credentials were checked against good. The
    normalised form (``Url.url``: the backslash, a second "@", spaces percent-encoded) is
    one every parser reads alike. A URL that does not parse (a port past 65535, a bracket
    left open) is a permanent failure of its request, never a ValueError: a hostile
    redirect must cost its own request only. Cached: a wheel's URL is asked for once per
    range, and a parse costs a third of a range request's own CPU."""
    plain = _plain_url(url)
    if plain is not None:
        return plain  # as the parse gives it, and passes every check below
    try:
        parsed = urllib3.util.parse_url(url)
    except ValueError as e:  # LocationParseError; its message would show a token
        raise HttpError(url, "not a valid URL", transient=False) from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise HttpError(url, "not an http(s) URL", transient=False)
    if _NOT_IN_A_HOST.search(parsed.host):
        # urllib3 keeps them in a host where urlsplit (and a browser) strips a tab or a
        # line feed: two readings again, and no host that has them can answer
        raise HttpError(url, "not a valid URL", transient=False)
    return parsed


def check_url(url: str) -> None:
    """Raise the HttpError a request of ``url`` would fail with at once, for want of a URL
    (``_normalised``): a source named so is refused before a store is opened for it."""
    _normalised(url)


def _hostname(url: Url) -> str:
    """The host as ``urlsplit``'s ``hostname`` gives it (an IPv6 address without its
    brackets), for the lookups that expect that form: ``.netrc``, ``NO_PROXY``."""
    return (url.host or "").strip("[]")


def _origin(url: Url) -> tuple[str, str, int]:
    return url.scheme or "", url.host or "", url.port or (443 if url.scheme == "https" else 80)


def _discard(answer: urllib3.BaseHTTPResponse) -> None:
    """Done with a redirect's answer: closed unread, its connection never reused. Its socket
    stays under the request's deadline until the request ends (``_once``), so pooled, it
    could be taken by another thread and shut under it when this request's deadline fires
    (a review's reproduction: a redirect to a slow origin failed a request that had taken the
    first hop's socket). Reading the body first would not help, and urllib3's
    ``drain_conn`` reads it whole into memory: a 302 announcing 1 TB was a MemoryError, one
    with a 400 MB body cost 428 MB. A redirect costs its origin a new connection."""
    answer.close()
    answer.release_conn()  # its place in the pool, a closed connection reopened when next used


def _redirected(asked: Url, current: Url, location: str) -> Url:
    """Where a redirect from ``current`` to ``location`` leads (normalised, without
    userinfo: the credentials are the ones of the URL asked for, or none)."""
    try:
        joined = urllib.parse.urljoin(current.url, location)
        return _normalised(joined)._replace(auth=None, fragment=None)
    except (HttpError, ValueError) as e:
        reason = getattr(e, "reason", "not a valid URL")
        raise HttpError(
            asked.url, f"a redirect to {redact(location)}: {reason}", transient=False
        ) from e


def _failure(url: str, error: BaseException) -> HttpError:
    # urllib3 wraps the socket's error (refused, reset...): that one says what failed
    cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
    return HttpError(url, f"{type(cause).__name__}: {cause}")


# The sockets a thread's request goes through (a redirect may add one), for the watchdog;
# whether its last one had served before (``reused``), and whether it must be a new one
# (``fresh``): HttpSession._on_live_connection
_CURRENT = threading.local()
# How a connection the server closed fails a request sent on it before any answer
_CLOSED = (
    BrokenPipeError,
    ConnectionAbortedError,
    ConnectionResetError,
    http.client.RemoteDisconnected,
)


def _closed_unanswered(error: BaseException) -> bool:
    """Whether ``error`` says the server closed the connection before it answered: the
    socket's error, or urllib3's around it. A missed deadline (the watchdog shut the
    socket) is an HttpError, never this."""
    if isinstance(error, HttpError):
        return False
    seen: BaseException | None = error
    for _ in range(4):  # urllib3 wraps it once or twice
        if seen is None:
            return False
        if isinstance(seen, _CLOSED):
            return True
        if isinstance(seen, urllib3.exceptions.MaxRetryError):
            seen = seen.reason
        elif isinstance(seen, urllib3.exceptions.ProtocolError) and len(seen.args) > 1:
            seen = seen.args[1] if isinstance(seen.args[1], BaseException) else None
        else:
            seen = seen.__cause__
    return False


class _WatchedConnection(urllib3.connection.HTTPConnection):
    """A connection that puts its socket under the current request's deadline before it
    sends: urllib3's own timeouts, like http.client's, bound each socket read only. Its
    answers' headers are parsed as http.client parses them, at a fraction of the cost
    (wheel/response_headers.py)."""

    response_class = HeadersOnlyResponse

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None and getattr(_CURRENT, "fresh", False):
            self.close()  # kept alive, maybe closed by the server: this request needs a new one
        _CURRENT.reused = self.sock is not None
        if self.sock is None:
            self.connect()
        watch = getattr(_CURRENT, "watch", None)
        if watch is not None and self.sock is not None:
            watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedTlsConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


# The characters of a request target urllib3 sends unchanged: those RFC 3986 allows in a
# path and a query (urllib3 percent-encodes the others). Tested as a set where the target
# holds no escape: the pattern's alternation made each character cost sre two tries (2.4-3.4
# us a wheel's target, against 0.9-1.4)
_TARGET_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?"
)
# A request target urllib3 would send unchanged: those characters, and percent-escapes in
# upper case (urllib3 rewrites the others)
_PLAIN_TARGET = re.compile(
    "/(?:[" + re.escape("".join(sorted(_TARGET_CHARACTERS))) + "]|%[0-9A-F]{2})*"
)


@functools.lru_cache(maxsize=1024)
def _sent_as_is(target: str) -> bool:
    """Whether urllib3 would send ``target`` unchanged (``_PLAIN_TARGET``); cached, as a
    wheel's target is asked for once per range. Without escapes, told by its characters
    alone (``_TARGET_CHARACTERS``)."""
    if "%" not in target:
        return target[:1] == "/" and _TARGET_CHARACTERS.issuperset(target)
    return _PLAIN_TARGET.fullmatch(target) is not None


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection

    def get_once(
        self, target: str, headers: Mapping[str, str], timeout: urllib3.Timeout
    ) -> urllib3.BaseHTTPResponse:
        """A GET of ``target`` (a plain one: ``_PLAIN_TARGET``) on one of the pool's
        connections, as ``urlopen`` makes it without its retries or redirects, which
        HttpSession makes itself, and without parsing the target again: urlopen
        percent-encodes it a byte at a time in Python, a tenth of a range request's CPU.
        The answer holds the connection until its body is read (``release_conn``).
        ``_make_request`` and its ``response_conn`` are urllib3's private API: pyproject.toml
        pins urllib3 to the versions this was tested with."""
        conn = self._get_conn()
        try:
            return self._make_request(
                conn, "GET", target, headers=headers, retries=_NO_RETRIES, timeout=timeout,
                response_conn=conn, preload_content=False, decode_content=False,
            )  # fmt: skip
        except BaseException:
            conn.close()
            self._put_conn(None)  # its place in the pool, for a new connection
            raise


class _TlsPool(_Pool, urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedTlsConnection


class _LazyTls:
    """A pool manager that makes its TLS context when its first https pool needs one: the
    system store's certificates take 20 ms of CPU to load, and each worker of an audit of
    a plain http mirror paid them for nothing."""

    connection_pool_kw: dict[str, Any]

    def __init__(self, *args: Any, tls: Callable[[], ssl.SSLContext], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls = tls

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> urllib3.HTTPConnectionPool:
        if scheme == "https":
            if request_context is None:
                request_context = self.connection_pool_kw.copy()
            if request_context.get("ssl_context") is None:
                request_context["ssl_context"] = self._tls()
        pool: urllib3.HTTPConnectionPool = super()._new_pool(  # type: ignore[misc]
            scheme, host, port, request_context
        )
        return pool


class _PoolManager(_LazyTls, urllib3.PoolManager):
    pass


class _ProxyManager(_LazyTls, urllib3.ProxyManager):
    pass


def _manager(
    proxy: str | None, tls: Callable[[], ssl.SSLContext], size: int
) -> urllib3.PoolManager:
    manager: urllib3.PoolManager
    if proxy:
        # credentials in the proxy's URL (http://user:pass@proxy:3128) are the proxy's to
        # see, as Proxy-Authorization: urllib3 sends none of its own accord (a 407 instead)
        parsed = urllib3.util.parse_url(proxy)
        headers = None
        if parsed.auth:
            # the escapes' bytes as they are, as curl sends them: decoded to text (UTF-8)
            # and encoded again (latin-1) a password of any other letters failed
            user, _, password = parsed.auth.partition(":")
            login = urllib.parse.unquote_to_bytes(user) + b":"
            login += urllib.parse.unquote_to_bytes(password)
            headers = {"proxy-authorization": "Basic " + base64.b64encode(login).decode()}
            proxy = parsed._replace(auth=None).url
        manager = _ProxyManager(proxy, num_pools=32, maxsize=size, tls=tls, proxy_headers=headers)
    else:
        manager = _PoolManager(num_pools=32, maxsize=size, tls=tls)
    manager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}
    return manager


class HttpSession:
    """urllib3 connection pools, under wheelscan's deadlines, caps and retries; safe across
    threads and forks.

    ``timeout`` is each request's deadline, beyond the time its body takes at ``MIN_RATE``.
    5xx, 429, connection errors and missed deadlines are retried ``tries`` times in all, with
    exponential backoff, or after the wait a ``Retry-After`` asks for (up to
    ``MAX_RETRY_AFTER``); any other answer (4xx included) goes back to the caller to judge.
    Proxies come from ``HTTP(S)_PROXY`` and ``NO_PROXY``; credentials from the URL or
    ``.netrc`` go to the URL's own origin only: ``_exchange`` drops them on a redirect to
    another scheme, host or port.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        tries: int = 3,
        backoff: float = 0.5,
        # a worker's wheels in flight (engine/inflight.py, up to 128 on a slow link) and
        # its range requests (wheel/http.py, 32) at once: fewer, and urllib3 would close the
        # surplus after each use (a new connection costs a round trip more)
        connections: int = 160,
        # how stale the session's look at .netrc may be (``NetrcVersion``)
        netrc_recheck: float = 1.0,
    ) -> None:
        self.timeout, self.tries, self.backoff = timeout, tries, backoff
        self._netrc = NetrcVersion(netrc_recheck)
        self.connections = connections  # kept alive per host: threads sharing the session
        self._managers: dict[str | None, urllib3.PoolManager] = {}
        # (scheme, host, port) -> its pool among the direct ones (``_pool``)
        self._pools: dict[tuple[str, str, int | None], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._tls: ssl.SSLContext | None = None
        self._timeouts = urllib3.Timeout(connect=timeout, read=timeout)
        # origin -> the shortest wait for an answer's headers seen from it (``quickest``)
        self._quickest: dict[tuple[str, str, int], float] = {}
        # the shortest of them, from any origin (``quickest_anywhere``)
        self._quickest_anywhere: float | None = None
        # origin -> whether it answered ranges asked together with their parts (``False``
        # sticks: the whole file, once sent instead, may be sent again). The origin asked,
        # wherever it redirects: the callers ask by the URL they have, before a request
        # learns where it leads (files redirected to a store that ignores several ranges
        # are then asked for one range a request from the second wheel on)
        self._together: dict[tuple[str, str, int], bool] = {}

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        limit: int,
        expected: int = 0,
    ) -> Response:
        """GET ``url``, following redirects; a body over ``limit`` bytes is refused. A body
        announced at no more than ``expected`` bytes (a range's, up to 64 MiB) and sent as
        it is, not encoded, is read in one piece (``_body_chunks``).

        The answer's headers must come within ``timeout`` seconds; its body then gets the time
        its announced length (or, unannounced, ``limit``) takes at ``MIN_RATE``.
        """
        asked = _normalised(url)
        # the credentials travel in the header only; a fragment is no part of a request
        bare = (
            asked
            if asked.auth is None and asked.fragment is None
            else asked._replace(auth=None, fragment=None)
        )
        sent = {"User-Agent": USER_AGENT, **credentials(asked, self._netrc), **(headers or {})}
        failure = None  # made when a try fails: an error's message costs a redaction
        wait = 0.0
        for attempt in range(self.tries):
            if attempt:
                time.sleep(wait or self.backoff * 2 ** (attempt - 1))
            wait = 0.0
            try:
                final, response = self._on_live_connection(bare, sent, limit, expected)
            except HttpError as e:
                if not e.transient:
                    raise
                failure = HttpError(url, e.reason, e.status)
                continue
            except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as e:
                failure = _failure(url, e)
                continue
            if response.status < 500 and response.status != 429:
                return _keep_userinfo(response, asked, final)
            failure = HttpError(url, f"HTTP {response.status}", response.status)
            wait_asked = _retry_after(response.headers)
            if wait_asked is not None:
                if wait_asked > MAX_RETRY_AFTER:
                    raise HttpError(
                        url, f"HTTP {response.status}, retry after {wait_asked:.0f} s",
                        response.status,
                    )  # fmt: skip
                wait = wait_asked
        raise failure or HttpError(url, "no attempt made")

    def _on_live_connection(
        self, target: Url, headers: dict[str, str], limit: int, expected: int
    ) -> tuple[Url, Response]:
        """``_once``, sent again at once on a new connection where it went out on a kept-alive
        one that the server had closed (reset, or closed without an answer): no failure of
        the server, and none of the request's tries. A server closes idle connections when
        it likes (nginx after ``keepalive_timeout``), and urllib3 sees it only where the
        close has arrived before the request leaves: one that crosses it on the wire, or on
        a slow link, failed a try, and a backoff; tried again on the next connection pooled,
        dead as well, three of them failed the request."""
        _CURRENT.fresh = False
        try:
            return self._once(target, headers, limit, expected)
        except Exception as e:
            if not (getattr(_CURRENT, "reused", False) and _closed_unanswered(e)):
                raise
        _CURRENT.fresh = True  # the connection the pool gives is opened anew
        try:
            return self._once(target, headers, limit, expected)
        finally:
            _CURRENT.fresh = False

    def _once(
        self, target: Url, headers: dict[str, str], limit: int, expected: int
    ) -> tuple[Url, Response]:
        """One try of a request to ``target``, its redirects followed: the URL that answered,
        and its answer."""
        url = target.url
        _CURRENT.reused = False
        started = time.monotonic()
        deadline = started + self.timeout
        tokens: list[_Watch] = []
        sent = [started]

        def watch(sock: socket.socket) -> None:
            tokens.append(_WATCHDOG.watch(sock, deadline))
            sent.append(time.monotonic())  # connected: a new connection's handshake is past

        _CURRENT.watch = watch
        answer = None
        try:
            final, answer = self._exchange(target, headers)
            _CURRENT.reused = False  # answered: a failure from here on is no closed connection
            if answer.status < 200:
                # http.client passes over 100 Continue only: another interim answer (103
                # Early Hints) was taken for the final one, and the answer that follows it
                # on the connection would be read by the next request sent there
                raise HttpError(
                    url, f"an interim answer ({answer.status}) taken for a final one",
                    answer.status, transient=False,
                )  # fmt: skip
            answered = time.monotonic()
            waited = answered - sent[-1]
            if self._quickest_anywhere is None or waited < self._quickest_anywhere:
                self._quickest_anywhere = waited
            answering = _origin(final)
            self._saw_answer(answering, waited)
            if final is not target and answering != _origin(target):
                # asked of one origin, answered by another (files redirected to a CDN's):
                # what a request to the one asked costs, every hop, from the first's sending.
                # The callers ask by the URL they have, before it leads elsewhere
                self._saw_answer(_origin(target), answered - sent[min(1, len(sent) - 1)])
            announced = answer.length_remaining
            extra = min(announced if announced is not None else limit, limit) / MIN_RATE
            for token in tokens:
                _WATCHDOG.extend(token, deadline + extra)
            # (looked for first: a missing field's ``get`` raises and catches a KeyError)
            fields = answer.headers
            encoding = "identity"
            if "content-encoding" in fields:
                encoding = (fields["content-encoding"] or "identity").strip().lower()
            # in one piece only what the caller expects, and only bytes as sent: a decoded
            # page would otherwise be held whole beside its encoded body
            one_piece = min(expected, _ONE_PIECE_UP_TO) if encoding == "identity" else 0
            chunks = _body_chunks(answer, url, limit, one_piece)
            if encoding in _DECODED:
                body = _decoded(chunks, encoding, url, limit)
            elif encoding == "identity":
                body = b"".join(chunks)
            else:
                raise HttpError(url, f"Content-Encoding {encoding!r} not understood", None, False)
        except BaseException as e:
            if answer is not None:
                answer.close()
            if any([_WATCHDOG.release(token) for token in tokens]):
                raise HttpError(
                    url, f"no complete answer {time.monotonic() - started:.1f} s on"
                ) from e
            if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
                if getattr(_CURRENT, "reused", False) and _closed_unanswered(e.reason):
                    raise  # a kept-alive connection closed: _on_live_connection's to judge
                raise _failure(url, e.reason) from e  # a connection that failed
            raise
        finally:
            _CURRENT.watch = None
        if any([_WATCHDOG.release(token) for token in tokens]):
            # the watchdog's shutdown may itself have ended the answer: headers cut before
            # their framing was read, or a body whose end is the close, read as whole
            answer.close()
            raise HttpError(url, f"no complete answer {time.monotonic() - started:.1f} s on")
        answer.release_conn()
        # urllib3's own: looked up in any case, repeated fields joined (RFC 9110 5.3)
        answered_by = url if final is target else final.url  # a Url's text is made anew
        response = Response(answered_by, answer.status, answer.headers, body, encoding in _DECODED)
        return final, response

    def _saw_answer(self, origin: tuple[str, str, int], waited: float) -> None:
        # (a race between two threads may lose one of their waits: no harm; an index
        # linking to files on many hosts is given no more than 64 of them)
        known = self._quickest.get(origin)
        if (known is None and len(self._quickest) < 64) or (known is not None and waited < known):
            self._quickest[origin] = waited

    def quickest(self, url: str) -> float | None:
        """The shortest wait for an answer's headers this session has seen from ``url``'s
        origin (from a request's sending; a new connection's handshake is not counted), or
        None before its first answer: a round trip to it at least, and, over many answers,
        the best estimate of one (a busy server or machine makes the others slower). Where
        the origin redirects to another, the wait from its own request's sending to the
        other's answer: a request asked of it costs that."""
        try:
            return self._quickest.get(_origin(_normalised(url)))
        except HttpError:  # not a URL this session could have had an answer from
            return None

    def quickest_anywhere(self) -> float | None:
        """The shortest wait for an answer's headers this session has seen from any origin
        (as ``quickest``), or None before its first answer: the best guess at a round trip
        to an origin not asked yet (an index's files on another host than its pages)."""
        return self._quickest_anywhere

    def ranges_together(self, url: str) -> bool | None:
        """Whether ``url``'s origin answers several ranges asked in one request with their
        parts (wheel/byteranges.py), as far as this session has seen; None before it asked."""
        try:
            return self._together.get(_origin(_normalised(url)))
        except HttpError:
            return None

    def answered_ranges_together(self, url: str, parts: bool) -> None:
        """``url``'s origin answered ranges asked together with their parts, or not."""
        with contextlib.suppress(HttpError):
            origin = _origin(_normalised(url))
            if self._together.get(origin, True) and len(self._together) < 64:
                self._together[origin] = parts
            elif not parts:
                self._together[origin] = False

    def _exchange(
        self, url: Url, headers: Mapping[str, str]
    ) -> tuple[Url, urllib3.BaseHTTPResponse]:
        """The answer to a GET of ``url`` after its redirects, and the URL that gave it.

        Redirects are followed here, as urllib3's PoolManager follows them: at most
        ``MAX_REDIRECTS``, and the headers in ``_NOT_ACROSS_ORIGINS`` (the credentials) are
        dropped as soon as one leads to another scheme, host or port."""
        target, sent = url, headers
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(target, sent)
            location = answer.get_redirect_location()
            if not location:
                return target, answer
            _discard(answer)
            following = _redirected(url, target, location)
            if _origin(following) != _origin(target):
                sent = {k: v for k, v in sent.items() if k.lower() not in _NOT_ACROSS_ORIGINS}
            target = following
        raise HttpError(url.url, f"more than {MAX_REDIRECTS} redirects", transient=False)

    def _send(self, url: Url, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        """One GET of ``url`` (normalised, without userinfo), its redirect not followed.
        Without a proxy, straight to the origin's pool of connections: the PoolManager's
        ``urlopen`` parses the URL again, percent-encoding it a byte at a time in Python,
        for every request (a quarter of a range request's CPU with the proxy lookup, which
        is cached here: ``_proxy_for``). Through a proxy it parses ``url.url`` again, which
        a normalised URL survives unchanged (``_normalised``)."""
        scheme = url.scheme or ""
        proxy = _proxy_for(scheme, _hostname(url), _proxy_settings())
        if proxy is not None and (refused := _proxy_refused(proxy)) is not None:
            raise HttpError(url.url, refused, transient=False)  # a setting to fix
        manager = self._manager(proxy)
        if proxy is not None:
            return manager.urlopen("GET", url.url, **self._urlopen_options(headers))
        pool = self._pool(manager, scheme, url.host or "", url.port)
        target = url.request_uri
        if isinstance(pool, _Pool) and _sent_as_is(target):
            return pool.get_once(target, headers, self._timeouts)
        return pool.urlopen("GET", target, assert_same_host=False, **self._urlopen_options(headers))

    def _urlopen_options(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """urlopen's arguments for ``_send``: the body left unread and as sent, no retries
        or redirects of urllib3's own."""
        return {
            "headers": headers,
            "preload_content": False,
            "decode_content": False,
            "timeout": self._timeouts,
            "retries": _NO_RETRIES,
            "redirect": False,
        }

    def _pool(
        self, manager: urllib3.PoolManager, scheme: str, host: str, port: int | None
    ) -> urllib3.HTTPConnectionPool:
        """The origin's pool of connections in ``manager`` (not through a proxy): kept
        here while open, as the manager's own look-up builds a key of a dozen fields for
        every request (a twentieth of a range request's own CPU). The manager closes a pool
        it drops (more than 32 origins), and ``close`` all of them: one closed is looked up
        again."""
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:
            pool = manager.connection_from_host(host, port, scheme)
            if len(self._pools) < 64:
                self._pools[key] = pool
        return pool

    def _manager(self, proxy: str | None) -> urllib3.PoolManager:
        """The pools of connections through ``proxy`` (None: straight to the origins)."""
        if os.getpid() == self._pid and (manager := self._managers.get(proxy)) is not None:
            return manager
        with self._lock:
            if os.getpid() != self._pid:
                # a forked child must not share its parent's sockets: forget them, don't close
                self._managers, self._pools, self._pid = {}, {}, os.getpid()
            if proxy not in self._managers:
                self._managers[proxy] = _manager(proxy, self._tls_context, self.connections)
            return self._managers[proxy]

    def _tls_context(self) -> ssl.SSLContext:
        """The session's one TLS context (``tls_context``), made when first needed (two
        threads racing make one each, and keep one: no lock a fork could leave held)."""
        if self._tls is None:
            self._tls = tls_context()
        return self._tls

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def default_session(timeout: float = DEFAULT_TIMEOUT) -> HttpSession:
    """One session per process and deadline (a forked worker drops what it inherited)."""
    session = HttpSession(timeout)
    atexit.register(session.close)
    _DEFAULT_SESSIONS.append(session)
    return session


def session_for(deadline: float | None) -> HttpSession:
    """The default session whose requests' deadline is ``deadline`` seconds, at most
    ``DEFAULT_TIMEOUT`` (a wheel's time limit is no reason to wait longer on one request)."""
    return default_session(DEFAULT_TIMEOUT if deadline is None else min(deadline, DEFAULT_TIMEOUT))
