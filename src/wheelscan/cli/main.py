"""``wheelscan``: parse the command line and hand over to one module per command.

Only the module of the command being run is imported: ``wheelscan show`` should not pay for
the HTTP client, the store and the report renderers (start-up is part of a one-wheel audit).

A user's error (a bad option, a missing file, an index that is down, a store that cannot be
opened, an output that cannot be written) ends in one line on stderr and exit status 2, never
in a traceback (a broken pipe: exit status 2, no line; a run a signal stopped: the signal's
status, 128 + its number, its output lost or not);
``WHEELSCAN_DEBUG=1`` shows the traceback too. Anything else is a bug, and keeps its traceback.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from wheelscan import __version__
from wheelscan.backend import BACKEND_ENV, backend_chosen, backend_name
from wheelscan.cli.commands import SUMMARIES
from wheelscan.cli.output import ClosedOutput, discard_stdout, guarded
from wheelscan.errors import CommandError, OutputError

if TYPE_CHECKING:
    # argparse and the parser's own classes (cli/usage.py): imported where the command line
    # is parsed, never by a plain ``show`` command line, taken without them (show_start.py)
    import argparse

    from wheelscan.cli.usage import Parser

COMMANDS = tuple(SUMMARIES)


def version_text() -> str:
    # "set by" only when it was: unset, the backend is the default the variable overrides
    how = f"set by {BACKEND_ENV}" if backend_chosen() else f"default; {BACKEND_ENV} chooses"
    return f"wheelscan {__version__} (ELF backend: {backend_name()}, {how})"


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The parser: the one command ``argv`` names built in full (its module imported), every
    other one only as its line in ``wheelscan --help``."""
    from wheelscan.cli.usage import EXIT_STATUS_HELP, HelpFormatter, Parser

    parser = Parser(
        prog="wheelscan",
        description="Audit Linux binary wheels against manylinux/musllinux/android.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = commands
    words = list(argv if argv is not None else sys.argv[1:])
    named = [a for a in words if a in COMMANDS][:1]
    if not named and words[:1] == ["--version"]:
        return parser  # argparse prints the version and exits: no command module needed
    # The command as the first word: nothing the top-level parser may print (its help, asked
    # for before a command) lists the others, whose parsers (0.2 ms each) go unmade
    only_named = bool(named) and words[:1] == named
    for name, summary in SUMMARIES.items():
        if name in named:
            importlib.import_module(f"wheelscan.cli.{name}").configure_parser(commands)
        elif not only_named:  # listed, never run: `wheelscan --help` imports no command's stack
            commands.add_parser(name, help=summary)
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an option the command does not know is said by that command's parser
    (``wheelscan audit: unrecognized arguments: ...``, see ``wheelscan audit --help``):
    argparse would leave them to the top-level parser, which names no command. One given
    before the command (``wheelscan --bogus report``) is the top-level parser's to say."""
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    words = list(argv if argv is not None else sys.argv[1:])
    # the top-level parser takes no value, so the command is its first word not an option
    before_command = words[: words.index(args.command)]
    if misplaced := [word for word in before_command if word in extra]:
        parser.error(f"unrecognized arguments: {' '.join(misplaced)}")
    if extra:
        chosen: argparse.ArgumentParser = parser.commands.choices[args.command]
        chosen.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


class StartUp:
    """What this process's entry (``entry``) did to its start-up."""

    # whether it froze what its start-up made: a process that ends with its command, whose
    # commands may freeze what they make to last as long (cli/show.py). Not whether anything
    # ever froze: a host that calls ``main`` may have frozen its own objects (a forking
    # server), and its garbage must stay collectable
    frozen = False


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(argv))


def entry(sigint_deferred: bool | None = None) -> None:
    """The command line's run, for the process's entry point (launch.py; the script of an
    install from before it called this directly). ``sigint_deferred``: whether the entry
    point put SIGINT's default action in force already (None: put here)."""
    # Start-up (the command's modules, its parser) makes tens of thousands of objects that
    # live as long as the process, and frees almost none: the cyclic collector walked them
    # 16 times in a one-wheel ``show``'s start-up, 3 ms of it (issue #15). It is kept off
    # until the command line is parsed; then what start-up made is moved out of its sight
    # for good (gc.freeze), and it runs again. (``main``, called in a process that lives on,
    # as the tests do, leaves the collector alone: StartUp.frozen.)
    gc.disable()
    if sigint_deferred is None:
        from wheelscan.launch import default_action

        sigint_deferred = default_action()
    args = _plain_show() or parse(None)
    gc.freeze()
    StartUp.frozen = True
    gc.enable()
    status = run(args, sigint_deferred)
    if getattr(args, "exits_at_once", False):
        import threading  # the command's own import already

        if threading.active_count() == 1 and not _watched():  # as Python would, else
            exit_at_once(status)
    sys.exit(status)


