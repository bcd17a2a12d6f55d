"""An output that cannot be written (a full disk, a reader gone away) is the user's error:
one line ``wheelscan <command>: cannot write the output: <reason>`` and exit status 2, or
for a broken pipe no line at all, never a traceback nor exit status 1 (a broken promise, to
CI); what the store holds stays stored.

Real subprocesses: only a process shows what its stdout does, and what Python says at exit.
A full disk is /dev/full, opened here as the child's stdout (never named to the product);
a reader gone is a pipe whose read end is closed, or a FIFO ``-o`` names whose reader
leaves halfway.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from elfwriter import Sym, build_elf, sample_spec
from inprocess import wheelscan
from stores import audited_store, copy_store
from wheelbuilder import build_wheel

WHEEL = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of two wheels: one judged, one that is not a zip."""
    root = tmp_path_factory.mktemp("wheels")
    so = build_elf(sample_spec("x86_64", interpreter=None))
    (root / WHEEL).write_bytes(build_wheel({"demo/mod.so": so}))
    (root / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"not a zip")
    return root


@pytest.fixture(scope="module")
def audited(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return audited_store(wheels, tmp_path_factory.mktemp("audited") / "s.db")


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 40 wheels, each breaking its tag: a terminal report of them all is
    longer (30 kB) than a file's buffer, so rich writes it, and meets the error, itself."""
    root = tmp_path_factory.mktemp("many")
    wheels = root / "wheels"
    wheels.mkdir()
    spec = sample_spec("x86_64", interpreter=None)
    for i in range(40):
        needs = Sym(f"f{i}", version="GLIBC_2.29", version_file="libc.so.6")
        so = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, needs]))
        name = f"proj{i}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        (wheels / name).write_bytes(build_wheel({f"proj{i}/mod.so": so}, name=f"proj{i}"))
    return audited_store(wheels, root / "s.db")


@pytest.fixture
def db(audited: Path, tmp_path: Path) -> Path:
    return copy_store(audited, tmp_path / "store")


@pytest.fixture
def full_stdout() -> Iterator[int]:
    """A descriptor on which every write fails with ENOSPC: /dev/full, opened by the test."""
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode), "/dev/full is not the device here"
    with open("/dev/full", "w") as full:  # read as a path here only
        yield full.fileno()


def commands(db: Path, wheels: Path) -> dict[str, list[object]]:
    wheel = wheels / WHEEL
    return {
        "report": ["report", "--db", db],
        "report-json": ["report", "--db", db, "--format", "json"],
        "report-jsonl": ["report", "--db", db, "--format", "jsonl.zst", "-o", "-"],
        "show": ["show", wheel],
        "show-json": ["show", "--format", "json", wheel],
        "elf": ["elf", wheel],
    }


NAMES = ("report", "report-json", "report-jsonl", "show", "show-json", "elf")


def run(args: list[object], stdout: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    # in the test's directory: a wheelscan that took `-o -` for a file name made it there
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *map(str, args)],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_full_disk_is_one_line_and_exit_2(
    name: str, db: Path, wheels: Path, full_stdout: int, tmp_path: Path
) -> None:
    args = commands(db, wheels)[name]
    done = run(args, full_stdout, tmp_path)
    command = args[0]
    assert done.stderr == f"wheelscan {command}: cannot write the output: No space left on device\n"
    assert done.returncode == 2


@pytest.mark.parametrize("name", NAMES)
def test_a_reader_gone_is_exit_2_and_says_nothing(
    name: str, db: Path, wheels: Path, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has read its line: every write is EPIPE
    try:
        done = run(commands(db, wheels)[name], write_end, tmp_path)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (2, "")  # no "Exception ignored ... BrokenPipe"


def first_bytes(reader: int, child: subprocess.Popen[str]) -> bytes:
    """The first bytes the child writes into the FIFO ``reader`` reads (non-blocking: until
    the child opens it, a read finds no writer and ends at once)."""
    while child.poll() is None:
        try:
            if data := os.read(reader, 100):
                return data
        except BlockingIOError:  # the writer is there, its bytes not yet
            pass
        time.sleep(0.01)
    return b""


@pytest.mark.parametrize("form", ["html", "terminal"])  # terminal: written by rich
def test_a_reader_of_an_output_fifo_gone_halfway(many: Path, tmp_path: Path, form: str) -> None:
    db = copy_store(many, tmp_path / "store")
    fifo = tmp_path / "report.out"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)  # the report (30 kB) cannot fit in it
    command = ["report", "--db", db, "--format", form, "--top", "100", "--wheels-listed", "100"]
    command += ["-o", fifo]
    child = subprocess.Popen(
        [sys.executable, "-m", "wheelscan", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the report is being written, and waits for room in the pipe
        assert first_bytes(reader, child)
    finally:
        os.close(reader)  # the reader leaves: the rest of the report has nowhere to go
        out, err = child.communicate(timeout=120)
    assert (child.returncode, out, err) == (2, "", "")


def test_an_audit_whose_summary_is_lost_keeps_its_store(
    wheels: Path, tmp_path: Path, full_stdout: int
) -> None:
    db = tmp_path / "new.db"
    done = run(["audit", "--workers", "0", "--db", db, wheels], full_stdout, tmp_path)
    assert done.returncode == 2
    assert done.stderr.endswith(
        "wheelscan audit: cannot write the output: No space left on device\n"
    )
    report = wheelscan("report", "--db", db, "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["wheels"] == 2


# what argparse prints and exits on, before any command runs
HELP_AND_VERSION = (["--help"], ["--version"], ["show", "--help"], ["audit", "--help"])


def prog(args: list[str]) -> str:
    return "wheelscan" if args[0].startswith("-") else f"wheelscan {args[0]}"


@pytest.mark.parametrize("args", HELP_AND_VERSION)
def test_help_and_version_to_a_full_disk_are_one_line_and_exit_2(
    args: list[str], full_stdout: int, tmp_path: Path
) -> None:
    # argparse dropped the error and exited 0: a script's `wheelscan --version > f` on a
    # full disk went on with an empty f
    done = run(list(args), full_stdout, tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        f"{prog(args)}: cannot write the output: No space left on device\n",
    )


@pytest.mark.parametrize("args", HELP_AND_VERSION)
def test_help_and_version_to_a_reader_gone_are_exit_2_and_say_nothing(
    args: list[str], tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = run(list(args), write_end, tmp_path)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (2, "")


@pytest.mark.parametrize("args", HELP_AND_VERSION)
def test_help_and_version_with_stdout_closed_are_one_line_and_exit_2(
    args: list[str], tmp_path: Path
) -> None:
    # `wheelscan --help >&-`: argparse wrote the help to stderr instead, and exited 0
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=lambda: os.close(1),  # the child's stdout, closed before it begins
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"{prog(args)}: cannot write the output: standard output is closed\n",
    )


def test_an_audit_whose_summary_is_lost_exits_2_where_fail_on_says_1(
    wheels: Path, tmp_path: Path
) -> None:
    # 2 wins over 1: CI reads 1 as a broken promise found, and a run whose summary went
    # nowhere (stdout closed) is one that could not operate, whatever its wheels hold
    audit = [sys.executable, "-m", "wheelscan", "audit", "--workers", "0", wheels]
    seen = subprocess.run(
        [*audit, "--db", tmp_path / "seen.db"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert seen.returncode == 1, seen.stderr  # an over-claim and an error: --fail-on's default
    lost = subprocess.run(
        [*audit, "--db", tmp_path / "lost.db"],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert lost.returncode == 2
    assert lost.stderr.endswith(
        "wheelscan audit: cannot write the output: standard output is closed\n"
    )
