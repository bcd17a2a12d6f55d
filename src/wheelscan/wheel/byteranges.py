"""Several ranges of a file in one request: ``Range: bytes=a-b,c-d``, answered by a
``206 multipart/byteranges`` body (RFC 9110 14.6; the multipart syntax is RFC 2046 5.1.1).

Over loopback a range request's own CPU (the client's header parsing and response objects,
the server's answer) costs more than the bytes it carries: a wheel's spans asked for together
cost one request instead of one each. The answer is read strictly, and nothing of it is
taken unless all of it is sound: every part announced by its ``Content-Range``, exactly one of
the spans asked for (no part twice, none outside them, none cut or overlapping), its length
checked against the delimiter that must follow it, and its headers short. A server may also
answer with one range or the whole file (RFC 9110 14.2 lets it); the caller takes those as
answers to a single range, and asks no more ranges together of that server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from wheelscan.errors import ErrorCode, WheelscanError

# The headers of one part (Content-Type, Content-Range: nginx sends 80 bytes of them): more
# is no server's honest answer, and is refused before it is searched any further
PART_HEADERS_LIMIT = 1024
# What the body may hold before its first delimiter (RFC 2046 allows a preamble; nginx sends
# a CRLF)
PREAMBLE_LIMIT = 1024
# The bytes a part may add to the body beyond its data: its delimiter and headers
PART_OVERHEAD = PART_HEADERS_LIMIT + 128
# RFC 2046 5.1.1: 1 to 70 characters, of these, the last no space
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_BOUNDARY_PARAMETER = re.compile(r';\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;"]+))', re.IGNORECASE)
_PART_RANGE = re.compile(rb"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)")


class MultipartError(WheelscanError, ValueError):
    """An answer to several ranges that is not what was asked for, or not sound: the wheel's
    ``download-failed`` (wheel/http_ranges.py names the ranges asked for)."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.DOWNLOAD_FAILED, reason)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), (self.reason,))  # rebuilt from what its __init__ takes


def range_header(spans: Sequence[tuple[int, int]]) -> str:
    """The ``Range`` value asking for ``[start, end)`` spans, in their order."""
    return "bytes=" + ",".join(f"{start}-{end - 1}" for start, end in spans)


def is_multipart(headers: Mapping[str, str]) -> bool:
    """Whether an answer (headers in lower case) is a multipart one."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "multipart/byteranges"


def boundary_of(content_type: str) -> bytes:
    """The boundary a ``multipart/byteranges`` Content-Type names."""
    match = _BOUNDARY_PARAMETER.search(content_type)
    value = (match[1] if match[1] is not None else match[2]) if match else None
    if value is None or not _BOUNDARY.fullmatch(value):
        raise MultipartError(f"no valid boundary in {content_type[:100]!r}")
    return value.encode("ascii")


def _part_range(headers: bytes) -> tuple[int, int, int | None]:
    """``[start, end)`` and the file's size (None for ``*``) of a part's Content-Range."""
    found = None
    for line in headers.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError("a part header without a colon")
        if name.strip().lower() == b"content-range":
            if found is not None:
                raise MultipartError("a part with two Content-Range headers")
            found = _PART_RANGE.fullmatch(value.strip())
            if found is None:
                raise MultipartError(f"a part's Content-Range {value.strip()[:60]!r}")
    if found is None:
        raise MultipartError("a part without a Content-Range")
    first, last = int(found[1]), int(found[2])
    if last < first:
        raise MultipartError(f"a part's range {first}-{last} ends before it starts")
    return first, last + 1, None if found[3] == b"*" else int(found[3])


def split_parts(
    body: bytes, boundary: bytes, asked: Sequence[tuple[int, int]]
) -> tuple[dict[tuple[int, int], memoryview], int | None]:
    """The parts of a ``multipart/byteranges`` body, by the span of ``asked`` each one is
    (views of the body, not copies: a third of the bytes a worker reading the simulated
    index's 1,050 wheels over nginx received came in parts), and the file's size the parts
    name (None where all say ``*``).

    Every part must be one span asked for, at most once; a span may be missing (the caller
    fetches it alone). Parts naming two sizes of the file are refused: a file that changed
    between two parts would mix two versions of its bytes."""
    wanted = set(asked)
    delimiter = b"--" + boundary
    position = body.find(delimiter, 0, PREAMBLE_LIMIT + len(delimiter))
    if position < 0 or (position and not body[:position].endswith(b"\r\n")):
        raise MultipartError("no delimiter where the body starts")
    parts: dict[tuple[int, int], memoryview] = {}
    whole = memoryview(body)
    size: int | None = None
    while True:
        position += len(delimiter)
        if body.startswith(b"--", position):
            return parts, size  # the close delimiter: what follows is an epilogue, ignored
        if not body.startswith(b"\r\n", position):
            raise MultipartError("a delimiter not followed by a line break")
        headers_start = position + 2
        headers_end = body.find(b"\r\n\r\n", headers_start, headers_start + PART_HEADERS_LIMIT)
        if headers_end < 0:
            raise MultipartError(f"a part's headers over {PART_HEADERS_LIMIT} bytes, or cut")
        start, end, part_size = _part_range(body[headers_start:headers_end])
        if (start, end) not in wanted:
            raise MultipartError(f"a part of bytes {start}-{end - 1}, not one asked for")
        if part_size is not None:
            if size is not None and part_size != size:
                raise MultipartError(f"parts naming two sizes of the file, {size} and {part_size}")
            size = part_size
        wanted.discard((start, end))
        data_start = headers_end + 4
        data_end = data_start + end - start
        if not body.startswith(b"\r\n" + delimiter, data_end):
            raise MultipartError(f"a part of bytes {start}-{end - 1} not of that length")
        parts[(start, end)] = whole[data_start:data_end]
        position = data_end + 2