def _plain_show() -> argparse.Namespace | None:
    """A plain ``show`` command line, taken without a parser, its first wheel's reading
    begun: here, or already by ``python -m wheelscan`` (show_start.py). None for any other
    command line, without importing that module."""
    if sys.argv[1:2] != ["show"]:
        return None
    from wheelscan.cli import show_start

    show_start.begin(sys.argv[1:])
    return show_start.command_line(sys.argv[1:])


def exit_at_once(status: int) -> None:
    """End the process without tearing the interpreter down, for a command that says it may
    (``exits_at_once``: ``show``), once its threads have all ended. The teardown frees every
    module and object one by one: 23M instructions after a one-wheel ``show`` had printed
    (its policies, its modules; issue #15), where the interpreter's start is 38M. What an
    exit must still do is done: the exit functions (``atexit``: logging's, a site hook's),
    and the standard streams flushed. ``run`` has flushed stdout already, a failure there
    its status 2; what is left to fail here is what the exit functions wrote, or stderr,
    and it ends as Python's exit would end it (120)."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # its descriptor was closed when the process began
            continue
        try:
            stream.flush()
        except BrokenPipeError:
            pass
        except (OSError, ValueError):  # closed, or failing: Python's exit would say so
            status = status or 120
    os._exit(status)


def _watched() -> bool:
    """Whether something acts once the command has returned: a profiler or tracer (``python
    -m cProfile -m wheelscan``, a coverage run) writes its report then, ``python -i`` gives
    a prompt. The process must then end as Python ends it."""
    if sys.getprofile() is not None or sys.gettrace() is not None or sys.flags.inspect:
        return True
    # from Python 3.12, cProfile and coverage may watch through sys.monitoring instead
    monitoring: Any = getattr(sys, "monitoring", None)
    return monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6))


def run(args: argparse.Namespace, sigint_deferred: bool = False) -> int:
    """Run the parsed command: its exit status; a user's error said in one line.
    ``sigint_deferred``: SIGINT's default action is in force (``entry``), until here."""
    stdout = sys.stdout
    # a stop an earlier command of this process saw is not this one's (``main`` called
    # again by a program); imported by any command that handles the stop signals
    interrupt = sys.modules.get("wheelscan.cli.interrupt")
    if interrupt is not None:
        interrupt.forget_stop()
    try:
        # a Ctrl-C from here on is this ``try``'s to handle; but a command that has nothing
        # to finish or keep (``show``: it stores nothing) is ended by it at once, as by the
        # default action: a Ctrl-C landing in its imports' callbacks (after the read began:
        # launch.py) was lost, or left importlib's lock taken and the process hung, and one
        # during a long read waited for its end
        if sigint_deferred and not getattr(args, "ends_on_sigint", False):
            from wheelscan.launch import interruptible

            interruptible()
        if not getattr(args, "configures_logging", False):
            configure_logging(args.command)
        # a failed write: OutputError (None: its descriptor was closed when the process began)
        sys.stdout = guarded(stdout if stdout is not None else cast(TextIO, ClosedOutput()))
        check_before_work(args)
        from wheelscan.elf import get_parser

        get_parser()  # an unknown or unbuilt backend stops here, before any work
        warn_of_a_slow_inflater(args.command)
        status = int(args.func(args))
        sys.stdout.flush()  # a write that fails, fails here, not in Python's at exit
        return status
    except (OutputError, BrokenPipeError) as e:  # `> /dev/full`, `| head`
        # the rest of the output has nowhere to go; keep Python's flush at exit quiet
        sys.stdout = stdout
        discard_stdout()
        if isinstance(e, OutputError) and not e.broken_pipe:
            from wheelscan.cli.usage import warn

            warn(args.command, str(e))
        # a reader gone away is no message's business, but the output is lost: not 0,
        # and never 1, which CI reads as a broken promise; but a run a signal stopped
        # ends with the signal's status (cli/interrupt.py), as it would have with it
        interrupt = sys.modules.get("wheelscan.cli.interrupt")  # imported by any that stops
        stopped = interrupt.stopped_status() if interrupt is not None else None
        if stopped is not None:
            return int(stopped)
        from wheelscan.cli.usage import EXIT_USAGE

        return EXIT_USAGE
    except KeyboardInterrupt as e:  # SIGTERM and SIGHUP too, where a command handles them
        # imported here: its signal module (0.5 ms of enums) is needed only by a command
        # that handles the stop signals (``audit``), which imports it, or once stopped
        from wheelscan.cli.interrupt import exit_status

        return exit_status(e)
    except Exception as e:
        if (interrupted := _interrupt_within(e)) is not None:
            from wheelscan.cli.interrupt import exit_status

            return exit_status(interrupted)
        message = user_error(e)
        if message is None:
            raise  # a bug: its traceback is what a report of it needs
        from wheelscan.cli.usage import warn
        from wheelscan.wheel.remote import redact_text

        warn(args.command, redact_text(message))
        if os.environ.get("WHEELSCAN_DEBUG"):
            raise
        from wheelscan.cli.usage import EXIT_USAGE

        return EXIT_USAGE
    finally:
        sys.stdout = stdout


