"""Every command describes itself and its exit statuses; every option says what it does.

Read from the parser that ``wheelscan`` builds, so a new option without a help text, or a
command without a description, fails here before a user meets it.
"""

from __future__ import annotations

import argparse

import pytest

from wheelscan.cli.main import COMMANDS, build_parser

from inprocess import wheelscan


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser as ``wheelscan NAME ...`` builds it: in full (``wheelscan
    --help`` builds none but lists them all)."""
    built = {}
    for name in COMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert name in sub.choices  # built alone, the command first (test_cli_parser.py)
        built[name] = sub.choices[name]
    return built


def test_every_command_is_built() -> None:
    assert set(commands()) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_describes_itself_and_its_exit_statuses(name: str) -> None:
    command = commands()[name]
    assert command.description and len(command.description) > 40
    assert command.epilog and "exit status" in command.epilog
    assert "  0  " in command.epilog  # each status on its own line, as --help prints it
    for action in command._actions:
        if action.dest == "help":
            continue
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_prints_and_fits_a_terminal(name: str) -> None:
    # in this process (tests/inprocess.py), so the wheelscan under test prints it: a child
    # given an environment of its own (no PYTHONPATH) ran whichever wheelscan was installed
    run = wheelscan(name, "--help", env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert "exit status" in run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) <= 80
