"""A local file as it was when it was opened, so it can be found again, unchanged."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

_COMPARE_CHUNK = 1 << 20
_PER_THREAD = threading.local()


def _compare_buffer() -> memoryview:
    """This thread's buffer for reading a file back to compare it, reused across calls."""
    buffer: memoryview | None = getattr(_PER_THREAD, "buffer", None)
    if buffer is None:
        buffer = _PER_THREAD.buffer = memoryview(bytearray(_COMPARE_CHUNK))
    return buffer


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

    def holds(self, offset: int, data: memoryview | bytes) -> bool:
        """Whether the file, still this one, holds ``data`` at ``offset``: read and compared
        a chunk at a time through this thread's buffer (a copy of a 30 MB library's
        compressed bytes cost more in fresh pages than the comparison)."""
        from wheelscan._native import same_bytes

        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            if FileIdentity.of(self.path, os.fstat(fd)) != self:
                return False
            view, expected = _compare_buffer(), memoryview(data)
            done = 0
            while done < len(expected):
                got = os.preadv(fd, [view[: len(expected) - done]], offset + done)
                if got == 0 or not same_bytes(view[:got], expected[done : done + got]):
                    return False
                done += got
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
