"""urllib3's connection pools as wheelscan's session uses them: each connection's socket put
under its request's deadline before it sends, a plain request target sent without urllib3
parsing it again, TLS contexts made only when an https pool needs one, and a proxy's own
credentials sent as curl sends them.

The plumbing beneath wheel/httpclient.py's ``HttpSession``, which decides what to send,
follows redirects and retries; a request's state crosses between them in ``CURRENT``, the
thread's own (its deadline's ``watch``, and whether its connection was ``reused`` or must
be ``fresh``).
"""

from __future__ import annotations

import base64
import functools
import re
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import urllib3

from wheelscan.wheel.http_deadline import WATCHDOG, Watch
from wheelscan.wheel.response_headers import HeadersOnlyResponse

# Every failure is left to HttpSession.get's own retries, which also cover reading the body;
# redirects are followed by HttpSession._exchange
NO_RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=0)
# The sockets a thread's request goes through (a redirect may add one), for the watchdog;
# whether its last one had served before (``reused``), and whether it must be a new one
# (``fresh``): HttpSession._on_live_connection
CURRENT = threading.local()


class _WatchedConnection(urllib3.connection.HTTPConnection):
    """A connection that puts its socket under the current request's deadline before it
    sends: urllib3's own timeouts, like http.client's, bound each socket read only. Its
    answers' headers are parsed as http.client parses them, at a fraction of the cost
    (wheel/response_headers.py)."""

    response_class = HeadersOnlyResponse
    # the deadline its last request put on its socket (see ``request``)
    deadline_watch: Watch | None = None

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None and getattr(CURRENT, "fresh", False):
            self.close()  # kept alive, maybe closed by the server: this request needs a new one
        CURRENT.reused = self.sock is not None
        if self.sock is None:
            self.connect()
        # urllib3 hands a connection back to its pool as soon as an answer's body is read
        # to its end, before the request that read it stops watching its socket: the request
        # sent on it next takes the socket from that watch, whose deadline is not its own
        if self.deadline_watch is not None:
            WATCHDOG.release(self.deadline_watch)
            self.deadline_watch = None
        watch = getattr(CURRENT, "watch", None)
        if watch is not None and self.sock is not None:
            self.deadline_watch = watch(self.sock)
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
def sent_as_is(target: str) -> bool:
    """Whether urllib3 would send ``target`` unchanged (``_PLAIN_TARGET``); cached, as a
    wheel's target is asked for once per range. Without escapes, told by its characters
    alone (``_TARGET_CHARACTERS``)."""
    if "%" not in target:
        return target[:1] == "/" and _TARGET_CHARACTERS.issuperset(target)
    return _PLAIN_TARGET.fullmatch(target) is not None


class Pool(urllib3.HTTPConnectionPool):
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
                conn, "GET", target, headers=headers, retries=NO_RETRIES, timeout=timeout,
                response_conn=conn, preload_content=False, decode_content=False,
            )  # fmt: skip
        except BaseException:
            conn.close()
            self._put_conn(None)  # its place in the pool, for a new connection
            raise


class _TlsPool(Pool, urllib3.HTTPSConnectionPool):
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


def pool_manager(
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
    manager.pool_classes_by_scheme = {"http": Pool, "https": _TlsPool}
    return manager
