"""``wheelscan``: parse the command line and hand over to one module per command.

Only the module of the command being run is imported: ``wheelscan show`` should not pay for
the HTTP client, the store and the report renderers (start-up is part of a one-wheel audit).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wheelscan import __version__
from wheelscan.elf import BACKEND_ENV, BackendError, backend_name, get_parser

COMMANDS = ("show", "audit", "report", "reevaluate", "package", "elf", "platform")


def version_text() -> str:
    return f"wheelscan {__version__} (ELF backend: {backend_name()}, set by {BACKEND_ENV})"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the one command ``argv`` names, or every command if it names none."""
    parser = argparse.ArgumentParser(
        prog="wheelscan", description="Audit Linux binary wheels against manylinux/musllinux."
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)
    words = list(argv if argv is not None else sys.argv[1:])
    named = [a for a in words if a in COMMANDS][:1]
    if not named and words[:1] == ["--version"]:
        return parser  # argparse prints the version and exits: no command module needed
    for name in named or COMMANDS:
        importlib.import_module(f"wheelscan.cli.{name}").configure_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        get_parser()  # an unknown or unbuilt backend stops here, before any work
        return int(args.func(args))
    except BackendError as e:
        print(f"wheelscan: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `wheelscan show ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
