"""A URL given to ``wheelscan show`` in place of a wheel's: told before anything is fetched.

A wheel's verdict needs its file name (the tags it declares), and a URL gives the name its
path ends with. One that names no ``.whl`` file (an index's project page, its root) was
fetched and read as a zip: ``not-zip: no end-of-central-directory record``, as if a wheel
had been damaged on the way.
"""

from __future__ import annotations

import urllib.parse

from wheelscan.errors import ErrorCode
from wheelscan.policy.verdict import AuditError
from wheelscan.wheel.remote import filename_from_url, redact


def no_wheel_named(url: str, wheel: str) -> AuditError | None:
    """``bad-filename`` for ``url`` (shown as ``wheel``) where its path names no wheel file;
    None where it does, or where it cannot be parsed (its reading says why)."""
    if filename_from_url(url).endswith(".whl"):  # the name the download is judged by
        return None
    try:
        urllib.parse.urlsplit(url)  # "" above for one that cannot be parsed, too
    except ValueError:  # an unclosed IPv6 bracket: download-failed, "not a valid URL"
        return None
    return AuditError(
        wheel,
        ErrorCode.BAD_FILENAME,
        f"{redact(url)} names no wheel file (a wheel's URL ends in its NAME.whl); "
        "a project's wheels on an index: wheelscan package NAME --index-url INDEX",
    )
