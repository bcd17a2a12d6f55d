"""A plain ``show`` command line taken without its parser, and its first wheel read from the
process's start (cli/show_start.py, issue #15): the same namespace as the parser's, the same
outputs and exit statuses as before for everything else (help, bad options, a missing file,
a directory), and the first wheel read once."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wheelscan.cli.main import main, parse
from wheelscan.cli.show_start import plain_show

from elfwriter import build_elf, sample_spec
from importtime import imported
from wheelbuilder import build_wheel

_FLAGS = ("--json", "-v", "--verbose", "--strict")


def _plain_command_lines() -> list[list[str]]:
    """Every set of the flags, each flag before or after one run of one or two wheels."""
    lines = []
    for count in range(len(_FLAGS) + 1):
        for chosen in itertools.combinations(_FLAGS, count):
            for after in itertools.product((False, True), repeat=count):
                for wheels in (["a.whl"], ["a.whl", "dir/b.whl"]):
                    before = [f for f, a in zip(chosen, after, strict=True) if not a]
                    later = [f for f, a in zip(chosen, after, strict=True) if a]
                    lines.append(["show", *before, *wheels, *reversed(later)])
    return lines


@pytest.mark.parametrize("words", _plain_command_lines(), ids=" ".join)
def test_a_plain_command_line_is_taken_as_its_parser_takes_it(words: list[str]) -> None:
    taken = plain_show(words)
    assert taken is not None
    assert vars(taken) == vars(parse(words))


@pytest.mark.parametrize(
    "words",
    [
        ["show"],
        ["show", "--json"],
        ["show", "--help"],
        ["show", "-h", "a.whl"],
        ["show", "--json-schema"],
        ["show", "a.whl", "--json", "b.whl"],  # two runs of wheels: the parser refuses the second
        ["show", "--format", "json", "a.whl"],
        ["show", "--format=json", "a.whl"],
        ["show", "--policy-file", "p.json", "a.whl"],
        ["show", "--musl-policy", "musllinux_1_2", "a.whl"],
        ["show", "--timeout", "5", "a.whl"],
        ["show", "-vv", "a.whl"],
        ["show", "--verb", "a.whl"],  # an abbreviation: the parser's to expand
        ["show", "--json", "--json", "a.whl"],
        ["show", "--", "a.whl"],
        ["show", "a.whl", "-"],
        ["show", "", "a.whl"],
        ["show", "-1"],
        ["show", "a.whl", "--bogus"],
        ["--version"],
        ["audit", "a.whl"],
        ["elf", "show"],
        [],
    ],
    ids=repr,
)
def test_anything_else_is_left_to_the_parser(words: list[str]) -> None:
    assert plain_show(words) is None


def _wheel(directory: Path, name: str = "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl") -> Path:
    wheel = directory / name
    wheel.write_bytes(build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))}))
    return wheel


def _process(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


def _in_process(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``main``: the parser's reading of the command line, the wheels read as ever."""
    capsys.readouterr()
    try:
        status = main([str(a) for a in args])
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


def test_a_process_shows_what_the_parser_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = _wheel(tmp_path)
    missing = tmp_path / "missing-1.0-py3-none-any.whl"
    for args in (
        ("show", wheel),
        ("show", "--json", wheel, wheel, "--strict"),
        ("show", "-v", missing),  # plain, but no file: no reading begun, show says why
        ("show", "--json", tmp_path),  # a directory
        ("show", missing, wheel),
        ("show", wheel, "--bogus"),  # the parser's error
        ("show", wheel, "--json", wheel),
        ("show", "--format", "sarif", wheel),
    ):
        status, out, err = _process(*args)
        assert (status, out, err) == _in_process(capsys, *args), args
    status, out, err = _process("show", "-v", missing)
    assert (status, err) == (2, "")
    assert "ERROR not-found: cannot access" in out
    status, out, err = _process("show", "--json", tmp_path)
    assert (status, err) == (2, "")
    assert '"code": "is-a-directory"' in out


