"""wheelscan's HTTP client against real servers on 127.0.0.1: credentials go to their own host
only, ``.netrc`` is read, ``Retry-After`` is honoured, proxies come from the environment, TLS
is verified against ``SSL_CERT_FILE`` or pip's ``cert``.

Two host names reach the same loopback: ``127.0.0.1`` and ``localhost``. To the client they are
two hosts, which is all a test of "never across a redirect to another host" needs.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest

from wheelscan.wheel import httpclient
from wheelscan.wheel.httpclient import HttpError, HttpSession

TOKEN = "user:s3cret"
AUTH = "Basic " + base64.b64encode(TOKEN.encode()).decode()
Answer = tuple[int, dict[str, str], bytes]


class _PlainOrTls(ThreadingHTTPServer):
    """Answers plain HTTP and, on the same port, TLS: told apart by the connection's first
    byte (0x16 opens a TLS handshake)."""

    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        if request.recv(1, socket.MSG_PEEK) != b"\x16":
            super().finish_request(request, client_address)
            return
        # the wrapped socket takes over the connection: the server would close the other
        with self.tls.wrap_socket(request, server_side=True) as wrapped:
            super().finish_request(wrapped, client_address)


@dataclass
class Server:
    """Answers each path with ``routes[path]`` (a fixed answer, or one computed from the
    request's headers), and logs every request's path and headers. With ``tls``, over TLS,
    and over plain HTTP too on the same port when ``plain_too``."""

    routes: dict[str, Answer | Callable[[dict[str, str]], Answer]]
    tls: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    plain_too: bool = False
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.log.append((self.path, headers))
                route = owner.routes.get(urllib.parse.urlsplit(self.path).path, (404, {}, b""))
                status, extra, body = route(headers) if callable(route) else route
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **extra}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        if self.tls is not None and self.plain_too:
            self._httpd = _PlainOrTls(("127.0.0.1", 0), Handler)
            self._httpd.tls = self.tls
        else:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None and not self.plain_too:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str, host: str | None = None) -> str:
        assert self._httpd is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self._httpd.server_address[1]}{path}"

    def authorizations(self, path: str) -> list[str | None]:
        return [h.get("authorization") for p, h in self.log if p.split("?")[0] == path]


def private(headers: dict[str, str]) -> Answer:
    if headers.get("authorization") != AUTH:
        return 401, {"WWW-Authenticate": 'Basic realm="x"'}, b"who?"
    return 200, {}, b"the page"


@pytest.fixture
def session() -> Iterator[HttpSession]:
    with HttpSession(timeout=5, backoff=0.01) as client:
        yield client


@pytest.fixture
def rechecking() -> Iterator[HttpSession]:
    """A session that looks at .netrc again at every request (``netrc_recheck`` 0)."""
    with HttpSession(timeout=5, backoff=0.01, netrc_recheck=0) as client:
        yield client


@pytest.fixture(autouse=True)
def no_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The tests' own environment only: no proxy, no .netrc, no pip configuration."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy",
                 "PIP_CERT", "SSL_CERT_FILE", "SSL_CERT_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


def test_credentials_in_the_url_go_to_their_host_only(session: HttpSession) -> None:
    with Server({"/elsewhere": (200, {}, b"moved here")}) as other:
        moved = other.url("/elsewhere", host="localhost")
        routes = {"/page": private, "/moved": (302, {"Location": moved}, b"")}
        with Server(routes) as index:
            url = index.url("/page").replace("://", f"://{TOKEN}@")
            assert session.get(url, limit=1000).body == b"the page"
            response = session.get(index.url("/moved").replace("://", f"://{TOKEN}@"), limit=1000)
            assert response.body == b"moved here"
            assert index.authorizations("/page") == [AUTH]
            assert index.authorizations("/moved") == [AUTH]
            assert other.authorizations("/elsewhere") == [None]
            assert TOKEN not in response.url


def test_netrc_credentials_go_to_their_host_only(
    session: HttpSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with Server({"/elsewhere": (200, {}, b"moved here")}) as other:
        moved = other.url("/elsewhere", host="localhost")
        with Server({"/page": private, "/moved": (302, {"Location": moved}, b"")}) as index:
            assert session.get(index.url("/page"), limit=1000).body == b"the page"
            assert session.get(index.url("/moved"), limit=1000).body == b"moved here"
            assert other.authorizations("/elsewhere") == [None]


def test_a_netrc_changed_between_requests_is_read_again(
    rechecking: HttpSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # .netrc is parsed once per version of the file, not per request: a new version counts
    # (looked for at every request here: netrc_recheck 0)
    session = rechecking
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password old\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with Server({"/page": (200, {}, b"the page")}) as index:
        session.get(index.url("/page"), limit=1000)
        netrc.write_text("machine 127.0.0.1 login user password s3cret\n")
        os.utime(netrc, ns=(0, netrc.stat().st_mtime_ns + 1_000_000_000))
        session.get(index.url("/page"), limit=1000)
        netrc.unlink()
        session.get(index.url("/page"), limit=1000)
        old = "Basic " + base64.b64encode(b"user:old").decode()
        assert index.authorizations("/page") == [old, AUTH, None]


def test_a_session_looks_at_netrc_once_within_its_recheck(
    session: HttpSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's look at .netrc serves its requests for ``netrc_recheck`` seconds (a
    second by default; more than the test takes): a new version is not seen within it, but
    NETRC pointed at another file is, at once."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password old\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with (
        HttpSession(timeout=5, netrc_recheck=3600) as patient,
        Server({"/page": (200, {}, b"the page")}) as index,
    ):
        patient.get(index.url("/page"), limit=1000)
        netrc.unlink()  # unseen within the recheck: the version looked at still serves
        patient.get(index.url("/page"), limit=1000)
        other = tmp_path / "other-netrc"
        other.write_text("machine 127.0.0.1 login user password s3cret\n")
        other.chmod(0o600)
        monkeypatch.setenv("NETRC", str(other))
        patient.get(index.url("/page"), limit=1000)
        old = "Basic " + base64.b64encode(b"user:old").decode()
        assert index.authorizations("/page") == [old, old, AUTH]


def test_a_netrc_others_may_read_gives_no_credentials(
    rechecking: HttpSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.netrc is refused, as Python's netrc refuses it, when others may read its passwords
    (the check is made only for the default file: none when NETRC names one)."""
    session = rechecking
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login user password s3cret\n")
    netrc.chmod(0o644)
    monkeypatch.delenv("NETRC")
    monkeypatch.setenv("HOME", str(home))
    with Server({"/page": private}) as index:
        session.get(index.url("/page"), limit=1000)
        netrc.chmod(0o600)
        os.utime(netrc, ns=(0, netrc.stat().st_mtime_ns + 1_000_000_000))
        session.get(index.url("/page"), limit=1000)
        assert index.authorizations("/page") == [None, AUTH]


def test_retry_after_is_honoured(session: HttpSession) -> None:
    answers = iter([(503, {"Retry-After": "1"}, b"busy"), (200, {}, b"done")])
    with Server({"/busy": lambda _: next(answers)}) as server:
        assert session.get(server.url("/busy"), limit=1000).body == b"done"
        assert len(server.log) == 2


def test_a_retry_after_too_long_is_not_waited_for(session: HttpSession) -> None:
    with Server({"/busy": (429, {"Retry-After": "86400"}, b"come back tomorrow")}) as server:
        with pytest.raises(HttpError) as failure:
            session.get(server.url("/busy"), limit=1000)
        assert failure.value.status == 429
        assert len(server.log) == 1  # no try wasted on a server that asked for a day


def test_a_relative_redirect_gives_the_absolute_url_it_led_to(session: HttpSession) -> None:
    # links on a page are resolved against the URL that answered: a bare path would make
    # them paths too, which a source would take for files of the machine that runs the audit
    routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {
        "/moved": (302, {"Location": "/page"}, b""),
        "/page": (200, {}, b"here"),
    }
    with Server(routes) as server:
        response = session.get(server.url("/moved"), limit=1000)
        assert (response.url, response.body) == (server.url("/page"), b"here")


def test_a_redirect_loop_is_refused_without_trying_again(session: HttpSession) -> None:
    with Server({"/loop": (302, {"Location": "/loop"}, b"")}) as server:
        with pytest.raises(HttpError, match="redirects") as failure:
            session.get(server.url("/loop"), limit=1000)
        assert not failure.value.transient
        assert len(server.log) == 6  # the first request and 5 redirects, once


def test_a_redirect_to_another_scheme_is_refused(session: HttpSession) -> None:
    with Server({"/jump": (302, {"Location": "file:///etc/hostname"}, b"")}) as server:
        with pytest.raises(HttpError, match="file:///etc/hostname"):
            session.get(server.url("/jump"), limit=1000)
        assert len(server.log) == 1


# not forwarded by the proxy: its own framing of the answer, and its own headers
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "date", "server"})


