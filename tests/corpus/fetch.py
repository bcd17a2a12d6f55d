"""Download the pinned real-wheel corpus into a cache outside the repository.

Each entry of a corpus file (``tests/corpus/wheels.json``, ``benchmarks/corpus.json``) names a
wheel by project and filename and pins its sha256 and size. The file's URL is looked up on the
project's page of the package index (PEP 691 JSON by content negotiation, PEP 503 HTML as the
fallback); the index is whatever pip would use
(:func:`wheelscan.sources.index_url.default_index_url`), so no index host is written down here.

Wheels land in ``$WHEELSCAN_TEST_CACHE`` (default ``~/.cache/wheelscan-tests``). A cached file
whose sha256 matches is kept, and then the index is not asked at all; a download whose sha256
does not match is deleted and raises :class:`CorpusError`.

Usage::

    python -m tests.corpus.fetch tests/corpus/wheels.json [benchmarks/corpus.json ...]
    python tests/corpus/fetch.py FILE.json --cache-dir DIR --index-url URL
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

from wheelscan.sources.index_url import default_index_url, project_page_url

__all__ = ["CorpusError", "default_cache_dir", "fetch", "load_entries", "sha256_of"]

WORKERS = 8
ATTEMPTS = 4
TIMEOUT = 60.0  # seconds, per socket operation
_CHUNK = 1 << 20
_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
)
_FIELDS = ("project", "version", "filename", "sha256", "size")
_T = TypeVar("_T")


class CorpusError(RuntimeError):
    """A corpus file is malformed, a wheel cannot be found on the index, or a hash differs."""


@dataclass(frozen=True)
class Entry:
    """One pinned wheel of a corpus file."""

    project: str
    version: str
    filename: str
    sha256: str
    size: int


def default_cache_dir() -> Path:
    """Return ``$WHEELSCAN_TEST_CACHE``, or ``~/.cache/wheelscan-tests``."""
    configured = os.environ.get("WHEELSCAN_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "wheelscan-tests"


def load_entries(path: Path) -> list[dict[str, Any]]:
    """Read a corpus file: a JSON list of ``{project, version, filename, sha256, size}``."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise CorpusError(f"{path}: expected a JSON list of wheel entries")
    return entries


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(raw: Mapping[str, Any]) -> Entry:
    missing = [k for k in _FIELDS if k not in raw]
    if missing:
        raise CorpusError(f"corpus entry {raw!r} lacks {', '.join(missing)}")
    return Entry(
        project=str(raw["project"]),
        version=str(raw["version"]),
        filename=str(raw["filename"]),
        sha256=str(raw["sha256"]).lower(),
        size=int(raw["size"]),
    )


