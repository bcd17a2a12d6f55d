"""Every wheel under a directory tree: a wheelhouse, a build's ``dist/``, a plain file mirror."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from wheelscan.sources.base import SourceError, WheelRef, wheel_ref


class DirectorySource:
    """``*.whl`` files under ``root``, in a stable order (directories and files sorted by name).

    The tree is walked as it is read, so a mirror of millions of files is never held in memory;
    symbolic links to directories are not followed (a link loop must not hang a scan). Nothing
    is opened: the size comes from ``stat``, and the worker computes the sha256 as it reads.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: not a directory")
        self.name = f"dir:{self.root}"

    def prepare(self) -> None:
        """Nothing to read ahead: the tree is walked as it is listed."""

    def wheels(self) -> Iterator[WheelRef]:
        for directory, subdirectories, filenames in os.walk(self.root):
            subdirectories.sort()  # os.walk descends in this list's order
            for filename in sorted(filenames):
                if not filename.endswith(".whl"):
                    continue
                path = Path(directory, filename)
                try:
                    size = path.stat().st_size
                except OSError:
                    continue  # a dangling link, or removed while we walk
                ref = wheel_ref(filename, str(path), size=size)
                if ref is not None:
                    yield ref
