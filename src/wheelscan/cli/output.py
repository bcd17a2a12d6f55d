"""The command's output, whose failure to be written is the user's error, not a bug.

A full disk (ENOSPC), a failing one (EIO) or a reader gone away (EPIPE: ``| head``) used to
end in a traceback and exit status 1, which CI reads as "a promise is broken". Every write
to stdout goes through ``GuardedOutput`` while a command runs (cli/main.py) and every write
of a file ``-o`` names through ``writing``: their OSError becomes an ``OutputError``, one line
and exit status 2 (nothing for a broken pipe). The store is not output: its failures are
StoreErrors, and what it committed stays committed.

Only the standard library is imported here: every command pays for this module at start.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

from wheelscan.errors import OutputError


def output_error(error: OSError, where: str | None = None) -> OutputError:
    """``error`` of a write to the output (``where``: the file's name; None for stdout)."""
    return OutputError.of(error, where)


class GuardedOutput:
    """``stream`` (stdout, or its binary ``buffer``; the file ``where``), whose writes raise
    OutputError where they failed with an OSError. Everything else is the stream's own
    (``isatty``, ``encoding``, ``fileno``: rich and argparse ask). Given to rich, it also
    keeps rich's own broken-pipe handling (exit status 1, silently) out of the way: what
    fails is no BrokenPipeError once it reaches rich."""

    def __init__(self, stream: Any, where: str | os.PathLike[str] | None = None) -> None:
        self._stream = stream
        self._where = None if where is None else os.fspath(where)

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except OSError as e:
            raise output_error(e, self._where) from e

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise output_error(e, self._where) from e

    @property
    def buffer(self) -> GuardedOutput:  # the binary stream (report's jsonl.zst to stdout)
        return GuardedOutput(self._stream.buffer, self._where)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guarded(stream: TextIO, where: str | os.PathLike[str] | None = None) -> TextIO:
    """``stream`` as a GuardedOutput, typed as the text stream it stands for."""
    return cast(TextIO, GuardedOutput(stream, where))


@contextmanager
def writing(where: os.PathLike[str]) -> Iterator[None]:
    """The block writes the file ``where``: its OSError (opening it included) is the
    output's."""
    try:
        yield
    except OSError as e:
        raise output_error(e, os.fspath(where)) from e


class ClosedOutput:
    """Standard output where its descriptor was closed when the process began (Python's
    ``sys.stdout`` is None then, and ``print`` writes nothing, silently): a write fails as
    on a closed descriptor, which makes it the output's error (exit status 2), not a report
    lost with status 0."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, data: Any) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        """Nothing written: nothing to flush."""

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    @property
    def buffer(self) -> ClosedOutput:
        return self


def discard_stdout() -> None:
    """Point stdout at /dev/null once it cannot be written: what it still holds is flushed
    there at exit, quietly (Python's docs, "Note on SIGPIPE"), not in an "Exception ignored"
    with exit status 120. Not possible (nor needed) for a stream with no descriptor, as the
    tests' in-process runs have."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # AttributeError: None, closed at start
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)
