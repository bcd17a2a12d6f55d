"""The simple repository API's pages, read: the project list and each project's files.

Spec: PEP 503 (HTML pages, ``#sha256=`` URL fragments), PEP 691 (the JSON form, chosen by
content negotiation), PEP 700 (``size`` and ``upload-time`` in JSON pages).
"""

from __future__ import annotations

import json
import posixpath
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from wheelscan.sources.base import SourceError

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
# PEP 691's negotiation: JSON preferred, the versioned HTML next, plain PEP 503 HTML last.
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True, slots=True)
class FileLink:
    filename: str
    url: str  # absolute, without a fragment
    sha256: str | None
    size: int | None
    upload_time: datetime | None


class _Anchors(HTMLParser):
    """``<a href>`` targets with their text, and ``<base href>`` (which relative links follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.anchors: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "base" and href and self.base is None:
            self.base = href
        elif tag == "a" and href:
            self._href, self._text = href, []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, "".join(self._text).strip()))
            self._href = None


def _is_json(content_type: str) -> bool:
    return content_type.split(";", maxsplit=1)[0].strip().lower() == JSON_TYPE


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise SourceError(f"{what}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SourceError(f"{what}: a JSON page must be an object")
    return data


def _anchors(body: bytes) -> _Anchors:
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    return parser


def project_names(body: bytes, content_type: str, url: str) -> list[str]:
    """The project names an index's root page lists, as written there."""
    if _is_json(content_type):
        return [
            str(p["name"])
            for p in _json(body, url).get("projects", [])
            if isinstance(p, dict) and "name" in p
        ]
    return [text for _, text in _anchors(body).anchors if text]


def _upload_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None  # a malformed optional field is no reason to drop the wheel
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _absolute(base: str, href: str) -> tuple[str, str]:
    """``href`` made absolute against ``base``, and its fragment apart. A link urllib cannot
    parse (``http://[::1/x.whl``: a bracket never closed, a port out of range) is kept as
    written, for the index's source to refuse as the wheel's error (simple_index.py), not
    to end the listing in a traceback."""
    try:
        joined = urllib.parse.urljoin(base, href)
        url, fragment = urllib.parse.urldefrag(joined)
        urllib.parse.urlsplit(url).port  # noqa: B018 (raises for a port out of range)
    except ValueError:
        url, _, fragment = href.partition("#")
    return url, fragment


def _path(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).path
    except ValueError:  # kept as written (``_absolute``): what precedes a query
        return url.split("?", 1)[0]


def wheel_links(body: bytes, content_type: str, page_url: str) -> list[FileLink]:
    """The wheels a project page lists, with URLs made absolute against ``page_url``."""
    links: list[FileLink] = []
    if _is_json(content_type):
        for entry in _json(body, page_url).get("files", []):
            if (
                not isinstance(entry, dict)
                or "url" not in entry
                or not str(entry.get("filename", "")).endswith(".whl")
            ):
                continue
            hashes = entry.get("hashes")
            sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
            size = entry.get("size")
            url = _absolute(page_url, str(entry["url"]))[0]
            links.append(
                FileLink(
                    str(entry["filename"]),
                    url,
                    sha256 if isinstance(sha256, str) else None,
                    size if isinstance(size, int) else None,
                    _upload_time(entry.get("upload-time")),
                )
            )
        return links
    parsed = _anchors(body)
    base = _absolute(page_url, parsed.base)[0] if parsed.base else page_url
    for href, text in parsed.anchors:
        url, fragment = _absolute(base, href)
        # PEP 503: the anchor's text is the filename; the URL's last segment when it is empty
        filename = text or urllib.parse.unquote(posixpath.basename(_path(url)))
        if not filename.endswith(".whl"):
            continue
        algorithm, _, digest = fragment.partition("=")
        links.append(
            FileLink(
                filename, url, digest if algorithm == "sha256" and digest else None, None, None
            )
        )
    return links
