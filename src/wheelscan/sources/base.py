"""Where wheels come from: one small interface, one adapter per kind of source.

A source yields :class:`WheelRef` records — enough to decide from the filename alone whether
a wheel is worth reading (pure and non-Linux wheels are skipped without a byte read), and to
find it again (``location``: a local path or an http(s) URL).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelscan.errors import CommandError, CommandErrorCode
from wheelscan.policy import wheeltags

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WheelRef:
    filename: str
    project: str  # canonical (PEP 503) name
    version: str
    location: str  # a local path or an http(s) URL
    sha256: str | None = None  # from the index when it gives one
    size: int | None = None
    upload_time: datetime | None = None
    # why this listing must not be read (a link the index may not point to): the worker
    # records it as a ``refused-link`` error without touching ``location``
    refused: str | None = None


class SourceError(CommandError, RuntimeError):
    """A source cannot be listed: a missing mirror, an unreadable page, a failed request."""

    kind = CommandErrorCode.SOURCE_UNREADABLE


def wheel_ref(
    filename: str,
    location: str,
    sha256: str | None = None,
    size: int | None = None,
    upload_time: datetime | None = None,
    refused: str | None = None,
) -> WheelRef | None:
    """A WheelRef named by its filename, or None (logged) when that is not a wheel's name."""
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:
        # undecodable bytes in the wheel's own name (os.fsdecode's surrogates): no index
        # could serve such a name, and its project and tags are no text. Only its own name:
        # the directories above it (a Latin-1 "caf\xe9") name no project, and the store
        # records such a location with those bytes written as escapes (store/batch.py)
        logger.warning("skipping %r: its name is not valid UTF-8", location)
        return None
    try:
        project, version = _project_and_version(filename)
    except ValueError as e:  # InvalidWheelFilename, or a number past int()'s digits
        # PyPI holds old wheels whose versions PEP 440 rejects: common, so not a warning
        logger.debug("skipping %s: %s", location, e)
        return None
    return WheelRef(filename, project, version, location, sha256, size, upload_time, refused)


# A release segment or a pre-, post- or dev-release number with a leading zero ("1.01",
# "rc01"): packaging normalises it ("1.1"), so such a version is left to packaging
_LEADING_ZERO = re.compile(r"(?<![0-9])0[0-9]")


def _project_and_version(filename: str) -> tuple[str, str]:
    """The canonical project name and the normalised version, as packaging's
    ``parse_wheel_filename`` gives them. A name of the plain shape almost every wheel has
    (``wheeltags.plain``) is split without it: the parent names every wheel a listing
    gives, and a WheelRef took three times as long with packaging's ``Version`` and ``Tag``
    objects (9 µs against 3), CPU the workers lack on a machine they keep busy."""
    if wheeltags.plain(filename) is not None:
        name, version = filename.split("-", 2)[:2]
        if _LEADING_ZERO.search(version) is None:
            return canonicalize_name(name), version
    project, parsed, _, _ = parse_wheel_filename(filename)
    return project, str(parsed)


class Source(Protocol):
    """Anything that lists wheels: a directory, a bandersnatch mirror, a simple index."""

    name: str  # for run records and reports: "dir:/srv/wheels", "index:https://..."

    def prepare(self) -> None:
        """Read now what the listing needs before its first wheel (an index's first page),
        before the workers start; a page that cannot be read fails the listing as it would
        have (a ``SourceError`` raised by ``wheels``), not this call."""

    def wheels(self) -> Iterator[WheelRef]: ...


def listing_error(failed: list[SourceError], read: int) -> SourceError:
    """One error for the project pages that could not be read, ``read`` others having been
    read (none: the one project asked for, ``--project foo``, is not said to have others)."""
    more = f" (and {len(failed) - 1} more project pages)" if len(failed) > 1 else ""
    others = "; every other project was listed and audited" if read else ""
    return SourceError(f"{failed[0]}{more}{others}")


def is_linux_platform_wheel(filename: str) -> bool:
    """From the filename alone: does any platform tag name a Linux platform (Android's, PEP
    738, included: its wheels hold ELF files judged by auditwheel's Android policy)?"""
    try:
        tags = wheeltags.wheel_tags(filename)  # as packaging reads them, without its cost
    except wheeltags.InvalidWheelFilename:
        return False
    return any(t.platform.startswith(_LINUX_PREFIXES) for t in tags)


_LINUX_PREFIXES = ("manylinux", "musllinux", "linux_", "android_")


def wheel_architectures(filename: str) -> set[str]:
    """The architectures the filename's Linux tags name (``x86_64``, ``aarch64``, ...)."""
    from wheelscan.policy.policies import platform_tag_info

    arches = set()
    for tag in parse_wheel_filename(filename)[3]:
        try:
            arches.add(str(platform_tag_info(tag.platform).arch.baseline))
        except ValueError:
            continue
    return arches
