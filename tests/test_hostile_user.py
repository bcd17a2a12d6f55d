"""A hostile user's sweep: what each command says when it is given what it cannot use.

Each test drives the real command in a subprocess (``python -m wheelscan``: the HTTP client
is one per process, and a traceback is what a process prints), against wheels built by
``tests/wheelbuilder.py``, a mirror served by ``tests/indexserver.py`` and real SQLite files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
import zstandard

import wheelscan as wheelscan_package
from signalruns import run_python

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from mirror import build_mirror
from wheelbuilder import build_wheel

# stdout as an en_US.UTF-8 desktop or a CI runner has it: a character it cannot encode (a
# file name's byte that is not UTF-8) is a traceback, where C.UTF-8's surrogateescape hid it
STRICT = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}


def wheelscan(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *map(str, args)],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
        cwd=cwd,
        timeout=120,
        env=STRICT,
    )


def a_wheel(directory: Path, name: str = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    so = build_elf(sample_spec("x86_64", interpreter=None))
    project, version = name.split("-")[:2]
    path.write_bytes(build_wheel({f"{project}/mod.so": so}, name=project, version=version))
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """An index of one project, ``demo``, with one Linux wheel."""
    root = tmp_path_factory.mktemp("index")
    mirror = build_mirror(root / "mirror", [a_wheel(root / "wheels")])
    with IndexServer(mirror.web) as server:
        yield server


@pytest.mark.parametrize("page", ["simple/demo/", "simple/", "simple/demo", ""])
def test_show_of_an_index_page_says_it_names_no_wheel(index: IndexServer, page: str) -> None:
    # `show URL-of-a-project-page` fetched the page and said `not-zip: no end-of-central-
    # directory record`, as if a wheel had been damaged
    url = f"{index.url}/{page}"
    index.clear()
    done = wheelscan("show", "--format", "json", url)
    assert (done.returncode, done.stderr) == (2, "")
    [result] = json.loads(done.stdout)["results"]
    assert result["code"] == "bad-filename"
    assert result["reason"].startswith(f"{url} names no wheel file"), result["reason"]
    assert index.log == []  # nothing fetched: no file name, no wheel
    text = wheelscan("show", url)
    assert text.returncode == 2
    assert f"bad-filename: {url} names no wheel file" in " ".join(text.stdout.split())


def test_package_of_a_project_missing_from_the_index_is_one_line(index: IndexServer) -> None:
    # the source's warning ("no page for project nosuch at URL") and then the command's own
    # ("no Linux wheels of 'nosuch' on the index"): two lines for one fact
    done = wheelscan("package", "nosuch", "--index-url", index.index_url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan package: no Linux wheels of 'nosuch' on the index {index.index_url}: "
        f"no page for project nosuch at {index.index_url}nosuch/\n"
    )


def test_package_of_a_project_with_no_linux_wheel_says_which_filter(index: IndexServer) -> None:
    done = wheelscan("package", "demo", "--version", "9.9", "--index-url", index.index_url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan package: no Linux wheels of 'demo' 9.9 on the index {index.index_url}\n"
    )
    done = wheelscan("package", "demo", "--arch", "aarch64", "--index-url", index.index_url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan package: no Linux aarch64 wheels of 'demo' on the index {index.index_url}\n"
    )


def a_store(tmp_path: Path) -> Path:
    """A store a real audit made, of one wheel."""
    db = tmp_path / "audit.db"
    done = wheelscan("audit", "--workers", "0", "--db", db, a_wheel(tmp_path / "wheels").parent)
    assert done.returncode == 0, done.stderr
    return db


def damaged(db: Path, statement: str) -> Path:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute(statement)
        connection.commit()
    return db


@pytest.mark.parametrize("command", ["report", "audit", "reevaluate"])
@pytest.mark.parametrize(
    ("schema", "code_words"),
    [
        # another application's file with a table of the same name (no key, no value)
        ("CREATE TABLE meta (id INTEGER, name TEXT)", "not a wheelscan store"),
        # a key-value meta table (common), but no wheelscan schema version in it
        ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)", "not a wheelscan store"),
    ],
)
def test_an_sqlite_file_of_another_application_is_not_a_store(
    tmp_path: Path, command: str, schema: str, code_words: str
) -> None:
    # one said "no such column: value (hint: ... is as of its last committed batch)", the
    # other "store schema version None"
    db = damaged(tmp_path / "other.db", schema)
    args = ["--db", db, tmp_path] if command == "audit" else ["--db", db]
    done = wheelscan(command, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(f"wheelscan {command}: {db}: "), done.stderr
    assert code_words in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize("command", ["report", "audit", "reevaluate"])
@pytest.mark.parametrize("table", ["wheels", "runs", "verdicts", "locations"])
def test_a_store_missing_a_table_is_one_line_not_a_traceback(
    tmp_path: Path, command: str, table: str
) -> None:
    # a store with its schema version but without one of its tables (restored in part,
    # edited by hand): report and audit ended in sqlite3.OperationalError's traceback
    db = damaged(a_store(tmp_path), f"DROP TABLE {table}")
    args = ["--db", db, tmp_path / "wheels"] if command == "audit" else ["--db", db]
    done = wheelscan(command, *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: {db}: a wheelscan store without its table {table} "
        "(hint: it is damaged: restore it or start a new --db)\n"
    )


# ``wheelscan audit`` stopped by SIGTERM (systemd, timeout) as it makes a new store: after
# SQLite made the file and set its journal, before the tables were created
TERM_AS_THE_STORE_IS_MADE = """
import os, signal, sys
from wheelscan.store import schema

