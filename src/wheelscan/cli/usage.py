"""The user's mistakes, refused before any work: one line on stderr, exit status 2.

A typo in a policy name, a missing file or a negative count must never become a silent wrong
answer (every musl wheel judged ``linux_x86_64``) nor a traceback. Only the standard library
is imported here: ``wheelscan show`` pays for this module at every start.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar, cast

from wheelscan.errors import CommandError, CommandErrorCode, OutputError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

Number = TypeVar("Number", int, float)

# Exit statuses shared by every command (``audit``, ``show`` and ``package`` add 1: a
# declared promise is broken, or what ``--fail-on`` names was found)
EXIT_OK = 0
EXIT_FOUND = 1
EXIT_USAGE = 2  # could not run: a user error, a missing store, an index that is down
EXIT_STATUS_HELP = """exit status:
  0    done, every promise kept
  1    a declared tag is broken (audit: what --fail-on names was found)
  2    could not run: a bad option, a missing file or store, an unreachable index, an output that cannot be written (show and package: also a wheel that could not be judged); said even where 1 would be: a lost output is no verdict
  130  interrupted (Ctrl-C); 143 SIGTERM; 129 SIGHUP; said even where 2 would be: a stopped run is stopped, its output lost or not"""  # noqa: E501 (wrapped by HelpFormatter)


class UsageError(CommandError):
    """A mistake of the user's: said in one line, exit status 2, no traceback."""

    kind = CommandErrorCode.USAGE


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default shown, unless it has none or its help already says it; a
    description or epilog wrapped to the terminal, its indented lines (a list of exit
    statuses) kept as lines, each wrapped under its own text."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        # argparse makes a formatter for every option added (to check its metavar), each
        # finding the terminal's width with shutil, which it imports (with bz2 and lzma):
        # 7M instructions of a one-wheel ``show``'s start-up in a clean venv, where no help
        # is printed (issue #15). The same width, found as shutil finds it, less 2
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        lines: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                lines.append(
                    textwrap.fill(
                        " ".join(paragraph),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
                paragraph.clear()

        for line in text.splitlines():
            stripped = line.lstrip()
            if line == stripped and stripped:  # prose: joined into paragraphs
                paragraph.append(stripped)
                continue
            flush()
            if not stripped:
                lines.append("")
                continue
            # "  2    could not run ...": the key keeps its column, the rest wraps beside it
            key, _, rest = stripped.partition(" ")
            head = f"{indent}{line[: len(line) - len(stripped)]}{key}"
            head += " " * (len(rest) - len(rest.lstrip()) + 1)
            lines.append(
                textwrap.fill(
                    rest.strip(), width, initial_indent=head, subsequent_indent=" " * len(head)
                )
            )
        flush()
        return "\n".join(lines)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
            or "default" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


def terminal_columns(fallback: int = 80) -> int:
    """``shutil.get_terminal_size((fallback, 24)).columns``, without importing shutil:
    COLUMNS where it is set to a positive number, else the width of the terminal that
    ``sys.__stdout__`` writes to, else ``fallback``."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or fallback


class Parser(argparse.ArgumentParser):
    """argparse, with a user error said in one line (argparse prints the usage first) and
    every default shown in the help."""

    # the subcommands' parsers, by name (cli/main.py): argparse keeps them in a private class
    commands: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # argparse's, passed on as they are
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]  # typeshed overloads it by namespace type
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        OneFormat.check(self, parsed)  # what only the whole command line tells
        return parsed, extra

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """argparse's, but the help and the version that cannot be written to stdout (a full
        disk, stdout closed, a reader gone) end as every command's output does: one line,
        none for a broken pipe, and exit status 2. argparse drops the error, and exits 0
        with nothing written; with stdout closed it writes to stderr instead."""
        if file is sys.stderr or not message:  # argparse's errors: the status says them
            super()._print_message(message, file)
            return
        from wheelscan.cli.output import ClosedOutput, discard_stdout, guarded

        stdout = sys.stdout if sys.stdout is not None else cast(TextIO, ClosedOutput())
        try:
            out = guarded(stdout)
            out.write(message)
            out.flush()
        except OutputError as e:
            discard_stdout()  # nor an "Exception ignored" from Python's flush at exit
            self.exit(EXIT_USAGE, None if e.broken_pipe else f"{self.prog}: {e}\n")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class OneFormat(argparse.Action):
    """An option that sets the output format (``show``'s ``--format`` and its ``--json``):
    ``--json`` beside a ``--format`` naming another format is refused, not silently the
    last one's, as ``show --json --format sarif`` printed SARIF to a reader expecting JSON.
    Two ``--format``s are argparse's as any option given twice: the last one holds (a
    wrapper script's default, overridden by its user's), and it is that one ``--json`` must
    agree with, wherever each stands: ``--format sarif --format json --json`` is JSON, as
    ``--format sarif --format json`` is; ``--json --format json --format sarif`` is refused.
    Checked once the command line is parsed (``Parser.parse_known_args``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        value = self.const if self.nargs == 0 else values
        named = option_string if self.nargs == 0 else f"{option_string} {value}"
        asked: list[tuple[str, str]] = getattr(namespace, "formats_asked", [])
        namespace.formats_asked = [*asked, (named, value)]  # every format asked for, in order
        setattr(namespace, self.dest, value)

    @staticmethod
    def check(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
        """Refuse ``--json`` beside a last ``--format`` that names another format."""
        asked: list[tuple[str, str]] = getattr(namespace, "formats_asked", [])
        flags = [a for a in asked if not a[0].startswith("--format")]
        formats = [a for a in asked if a[0].startswith("--format")]
        if not flags or not formats or formats[-1][1] == flags[0][1]:
            return
        first, second = sorted((flags[0], formats[-1]), key=asked.index)
        parser.error(f"{first[0]} and {second[0]} ask for two formats: give one")


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def count(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value


def _number(text: str, kind: type[Number]) -> Number:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


# PEP 508's name, which every index's project has: letters and digits, with . _ - inside
# (compiled where used, by re's cache: not at every start of show, which imports this module)
PROJECT_NAME = r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?"


def project_name(text: str) -> str:
    """A name a project can have: ``--project "$NAME"`` with NAME unset listed nothing and
    passed a CI gate (exit 0), and ``package ../x`` asked the index for another page."""
    if not re.fullmatch(PROJECT_NAME, text, re.IGNORECASE):
        raise argparse.ArgumentTypeError(
            f"{text!r} is no project name (letters, digits, and . _ - between them)"
        )
    return text


def path_argument(text: str) -> Path:
    """A path the user named; never empty: ``"$VAR"`` with VAR unset named "." (Path("")),
    the current directory, which each command then refused as a directory or wrote into."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name (an unset variable?)")
    return Path(text)


def named(text: str) -> str:
    """A word that names a file or a URL, kept as given (a URL is no ``Path``); never empty,
    as ``path_argument``: ``show ""`` said " is a directory", of the current one."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name (an unset variable?)")
    return text


def existing_file(text: str) -> Path:
    path = path_argument(text)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text}: {what}")
    return path


def check_policy_options(policy_file: Path | None, musl_policy: str | None) -> None:
    """Refuse a policy file that cannot be loaded and a musllinux policy it does not name,
    listing the valid names, before any work."""
    if policy_file is None and musl_policy is None:
        return  # nothing to check: the built-in policies are loaded later, where needed
    from wheelscan.policy.policies import Libc, PolicyFileError, load_policies

    try:
        database = load_policies(policy_file)
    except PolicyFileError as e:
        raise UsageError(str(e)) from e
    except OSError as e:
        raise UsageError(f"cannot read {policy_file}: {e.strerror}") from e
    if musl_policy is None:
        return
    names = sorted(
        {
            p.base_name
            for (libc, _), policies in database.sets.items()
            if libc is Libc.MUSL
            for p in policies.policies[:-1]  # the last is linux_<arch>, no musllinux policy
        },
        key=_policy_order,
    )
    if musl_policy not in names:
        raise UsageError(f"unknown --musl-policy {musl_policy!r}; valid values: {', '.join(names)}")


def _policy_order(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("_")[1:] if part.isdigit())


def existing_store(db: Path) -> Path:
    """``db``, which a reading command needs to exist: it must not create an empty store
    from a typo and report on it."""
    if db.is_dir():
        raise UsageError(f"--db {db} is a directory: name the store file")
    if not db.exists():  # a device or a FIFO exists: the store's opener says what it is
        raise UsageError(f"{db} does not exist (run `wheelscan audit --db {db}` first)")
    return db


def warn(command: str, message: str) -> None:
    """``wheelscan COMMAND: MESSAGE``, one line on stderr, where stderr can take it. Where it
    cannot (a log on a full disk, a closed pipe), the exit status says what went wrong still:
    a failing print raised in the error's handling, and the process ended 1, a broken tag
    to CI. Nor is it written to stdout where stderr was closed as the process began (print's
    ``file=None``), among the output a program reads."""
    stream = sys.stderr
    if stream is None:
        return
    # a name in it may come from an index or a wheel: no control character reaches stderr
    from wheelscan.cli.printable import message_line

    try:
        print(f"wheelscan {command}: {message_line(message)}", file=stream, flush=True)
    except (OSError, ValueError):  # ValueError: closed
        # what is left in its buffer would fail Python's flush at exit (status 120); and
        # what else is said goes nowhere, not to a terminal (no progress line is drawn)
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (the process's own, to its end)
