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

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary stream whose bytes become ``path``'s content once the block ends without an
    error: renamed into place over a regular file, written through anything else, or where
    its directory takes no new name (a writable file in a read-only directory, as ``>``)."""
    target = Path(os.path.realpath(path))  # the file a link (or a chain of them) names
    try:
        found = os.stat(target)
    except FileNotFoundError:
        found = None
    partial = None
    if found is None or stat.S_ISREG(found.st_mode):
        try:
            partial, descriptor = _fresh_beside(target)
        except PermissionError:
            if found is None:
                raise  # nowhere to write it: the directory's error is the output's
    if partial is None:
        with open(target, "wb") as through:
            yield through
        return
    try:
        with open(descriptor, "wb") as out:
            if found is not None:  # the report replaces the file, not who may read it
                os.fchmod(out.fileno(), stat.S_IMODE(found.st_mode))
                with contextlib.suppress(PermissionError):  # only root gives a file away
                    os.fchown(out.fileno(), found.st_uid, found.st_gid)
            yield out
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _fresh_beside(target: Path) -> tuple[Path, int]:
    """A file made afresh beside ``target`` (O_EXCL, a random name; its mode as the umask
    says, applied by the kernel), open for writing. A fixed ``.partial`` name followed a
    link planted there (renaming it over the report, writing the file it named) and was
    shared by two reports to one file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    while True:
        partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        try:
            return partial, os.open(partial, flags, 0o666)
        except FileExistsError:  # taken by chance, or planted: another name
            continue