@dataclass
class Proxy:
    """A forwarding HTTP proxy (absolute-form requests, RFC 9112 3.2.2); logs what it carries."""

    carried: list[str] = field(default_factory=list)
    authorized: list[str | None] = field(default_factory=list)  # Proxy-Authorization seen
    _httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.carried.append(self.path)
                owner.authorized.append(self.headers.get("Proxy-Authorization"))
                target = urllib.parse.urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.netloc, timeout=5)
                path = f"{target.path}?{target.query}" if target.query else target.path
                forwarded = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() != "proxy-authorization"  # the proxy's, not the origin's
                }
                upstream.request("GET", path, headers=forwarded)
                answer = upstream.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():  # a redirect's Location among them
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                upstream.close()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"


def test_proxies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with Proxy() as proxy, Server({"/page": (200, {}, b"the page")}) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with HttpSession(timeout=5) as session:
            assert session.get(server.url("/page", host="localhost"), limit=100).body == b"the page"
        assert proxy.carried == [server.url("/page", host="localhost")]
        monkeypatch.setenv("NO_PROXY", "localhost")
        with HttpSession(timeout=5) as session:
            assert session.get(server.url("/page", host="localhost"), limit=100).body == b"the page"
        assert len(proxy.carried) == 1  # NO_PROXY: straight to the server


