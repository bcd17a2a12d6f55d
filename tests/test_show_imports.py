"""What a one-wheel ``wheelscan show`` of a local file imports (issue #15: a whole process,
start-up included): nothing logs there, so neither ``logging`` nor ``concurrent.futures``
(which brings it) is loaded; a wheel given by URL configures logging as every command does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from elfwriter import build_elf, sample_spec
from importtime import import_order, imported
from wheelbuilder import build_wheel


def _wheel(tmp_path: Path, member: str = "mod.so") -> Path:
    wheel = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(build_wheel({member: build_elf(sample_spec("x86_64", interpreter=None))}))
    return wheel


def test_show_of_a_local_wheel_imports_neither_logging_nor_futures(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    for args in (["show", str(wheel)], ["show", "--json", str(wheel), str(wheel)]):
        names = imported("-m", "wheelscan", *args)
        assert "wheelscan.policy.evaluate" in names  # it did judge
        assert not {"logging", "concurrent.futures"} & names, args


def test_show_of_a_local_wheel_imports_no_inspect(tmp_path: Path) -> None:
    # dataclasses' inspect (ast, dis, tokenize with it) is deferred until used (records.py):
    # 41M instructions of start-up before the first wheel's reading could begin
    names = imported("-m", "wheelscan", "show", "--json", str(_wheel(tmp_path)))
    assert "dataclasses" in names
    assert not {"inspect", "ast", "dis", "tokenize"} & names


def test_show_of_a_local_wheel_imports_no_resource(tmp_path: Path) -> None:
    # its threads need no look at RLIMIT_DATA (wheel/threads.py's ``threads_within``)
    names = imported("-m", "wheelscan", "show", "--json", str(_wheel(tmp_path)))
    assert "wheelscan.wheel.threads" in names
    assert "resource" not in names


def test_show_imports_the_evaluation_once_the_reading_has_begun_and_no_json(
    tmp_path: Path,
) -> None:
    # the evaluation (wheelscan.engine on) is imported while the first wheel is read; the
    # policies are read and the verdicts printed by json's C functions without json, whose
    # import compiles seven regular expressions (wheelscan/fast_json.py)
    order = import_order("-m", "wheelscan", "show", "--json", str(_wheel(tmp_path)))
    assert order.index("wheelscan.wheel.contents") < order.index("wheelscan.engine")
    assert "wheelscan.policy.policies" in order and "wheelscan.fast_json" in order
    assert "json" not in order


def test_reading_streams_nothing_and_imports_no_streaming(tmp_path: Path) -> None:
    # only a member over WHOLE_MEMBER_LIMIT whose ends do not settle it is streamed
    names = imported("-m", "wheelscan", "show", str(_wheel(tmp_path)))
    assert "wheelscan.wheel.ends" in names
    # nor ISA-L, the streams' inflater: libdeflate inflates and checks every deflated member
    assert not {"wheelscan.wheel.stream", "isal"} & names


def test_show_imports_no_signal_handling_and_ctrl_c_still_exits_130(tmp_path: Path) -> None:
    # the stop signals' handling (cli/interrupt.py) is audit's; Ctrl-C's status is main's
    assert "signal" not in imported("-m", "wheelscan", "show", str(_wheel(tmp_path)))
    probe = (
        "import argparse\n"
        "from wheelscan.cli import main\n"
        "def stopped(args):\n"
        "    raise KeyboardInterrupt\n"
        "print(main.run(argparse.Namespace(command='show', func=stopped)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout == "130\n"


def test_show_to_a_reader_gone_exits_2_quietly(tmp_path: Path) -> None:
    # `wheelscan show WHEEL | head`: its output buffered (no PYTHONUNBUFFERED), flushed at
    # exit into a pipe whose reader has gone. Python's own last flush said "Exception
    # ignored ... BrokenPipeError" and exited 120
    wheel = _wheel(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    os.close(read_end)  # gone before anything is written
    try:
        run = subprocess.run(
            [sys.executable, "-m", "wheelscan", "show", str(wheel)],
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write_end)
    # the output is lost: 2, as every command (cli/output.py), never 1 (a broken promise)
    assert (run.returncode, run.stderr) == (2, "")


def test_show_still_prints_everything_and_its_status(tmp_path: Path) -> None:
    # ending at once flushes what was printed; the status is the verdict's (0 here)
    wheel = _wheel(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    run = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--json", str(wheel), str(wheel)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["results"]) == 2


_PARSER_WITHOUT_SHUTIL = """
import sys
sys.modules.pop("shutil", None)  # a site hook may have imported it: what the parser brings
from wheelscan.cli import main
main.parse(["show", "--json", "x.whl"])
print("shutil" in sys.modules)
"""


def test_parsing_shows_command_line_imports_no_shutil() -> None:
    # argparse's formatter, made for every option added, found the terminal's width with
    # shutil (bz2 and lzma with it); cli/usage.py finds it as shutil does, without it
    run = subprocess.run(
        [sys.executable, "-c", _PARSER_WITHOUT_SHUTIL],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert run.stdout == "False\n"


@pytest.mark.parametrize("columns", [None, "57", "0", "wide"])
def test_help_is_as_wide_as_shutil_would_make_it(
    columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from wheelscan.cli.usage import terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("LINES", "24")  # shutil asks the terminal for what is not set
    assert terminal_columns() == shutil.get_terminal_size().columns


def test_show_under_a_profiler_lets_it_write_its_report(tmp_path: Path) -> None:
    # ending at once skipped what runs after the command returns: cProfile's report
    wheel = _wheel(tmp_path)
    report = tmp_path / "show.prof"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(report),
            "-m",
            "wheelscan",
            "show",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert report.is_file() and report.stat().st_size > 0


def test_show_with_its_output_closed_ends_without_a_traceback(tmp_path: Path) -> None:
    # a standard stream closed when the process begins is None in Python, and print()
    # writes nothing to it, silently: the verdict lost, exit 2, one line
    wheel = _wheel(tmp_path)
    run = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m wheelscan show --format json "{wheel}" >&-'],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr == "wheelscan show: cannot write the output: standard output is closed\n"


def test_reading_record_imports_csvs_reader_alone(tmp_path: Path) -> None:
    # csv re-exports _csv's reader; its own classes were 1.4M instructions (issue #15)
    names = imported("-m", "wheelscan", "show", str(_wheel(tmp_path)))
    assert "_csv" in names and "csv" not in names