def _retrying(what: str, call: Callable[[], _T]) -> _T:
    """Run ``call``; on a network error, retry with exponential backoff (1 s, 2 s, 4 s)."""
    for attempt in range(ATTEMPTS):
        try:
            return call()
        except urllib.error.HTTPError as e:
            # A client error other than throttling will not get better by asking again.
            if (400 <= e.code < 500 and e.code != 429) or attempt == ATTEMPTS - 1:
                raise CorpusError(f"{what}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if attempt == ATTEMPTS - 1:
                raise CorpusError(f"{what}: {e}") from e
        time.sleep(2**attempt)
    raise AssertionError("unreachable")


class _AnchorParser(HTMLParser):
    """Collect ``<a href>`` targets and texts of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def _file_urls(page_url: str, content_type: str, body: bytes) -> dict[str, tuple[str, str]]:
    """Map each filename on a project page to (absolute URL, sha256 or '')."""
    files: dict[str, tuple[str, str]] = {}
    if content_type.startswith("application/vnd.pypi.simple.v1+json"):
        for item in json.loads(body)["files"]:
            url = urllib.parse.urljoin(page_url, item["url"])
            files[item["filename"]] = (url, item.get("hashes", {}).get("sha256", ""))
        return files
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    for href, text in parser.links:
        url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
        algorithm, _, digest = fragment.partition("=")
        filename = text or urllib.parse.unquote(url.rsplit("/", 1)[-1])
        files[filename] = (url, digest if algorithm == "sha256" else "")
    return files


def _project_files(index_url: str, project: str) -> dict[str, tuple[str, str]]:
    page_url = project_page_url(index_url, project)

    def read() -> dict[str, tuple[str, str]]:
        request = urllib.request.Request(page_url, headers={"Accept": _ACCEPT})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            content_type = response.headers.get("Content-Type", "text/html")
            return _file_urls(response.url, content_type, response.read())

    return _retrying(f"project page of {project}", read)


def _download(url: str, entry: Entry, target: Path) -> None:
    # A private partial file, so that concurrent runs (pytest-xdist workers) never share one.
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    partial = Path(name)

    def attempt() -> str:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, partial.open("wb") as f:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                f.write(chunk)
        return digest.hexdigest()

    try:
        actual = _retrying(f"download of {entry.filename}", attempt)
        if actual != entry.sha256:
            raise CorpusError(
                f"{entry.filename}: sha256 {actual} does not match the pinned {entry.sha256}; "
                "the file was deleted (was the release re-uploaded, or the pin mistyped?)"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _is_cached(entry: Entry, target: Path) -> bool:
    return (
        target.is_file()
        and target.stat().st_size == entry.size
        and sha256_of(target) == entry.sha256
    )


def fetch(
    entries: Iterable[Mapping[str, Any]],
    cache_dir: Path | None = None,
    index_url: str | None = None,
) -> list[Path]:
    """Make sure every entry's wheel is in the cache, verified; return their paths in order.

    ``index_url`` defaults to the one pip would use; it is only resolved if something is missing.
    """
    wanted = [_entry(raw) for raw in entries]
    pins: dict[str, str] = {}
    for entry in wanted:
        if pins.setdefault(entry.filename, entry.sha256) != entry.sha256:
            raise CorpusError(f"{entry.filename} is pinned to two different sha256 values")
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / entry.filename for entry in wanted]

    with ThreadPoolExecutor(WORKERS) as pool:
        cached = list(pool.map(_is_cached, wanted, paths))
        missing: dict[str, tuple[Entry, Path]] = {}
        for entry, path, ok in zip(wanted, paths, cached, strict=True):
            if not ok:  # keyed by filename: two corpus files may pin the same wheel
                missing[entry.filename] = (entry, path)
        if not missing:
            return paths

        index = default_index_url(index_url)
        projects = sorted({entry.project for entry, _ in missing.values()})
        found = pool.map(lambda p: _project_files(index, p), projects)
        pages = dict(zip(projects, found, strict=True))

        jobs = []
        for entry, path in missing.values():
            found = pages[entry.project].get(entry.filename)
            if found is None:
                raise CorpusError(f"{entry.filename} is not on the index page of {entry.project}")
            url, listed_sha256 = found
            if listed_sha256 and listed_sha256 != entry.sha256:
                raise CorpusError(
                    f"{entry.filename}: the index lists sha256 {listed_sha256}, "
                    f"the corpus pins {entry.sha256}"
                )
            jobs.append(pool.submit(_download, url, entry, path))
        for job in jobs:
            job.result()
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download and verify a pinned wheel corpus.")
    parser.add_argument("corpus", nargs="+", type=Path, help="corpus JSON file(s)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--index-url", default=None)
    args = parser.parse_args(argv)

    entries = [entry for path in args.corpus for entry in load_entries(path)]
    started = time.perf_counter()
    try:
        paths = fetch(entries, args.cache_dir, args.index_url)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    total = sum(p.stat().st_size for p in set(paths))
    print(f"{len(set(paths))} wheels, {total / 1e6:.1f} MB, in {paths[0].parent if paths else '-'}")
    print(f"fetched and verified in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
