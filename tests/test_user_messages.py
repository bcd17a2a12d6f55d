"""Messages that must say what is so: the ELF backend's origin in ``--version``, a ``--db``
that exists but is no store file, a conflicting pair of output options, a wheel named by a
URL that names none.

In this process (``tests/inprocess.py``) where the command's output is the point; in a
subprocess where the environment it inherits is (``--version`` without the variable).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from elfwriter import build_elf, sample_spec
from inprocess import wheelscan
from wheelbuilder import build_wheel

BACKEND_ENV = "WHEELSCAN_ELF_BACKEND"


def a_wheel(directory: Path) -> Path:
    path = directory / "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"  # a tag that holds
    so = build_elf(sample_spec("x86_64", interpreter=None))
    path.write_bytes(build_wheel({"demo/mod.so": so}))
    return path


def version(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    return done.stdout


def test_version_says_set_by_the_variable_only_when_it_is_set() -> None:
    unset = {k: v for k, v in os.environ.items() if k != BACKEND_ENV}
    assert version(unset).endswith(f"(ELF backend: native, default; {BACKEND_ENV} chooses)\n")
    chosen = version({**unset, BACKEND_ENV: "reference"})
    assert chosen.endswith(f"(ELF backend: reference, set by {BACKEND_ENV})\n")


def test_an_empty_backend_variable_is_unset_for_version_and_commands(tmp_path: Path) -> None:
    # `WHEELSCAN_ELF_BACKEND= wheelscan ...`: --version said "set by" an empty name, while
    # every command refused the empty name; both now read it as unset
    empty = {**os.environ, BACKEND_ENV: ""}
    assert version(empty).endswith(f"(ELF backend: native, default; {BACKEND_ENV} chooses)\n")
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--format", "json", a_wheel(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=empty,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["backend"] == "native"


@pytest.mark.parametrize("command", ["report", "reevaluate", "audit"])
def test_a_db_that_is_no_regular_file_is_named_for_what_it_is(tmp_path: Path, command: str) -> None:
    # a FIFO of the test's own, where the user's was /dev/null: it exists, it is no store
    db = tmp_path / "store.db"
    os.mkfifo(db)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    args = ["--db", db, wheels] if command == "audit" else ["--db", db]
    done = wheelscan(command, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"wheelscan {command}: {db}: a FIFO, not a store file (hint: name a store file"
    ), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db", "wheels"]  # no -wal


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["--json"], ["--format", "sarif"]),
        (["--format", "junit"], ["--json"]),
        (["--format", "text"], ["--json"]),
    ],
)
def test_show_refuses_two_formats(tmp_path: Path, first: list[str], second: list[str]) -> None:
    wheel = a_wheel(tmp_path)
    done = wheelscan("show", *first, *second, wheel)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan show: {' '.join(first)} and {' '.join(second)} ask for two formats: "
        "give one (see wheelscan show --help)\n"
    )


def test_show_refuses_json_with_another_format_after_an_agreeing_one(tmp_path: Path) -> None:
    done = wheelscan("show", "--json", "--format", "json", "--format", "sarif", a_wheel(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert "--json and --format sarif ask for two formats" in done.stderr


def test_show_takes_the_last_of_two_formats_as_any_option(tmp_path: Path) -> None:
    # a wrapper's default, overridden by its user's: the last holds, --json aside
    wheel = a_wheel(tmp_path)
    done = wheelscan("show", "--format", "text", "--format", "json", wheel)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["wheel"] == wheel.name


def test_show_takes_json_twice_when_they_agree(tmp_path: Path) -> None:
    wheel = a_wheel(tmp_path)
    done = wheelscan("show", "--format", "json", "--json", wheel)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["wheel"] == wheel.name


@pytest.mark.parametrize(
    "options",
    [
        ["--format", "sarif", "--format", "json", "--json"],
        ["--json", "--format", "sarif", "--format", "json"],
        ["--format", "sarif", "--json", "--format", "json"],
    ],
)
def test_show_takes_json_beside_a_last_format_that_agrees(
    tmp_path: Path, options: list[str]
) -> None:
    # one rule for two --formats, with --json or without: the last holds, and --json is
    # refused only beside a last --format of another format (it was refused beside any)
    wheel = a_wheel(tmp_path)
    done = wheelscan("show", *options, wheel)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["wheel"] == wheel.name


def test_show_refuses_json_beside_a_last_format_that_does_not_agree(tmp_path: Path) -> None:
    done = wheelscan("show", "--format", "json", "--format", "sarif", "--json", a_wheel(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert "--format sarif and --json ask for two formats" in done.stderr


def test_a_url_that_names_no_wheel_is_named_by_the_url_redacted() -> None:
    # a subprocess: the HTTP client is one per process. A port bound here and never
    # listened on: every connection is refused, at once
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://user:secret@127.0.0.1:{port}/simple/"
        done = subprocess.run(
            [sys.executable, "-m", "wheelscan", "show", "--timeout", "5", url],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert done.returncode == 2  # not judged: download-failed
    assert done.stdout.splitlines()[0] == f"http://user:***@127.0.0.1:{port}/simple/"
    assert "secret" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "url",
    ["http://[::1/demo-1.0-py3-none-any.whl", "http://127.0.0.1:99999/demo-1.0-py3-none-any.whl"],
)
def test_a_url_urllib_cannot_parse_is_the_wheel_s_error_not_a_traceback(url: str) -> None:
    # an unclosed IPv6 bracket, a port past 65535: urlsplit's ValueError, raised where the
    # wheel's name and its origin were taken from the URL, ended show in a traceback
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--format", "json", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (2, "")  # a wheel not judged, said as such
    [result] = json.loads(done.stdout)["results"]
    assert result["code"] == "download-failed"
    assert result["reason"] == f"{url}: not a valid URL"


def test_elf_refuses_a_fifo_at_once_not_waiting_for_a_writer(tmp_path: Path) -> None:
    # its open() waited for a writer: `wheelscan elf FIFO` never ended
    fifo = tmp_path / "lib.so"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "elf", fifo],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (2, "")
    assert done.stdout == f"{fifo}\n  error: io-error: not a regular file\n"
