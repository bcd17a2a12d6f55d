"""One file out of a pinned archive, verified, into the test cache.

Some test inputs are published only inside another project's source distribution (auditwheel's
bundled test wheels). They are never committed here: a corpus entry pins the archive (as
``fetch`` pins a wheel: project, version, filename, sha256, size) and, in ``member``, the path
inside it with that file's own sha256 and size::

    {"project": "auditwheel", "version": "6.8.2", "filename": "auditwheel-6.8.2.tar.gz",
     "sha256": "...", "size": 4702710,
     "member": {"path": "auditwheel-6.8.2/tests/.../spam-...whl", "sha256": "...", "size": 3285}}

The archive is fetched into the cache like any corpus file; the member is written beside it
under ``members/`` with its own base name (a wheel's tags are in its name), and kept there
while its sha256 matches, so a second run opens neither the archive nor the network.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .fetch import CorpusError, default_cache_dir, fetch, sha256_of

__all__ = ["fetch_member"]


def _read_member(archive: Path, path: str) -> bytes:
    """The bytes of ``path`` in a ``.tar.gz`` or ``.zip`` source distribution."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(path)
        with tarfile.open(archive, "r:*") as tf:
            member = tf.getmember(path)
            stream = tf.extractfile(member) if member.isfile() else None
            if stream is None:
                raise CorpusError(f"{archive.name}: {path} is not a regular file")
            with stream:
                return stream.read()
    except (KeyError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise CorpusError(f"{archive.name}: cannot read {path}: {e}") from e


def fetch_member(
    entry: Mapping[str, Any], cache_dir: Path | None = None, index_url: str | None = None
) -> Path:
    """The pinned ``entry["member"]`` of the pinned archive ``entry``, verified, in the cache."""
    member = entry.get("member")
    if not isinstance(member, Mapping) or not {"path", "sha256", "size"} <= member.keys():
        raise CorpusError(f"corpus entry {entry.get('filename')!r} lacks member path/sha256/size")
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    target = cache / "members" / posixpath.basename(str(member["path"]))
    pinned = str(member["sha256"]).lower()
    if (
        target.is_file()
        and target.stat().st_size == int(member["size"])
        and sha256_of(target) == pinned
    ):
        return target
    archive_entry = {k: v for k, v in entry.items() if k != "member"}
    (archive,) = fetch([archive_entry], cache, index_url)
    data = _read_member(archive, str(member["path"]))
    actual = hashlib.sha256(data).hexdigest()
    if actual != pinned or len(data) != int(member["size"]):
        raise CorpusError(
            f"{archive.name}: {member['path']} has sha256 {actual} ({len(data)} bytes), "
            f"the corpus pins {pinned} ({member['size']} bytes)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # a private partial file, renamed into place: concurrent runs never see half a file
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        Path(name).replace(target)
    finally:
        Path(name).unlink(missing_ok=True)
    return target
