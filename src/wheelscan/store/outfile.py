"""A file the user named for a report (``report -o PATH``, every format), written so
that a reader never sees half of it, without destroying what the name stands for.

A regular file (or a name not taken yet) is written beside itself and renamed into place: a
reader sees the old export or the new one, never a torn one. Anything else is written
through, as a shell's ``>`` would: a FIFO (a reader waits on it: ``-o >(zstdcat | jq)``), a
character device, a terminal. Renaming over those would replace them by a regular file and
leave the reader waiting. A symbolic link is followed first: the file it names is the one
replaced, and the link stays a link (renaming over the link itself would replace it by a
regular file and leave its target as it was).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary stream whose bytes become ``path``'s content once the block ends without an
    error: renamed into place over a regular file, written through anything else."""
    target = Path(os.path.realpath(path))  # the file a link (or a chain of them) names
    try:
        found = os.stat(target)
    except FileNotFoundError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode):
        with open(target, "wb") as through:
            yield through
        return
    # a name of its own, made afresh (O_EXCL): a fixed ``.partial`` name followed a link
    # planted there (renaming it over the export, writing the file it named) and was shared
    # by two reports to one file
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    partial = Path(name)
    try:
        with open(descriptor, "wb") as out:
            # the export replaces the file, not its permissions (a new one: as umask says)
            mode = stat.S_IMODE(found.st_mode) if found is not None else 0o666 & ~_umask()
            os.chmod(out.fileno(), mode)
            yield out
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
