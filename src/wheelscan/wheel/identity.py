"""A local file as it was when it was opened, so it can be found again, unchanged."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from wheelscan.records import record


@record
class FileIdentity:
    """A file as it was when it was read: if any of this changed, it is another file."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int  # set by the kernel on any change: resetting mtime with utime does not hide one

    @classmethod
    def of(cls, path: Path | str, stat: os.stat_result) -> FileIdentity:
        return cls(
            str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
        )

    def holds(self, offset: int, data: memoryview | bytes) -> bool:
        """Whether the file, still this one, holds ``data`` at ``offset``: compared in a
        read-only mapping of it (its pages are the page cache's: nothing is copied, where
        reading it back through a buffer copied a 30 MB library's compressed bytes)."""
        from wheelscan._native import same_bytes

        expected = memoryview(data)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            if FileIdentity.of(self.path, os.fstat(fd)) != self:
                return False
            if offset < 0 or offset + len(expected) > self.size:
                return False
            if not expected:
                return True
            with (
                mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapping,
                memoryview(mapping) as whole,
                whole[offset : offset + len(expected)] as stored,
            ):
                return bool(same_bytes(stored, expected))
        except (OSError, ValueError):
            return False
        finally:
            os.close(fd)
