"""An answer on one of urllib3's pooled connections, read through http.client's response
without urllib3's response object around it.

urllib3's ``HTTPResponse`` wraps http.client's: for each answer it copies the headers through
email's policy machinery, sets up a decoder, a buffer and an error catcher (a generator-based
context manager entered at every read), and logs the request. wheelscan uses none of it:
bodies are read raw (httpclient.py's ``_body_chunks``, ``_decoded``), each error is judged by
the session, and the connection goes back to its pool only when the session says so, after its
deadline's watch is released. Measured over loopback (nginx, a 16 KiB range, callgrind): a
request through ``_make_request`` cost the client 572k instructions, 312k with this.

What it keeps of urllib3's reading, so that an answer means the same either way: the headers
looked up in any case, repeated fields joined, as urllib3's ``HTTPHeaderDict`` gives them
(``Fields``), the announced length as ``HTTPResponse._init_length`` reads it
(``Content-Length: 5, 6`` refused), a redirect's location for the same statuses, and
``close`` closing the connection too.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal, Protocol, TypeVar, overload

import urllib3

_T = TypeVar("_T")
# urllib3's HTTPResponse.REDIRECT_STATUSES
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Answer(Protocol):
    """What the session reads of an answer: urllib3's ``BaseHTTPResponse`` (a request
    through a proxy) or a :class:`PooledAnswer`."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def length_remaining(self) -> int | None: ...
    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes: ...
    def get_redirect_location(self) -> str | Literal[False] | None: ...
    def close(self) -> None: ...
    def release_conn(self) -> None: ...


class _Pool(Protocol):
    def _put_conn(self, conn: urllib3.connection.HTTPConnection | None) -> None: ...


class Fields(Mapping[str, str]):
    """An answer's header fields, looked up in any case, the values of a name sent more than
    once joined by ", " (RFC 9110 5.3), as urllib3's ``HTTPHeaderDict`` gives them; names
    are listed in lower case. Made in a dict's pass over the fields: an HTTPHeaderDict took
    8.7 µs for nginx's eight, a tenth of a range request's own CPU."""

    __slots__ = ("_by_name",)

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        by_name: dict[str, str] = {}
        for name, value in fields:
            key = name.lower()
            known = by_name.get(key)
            by_name[key] = value if known is None else f"{known}, {value}"
        self._by_name = by_name

    def __getitem__(self, name: str) -> str:
        return self._by_name[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        return self._by_name.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Fields({self._by_name!r})"


def announced_length(headers: Mapping[str, str], status: int, chunked: bool) -> int | None:
    """The body's length as urllib3's ``HTTPResponse._init_length`` reads it: None where it
    is not announced (chunked, no or a nonsensical Content-Length), 0 where no body may
    follow; several values that differ are refused."""
    if status in (204, 304) or 100 <= status < 200:
        return 0
    value = headers.get("content-length")
    if value is None or chunked:
        return None
    try:
        lengths = {int(part) for part in value.split(",")}
    except ValueError:
        return None
    if len(lengths) > 1:
        raise urllib3.exceptions.InvalidHeader(
            f"Content-Length contained multiple unmatching values ({value})"
        )
    length = lengths.pop()
    return length if length >= 0 else None


class PooledAnswer:
    """http.client's answer on ``conn``, a connection of ``pool``: read raw, and its
    connection handed back (``release_conn``) or closed (``close``) by the caller."""

    __slots__ = ("_conn", "_pool", "_response", "headers", "length_remaining", "status")

    def __init__(
        self,
        response: http.client.HTTPResponse,
        pool: _Pool,
        conn: urllib3.connection.HTTPConnection,
    ) -> None:
        self._response, self._pool = response, pool
        self._conn: urllib3.connection.HTTPConnection | None = conn
        self.status = response.status
        # the fields as the header block gave them (response_headers.py), else email's
        fields = getattr(response.msg, "fields", None)
        self.headers = Fields(fields if fields is not None else response.msg.items())
        # only read before the body is: what the answer announces
        self.length_remaining = announced_length(self.headers, self.status, response.chunked)

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        """Up to ``amt`` bytes of the body as sent (never decoded: the caller decodes)."""
        del decode_content  # the body's bytes as sent, always
        return self._response.read(amt)

    def get_redirect_location(self) -> str | Literal[False] | None:
        if self.status in _REDIRECTS:
            return self.headers.get("location")
        return False

    def close(self) -> None:
        """Done with it unread, or after a failure: its connection is closed, never reused."""
        self._response.close()
        if self._conn is not None:
            self._conn.close()

    def release_conn(self) -> None:
        """The connection back to its pool (closed there, and opened anew, if ``close``
        closed it, or the server said it would)."""
        if self._conn is not None:
            self._pool._put_conn(self._conn)
            self._conn = None
