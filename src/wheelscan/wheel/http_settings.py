"""What a user's setup says about HTTP requests: credentials from the URL or ``.netrc``, the
proxy from ``HTTP(S)_PROXY`` and ``NO_PROXY``, and the certificates TLS trusts.

Read as pip and urllib read them, and cached against what they are read from (the file's
version, the variables' values): a range request asks for them every time, thousands a
second, for settings that change once in a blue moon. wheel/httpclient.py's session applies
them; they are kept apart from it as the user's side of a request, not the wire's.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import ssl
import time
import urllib.parse
import urllib.request

import urllib3
from urllib3.util import Url

from wheelscan.wheel.remote import SCHEME


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
    return _netrc_credentials(named, home, version, hostname(url))


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
    # imported only where there is a file to read: with shlex, two modules of every remote
    # reading's start-up that most never use
    import netrc

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


def hostname(url: Url) -> str:
    """The host as ``urlsplit``'s ``hostname`` gives it (an IPv6 address without its
    brackets), for the lookups that expect that form: ``.netrc``, ``NO_PROXY``."""
    return (url.host or "").strip("[]")


# What urllib's proxy lookup reads on this platform: HTTP(S)_PROXY and NO_PROXY in either
# case, and REQUEST_METHOD (under CGI, HTTP_PROXY is a client's header, and not trusted)
_PROXY_VARIABLES = (
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "REQUEST_METHOD",
)  # fmt: skip


def proxy_settings() -> tuple[str | None, ...]:
    return tuple(map(os.environ.get, _PROXY_VARIABLES))


@functools.lru_cache(maxsize=256)
def proxy_for(scheme: str, host: str, settings: tuple[str | None, ...]) -> str | None:
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
def proxy_refused(proxy: str) -> str | None:
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