def test_one_session_sees_the_environment_change_between_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy variables are read at each request: a change made through os.environ
    between two requests of one session decides the second."""
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with Proxy() as proxy, Server({"/page": (200, {}, b"the page")}) as server:
        url = server.url("/page", host="localhost")
        with HttpSession(timeout=5) as session:
            assert session.get(url, limit=100).body == b"the page"
            assert proxy.carried == []
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            assert session.get(url, limit=100).body == b"the page"
            assert proxy.carried == [url]
            monkeypatch.setenv("NO_PROXY", "localhost")
            assert session.get(url, limit=100).body == b"the page"
            monkeypatch.delenv("NO_PROXY")
            assert session.get(url, limit=100).body == b"the page"
        assert proxy.carried == [url, url]


def test_a_proxy_given_without_a_scheme_is_an_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``HTTP_PROXY=host:port``, as many setups write it and pip (requests' scheme
    prepended) takes it, was refused by urllib3 ("Proxy URL had no scheme"): every wheel of
    an audit a ``download-failed`` record, after three tries each."""
    with Proxy() as proxy, Server({"/page": (200, {}, b"the page")}) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.removeprefix("http://"))
        with HttpSession(timeout=5, tries=1) as session:
            assert session.get(server.url("/page", host="localhost"), limit=100).body == b"the page"
        assert proxy.carried == [server.url("/page", host="localhost")]


def test_a_proxy_of_a_scheme_not_spoken_fails_once_in_a_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SOCKS proxy (urllib3 needs its extra for it) is a setting to fix, not a failure to
    try again: one permanent error that names the variable's scheme, at once."""
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:9")
    with HttpSession(timeout=5, tries=3) as session, pytest.raises(HttpError) as failure:
        session.get("http://localhost:9/page", limit=100)
    assert not failure.value.transient
    assert "socks5" in failure.value.reason and "proxy" in failure.value.reason


