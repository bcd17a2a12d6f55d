"""Build a bandersnatch-layout mirror from wheel files, for the source and HTTP tests.

The layout is bandersnatch's (``mirror.py``): ``web/simple/<project>/index.v1_json`` (PEP 691 +
PEP 700: sha256, size, upload-time), ``web/simple/<project>/index.html`` (PEP 503, ``#sha256=``
fragments), the root pages ``web/simple/index.{v1_json,html}``, and the files under
``web/packages/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>`` where ``b2`` is the file's BLAKE2b-256,
as the index's own paths are. Files are hard-linked when possible (real wheels are large).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

DEFAULT_UPLOAD_TIME = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Mirror:
    root: Path  # the mirror's root (holds web/)
    files: dict[str, Path]  # filename -> its path under web/packages
    sha256: dict[str, str]  # filename -> hex digest

    @property
    def web(self) -> Path:
        return self.root / "web"


def _digests(path: Path) -> tuple[str, str]:
    sha256, blake2b = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            blake2b.update(chunk)
    return sha256.hexdigest(), blake2b.hexdigest()


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_pages(
    directory: Path, name: str, json_page: Mapping[str, object], anchors: Sequence[tuple[str, str]]
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.v1_json").write_text(json.dumps(json_page, indent=1))
    links = "".join(
        f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br/>\n'
        for href, text in anchors
    )
    (directory / "index.html").write_text(
        f"<!DOCTYPE html>\n<html>\n  <head>\n    <title>{html.escape(name)}</title>\n"
        f"  </head>\n  <body>\n{links}  </body>\n</html>\n"
    )


def build_mirror(
    root: Path,
    wheels: Sequence[Path],
    upload_times: Mapping[str, datetime] | None = None,
    json_pages: bool = True,
) -> Mirror:
    """Lay ``wheels`` out as a bandersnatch mirror under ``root``; ``upload_times`` by filename.

    ``json_pages=False`` leaves out the JSON pages, as a mirror with ``simple-format = HTML``.
    """
    meta = {"api-version": "1.1", "_last-serial": 1}
    by_project: dict[str, list[dict[str, object]]] = defaultdict(list)
    files: dict[str, Path] = {}
    sha256s: dict[str, str] = {}
    for wheel in wheels:
        sha256, blake2b = _digests(wheel)
        target = root / "web" / "packages" / blake2b[:2] / blake2b[2:4] / blake2b[4:] / wheel.name
        _place(wheel, target)
        files[wheel.name], sha256s[wheel.name] = target, sha256
        when = (upload_times or {}).get(wheel.name, DEFAULT_UPLOAD_TIME)
        by_project[canonicalize_name(parse_wheel_filename(wheel.name)[0])].append(
            {
                "filename": wheel.name,
                "url": f"../../packages/{target.relative_to(root / 'web' / 'packages').as_posix()}",
                "hashes": {"sha256": sha256},
                "requires-python": None,
                "yanked": False,
                "size": wheel.stat().st_size,
                "upload-time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    simple = root / "web" / "simple"
    for project, entries in sorted(by_project.items()):
        anchors = [
            (f"{e['url']}#sha256={sha256s[str(e['filename'])]}", str(e["filename"]))
            for e in entries
        ]
        _write_pages(
            simple / project,
            project,
            {"meta": meta, "name": project, "files": entries, "versions": []},
            anchors,
        )
    root_page = {"meta": meta, "projects": [{"name": p} for p in sorted(by_project)]}
    _write_pages(simple, "Simple index", root_page, [(f"{p}/", p) for p in sorted(by_project)])
    if not json_pages:
        for json_page in simple.rglob("index.v1_json"):
            json_page.unlink()
    return Mirror(root, files, sha256s)


def listed_only_index(simple: Path, projects: int) -> list[str]:
    """A PEP 503 index under ``simple`` of ``projects`` projects of one wheel each, whose
    files are never there (for tests that list an index and fetch none of it); its
    project names."""
    names = [f"p{i:03d}" for i in range(projects)]
    simple.mkdir(parents=True)
    anchors = "".join(f'<a href="{name}/">{name}</a>' for name in names)
    (simple / "index.html").write_text(f"<html><body>{anchors}</body></html>")
    for name in names:
        (simple / name).mkdir()
        filename = f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        (simple / name / "index.html").write_text(
            f'<html><body><a href="../../packages/{filename}">{filename}</a></body></html>'
        )
    return names
