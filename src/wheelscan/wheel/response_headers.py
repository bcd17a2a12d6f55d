"""An answer's header block parsed as http.client parses it, without the cost of email's
machinery for a body that is not there.

http.client reads the header block itself and hands it to ``email.parser`` as a whole
message, which then parses the (empty) body too: for a ``multipart/byteranges`` answer it
compiles a regular expression for the boundary, new in every answer nginx sends (139 µs an
answer, against 24 µs for one that is not multipart), and even a plain answer pays 42 µs where
the headers alone take 25. An audit over HTTP makes thousands of requests, a few hundred of
them answered in parts (wheel/byteranges.py): a tenth of a range request's CPU went there.

``parse_headers`` gives the message ``email.parser`` gives with ``headersonly=True`` (the same
fields, in the same order, as http.client's own parse): a plain block (every line a name, a
colon and a value on one line) is read here with one pattern; any other (a folded line, a bare
carriage return, a line without a colon, an over-long line...) goes to ``email.parser``, so no
block is read otherwise than by http.client. ``HeadersOnlyResponse`` is http.client's
response with that parse; urllib3 is given it as its connections' ``response_class``
(http_pools.py).
"""

from __future__ import annotations

import email.parser
import http.client
import re
import types
from typing import BinaryIO

# http.client's bounds on a header block (its private _MAXLINE and _MAXHEADERS)
_MAX_LINE = 65536
_MAX_HEADERS = 100

# A field of one line as the email parser reads it with its compat32 policy: a name of the
# printable characters but the colon (its ``headerRE``), the colon, the value without the
# spaces and tabs before it (those after it are kept), up to the line's end; no carriage
# return inside, where the email parser would start a new line. Possessive (``*+``): once a
# line is read no other split of it is tried, nor fewer lines; with plain ``*`` the spaces
# after a colon could go to either group, and a block that is not plain (a folded line, a
# line without a colon) was tried every way before the fall-back: 20 lines and a bad one
# took 0.85 s, each more doubling it, past any deadline (the GIL held throughout)
_FIELD = r"([\x21-\x39\x3b-\x7e]+):[ \t]*+([^\r\n]*+)\r?\n"
_PLAIN_BLOCK = re.compile(rf"(?:{_FIELD})*+(?:\r?\n)?")
_FIELDS = re.compile(_FIELD)


def read_header_lines(fp: BinaryIO) -> list[bytes]:
    """The header block's lines up to and with the blank one (or the stream's end), under
    http.client's bounds, as its ``_read_headers`` reads them."""
    lines = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_headers(
    fp: BinaryIO, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage
) -> http.client.HTTPMessage:
    """``http.client.parse_headers``, its message as ``email.parser`` makes it with
    ``headersonly=True``: see the module's docstring."""
    text = b"".join(read_header_lines(fp)).decode("iso-8859-1")
    if _PLAIN_BLOCK.fullmatch(text) is None:
        return email.parser.Parser(_class=_class).parsestr(text, headersonly=True)
    message = _class()
    for name, value in _FIELDS.findall(text):
        message.set_raw(name, value)
    message.set_payload("")  # what follows the blank line: nothing
    return message


# http.client's own ``begin`` (reading the status line and the headers, deciding the body's
# framing), the very code, its one call of the module's ``parse_headers`` made to the one
# above instead: no copy of it to keep in step with CPython's, no change to http.client for
# any other user in the process. (Its code refers to no variable of an enclosing function:
# only the module's names, here given as a copy of the module's namespace.)
_begin = types.FunctionType(
    http.client.HTTPResponse.begin.__code__,
    {**vars(http.client), "parse_headers": parse_headers},
    "begin",
)


class HeadersOnlyResponse(http.client.HTTPResponse):
    """http.client's response, its header block parsed by ``parse_headers``."""

    def begin(self) -> None:
        _begin(self)

    _interim = 0  # the interim answers read so far, of every kind

    def _read_status(self) -> tuple[str, int, str]:
        # RFC 9110 15.2: a client must parse 1xx answers it did not ask for; http.client
        # passes over 100 alone (in begin, calling this again), the others (102, 103) are
        # passed over here; a server's endless stream of them is refused, counted across
        # both. A 101 is no interim answer: returned, and refused by the session
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not (status == 100 or 101 < status < 200):
                return version, status, reason
            self._interim += 1
            if self._interim > _MAX_HEADERS:
                raise http.client.HTTPException(f"more than {_MAX_HEADERS} interim answers")
            if status == 100:
                return version, status, reason  # its headers passed over by begin
            read_header_lines(self.fp)
