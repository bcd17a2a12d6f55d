"""A bandersnatch mirror on disk: its simple pages say what it holds, its files are read in place.

Layout (bandersnatch's ``mirror.py``)::

    <root>/web/simple/<project>/index.v1_json   PEP 691 JSON (simple-format ALL or JSON)
    <root>/web/simple/<project>/index.html      PEP 503 HTML
    <root>/web/simple/<p>/<project>/...         the same, with ``hash-index = true``
    <root>/web/packages/xx/yy/<hash>/<file>     the files, linked from the pages as
                                                ``../../packages/...`` (or absolute, with
                                                ``root_uri`` set)

A diff file (bandersnatch's ``diff-file``) lists the files the last sync wrote, one path a
line, absolute or relative to the mirror's root: package files and simple pages alike.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.utils import canonicalize_name

from wheelscan.sources.base import SourceError, WheelRef, wheel_ref
from wheelscan.sources.pages import JSON_TYPE, wheel_links

logger = logging.getLogger(__name__)

_PAGES = (("index.v1_json", JSON_TYPE), ("index.html", "text/html"))


class BandersnatchSource:
    """The wheels of a bandersnatch mirror, with sha256, size and upload time from its pages."""

    def __init__(
        self,
        root: Path | str,
        diff_file: Path | str | None = None,
        projects: Iterable[str] | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.web = self.root / "web"
        if not (self.web / "simple").is_dir():
            raise SourceError(f"{self.root}: not a bandersnatch mirror (no web/simple)")
        self.diff_file = None if diff_file is None else Path(diff_file)
        self.projects = (
            None if projects is None else sorted({canonicalize_name(p) for p in projects})
        )
        self.name = f"bandersnatch:{self.root}"

    def prepare(self) -> None:
        """Nothing to read ahead: the mirror's pages are read from disk as it is listed."""

    def wheels(self) -> Iterator[WheelRef]:
        if self.diff_file is None:
            for page_dir in self._page_dirs(self.projects):
                yield from self._page_wheels(page_dir)
            return
        changed = self._changed_wheels(self.diff_file)
        projects = sorted(
            {
                ref.project
                for ref in changed.values()
                if self.projects is None or ref.project in self.projects
            }
        )
        for page_dir in self._page_dirs(projects):
            for ref in self._page_wheels(page_dir):
                if changed.pop(Path(ref.location).resolve(), None) is not None:
                    yield ref
        # listed but on no page (a page out of step with its files): still audit what exists
        for path, ref in sorted(changed.items()):
            if path.is_file() and (self.projects is None or ref.project in self.projects):
                yield ref

    def _changed_wheels(self, diff_file: Path) -> dict[Path, WheelRef]:
        """The wheels a diff file lists, by resolved path (``web/`` is often a symbolic link)."""
        try:
            lines = diff_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise SourceError(f"cannot read the diff file {diff_file}: {e}") from e
        changed: dict[Path, WheelRef] = {}
        for line in map(str.strip, lines):
            if not line.endswith(".whl"):
                continue  # simple pages, sdists, blank lines
            path = self.root / line  # an absolute line replaces the root
            size = path.stat().st_size if path.is_file() else None
            ref = wheel_ref(path.name, str(path), size=size)
            if ref is not None:
                changed[path.resolve()] = ref
        return changed

    def _page_dirs(self, projects: Iterable[str] | None) -> Iterator[Path]:
        simple = self.web / "simple"
        if projects is not None:
            for project in projects:
                for page_dir in (simple / project, simple / project[0] / project):
                    if _has_page(page_dir):
                        yield page_dir
                        break
                else:
                    logger.warning("no page for project %s in %s", project, simple)
            return
        for entry in sorted(simple.iterdir()):
            if _has_page(entry):
                yield entry
            elif entry.is_dir():  # a hash-index letter: the pages are one level down
                yield from (sub for sub in sorted(entry.iterdir()) if _has_page(sub))

    def _page_wheels(self, page_dir: Path) -> Iterator[WheelRef]:
        name, content_type = next((n, t) for n, t in _PAGES if (page_dir / n).is_file())
        page = page_dir / name
        try:
            body = page.read_bytes()
        except OSError as e:
            raise SourceError(f"cannot read {page}: {e}") from e
        for link in wheel_links(body, content_type, page.as_uri()):
            path = self._local_path(link.url)
            if path is None:
                logger.warning("%s links to %s, outside the mirror: skipped", page, link.url)
                continue
            size = link.size
            if size is None and path.is_file():  # HTML pages carry no size
                size = path.stat().st_size
            ref = wheel_ref(link.filename, str(path), link.sha256, size, link.upload_time)
            if ref is not None:
                yield ref

    def _local_path(self, url: str) -> Path | None:
        """Where a page's link points inside ``web/``; None when it points elsewhere."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            path = Path(os.path.normpath(urllib.request.url2pathname(parts.path)))
        else:  # root_uri: https://host[/prefix]/packages/... is web/packages/...
            at = parts.path.find("/packages/")
            if at < 0:
                return None
            path = self.web / urllib.parse.unquote(parts.path[at + 1 :])
        return path if path.is_relative_to(self.web) and ".." not in path.parts else None


def _has_page(directory: Path) -> bool:
    return any((directory / name).is_file() for name, _ in _PAGES)