def test_help_and_a_bad_option_are_the_parsers(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    status, out, err = _process("show", "--help")
    assert (status, err) == (0, "")
    assert out.startswith("usage: wheelscan show [-h]")
    status, out, err = _process("show", wheel, "--bogus")
    assert (status, out) == (2, "")
    assert err == ("wheelscan show: unrecognized arguments: --bogus (see wheelscan show --help)\n")
    status, out, err = _process("show", "--timeout", "-1", wheel)
    assert (status, out) == (2, "")
    assert err.startswith("wheelscan show: argument --timeout: ")


def test_an_unknown_backend_is_said_before_any_verdict(tmp_path: Path) -> None:
    # the first wheel's reading, begun from the start, meets it first: the command says it
    env = {**os.environ, "WHEELSCAN_ELF_BACKEND": "bogus"}
    status, out, err = _process("show", "--json", _wheel(tmp_path), env=env)
    assert (status, out) == (2, "")
    assert err.startswith("wheelscan show: WHEELSCAN_ELF_BACKEND='bogus': choose one of")


def test_a_plain_show_imports_no_argument_parser(tmp_path: Path) -> None:
    # argparse, gettext and locale: 5 ms of a one-wheel show, that parsed nothing of use
    wheel = _wheel(tmp_path)
    names = imported("-m", "wheelscan", "show", "--json", str(wheel))
    assert "wheelscan.policy.evaluate" in names  # it did judge
    assert not {"argparse", "gettext", "locale", "wheelscan.cli.usage"} & names
    assert "argparse" in imported("-m", "wheelscan", "show", "--format", "json", str(wheel))


def test_a_plain_show_prints_text_without_an_argument_parser(tmp_path: Path) -> None:
    # its text renderers (cli/text.py) imported cli/usage.py for a terminal's width, and
    # argparse with it, where the output is no terminal (a pipe here)
    names = imported("-m", "wheelscan", "show", str(_wheel(tmp_path)))
    assert "wheelscan.cli.text" in names  # it did print text
    assert not {"argparse", "gettext", "locale", "wheelscan.cli.usage"} & names


def test_a_show_prints_text_without_textwrap(tmp_path: Path) -> None:
    # its regular expressions compiled as it is imported: 1 ms (cli/wordwrap.py)
    names = imported("-m", "wheelscan", "show", str(_wheel(tmp_path)))
    assert "wheelscan.cli.wordwrap" in names  # it did print text
    assert "textwrap" not in names


_READ_ONCE = """
import sys
from wheelscan.cli import main, show, show_start

def refused(*args):
    raise AssertionError("the first wheel read a second time")

show._read_in_background = refused  # what reads every wheel but the first
words = ["show", "--json", sys.argv[1]]
before = sys.getswitchinterval()
show_start.begin(words)
assert sys.getswitchinterval() < before  # while the reading overlaps this thread's Python
status = main.run(show_start.command_line(words))
print(status, sys.getswitchinterval() == before)
"""


def test_the_first_wheel_is_read_once_from_the_start(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONCE, str(wheel)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    verdict, status = done.stdout.rsplit("\n", 2)[:2]
    assert status == "0 True"
    assert '"overall_tag"' in verdict or "manylinux" in verdict


_SCRIPT_ENTRY = """
import sys
from wheelscan.cli.main import entry

sys.argv = ["wheelscan", *sys.argv[1:]]
entry()
"""


@pytest.mark.parametrize("plain", [True, False])
def test_the_scripts_entry_takes_a_plain_command_line_too(tmp_path: Path, plain: bool) -> None:
    # the ``wheelscan`` script calls entry() with nothing begun before it
    wheel = _wheel(tmp_path)
    args: list[Any] = ["show", "--json", wheel] if plain else ["show", "--format", "json", wheel]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT_ENTRY, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == _process(*args)
