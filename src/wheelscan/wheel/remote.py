"""Wheels named by http(s) URLs."""

from __future__ import annotations

import posixpath
import urllib.parse

from wheelscan import __version__

USER_AGENT = f"wheelscan/{__version__}"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def filename_from_url(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


def redact(url: str) -> str:
    """``url`` with any password replaced: an index URL may carry a token
    (``https://user:token@host/simple/``), which must never be printed nor stored."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