@pytest.mark.parametrize(
    "setting", ["user:s3/cret@proxy:99999", "http://user:s3/cret@proxy:99999", "al:s3://cret@p:1"]
)
def test_a_proxy_setting_that_does_not_parse_fails_once_and_keeps_its_secret(
    setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in the proxy's port was a transient failure, tried three times a wheel, whose
    message (urllib3's) held the whole setting: a password with a "/" was printed as it is,
    and one with "://" in it was taken for a scheme and shown."""
    monkeypatch.setenv("HTTP_PROXY", setting)
    with HttpSession(timeout=5, tries=3) as session, pytest.raises(HttpError) as failure:
        session.get("http://localhost:9/page", limit=100)
    assert not failure.value.transient
    assert "proxy" in failure.value.reason
    assert "s3" not in str(failure.value) and "cret" not in str(failure.value)


@pytest.mark.parametrize(
    ("password", "sent"),
    [("p%40ss", b"p@ss"), ("p%E2%82%AC", b"p\xe2\x82\xac"), ("p%E4", b"p\xe4")],
    ids=["at", "utf-8", "latin-1"],
)
def test_a_proxy_s_credentials_go_to_the_proxy(
    password: str, sent: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in HTTP_PROXY's URL were never sent: a proxy that wants them answered
    407 to every request. They are its Proxy-Authorization, the escapes' bytes as they are
    (as curl sends them: decoded to text and encoded as latin-1, a euro sign was a
    UnicodeEncodeError traceback)."""
    import base64

    seen: list[dict[str, str]] = []

    def page(headers: dict[str, str]) -> Answer:
        seen.append(headers)
        return (200, {}, b"the page")

    with Proxy() as proxy, Server({"/page": page}) as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("//", f"//puser:{password}@"))
        with HttpSession(timeout=5, tries=1) as session:
            assert session.get(server.url("/page", host="localhost"), limit=100).body == b"the page"
    assert proxy.authorized == ["Basic " + base64.b64encode(b"puser:" + sent).decode()]
    assert not any(name.lower() == "proxy-authorization" for name in seen[0])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test certificate (Debian: openssl)")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("setting", ["SSL_CERT_FILE", "PIP_CERT", None])
def test_tls_is_verified_against_the_store_given(
    setting: str | None, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    if setting is not None:
        monkeypatch.setenv(setting, str(cert))
    page: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {"/page": (200, {}, b"x")}
    with Server(page, tls=tls) as server, HttpSession(timeout=5, tries=1) as session:
        if setting is None:  # the system store does not know a test's own certificate
            with pytest.raises(HttpError) as failure:
                session.get(server.url("/page"), limit=100)
            assert "CERTIFICATE_VERIFY_FAILED" in failure.value.reason
        else:
            assert session.get(server.url("/page"), limit=100).body == b"x"


def test_a_tls_context_is_made_only_for_https(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the system store's certificates takes 20 ms of CPU: each process of an audit
    of a plain http mirror paid it for nothing. Made when an https pool first needs it,
    once per session, and verified as ever (the test above)."""
    made: list[ssl.SSLContext] = []
    real = httpclient.tls_context

    def counted() -> ssl.SSLContext:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(httpclient, "tls_context", counted)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)
    page: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {"/page": (200, {}, b"x")}
    with Server(page) as plain, Server(page, tls=tls) as secure, HttpSession(timeout=5) as session:
        assert session.get(plain.url("/page"), limit=100).body == b"x"
        assert made == []
        for _ in range(2):
            assert session.get(secure.url("/page"), limit=100).body == b"x"
        assert len(made) == 1


# --- redirects whose Location is hostile


def port_of(server: Server) -> int:
    return urllib.parse.urlsplit(server.url("/")).port or 0


@pytest.mark.parametrize("through_proxy", [True, False], ids=["proxy", "direct"])
def test_credentials_go_nowhere_but_where_the_origin_check_says(
    through_proxy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http://evil:81\\@good:82/page`` is good:82 to urlsplit and evil:81 to urllib3: the
    origin was checked against good, so the credentials were kept, and the proxy was sent
    the request for evil. Every decision now comes from one parse (urllib3's, a browser's):
    the hop goes to evil, and without the credentials."""
    with Proxy() as proxy, Server({}) as evil, Server({"/page": private}) as good:
        hostile = f"http://127.0.0.1:{port_of(evil)}\\@localhost:{port_of(good)}/page"
        good.routes["/moved"] = (302, {"Location": hostile}, b"")
        if through_proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with HttpSession(timeout=5, tries=1) as session:
            url = good.url("/moved", host="localhost").replace("://", f"://{TOKEN}@")
            response = session.get(url, limit=1000)
        assert [h.get("authorization") for _, h in evil.log] == [None]
        assert [path for path, _ in evil.log] == [f"/%5C@localhost:{port_of(good)}/page"]
        assert good.authorizations("/moved") == [AUTH]
        assert good.authorizations("/page") == []
        assert TOKEN not in response.url
        assert len(proxy.carried) == (2 if through_proxy else 0)


def test_a_location_with_its_own_userinfo_brings_no_credentials(session: HttpSession) -> None:
    """The answer's URL was given the asked-for userinfo in front of the Location's own:
    ``http://user:s3cret@evil:pw@127.0.0.1/page``, a URL every parser reads its own way."""
    with Server({"/page": private}) as server:
        moved = server.url("/page").replace("://", "://evil:pw@")
        server.routes["/moved"] = (302, {"Location": moved}, b"")
        response = session.get(server.url("/moved").replace("://", f"://{TOKEN}@"), limit=1000)
        assert response.body == b"the page"  # the credentials asked with, the same origin
        assert response.url == server.url("/page").replace("://", f"://{TOKEN}@")


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/", "http://[::1/x"])
def test_a_redirect_to_what_is_no_url_fails_for_good(location: str, session: HttpSession) -> None:
    """A port past 65535 or a bracket left open was a ValueError out of ``get``: the index
    listing, which expects an HttpError of a page, stopped at the first such project."""
    with Server({"/p": (302, {"Location": location}, b"")}) as server:
        with pytest.raises(HttpError, match="a redirect to") as failure:
            session.get(server.url("/p"), limit=1000)
        assert not failure.value.transient
        assert len(server.log) == 1  # not tried again


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/", "http://[::1/x", "ftp://host/x", "http://127.0.0.1\t:1/x"]
)
def test_asking_for_what_is_no_http_url_fails_for_good(url: str, session: HttpSession) -> None:
    with pytest.raises(HttpError) as failure:
        session.get(url, limit=1000)
    assert not failure.value.transient


def test_a_redirect_announcing_a_terabyte_is_left_unread(session: HttpSession) -> None:
    """urllib3's drain_conn read a redirect's body whole, whatever its length: MemoryError."""
    routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {
        "/moved": (302, {"Location": "/page", "Content-Length": str(1 << 40)}, b"z" * 1000),
        "/page": (200, {}, b"here"),
    }
    with Server(routes) as server:
        assert session.get(server.url("/moved"), limit=1000).body == b"here"


# The client in a process of its own, its peak RSS read from /proc (VmHWM, this process's
# own: ru_maxrss keeps the peak of the image before exec, the test's with its server's body)
_REDIRECT_PROBE = """
import re, sys
from pathlib import Path
from wheelscan.wheel.httpclient import HttpSession
def peak():
    return int(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text())[1]) << 10
with HttpSession(timeout=10, tries=1) as session:
    session.get(sys.argv[1], limit=1000)  # TLS store, pools: the costs of any first request
    before = peak()
    body = session.get(sys.argv[2], limit=1000).body
    grown = peak() - before
print(body.decode(), grown)
"""


def test_a_redirect_with_a_long_body_costs_no_memory() -> None:
    """A 302 with a 400 MB body cost 428 MB of RSS: drain_conn read it into memory."""
    long = 64 << 20
    routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {
        "/moved": (302, {"Location": "/page"}, b"z" * long),
        "/page": (200, {}, b"here"),
    }
    with Server(routes) as server:
        probe = [sys.executable, "-c", _REDIRECT_PROBE, server.url("/page"), server.url("/moved")]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True)
    body, grown = done.stdout.split()
    assert body == "here"
    assert int(grown) < long // 4, done.stdout


def test_credentials_do_not_come_back_after_a_redirect_to_plain_http(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://host/ to http://host/: the hop went without the credentials, but the answer's
    URL was given them back (same host and port), and links on that page would have sent
    them in the clear. The whole origin is compared now, the scheme with the host."""
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {
        "/page": (200, {}, b"in the clear")
    }
    with Server(routes, tls=tls, plain_too=True) as server:
        plain = server.url("/page").replace("https://", "http://")
        server.routes["/secure"] = (302, {"Location": plain}, b"")
        with HttpSession(timeout=5, tries=1) as session:
            url = server.url("/secure").replace("://", f"://{TOKEN}@")
            response = session.get(url, limit=1000)
        assert response.body == b"in the clear"
        assert server.authorizations("/secure") == [AUTH]
        assert server.authorizations("/page") == [None]
        assert response.url == plain


def test_the_default_netrc_of_another_home_is_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two HOMEs whose ~/.netrc have the same version (written in one tick of a coarse
    clock, as OneTick makes them look): each gives its own credentials, never the first's."""
    from wheelscan.wheel import http_settings, httpclient

    class OneTick(http_settings.NetrcVersion):
        def current(self) -> tuple[str | None, tuple[int, int] | None]:
            named, version = super().current()
            return named, None if version is None else (1, 1)

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        netrc = tmp_path / name / ".netrc"
        netrc.write_text(f"machine 127.0.0.1 login user password {name}\n")
        netrc.chmod(0o600)
    monkeypatch.delenv("NETRC", raising=False)
    url = httpclient._normalised("http://127.0.0.1:1/simple/")
    seen = []
    for name in ("first", "second"):
        monkeypatch.setenv("HOME", str(tmp_path / name))
        seen.append(http_settings.credentials(url, OneTick(0.0))["Authorization"])
    expected = [base64.b64encode(f"user:{name}".encode()).decode() for name in ("first", "second")]
    assert seen == [f"Basic {token}" for token in expected]


def _trickling_server(answer: bytes, stop: threading.Event) -> tuple[str, threading.Thread]:
    """A server on 127.0.0.1 that sends ``answer`` a byte every 20 ms to one client, then
    closes: an answer whose end is the connection's close."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            peer, _ = listener.accept()
            with peer:
                peer.recv(65536)
                for i in range(len(answer)):  # bounded: the answer's length
                    if stop.is_set():
                        return
                    try:
                        peer.sendall(answer[i : i + 1])
                    except OSError:
                        return  # the client gave up
                    stop.wait(0.02)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/simple/demo/", thread


_PAGE = b"<a href='demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl'>demo</a>" * 3


@pytest.mark.parametrize(
    "answer",
    [
        # the headers cut before their Content-Length by the deadline's shutdown: read as
        # complete headers and an empty body that runs to the close
        b"HTTP/1.1 200 OK\r\nX-Pad: "
        + b"p" * 200
        + b"\r\nContent-Length: %d\r\n\r\n%s" % (len(_PAGE), _PAGE),
        # a body delimited by the close, cut by the shutdown
        b"HTTP/1.0 200 OK\r\n\r\n" + _PAGE,
    ],
    ids=["headers-cut", "close-delimited-body-cut"],
)
def test_an_answer_the_deadline_cut_short_is_no_answer(answer: bytes) -> None:
    """The deadline's shutdown can itself end an answer whose end is the close: taken for a
    whole answer, a page cut short listed no wheel, and the run finished silently short."""
    stop = threading.Event()
    url, thread = _trickling_server(answer, stop)
    try:
        with HttpSession(tries=1, timeout=1.0) as session, pytest.raises(HttpError) as raised:
            session.get(url, limit=1 << 20)
        assert "no complete answer" in raised.value.reason
    finally:
        stop.set()
        thread.join(timeout=10)


def _answering(answers: list[bytes]) -> str:
    """A server on 127.0.0.1 giving one canned answer a request, in order, each on whichever
    connection the request comes: ``answers`` bounds it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            for answer in answers:
                peer, _ = listener.accept()
                with peer:
                    peer.recv(65536)
                    peer.sendall(answer)
                    peer.recv(65536)  # until the client closes or asks again

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_interim_answers_are_passed_over_to_the_final_one() -> None:
    """RFC 9110 15.2: a client must read 1xx answers it did not ask for. http.client passes
    over 100 alone: a 103 Early Hints was the answer, bodiless, and the real one, left on
    the pooled connection, was read by the next request as its own."""
    base = _answering(
        [
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.whl>; rel=preload\r\n\r\n"
            b"HTTP/1.1 102 Processing\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbody-A",
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbody-B",
        ]
    )
    with HttpSession(tries=1, timeout=5) as session:
        assert session.get(f"{base}/a", limit=100).body == b"body-A"
        assert session.get(f"{base}/b", limit=100).body == b"body-B"


def test_interim_answers_are_bounded_whichever_their_kind() -> None:
    """A server that sends interim answers without end is refused after 100 of them: the
    100s that http.client passes over itself counted too (a 100 between two 103s had
    begun the count again, so only the request's deadline ended an endless stream)."""
    interim = b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" * 60
    base = _answering([interim + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbody-A"])
    with HttpSession(tries=1, timeout=5) as session, pytest.raises(HttpError, match="interim"):
        session.get(f"{base}/a", limit=100)


def test_a_protocol_switch_never_asked_for_is_refused_and_its_connection_closed() -> None:
    base = _answering(
        [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nnot http",
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbody-B",
        ]
    )
    with HttpSession(tries=1, timeout=5) as session:
        with pytest.raises(HttpError) as raised:
            session.get(f"{base}/a", limit=100)
        assert raised.value.status == 101 and not raised.value.transient
        assert session.get(f"{base}/b", limit=100).body == b"body-B"


def test_one_request_s_deadline_never_cuts_the_next_on_its_connection() -> None:
    """urllib3 pools a connection as soon as an answer's body is read to its end, while the
    request that read it still watches its socket (decoding it): the next request sent on
    that connection had its answer cut by the first's deadline, and a page that ends at the
    close came back whole-looking, short (a run finishing silently short)."""
    import gzip

    body = gzip.compress(bytes(256 << 20), 9)  # inflating it takes the first past its deadline
    page = b"<a href='demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl'>demo</a>\n" * 40
    timeout = 1.0
    first_sent = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def read_request(reader: Any) -> None:
        while reader.readline() not in (b"\r\n", b""):
            pass

    def serve() -> None:
        with listener:
            peer, _ = listener.accept()
            with peer, peer.makefile("rb") as reader:
                read_request(reader)
                started = time.monotonic()
                peer.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body)
                )
                # the body spread over its deadline, its last piece just within it
                deadline = started + timeout + len(body) / (1 << 20)
                for k in range(10):
                    time.sleep(max(0.0, started + (deadline - 0.15 - started) * (k + 1) / 10
                                   - time.monotonic()))  # fmt: skip
                    peer.sendall(body[len(body) * k // 10 : len(body) * (k + 1) // 10])
                first_sent.set()
                read_request(reader)  # the second request, on the same connection
                peer.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                for i in range(0, len(page), 64):  # bounded: the page's length
                    try:
                        peer.sendall(page[i : i + 64])
                    except OSError:
                        return
                    time.sleep(0.01)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    first: list[object] = []
    with HttpSession(tries=1, timeout=timeout) as session:

        def get_first() -> None:
            try:
                first.append(len(session.get(f"{base}/a", limit=1 << 30).body))
            except HttpError as e:  # its own deadline: its business, not the second's
                first.append(e)

        reading = threading.Thread(target=get_first)
        reading.start()
        assert first_sent.wait(timeout=60)
        time.sleep(0.03)
        try:
            second: object = session.get(f"{base}/b", limit=1 << 20).body
        except HttpError as e:
            second = e
        reading.join(timeout=60)
    thread.join(timeout=30)
    # whole, or an error: never a page cut short and taken for whole
    assert second == page or isinstance(second, HttpError), len(second)  # type: ignore[arg-type]
    # the first's body was whole before its deadline: decoding it past that is no failure
    assert first == [256 << 20] or isinstance(first[0], HttpError)


def _chunks_and_end(answer: bytes) -> tuple[bytes, list[str]]:
    """The body ``_body_chunks`` gives of one canned answer, and the order of its chunks
    ("chunk") and of its ``on_end`` call ("end")."""
    import urllib3

    base = _answering([answer])
    events: list[str] = []
    with urllib3.PoolManager() as pool:
        response = pool.request("GET", f"{base}/a", preload_content=False)
        given = httpclient._body_chunks(
            response, f"{base}/a", 8 << 20, 0, lambda: events.append("end")
        )
        received = []
        for chunk in given:
            events.append("chunk")
            received.append(chunk)
    return b"".join(received), events


def test_a_body_s_end_is_known_before_its_last_chunk_is_given() -> None:
    """The deadline stops at the read that ends an announced body, not after the body is
    joined or decoded: a whole answer whose decoding ran past its deadline was refused as
    cut short."""
    body = os.urandom(3 << 20)  # three 1 MiB chunks, as a body not expected whole is read
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    received, events = _chunks_and_end(answer)
    assert received == body
    assert events[-2:] == ["end", "chunk"]  # known before the last chunk was given


def test_a_chunked_body_s_end_is_known_as_soon_as_urllib3_has_read_it() -> None:
    """A chunked body (an index's gzip page, as nginx sends it) is read to its last, empty
    chunk by the read that takes its last data, and its connection handed back to the
    pool: its deadline ends there too, not one read later, after its data was decoded."""
    body = os.urandom(100_000)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
        for i in range(0, len(body), 4096)
    )
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    received, events = _chunks_and_end(head + chunks + b"0\r\n\r\n")
    assert received == body
    assert "end" in events and events.index("end") < len(events) - 1, events
    assert events[events.index("end") + 1 :] == ["chunk"], events  # before the last chunk
