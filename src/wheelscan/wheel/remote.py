"""A wheel named by an http(s) URL, fetched into memory (never onto disk)."""

from __future__ import annotations

import posixpath
import urllib.parse
import urllib.request

from wheelscan import __version__
from wheelscan.wheel.archive import WheelError

USER_AGENT = f"wheelscan/{__version__}"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def filename_from_url(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


def fetch_bytes(url: str, max_size: int = 4 << 30, timeout: float = 60.0) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(max_size + 1)
    except OSError as e:
        raise WheelError("download-failed", f"{url}: {e}") from e
    if len(data) > max_size:
        raise WheelError("too-large", f"{url} is larger than {max_size} bytes")
    return data
