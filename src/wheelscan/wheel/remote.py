"""Wheels named by http(s) URLs."""

from __future__ import annotations

import contextlib
import posixpath
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator

from wheelscan import __version__

USER_AGENT = f"wheelscan/{__version__}"


def is_url(text: str) -> bool:
    """Does ``text`` name an http(s) URL? Its scheme in any case (RFC 3986 3.1: schemes are
    case-insensitive): ``HTTP://host/x.whl`` was read as a local path, "no such file"."""
    return text[:8].lower().startswith(("http://", "https://"))


def file_url_path(text: str) -> str | None:
    """The local path a ``file:`` URL names, or None for any other text. Such a URL is never
    read (only http and https are, and a path): ``show`` and ``audit`` refuse it naming
    this path, which was "no such file", as if the file were missing."""
    if text[:5].lower() != "file:":
        return None
    import urllib.request

    return urllib.request.url2pathname(urllib.parse.urlsplit(text).path)


def filename_from_url(url: str) -> str:
    """The file name ``url``'s path ends with; "" where it names none, or where the URL
    cannot be parsed (``http://[::1/x.whl``): its reading says why, as the wheel's error."""
    try:
        path = urllib.parse.urlsplit(url).path
    except ValueError:  # urlsplit's refusal: an unclosed IPv6 bracket, a bad port
        return ""
    return urllib.parse.unquote(posixpath.basename(path))


# The listener of this thread's files whose size no index gave, told each one's size once
# its first answer names it (``size_named``)
_SIZES = threading.local()


@contextlib.contextmanager
def size_named(listener: Callable[[int], None]) -> Iterator[None]:
    """Within the block, ``listener`` hears the size of each file this thread opens with
    none given (wheel/http_ranges.py), once its first answer names it, or -1 where it may
    come whole before any answer names it: the engine weighs such a wheel by what it is
    told (engine/inflight.py)."""
    previous = getattr(_SIZES, "listener", None)
    _SIZES.listener = listener
    try:
        yield
    finally:
        _SIZES.listener = previous


def tell_size(size: int) -> None:
    """A file this thread opened with no size given has it named by an answer (``size``),
    or may come whole first (-1: to be counted as large)."""
    listener = getattr(_SIZES, "listener", None)
    if listener is not None:
        listener(size)


# origin -> whether the ranges asked of it came as their parts (206); False sticks: a
# server that sent a whole file instead may send it again. Process-wide, as the engine
# weighs a wheel before any reader of it exists (engine/inflight.py); RANGES_ORIGINS of
# them at most (an index's files lie on a few hosts), an origin past them not known
_RANGES_ANSWERED: dict[tuple[str, str | None, int | None], bool] = {}
RANGES_ORIGINS = 1024


def _origin(url: str) -> tuple[str, str | None, int | None] | None:
    try:
        parts = urllib.parse.urlsplit(url)
        return parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port out of range: no origin
        return None


def answered_range(url: str, honoured: bool) -> None:
    """A range asked of ``url``'s origin came as its part (``honoured``), or as the whole
    file."""
    origin = _origin(url)
    if origin is None or (
        origin not in _RANGES_ANSWERED and len(_RANGES_ANSWERED) >= RANGES_ORIGINS
    ):
        return
    if not honoured:
        _RANGES_ANSWERED[origin] = False
    else:  # (setdefault: one step, never over a False another thread stored meanwhile)
        _RANGES_ANSWERED.setdefault(origin, True)


def ranges_honoured(url: str) -> bool:
    """Whether ``url``'s origin has answered a range with its part, and never with the
    whole file: a file of no given size is then first asked for by a suffix whose answer
    holds no more than it asked (wheel/http_ranges.py)."""
    origin = _origin(url)
    return origin is not None and _RANGES_ANSWERED.get(origin, False)


def redact(url: str) -> str:
    """``url`` with its secret replaced: an index URL may carry a token as a password
    (``https://user:token@host/simple/``) or as the user alone (``https://token@host/``, as
    some hosted indexes document it), which must never be printed nor stored. As pip's
    ``redact_netloc``: a password is hidden, and a user without one is hidden instead."""
    return redact_text(url)


# A URL's scheme (RFC 3986 3.1)
SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"

# the user information of any URL inside a text (an error's reason names the URL it failed on)
# (to the last ``@`` before the path, as urllib3 and browsers end it: a password may hold
# an ``@`` of its own, which ended it too soon and printed the rest); compiled on first use,
# by re's own cache: a ``show`` of a local wheel need not (issue #15)
_USERINFO = rf"(?P<scheme>{SCHEME}://)(?P<userinfo>[^/?#\s]*)@"


def redact_text(text: str) -> str:
    """``text`` with the secret of every URL in it replaced, as ``redact`` does."""

    def hide(match: re.Match[str]) -> str:
        user, colon, password = match["userinfo"].partition(":")
        shown = f"{user}:***" if colon and password else "***"
        return f"{match['scheme']}{shown}@"

    return re.sub(_USERINFO, hide, text)
