"""A local file as it was when it was opened, so it can be found again, unchanged."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
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

    def read(self, offset: int, length: int) -> bytes | None:
        """The bytes at ``offset``, or None when the file is gone or no longer the same."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if FileIdentity.of(self.path, os.fstat(fd)) != self:
                return None
            data = os.pread(fd, length, offset)
            return data if len(data) == length else None
        except OSError:
            return None
        finally:
            os.close(fd)
