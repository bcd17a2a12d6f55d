"""wheelscan's one HTTP client: keep-alive connections, redirects, retries, and two bounds on
every request that a hostile or broken server cannot talk its way past.

- **A deadline per request.** A socket timeout bounds each read, so a server that trickles a
  byte a second would hold a request for ever. Here every request, headers and body, must be
  done by its deadline: ``timeout`` seconds, plus the time its body takes at ``MIN_RATE``.
  One watchdog thread per process shuts down the socket of any request past its deadline.
- **A cap on every body.** The caller says how many bytes it will take (``limit``); a
  ``Content-Length`` above it is refused before a byte is read (http.client would allocate
  the declared length at once: ``Content-Length: 1 TB`` was a ``MemoryError``), and a body
  without a length is read in chunks and refused as soon as it passes the cap.

Bodies sent with ``Content-Encoding: gzip`` or ``deflate`` are decoded, within the same cap
(a gzip bomb is a body over the cap); any other encoding is refused loudly. A body whose
encoding is not understood must never be parsed as if it were plain.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import email.utils
import functools
import http.client
import os
import socket
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from wheelscan.wheel.remote import USER_AGENT, redact

DEFAULT_TIMEOUT = 60.0
# The slowest transfer a request's deadline allows for beyond ``timeout``: 1 MiB/s.
MIN_RATE = 1 << 20
# The longest wait a Retry-After may ask for before the session gives up instead.
MAX_RETRY_AFTER = 120.0
_CHUNK = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
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


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes  # decoded when the server sent it gzip- or deflate-encoded
    encoded: bool = False  # whether it was: its bytes are then not the file's own bytes


class _Watchdog:
    """Shuts down the socket of every request still running at its deadline.

    A shut-down socket makes the blocked ``recv`` return at once, in whatever thread waits on
    it; the request then fails as a missed deadline. One thread serves the whole process.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, socket.socket]] = {}
        self._fired: set[int] = set()
        self._tokens = 0
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wheelscan-deadlines", daemon=True
                )
                self._thread.start()
            self._tokens += 1
            self._due[self._tokens] = (deadline, sock)
            self._cond.notify()
            return self._tokens

    def extend(self, token: int, deadline: float) -> None:
        with self._cond:
            if token in self._due:
                self._due[token] = (deadline, self._due[token][1])

    def release(self, token: int) -> bool:
        """Stop watching; True when the deadline had passed (and the socket was shut)."""
        with self._cond:
            self._due.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, sock) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[token]
                        self._fired.add(token)
                        # already closed: the request has failed on its own
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                soonest = min((deadline for deadline, _ in self._due.values()), default=None)
                self._cond.wait(None if soonest is None else max(0.0, soonest - now))


_WATCHDOG = _Watchdog()


def _new_watchdog() -> None:
    # a forked child has no watchdog thread and maybe a lock held by the parent's: start over
    global _WATCHDOG  # noqa: PLW0603
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog)


def _body_chunks(answer: http.client.HTTPResponse, url: str, limit: int) -> Iterator[bytes]:
    """The raw body in chunks of at most 1 MiB, never more than ``limit`` bytes in all."""
    declared = answer.length  # None when chunked or delimited by the connection's close
    if declared is not None and declared > limit:
        raise HttpError(
            url, f"the server announces {declared} bytes, more than the {limit} asked for", None,
            transient=False,
        )  # fmt: skip
    received = 0
    while chunk := answer.read(min(_CHUNK, limit + 1 - received)):
        received += len(chunk)
        if received > limit:
            raise HttpError(url, f"a body over the {limit} bytes asked for", transient=False)
        yield chunk
    # http.client's read(n) returns b"" on a connection closed early: count what came
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
                if len(out) > limit:
                    raise HttpError(
                        url, f"a {encoding} body inflating past {limit} bytes", transient=False
                    )
                data = decoder.unconsumed_tail
    except zlib.error as e:
        raise HttpError(url, f"a {encoding} body that does not decode: {e}") from e
    if not decoder.eof:
        raise HttpError(url, f"a {encoding} body cut short")
    return bytes(out)


def _basic_auth(parts: urllib.parse.SplitResult) -> dict[str, str]:
    if parts.username is None:
        return {}
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


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


