"""``make_source``: the adapter a source specification names, with its filters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wheelscan.sources.base import Source, SourceError
from wheelscan.sources.filters import FilteredSource, WheelFilter
from wheelscan.wheel.remote import file_url_path, is_url, redact

if TYPE_CHECKING:
    from wheelscan.wheel.http import HttpSession


def make_source(
    spec: str,
    *,
    projects: Iterable[str] | None = None,
    architectures: Iterable[str] | None = None,
    since: datetime | date | str | None = None,
    diff_file: Path | str | None = None,
    session: HttpSession | None = None,
    request_timeout: float | None = None,
) -> FilteredSource:
    """The source ``spec`` names, filtered: an http(s) URL is a simple index, a directory with
    ``web/simple`` a bandersnatch mirror, any other directory a tree of wheel files.

    ``projects`` also narrows what is listed (only those pages are read), not just what passes.
    ``request_timeout``: each index page's deadline (see ``httpclient.session_for``).
    """
    if spec.endswith(".whl"):
        # one wheel is an investigation, not an index: its verdict needs no store
        shown = redact(spec)
        raise SourceError(f"{shown} is one wheel, not an index: use `wheelscan show {shown}`")
    if diff_file is not None and not Path(diff_file).is_file():
        raise SourceError(f"--diff-file {diff_file}: no such file")
    wheel_filter = WheelFilter.create(projects, architectures, since)
    source: Source
    # each adapter imported only when named (the HTTP client and urllib: 25 ms of start-up)
    mirror = not is_url(spec) and (Path(spec) / "web" / "simple").is_dir()
    if is_url(spec):
        from wheelscan.sources.simple_index import SimpleIndexSource

        source = SimpleIndexSource(spec, projects, session, request_timeout=request_timeout)
    elif mirror:
        from wheelscan.sources.bandersnatch import BandersnatchSource

        source = BandersnatchSource(spec, diff_file, projects)
    elif Path(spec).is_dir():
        from wheelscan.sources.directory import DirectorySource

        source = DirectorySource(spec)
    elif (local := file_url_path(spec)) is not None:
        raise SourceError(f"{spec} is a file: URL, not read: name the directory, {local}")
    else:
        what = "no such directory" if not Path(spec).exists() else "not a directory"
        raise SourceError(f"{spec}: {what}, nor an http(s) URL")
    if diff_file is not None and not mirror:
        raise SourceError("--diff-file needs a bandersnatch mirror (a directory with web/simple)")
    return FilteredSource(source, wheel_filter)
