"""The process's entry point, the same for the ``wheelscan`` script (pyproject.toml's
``[project.scripts]``) and ``python -m wheelscan`` (``__main__.py``).

SIGINT's default action is put in force first (``default_action``), before a ``show``'s
first wheel is read or any command's module imported: a Ctrl-C then ends the process as
that action does (a shell says 130), until the command is ready for it (cli/main.py's
``run``). Raised as Python raises it, one was a traceback, or worse, in the middle of the
command's imports: orjson's module, interrupted as it was made, crashed (SIGSEGV); one that
landed in a callback of importlib's was lost ("Exception ignored"), or left its lock taken
and a ``show`` hung. Only the process's entry point does it, on the main thread: a program
that calls ``main`` keeps its own signal handling. What remains open is the import of this
module itself, the script's first line.

Imports nothing that is not loaded with the interpreter (``signal`` costs 0.5 ms).
"""

import _signal  # type: ignore[import-not-found]
import gc
import sys


def entry() -> None:
    # The collector off from the start, as ``entry`` keeps it while the command line is
    # parsed: the command's imports (argparse, pathlib, typing, this package's modules) make
    # objects that live as long as the process; it walked them 22 times, 7.8M instructions
    # of a one-wheel ``show`` (issue #15), before ``entry`` could turn it off
    gc.disable()
    # before a module is imported (each import's callbacks may swallow a KeyboardInterrupt),
    # the first wheel's reading begun, or the command line's modules imported
    sigint_deferred = default_action()
    try:
        if sys.argv[1:2] == ["show"]:
            # a plain ``show`` command line taken, and its first wheel's reading begun,
            # before the command line's parser is even imported (show_start.py)
            from wheelscan.cli import show_start

            show_start.begin(sys.argv[1:])

        from wheelscan.cli.main import entry as run_command_line

        run_command_line(sigint_deferred)
    except KeyboardInterrupt as e:  # ``run`` returns a status for one that comes later
        # 128 + its signal's number (cli/interrupt.py's Interrupted), computed without an
        # import a second Ctrl-C could interrupt
        raise SystemExit(128 + int(getattr(e, "signum", 2))) from None


def default_action() -> bool:
    """Whether SIGINT's default action was put in force: not where SIGINT is ignored
    (nohup) or has a handler of a program that runs this one, nor off the main thread."""
    if _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler:
        return False
    try:
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    except ValueError:  # not the main thread
        return False
    return True


def interruptible() -> None:
    """Python's SIGINT handler back: a Ctrl-C is a KeyboardInterrupt again."""
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
