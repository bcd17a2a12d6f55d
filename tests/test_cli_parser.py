"""The parser ``wheelscan COMMAND ...`` builds (cli/main.py): with the command first, only that
command's parser (the others' cost start-up: issue #15); with anything before it, every
command's line, as the top-level help then lists them."""

from __future__ import annotations

import re
import subprocess
import sys

from wheelscan.cli.main import COMMANDS, build_parser, main


def test_a_command_given_first_builds_its_parser_alone() -> None:
    parser = build_parser(["show", "x.whl"])
    assert list(parser.commands.choices) == ["show"]


def test_help_before_a_command_still_lists_every_command() -> None:
    assert list(build_parser(["-h", "show"]).commands.choices) == list(COMMANDS)
    listing = subprocess.run(
        [sys.executable, "-m", "wheelscan", "-h", "show"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert re.findall(r"^    (\S+)", listing, re.MULTILINE) == list(COMMANDS)


def test_a_command_first_parses_as_before_and_again_in_one_process() -> None:
    for _ in range(2):  # main() is called repeatedly by in-process callers
        assert main(["show", "--json-schema"]) == 0
