"""``wheelscan``: parse the command line and hand over to one module per command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wheelscan import __version__
from wheelscan.cli import audit, elf, package, platform, reevaluate, report, show
from wheelscan.elf import BACKEND_ENV, BackendError, backend_name, get_parser


def version_text() -> str:
    return f"wheelscan {__version__} (ELF backend: {backend_name()}, set by {BACKEND_ENV})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelscan", description="Audit Linux binary wheels against manylinux/musllinux."
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (show, audit, report, reevaluate, package, elf, platform):
        command.configure_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