class HttpSession:
    """Keep-alive connections per origin, redirects and retries; safe across threads and forks.

    ``timeout`` is each request's deadline, beyond the time its body takes at ``MIN_RATE``.
    5xx, 429, connection errors and missed deadlines are retried ``tries`` times in all, with
    exponential backoff, or after the wait a ``Retry-After`` asks for (up to
    ``MAX_RETRY_AFTER``); any other answer (4xx included) goes back to the caller to judge.
    """

    def __init__(
        self, timeout: float = DEFAULT_TIMEOUT, tries: int = 3, backoff: float = 0.5
    ) -> None:
        self.timeout, self.tries, self.backoff = timeout, tries, backoff
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        limit: int,
    ) -> Response:
        """GET ``url``, following redirects; a body over ``limit`` bytes is refused.

        The answer's headers must come within ``timeout`` seconds; its body then gets the time
        its announced length (or, unannounced, ``limit``) takes at ``MIN_RATE``.
        """
        failure = HttpError(url, "no attempt made")
        wait = 0.0
        for attempt in range(self.tries):
            if attempt:
                time.sleep(wait or self.backoff * 2 ** (attempt - 1))
            wait = 0.0
            try:
                response = self._follow(url, dict(headers or {}), limit)
            except HttpError as e:
                if not e.transient:
                    raise
                failure = e
                continue
            except (OSError, http.client.HTTPException) as e:
                failure = HttpError(url, f"{type(e).__name__}: {e}")
                continue
            if response.status < 500 and response.status != 429:
                return response
            failure = HttpError(url, f"HTTP {response.status}", response.status)
            asked = _retry_after(response.headers)
            if asked is not None:
                if asked > MAX_RETRY_AFTER:
                    raise HttpError(
                        url, f"HTTP {response.status}, retry after {asked:.0f} s", response.status
                    )
                wait = asked
        raise failure

    def _follow(self, url: str, headers: dict[str, str], limit: int) -> Response:
        origin = urllib.parse.urlsplit(url)
        for _ in range(5):
            parts = urllib.parse.urlsplit(url)
            # credentials go only to the host they were given for, never across a redirect
            same_host = (parts.hostname, parts.port) == (origin.hostname, origin.port)
            sent = {**headers, **(_basic_auth(origin) if same_host else {})}
            response = self._once(url, sent, limit)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return response
            url = urllib.parse.urljoin(url, location)
        raise HttpError(url, "too many redirects", transient=False)

    def _once(self, url: str, headers: dict[str, str], limit: int) -> Response:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(url, "not an http(s) URL", transient=False)
        origin = (parts.scheme, parts.netloc.rpartition("@")[2])
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {"User-Agent": USER_AGENT, **headers}
        started = time.monotonic()
        deadline = started + self.timeout
        conn, reused = self._acquire(origin)
        try:
            answer, token = self._exchange(conn, url, target, headers, deadline)
        except ConnectionError:
            conn.close()
            if not reused:
                raise
            # the server closed an idle keep-alive connection: not a failure of the request
            conn = self._connect(origin)
            answer, token = self._exchange(conn, url, target, headers, deadline)
        except BaseException:
            conn.close()
            raise
        try:
            announced = answer.length if answer.length is not None else limit
            _WATCHDOG.extend(token, deadline + min(announced, limit) / MIN_RATE)
            encoding = (answer.getheader("content-encoding") or "identity").strip().lower()
            chunks = _body_chunks(answer, url, limit)
            if encoding in _DECODED:
                body = _decoded(chunks, encoding, url, limit)
            elif encoding == "identity":
                body = b"".join(chunks)
            else:
                raise HttpError(url, f"Content-Encoding {encoding!r} not understood", None, False)
        except BaseException as e:
            conn.close()
            if _WATCHDOG.release(token):
                raise self._late(url, started) from e
            raise
        if _WATCHDOG.release(token) or answer.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.setdefault(origin, []).append(conn)
        response_headers = {k.lower(): v for k, v in answer.getheaders()}
        return Response(url, answer.status, response_headers, body, encoding in _DECODED)

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        url: str,
        target: str,
        headers: dict[str, str],
        deadline: float,
    ) -> tuple[http.client.HTTPResponse, int]:
        """Send the request and read the answer's headers, under the deadline's watch."""
        started = time.monotonic()
        if conn.sock is None:
            conn.timeout = max(0.001, min(self.timeout, deadline - started))
            conn.connect()
        assert conn.sock is not None
        token = _WATCHDOG.watch(conn.sock, deadline)
        try:
            conn.request("GET", target, headers=headers)
            return conn.getresponse(), token
        except BaseException as e:
            if _WATCHDOG.release(token):
                conn.close()
                raise self._late(url, started) from e
            raise

    def _late(self, url: str, started: float) -> HttpError:
        return HttpError(url, f"no complete answer {time.monotonic() - started:.1f} s on")

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
def default_session(timeout: float = DEFAULT_TIMEOUT) -> HttpSession:
    """One session per process and deadline (a forked worker drops what it inherited)."""
    session = HttpSession(timeout)
    atexit.register(session.close)
    return session


def session_for(deadline: float | None) -> HttpSession:
    """The default session whose requests' deadline is ``deadline`` seconds, at most
    ``DEFAULT_TIMEOUT`` (a wheel's time limit is no reason to wait longer on one request)."""
    return default_session(DEFAULT_TIMEOUT if deadline is None else min(deadline, DEFAULT_TIMEOUT))
