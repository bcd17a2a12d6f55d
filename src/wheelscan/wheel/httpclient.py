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

This module holds the session (what a request sends, its redirects, retries and body) and
the URLs it reads; the watchdog is wheel/http_deadline.py's, the user's settings
(credentials, proxies, certificates) wheel/http_settings.py's, and urllib3's pools as the
session uses them wheel/http_pools.py's.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import email.utils
import functools
import http.client
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.util import Url

from wheelscan.wheel.http_deadline import WATCHDOG, Watch
from wheelscan.wheel.http_pools import CURRENT, NO_RETRIES, Pool, pool_manager, sent_as_is
from wheelscan.wheel.http_settings import (
    NetrcVersion,
    credentials,
    hostname,
    proxy_for,
    proxy_refused,
    proxy_settings,
    tls_context,
)
from wheelscan.wheel.remote import USER_AGENT, redact

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


def _body_chunks(
    answer: urllib3.BaseHTTPResponse,
    url: str,
    limit: int,
    one_piece_up_to: int,
    on_end: Callable[[], object] = lambda: None,
) -> Iterator[bytes]:
    """The raw body, never more than ``limit`` bytes in all: a body of announced length
    (within the limit, or refused unread) up to ``one_piece_up_to`` in one piece, read
    into one buffer taken at once; any other in chunks of at most 1 MiB, as it comes (a
    server may announce a length and send nothing: the buffer is taken only for what the
    caller expects). (In 1 MiB chunks joined, a
    range of 1.1 MB cost the client 1.4 ms of CPU over loopback (nginx), 2 MiB 3.0 ms and
    4 MiB 3.5 ms, where 1 MiB cost 0.38: two buffers more and their join, each on pages the
    allocator had given back and faulted in anew. In one piece: 0.32, 0.59 and 0.62 ms.)
    ``on_end`` is called as the read that ends the body returns, before its last chunk is
    given (a body delimited by the connection's close: at the empty read that finds it):
    what follows (a join, a decoding) is no longer the network's to cut short."""
    declared = answer.length_remaining  # None when chunked or delimited by the close
    if declared is not None and declared > limit:
        raise BodyOverLimit(
            url, f"the server announces {declared} bytes, more than the {limit} asked for"
        )
    received = 0
    ended = False
    whole = declared is not None and declared <= one_piece_up_to
    while declared is None or received < declared:
        wanted = declared - received if whole and declared is not None else _CHUNK
        chunk = answer.read(min(wanted, limit + 1 - received), decode_content=False)
        if not chunk:
            if not ended:
                on_end()
            break
        received += len(chunk)
        if received == declared or (declared is None and answer.closed):
            # the last byte read (a chunked body: its last, empty chunk read with its last
            # data, and the connection back in the pool): what follows is no read
            on_end()
            ended = True
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


# As urllib3's PoolManager: a chain of redirects longer than this is refused
MAX_REDIRECTS = 5
# The headers never sent across a redirect to another origin (urllib3's Retry's default)
_NOT_ACROSS_ORIGINS = frozenset({"authorization", "cookie", "proxy-authorization"})


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
        CURRENT.fresh = False
        try:
            return self._once(target, headers, limit, expected)
        except Exception as e:
            if not (getattr(CURRENT, "reused", False) and _closed_unanswered(e)):
                raise
        CURRENT.fresh = True  # the connection the pool gives is opened anew
        try:
            return self._once(target, headers, limit, expected)
        finally:
            CURRENT.fresh = False

    def _once(
        self, target: Url, headers: dict[str, str], limit: int, expected: int
    ) -> tuple[Url, Response]:
        """One try of a request to ``target``, its redirects followed: the URL that answered,
        and its answer."""
        url = target.url
        CURRENT.reused = False
        started = time.monotonic()
        deadline = started + self.timeout
        tokens: list[Watch] = []
        sent = [started]

        def watch(sock: socket.socket) -> Watch:
            token = WATCHDOG.watch(sock, deadline)
            tokens.append(token)
            sent.append(time.monotonic())  # connected: a new connection's handshake is past
            return token

        CURRENT.watch = watch
        answer = None
        try:
            final, answer = self._exchange(target, headers)
            CURRENT.reused = False  # answered: a failure from here on is no closed connection
            if answer.status < 200:
                # interim answers (100, 102, 103) are passed over as they come
                # (response_headers.HeadersOnlyResponse): this is a 101, a protocol switch
                # never asked for, after which the connection speaks no HTTP (closed)
                raise HttpError(
                    url, f"HTTP {answer.status}, a protocol switch never asked for",
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
                WATCHDOG.extend(token, deadline + extra)
            # (looked for first: a missing field's ``get`` raises and catches a KeyError)
            fields = answer.headers
            encoding = "identity"
            if "content-encoding" in fields:
                encoding = (fields["content-encoding"] or "identity").strip().lower()
            # in one piece only what the caller expects, and only bytes as sent: a decoded
            # page would otherwise be held whole beside its encoded body
            one_piece = min(expected, _ONE_PIECE_UP_TO) if encoding == "identity" else 0
            chunks = _body_chunks(
                answer, url, limit, one_piece,
                lambda: [WATCHDOG.release(token) for token in tokens],
            )  # fmt: skip
            if encoding in _DECODED:
                body = _decoded(chunks, encoding, url, limit)
            elif encoding == "identity":
                body = b"".join(chunks)
            else:
                raise HttpError(url, f"Content-Encoding {encoding!r} not understood", None, False)
        except BaseException as e:
            if answer is not None:
                answer.close()
            if any([WATCHDOG.release(token) for token in tokens]):
                raise HttpError(
                    url, f"no complete answer {time.monotonic() - started:.1f} s on"
                ) from e
            if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
                if getattr(CURRENT, "reused", False) and _closed_unanswered(e.reason):
                    raise  # a kept-alive connection closed: _on_live_connection's to judge
                raise _failure(url, e.reason) from e  # a connection that failed
            raise
        finally:
            CURRENT.watch = None
        if any([WATCHDOG.release(token) for token in tokens]):
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
        is cached: wheel/http_settings.py's ``proxy_for``). Through a proxy it parses
        ``url.url`` again, which a normalised URL survives unchanged (``_normalised``)."""
        scheme = url.scheme or ""
        proxy = proxy_for(scheme, hostname(url), proxy_settings())
        if proxy is not None and (refused := proxy_refused(proxy)) is not None:
            raise HttpError(url.url, refused, transient=False)  # a setting to fix
        manager = self._manager(proxy)
        if proxy is not None:
            return manager.urlopen("GET", url.url, **self._urlopen_options(headers))
        pool = self._pool(manager, scheme, url.host or "", url.port)
        target = url.request_uri
        if isinstance(pool, Pool) and sent_as_is(target):
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
            "retries": NO_RETRIES,
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
                self._managers[proxy] = pool_manager(proxy, self._tls_context, self.connections)
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
