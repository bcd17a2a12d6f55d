"""Wheels named by http(s) URLs."""

from __future__ import annotations

import posixpath
import re
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


# user:password@ in any URL inside a text (an error's reason names the URL it failed on)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")


def redact_text(text: str) -> str:
    """``text`` with the password of every URL in it replaced, as ``redact`` does."""
    return _USERINFO.sub(r"\g<head>:***@", text)
