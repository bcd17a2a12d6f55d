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