def stopped(*args):
    os.kill(os.getpid(), signal.SIGTERM)

schema._check_or_create = stopped
sys.argv[0] = "wheelscan"
from wheelscan.cli.main import entry
entry()
"""


@pytest.mark.parametrize("command", ["report", "reevaluate"])
def test_a_store_an_audit_was_stopped_making_is_said_so(tmp_path: Path, command: str) -> None:
    # report said "k.db: an SQLite file, not a wheelscan store (hint: choose another --db)"
    # of the file the user's own audit had begun, as if it were another application's
    wheels = a_wheel(tmp_path / "wheels").parent
    db = tmp_path / "k.db"
    stopped = run_python(TERM_AS_THE_STORE_IS_MADE, "audit", "--db", str(db), str(wheels))
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    done = wheelscan(command, "--db", db)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: {db}: an SQLite file with no tables, not a wheelscan store "
        "(hint: an audit stopped as it began leaves such a file: "
        f"`wheelscan audit --db {db} SOURCE...` makes it a store; or choose another --db)\n"
    )
    assert wheelscan("audit", "--db", db, wheels).returncode == 0
    assert wheelscan(command, "--db", db).returncode == 0


def test_the_run_s_summary_counts_the_errors_the_store_recorded(tmp_path: Path) -> None:
    # a wheel copied under a second tag (a re-tagged copy beside the original): the store
    # records the second as sha256-conflict, and the run's row counts it, but the summary
    # counted the worker's results: "2 audited, 0 errors" above "1 errors among the run's"
    wheels = tmp_path / "wheels"
    original = a_wheel(wheels)
    (wheels / original.name.replace("manylinux_2_28", "manylinux_2_17")).write_bytes(
        original.read_bytes()
    )
    db = tmp_path / "a.db"
    done = wheelscan("audit", "--workers", "0", "--db", db, wheels)
    assert done.returncode == 1, done.stderr  # an error, by the default --fail-on
    lines = done.stdout.splitlines()
    assert lines[0] == "run 1 finished: 2 audited, 1 errors, 0 known skipped, 2 seen"
    assert lines[2].endswith(", 1 errors among the run's wheels")
    report = json.loads(wheelscan("report", "--db", db, "--format", "json").stdout)
    assert [(run["audited"], run["errors"]) for run in report["runs"]] == [(2, 1)]


@pytest.mark.parametrize(
    "config",
    [
        b"[global\nindex-url = http://127.0.0.1:9/simple/\n",  # no section header
        b"[global]\nindex-url\n",  # a key without a value
        # a control, no defect: configparser's reason for a section twice is one line
        pytest.param(
            b"[global]\nindex-url = http://127.0.0.1:9/simple/\n[global]\n",
            id="control-section-twice",
        ),
    ],
)
@pytest.mark.parametrize("command", [["package", "demo"], ["audit", "--project", "demo"]])
def test_a_malformed_pip_configuration_is_one_line(
    tmp_path: Path, config: bytes, command: list[str]
) -> None:
    # configparser's reasons run over several lines ("File contains no section headers.\n
    # file: PosixPath('pip.conf'), line: 1\n'[global\n'"): printed as they were
    conf = tmp_path / "pip.conf"
    conf.write_bytes(config)
    db = ["--db", str(tmp_path / "a.db")] if command[0] == "audit" else []
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", *command, *db],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PIP_CONFIG_FILE": str(conf), "PIP_INDEX_URL": ""},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        f"wheelscan {command[0]}: cannot read pip configuration file {conf}: "
    )
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "a.db").exists()


# a build tag that moves the cursor up a line, erases it and returns: printed as it is, the
# wheel's name wipes out the line above it (its own verdict's, in a listing) on a terminal
ERASING = "1\x1b[1A\x1b[2K\r\u202e"
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


@pytest.mark.parametrize(
    "command",
    [
        ["show", "WHEEL"],
        ["package", "demo", "--index-url", "DIR"],
        ["report", "--db", "DB"],
        ["report", "--db", "DB", "--format", "markdown"],
    ],
)
def test_no_control_character_of_a_wheel_s_name_reaches_the_terminal(
    tmp_path: Path, command: list[str]
) -> None:
    wheel = a_wheel(tmp_path / "wheels", f"demo-1.0-{ERASING}-cp312-cp312-manylinux_2_5_x86_64.whl")
    db = tmp_path / "a.db"
    audited = wheelscan("audit", "--workers", "0", "--db", db, wheel.parent)
    assert audited.returncode == 1, audited.stderr  # the over-claim
    args = [{"WHEEL": wheel, "DIR": wheel.parent, "DB": db}.get(a, a) for a in command]
    done = wheelscan(*args)
    assert done.returncode in (0, 1), done.stderr
    assert CONTROLS.search(done.stdout) is None, repr(done.stdout[:400])
    # shown as escapes (a report's table may fold the name, markdown escape the backslash)
    assert "demo-1.0-1\\x1b" in done.stdout
    if command[0] != "report":
        assert "demo-1.0-1\\x1b[1A\\x1b[2K\\x0d\\u202e-cp312" in done.stdout
    # the documents for programs keep the name exactly, in their own escapes
    document = json.loads(wheelscan("report", "--db", db, "--format", "json").stdout)
    assert wheel.name in strings(document)


def strings(value: object) -> set[str]:
    """Every string in a JSON document."""
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*(strings(item) for item in items))


@pytest.mark.parametrize("command", ["audit", "package"])
def test_no_workers_and_a_dask_cluster_are_refused_together(tmp_path: Path, command: str) -> None:
    # --workers 0 (every wheel in this process) beside --engine dask started a LocalCluster
    # of all the cores, the 0 taken silently for the default
    wheels = a_wheel(tmp_path / "wheels").parent
    db = tmp_path / "a.db"
    target = [wheels, "--db", db] if command == "audit" else ["demo", "--index-url", wheels]
    done = wheelscan(command, "--workers", "0", "--engine", "dask", *target)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: --workers 0 audits in this process, --engine dask on a "
        "cluster's workers: drop one\n"
    )
    assert not db.exists()


# reevaluate is a control: it opens the store for writing, by its path, never by a URI
@pytest.mark.parametrize("command", ["report", pytest.param("reevaluate", id="control-reevaluate")])
def test_a_store_whose_name_is_not_utf8_is_read(tmp_path: Path, command: str) -> None:
    # "café.db" in Latin-1 (a name from an older system): audit made it, and report ended
    # in a UnicodeEncodeError's traceback as it wrote the file's URI for a read-only opening
    store = a_store(tmp_path)
    name = os.fsdecode(b"caf\xe9.db")
    store.rename(tmp_path / name)
    done = wheelscan(command, "--db", name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_source_whose_name_is_not_utf8_is_no_traceback(tmp_path: Path) -> None:
    # a directory named in Latin-1: the run's source, "dir:/.../caf\udce9", could not be
    # stored as SQLite text, and audit ended in a UnicodeEncodeError's traceback
    wheels = a_wheel(tmp_path / os.fsdecode(b"caf\xe9")).parent
    db = tmp_path / "a.db"
    done = wheelscan("audit", "--workers", "0", "--db", db, wheels)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(wheelscan("report", "--db", db, "--format", "json").stdout)
    assert [run["source"] for run in report["runs"]] == [f"dir:{tmp_path}/caf\\udce9"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_wheels_of_a_directory_whose_name_is_not_utf8_are_audited(
    tmp_path: Path, workers: str
) -> None:
    # every wheel was skipped, "its name is not valid UTF-8", for its directory's name:
    # the run listed nothing. Only a wheel's own name must be text (its project, its tags)
    wheels = tmp_path / os.fsdecode(b"caf\xe9")
    a_wheel(wheels)
    (wheels / "broken-1.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(b"no zip")
    db = tmp_path / "a.db"
    done = wheelscan("audit", "--workers", workers, "--fail-on", "none", "--db", db, wheels)
    assert (done.returncode, "not valid UTF-8" in done.stderr) == (0, False), done.stderr
    assert done.stdout.startswith("run 1 finished: 2 audited, 1 errors")
    # stored with the name's bytes as escapes: the verdict's wheel and the failure's
    with sqlite3.connect(db) as connection:
        stored = connection.execute(
            "SELECT location FROM wheels UNION ALL SELECT location FROM run_failures "
            "UNION ALL SELECT location FROM locations ORDER BY 1"
        ).fetchall()
    escaped = f"{tmp_path}/caf\\udce9"
    assert stored == [
        (f"{escaped}/broken-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",),
        (f"{escaped}/demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",),
        (f"{escaped}/demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",),
    ]
    # and found again by that location: the next run reads only what failed
    again = wheelscan("audit", "--workers", workers, "--fail-on", "none", "--db", db, wheels)
    assert again.stdout.startswith("run 2 finished: 1 audited, 1 errors, 1 known skipped")


# json is a control: json.dumps writes a lone surrogate as its \\u escape
@pytest.mark.parametrize(
    "output", ["sarif", "junit", pytest.param("json", id="control-json"), "text"]
)
def test_show_of_a_wheel_whose_name_is_not_utf8_is_no_traceback(
    tmp_path: Path, output: str
) -> None:
    # "café-1.0-...whl" in Latin-1: SARIF's artifact URI quoted the name as text, and show
    # --format sarif ended in a UnicodeEncodeError's traceback
    wheel = a_wheel(tmp_path).rename(
        tmp_path / os.fsdecode(b"caf\xe9-1.0-cp312-cp312-manylinux_2_28_x86_64.whl")
    )
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--format", output, wheel.name],
        capture_output=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
        env=STRICT,
    )
    assert b"Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2  # bad-filename: no project is named so
    if output != "text":  # a document: UTF-8 (the text shows the name's own bytes)
        document = done.stdout.decode("utf-8")
    if output == "junit":
        ElementTree.fromstring(document)
    if output == "sarif":
        [artifact] = json.loads(document)["runs"][0]["artifacts"]
        assert artifact["location"]["uri"] == "caf%E9-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


@pytest.mark.parametrize(
    "command",
    [
        ["show", "caf\udce9-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"],
        ["show", "nosuch-\udce9.whl"],
        ["elf", "nosuch-\udce9.so"],
        ["report", "--db", "DB", "--format", "jsonl.zst", "-o", "caf\udce9.zst"],
        ["reevaluate", "--db", "DB", "--policy-file", "caf\udce9.json"],
    ],
)
def test_a_name_that_is_not_utf8_is_shown_by_its_bytes(tmp_path: Path, command: list[str]) -> None:
    # printed as it is to a strict UTF-8 stdout, a Latin-1 byte of a name ended the command
    # in a UnicodeEncodeError's traceback, status 1
    a_wheel(tmp_path).rename(
        tmp_path / os.fsdecode(b"caf\xe9-1.0-cp312-cp312-manylinux_2_28_x86_64.whl")
    )
    policy = Path(wheelscan_package.__file__).parent / "policy/data/manylinux-policy.json"
    shutil.copy(policy, tmp_path / os.fsdecode(b"caf\xe9.json"))
    args = [str(a_store(tmp_path / "store")) if a == "DB" else a for a in command]
    done = wheelscan(*args, cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 2), done.stderr
    assert "\\xe9" in done.stdout + done.stderr
    assert "\udce9" not in done.stdout


@pytest.mark.parametrize("command", ["audit", "report", "reevaluate"])
def test_an_empty_db_is_refused_as_such(tmp_path: Path, command: str) -> None:
    # `--db "$DB"`, DB unset: the store was ".", refused as "--db . is a directory"
    args = ["--db", "", tmp_path] if command == "audit" else ["--db", ""]
    done = wheelscan(command, *args, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: argument --db: an empty name (an unset variable?): "
        f"name the store file (see wheelscan {command} --help)\n"
    )


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["report", "--db", "DB", "-o", ""], "--output/-o"),
        (["report", "--db", "DB", "--format", "jsonl.zst", "-o", ""], "--output/-o"),
        (["audit", "--db", "DB", "--policy-file", "", "DIR"], "--policy-file"),
        (["audit", "--db", "DB", "--diff-file", "", "DIR"], "--diff-file"),
        (["elf", ""], "FILE"),
        (["show", ""], "WHEEL"),
        (["show", "DIR", ""], "WHEEL"),
        (["show", "--json", ""], "WHEEL"),
        (["show", "--policy-file", "", "DIR"], "--policy-file"),
    ],
)
def test_an_empty_path_is_refused_as_such(tmp_path: Path, command: list[str], option: str) -> None:
    # "$OUT" with OUT unset: "cannot write the output: .: Is a directory", ": is a
    # directory", ".: io-error": the current directory, where the user named nothing
    db = a_store(tmp_path)
    args = [{"DB": db, "DIR": tmp_path / "wheels"}.get(a, a) for a in command]
    done = wheelscan(*args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command[0]}: argument {option}: an empty name (an unset variable?) "
        f"(see wheelscan {command[0]} --help)\n"
    )


def full_tmpfs(mount: Path, size: str, before: str, command: str) -> tuple[str, ...]:
    """A command prefix that runs ``command`` (``exec "$@"`` and its redirections) in a
    private mount namespace where ``mount`` is a tmpfs of ``size``, made ready by ``before``
    (a shell command, or "") and then filled to its last byte."""
    mount.mkdir()
    return (
        "unshare",
        "--mount",
        "sh",
        "-c",
        f'mount -t tmpfs -o size={size} tmpfs "{mount}" && {before}'
        f'(dd if=/dev/zero of="{mount}/filler" bs=4k 2>/dev/null; {command})',
        "sh",
    )


def on_a_full_disk(store: Path, mount: Path) -> tuple[str, ...]:
    """A command prefix where ``mount`` is a full tmpfs holding a copy of ``store``."""
    return full_tmpfs(mount, "512k", f'cp "{store}" "{mount}/" && ', 'exec "$@"')


def test_report_on_a_full_disk(tmp_path: Path) -> None:
    # report reads the store through a -shm it makes beside it; with no room for one it
    # said "disk I/O error (hint: the disk holding a.db failed a read or write: check it)"
    # and wrote nothing, where every commit was in the main file, there for the reading
    store = a_store(tmp_path)
    expected = json.loads(wheelscan("report", "--db", store, "--format", "json").stdout)
    mount = tmp_path / "full"
    command = [sys.executable, "-m", "wheelscan", "report", "--db", mount / store.name]
    done = subprocess.run(
        [*on_a_full_disk(store, mount), *map(str, command), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    for key in ("totals", "computed_policies", "projects", "errors"):
        assert document[key] == expected[key]


@pytest.mark.parametrize("command", [["audit", "--workers", "0", "DIR"], ["reevaluate"]])
def test_a_store_on_a_full_disk_is_said_full(tmp_path: Path, command: list[str]) -> None:
    # "disk I/O error (hint: the disk holding a.db failed a read or write: check it)": the
    # -shm could not grow, for want of room, and the user was sent to look for a broken disk
    store = a_store(tmp_path)
    mount = tmp_path / "full"
    args = [str(tmp_path / "wheels") if a == "DIR" else a for a in command]
    done = subprocess.run(
        [
            *on_a_full_disk(store, mount),
            *[sys.executable, "-m", "wheelscan", command[0], "--db", str(mount / store.name)],
            *args[1:],
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.endswith(
        f"(hint: the disk holding {mount / store.name} is full: free space and run again; "
        "the batches already committed are intact and not redone)\n"
    ), done.stderr


def test_no_control_character_of_an_elf_file_reaches_the_terminal(tmp_path: Path) -> None:
    # `wheelscan elf` printed DT_NEEDED and RUNPATH as the file holds them: escapes included
    so = tmp_path / "evil.so"
    spec = sample_spec("x86_64", interpreter=None)
    so.write_bytes(
        build_elf(
            dataclasses.replace(
                spec, needed=["libc.so.6", "libevil\x1b[2K.so"], runpath="\x1b[1A/build"
            )
        )
    )
    done = wheelscan("elf", so)
    assert done.returncode == 0, done.stderr
    assert CONTROLS.search(done.stdout) is None, repr(done.stdout)
    assert "libevil\\x1b[2K.so" in done.stdout
    assert "runpath: \\x1b[1A/build" in done.stdout


def stderr_on_a_full_disk(mount: Path) -> tuple[str, ...]:
    """A command prefix whose stderr is a file on a full tmpfs at ``mount`` (a cron job's
    ``2>>wheelscan.log`` on a full disk)."""
    return full_tmpfs(mount, "64k", "", f'exec "$@" 2>>"{mount}/log"')


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--db", "missing.db"],
        ["audit", "--db", "a.db", "missing-dir"],
        ["reevaluate", "--db", "missing.db"],
        ["package", "demo", "--index-url", "missing-dir"],
        ["report", "--db", "DB", "--format", "json", "-o", "no-such-dir/r.json"],
    ],
)
def test_a_user_error_is_2_even_where_stderr_cannot_take_it(
    tmp_path: Path, command: list[str]
) -> None:
    # the message's print raised (ENOSPC) inside the error's handling: the process ended in
    # an unprintable traceback, status 1, which CI reads as a broken tag
    args = [str(a_store(tmp_path)) if a == "DB" else a for a in command]
    done = subprocess.run(
        [*stderr_on_a_full_disk(tmp_path / "full"), sys.executable, "-m", "wheelscan", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")


@pytest.mark.parametrize("companion", ["-wal", "-shm", "-run.lock"])
def test_a_report_is_never_written_over_a_store_s_companion_file(
    tmp_path: Path, companion: str
) -> None:
    # -o STORE was refused ("is the store itself"), but -o STORE-wal replaced the write-ahead
    # log an audit may be committing to, and -o STORE-run.lock the lock naming its process
    store = a_store(tmp_path)
    target = Path(f"{store}{companion}")
    before = target.read_bytes() if target.exists() else None
    done = wheelscan("report", "--db", store, "--format", "json", "-o", target)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan report: {target}: is the store's {companion[1:]} file; "
        "name another file for -o\n"
    )
    assert (target.read_bytes() if target.exists() else None) == before


@pytest.mark.parametrize("rest", ["?x=1#f", "?x=1", "#f", "?"])
@pytest.mark.parametrize("command", ["audit", "package"])
def test_an_index_url_with_a_query_is_refused(
    index: IndexServer, tmp_path: Path, rest: str, command: str
) -> None:
    # project pages were joined after the query ("simple/?x=1#f/demo/"): the index's own
    # page was read for each, no wheel was listed, and the run was said "finished"
    url = f"{index.url}/simple/{rest}"
    db = tmp_path / "a.db"
    args = ["--db", db, url] if command == "audit" else ["--index-url", url, "demo"]
    index.clear()
    done = wheelscan(command, *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: {url}: an index URL takes no query nor fragment (its project "
        "pages are NAME/ under its path): drop what follows its '?' or '#'\n"
    )
    assert index.log == []
    assert not db.exists()


def test_a_url_s_scheme_is_read_in_any_case(index: IndexServer, tmp_path: Path) -> None:
    # RFC 3986: a scheme is case-insensitive. `show HTTP://...` was a local path, "not-found:
    # no such file", and `audit`/`package` said "no such directory, nor an http(s) URL"
    wheel = index.file_url(next(index.web.rglob("*.whl")))
    upper = wheel.replace("http://", "HTTP://", 1)
    shown = wheelscan("show", "--format", "json", upper)
    assert shown.returncode == 0, shown.stderr  # judged: an under-claim passes
    [result] = json.loads(shown.stdout)["results"]
    assert result["wheel"] == "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert "code" not in result, result
    index_url = index.index_url.replace("http://", "HTTP://", 1)
    db = tmp_path / "a.db"
    audited = wheelscan("audit", "--workers", "0", "--fail-on", "none", "--db", db, index_url)
    assert audited.returncode == 0, audited.stderr
    assert audited.stdout.startswith("run 1 finished: 1 audited, 0 errors")
    assert f"auditing index:{index.index_url} " in audited.stderr  # the scheme as it is read
    packaged = wheelscan("package", "--index-url", index_url, "demo")
    assert packaged.returncode == 0, packaged.stderr
    assert "manylinux_2_26_x86_64" in packaged.stdout  # the verdict, read over HTTP


@pytest.mark.parametrize("scheme", ["file", "FILE"])
def test_a_file_url_is_refused_naming_its_path(tmp_path: Path, scheme: str) -> None:
    # `show file:///x.whl` said "cannot access file:///x.whl: no such file" of a file that
    # is there; a file: URL is never read (nor is one an index page links to), the path is
    wheel = a_wheel(tmp_path / "wheels")
    shown = wheelscan("show", "--format", "json", f"{scheme}://{wheel}")
    assert shown.returncode == 2
    [result] = json.loads(shown.stdout)["results"]
    assert (result["code"], result["reason"]) == (
        "not-found",
        f"{scheme}://{wheel} is a file: URL, not read: name the wheel by its path, {wheel}",
    )
    db = tmp_path / "a.db"
    audited = wheelscan("audit", "--db", db, f"{scheme}://{wheel.parent}")
    assert (audited.returncode, audited.stdout) == (2, "")
    assert audited.stderr == (
        f"wheelscan audit: {scheme}://{wheel.parent} is a file: URL, not read: "
        f"name the directory, {wheel.parent}\n"
    )
    assert not db.exists()


@pytest.mark.parametrize("command", ["audit", "package"])
def test_an_empty_index_url_is_refused_as_such(
    index: IndexServer, tmp_path: Path, command: str
) -> None:
    # `--index-url "$INDEX"`, INDEX unset: "" was no index URL, and the one of PIP_INDEX_URL
    # or pip's configuration (here this test's index; else pip's own default) was audited
    args = ["--db", tmp_path / "a.db", "--project", "demo"] if command == "audit" else ["demo"]
    index.clear()
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", command, "--index-url", "", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PIP_INDEX_URL": index.index_url, "PIP_CONFIG_FILE": os.devnull},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan {command}: argument --index-url: an empty name (an unset variable?) "
        f"(see wheelscan {command} --help)\n"
    )
    assert index.log == []


@pytest.mark.parametrize("stderr", ["closed", "on a full disk"])
def test_a_jsonl_zst_export_to_stdout_holds_the_stream_alone(tmp_path: Path, stderr: str) -> None:
    # its count was print()ed to sys.stderr: None where stderr was closed (`2>&-`), so print
    # wrote "wheelscan report: 1 results written to stdout" into the export; and where stderr
    # was on a full disk the export, written whole, ended in status 1
    store = a_store(tmp_path)
    command = [sys.executable, "-m", "wheelscan", "report", "--db", str(store)]
    prefix = (
        ("sh", "-c", 'exec "$@" 2>&-', "sh")
        if stderr == "closed"
        else stderr_on_a_full_disk(tmp_path / "full")
    )
    done = subprocess.run(
        [*prefix, *command, "--format", "jsonl.zst", "-o", "-"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = zstandard.ZstdDecompressor().stream_reader(done.stdout).read().splitlines()
    assert [json.loads(line)["filename"] for line in lines] == [
        "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    ]


def test_a_name_s_own_backslash_is_told_from_an_escape(tmp_path: Path) -> None:
    # ESC printed as "\x1b" and a name's literal "\x1b" printed as it is: "lib\x1b<ESC>.so"
    # showed as "lib\x1b\x1b.so", two escapes, where the file holds one
    so = tmp_path / "evil.so"
    spec = sample_spec("x86_64", interpreter=None)
    so.write_bytes(build_elf(dataclasses.replace(spec, needed=["libc.so.6", "lib\\x1b\x1b.so"])))
    done = wheelscan("elf", so)
    assert done.returncode == 0, done.stderr
    assert "lib\\\\x1b\\x1b.so" in done.stdout, done.stdout


def test_a_name_s_tab_or_return_is_not_wrapped_into_a_space(tmp_path: Path) -> None:
    # names were escaped after the wrapping, which made every tab, CR, LF, VT and FF a
    # space: DT_NEEDED "c\rd.so" and "c d.so" printed alike
    so = tmp_path / "evil.so"
    spec = sample_spec("x86_64", interpreter=None)
    needed = ["libc.so.6", "c\rd.so", "c d.so", "e\nf.so", "g\x0bh\x0ci.so"]
    so.write_bytes(build_elf(dataclasses.replace(spec, needed=needed, runpath="/a\tb")))
    done = wheelscan("elf", so)
    assert done.returncode == 0, done.stderr
    assert "needed: libc.so.6, c\\x0dd.so, c d.so, e\\x0af.so, g\\x0bh\\x0ci.so" in done.stdout
    assert "runpath: /a\\x09b\n" in done.stdout


@pytest.mark.parametrize("command", [["package", "demo", "--index-url"], ["audit", "--db", "DB"]])
def test_no_control_character_of_an_index_s_link_reaches_stderr(
    tmp_path: Path, command: list[str]
) -> None:
    # a mirror's page whose link points outside it, with an escape sequence in the link:
    # its warning (package's one line, audit's log record) printed the link as it was,
    # and the sequence erased the line above on the user's terminal
    mirror = tmp_path / "mirror"
    (mirror / "web" / "packages").mkdir(parents=True)
    (mirror / "web" / "simple" / "demo").mkdir(parents=True)
    name = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    (mirror / "web" / "simple" / "demo" / "index.html").write_text(
        f'<html><body><a href="file:///elsewhere/x\x1b[2K\x1b[1Aevil/{name}">{name}</a>'
        "</body></html>"
    )
    args = [str(tmp_path / "a.db") if a == "DB" else a for a in command]
    done = wheelscan(*args, mirror)
    assert "outside the mirror" in done.stderr, done.stderr
    assert CONTROLS.search(done.stderr) is None, repr(done.stderr)
    assert "x\\x1b[2K\\x1b[1Aevil" in done.stderr