def _interrupt_within(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or stop signal) an error was raised from, if any: Python 3.11 wraps one
    raised as a class is made in a RuntimeError ("Error calling __set_name__") whose cause
    it is, which is a stop, not a bug. Only causes: an error raised while a stop was being
    handled (its context: a store that could not be closed) is that error, to be said."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__
    return None


def configure_logging(command: str) -> None:
    """Warnings from anywhere (a page the index lacks, a worker replaced) read as every
    other message: one line on stderr, prefixed with the command. Done by ``run``, or by a
    command that says it does (``configures_logging``) where it may log: ``show`` of local
    wheels imports no module that logs, and logging is 4 ms of its start-up (issue #15)."""
    import logging  # not before: ``--version`` and ``--help`` end in ``parse``

    from wheelscan.cli.printable import message_line

    class OneLine(logging.Formatter):
        """A record's message as ``usage.warn`` prints one: on one line, and the names in it
        (a page's link, a wheel's file name from an index) with no control character."""

        def format(self, record: logging.LogRecord) -> str:
            return f"wheelscan {command}: {message_line(record.getMessage())}"

    handler = logging.StreamHandler()
    handler.setFormatter(OneLine())
    logging.basicConfig(handlers=[handler], level=logging.WARNING)


def check_before_work(args: argparse.Namespace) -> None:
    """What every command's options share, checked before a store is opened or a wheel read."""
    policy_file = getattr(args, "policy_file", None)
    musl_policy = getattr(args, "musl_policy", None)
    if policy_file is not None or musl_policy is not None:  # else nothing to check
        from wheelscan.cli.usage import check_policy_options

        check_policy_options(policy_file, musl_policy)


# the commands that inflate wheels' members
_INFLATING = frozenset({"show", "audit", "package"})


def warn_of_a_slow_inflater(command: str) -> None:
    """Say in one line when libdeflate could not be bound: the run is right, but slower,
    and nothing else would tell (pyproject.toml's pin of ``deflate`` says why)."""
    if command not in _INFLATING:
        return
    from wheelscan.wheel.inflate import LIBDEFLATE_UNBOUND

    if LIBDEFLATE_UNBOUND is not None:
        print(
            f"wheelscan {command}: libdeflate not found ({LIBDEFLATE_UNBOUND}); "
            "inflating with ISA-L, 5-12% slower",
            file=sys.stderr,
        )


def user_error(error: Exception) -> str | None:
    """The one line that tells the user what went wrong, if ``error`` is theirs to fix (or
    the world's: an index that is down); None for a bug. Every such error is a CommandError
    (wheelscan/errors.py): usage, a source, a policy file, the backend, the scheduler, the
    store."""
    if isinstance(error, CommandError):
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        # a path the user gave: an output directory that does not exist, a read-only file
        action = "cannot write" if isinstance(error, PermissionError) else "cannot use"
        return f"{action} {error.filename}: {error.strerror}"
    return None


if __name__ == "__main__":
    entry()
