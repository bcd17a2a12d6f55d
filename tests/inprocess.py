"""``wheelscan COMMAND ...`` run inside the test's process, answering as the subprocess would.

A ``python -m wheelscan`` costs 0.15 to 0.2 s of CPU before the command does anything (the
interpreter, then the command's imports), and the fast loop started some three hundred of
them: a third of its CPU time (issue #18, item 7). Where a test checks what a command
prints, how it exits and what it stores, ``wheelscan()`` runs it here instead, through
``wheelscan.cli.main.main``, the very parsing and wiring of the console script, and hands
back the ``CompletedProcess`` that ``subprocess.run(..., capture_output=True, text=True)``
would have.

What only a process shows stays a subprocess in the tests: start-up (``entry()``'s
``gc.freeze``, the modules a command imports), signals and a killed run, a closed stdout, a
traceback, the environment a child inherits, worker pools forked or spawned from the caller,
and the HTTP client's one session per process. Each command keeps real subprocess tests
too (``tests/test_cli.py``, ``tests/test_startup.py``, ``tests/test_audit_cli.py``, ...).

What a fresh process would not carry over from an earlier command is reset around each run:
the root logger's handlers (``main`` installs its own, prefixed with the command, where the
root has none), and stdout and stderr, which are a new pipe each time (not a terminal: no
progress line, and help wrapped to COLUMNS or 80 columns, as in a pipe).
``tests/test_inprocess.py`` holds the helper to answering as the process does.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from wheelscan.cli.main import main


def wheelscan(
    *args: object,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args``: its exit status, stdout and stderr, as text with universal
    newlines (as a subprocess's are read). ``env``: variables set for this run only (as
    ``subprocess.run(env={**os.environ, **env})``); ``cwd``: the directory it runs in;
    ``timeout``: the seconds after which a hung run ends the test process, with every
    thread's traceback on stderr. A bug's exception is raised, not printed: the test fails
    on it, where a subprocess would have exited 1 with its traceback."""
    argv = [str(arg) for arg in args]
    stdout, stderr = _pipe("strict"), _pipe("backslashreplace")  # as Python's own stdio
    with (
        _environment({**_width_of_a_pipe(), **(env or {})}),
        contextlib.chdir(cwd or Path.cwd()),
        _fresh_root_logger(),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        # a hang ends the test process with every thread's traceback, as a subprocess's
        # timeout ended the run it replaced, rather than hang the whole test run
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.__stderr__)
        try:
            status = main(argv)
        except SystemExit as e:  # argparse: --help, --version, a usage error
            status = _exit_status(e)
        finally:
            faulthandler.cancel_dump_traceback_later()
    return subprocess.CompletedProcess(["wheelscan", *argv], status, _read(stdout), _read(stderr))


def _width_of_a_pipe() -> dict[str, str]:
    """The width argparse wraps help to in a child whose stdout is a pipe: COLUMNS where it
    is set, else 80 (shutil.get_terminal_size's fall-back), never the width of a terminal
    this process may have (``pytest -s``)."""
    return {} if "COLUMNS" in os.environ else {"COLUMNS": "80"}


def _pipe(errors: str) -> io.TextIOWrapper:
    """A stream as a child's stdout or stderr is when the parent reads it through a pipe:
    UTF-8, never a terminal."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    # universal newlines, as subprocess.run(text=True) reads a child's output
    text = buffer.getvalue().decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _exit_status(exit: SystemExit) -> int:
    """The status an interpreter exits with for ``SystemExit(code)``."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    print(exit.code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _fresh_root_logger() -> Iterator[None]:
    """The root logger as a new process has it (no handlers: ``main``'s basicConfig adds its
    own, bound to this run's stderr and command), then as the test had it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` set in this process's environment (which the command reads when it
    runs, never at import), then the environment as it was."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
