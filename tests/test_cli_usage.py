"""A user's mistakes and the world's failures, as a release manager's cron job meets them:
each ends in one line on stderr and exit status 2, before any work and without a traceback;
exit statuses gate CI; a token in an index URL is never printed nor stored.

The commands run in this process through the CLI's own ``main`` (``tests/inprocess.py``),
on real files; those that reach an index, a real HTTP server on loopback, run as real
processes of ``python -m wheelscan`` (the HTTP client keeps one session per process).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wheelscan.policy.policies import DATA_DIR

from elfwriter import Sym, build_elf, sample_spec
from hostile.cases import CASES
from indexserver import IndexServer
from inprocess import wheelscan as in_process
from mirror import build_mirror
from stores import copy_store
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"
# Nothing listens on the discard port of loopback: an index that is down
DOWN = "http://127.0.0.1:9/simple/"


# never the pip configuration of whoever runs the tests
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull}


def wheelscan(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args``, run in this process."""
    return in_process(*args, cwd=cwd, env={**NO_PIP_CONFIG, **env})


def wheelscan_process(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args`` in a subprocess: for a command that reaches an index."""
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **NO_PIP_CONFIG, **env},
        timeout=120,
    )


def refused(run: subprocess.CompletedProcess[str], *words: str) -> str:
    """The run stopped with exit status 2 and one line on stderr saying why (naming
    ``words``; after ``audit``'s line saying what it was about to do), nothing on stdout
    and no traceback."""
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert 1 <= len(lines) <= 2, run.stderr
    assert all(line.startswith("wheelscan ") for line in lines), run.stderr
    if len(lines) == 2:
        assert lines[0].startswith("wheelscan audit: auditing ")
    for word in words:
        assert word in lines[-1]
    return lines[-1]


def make_wheel(directory: Path, name: str, tag: str, glibc: str | None = None) -> Path:
    spec = sample_spec("x86_64", interpreter=None)
    extra = [Sym("exp", version=f"GLIBC_{glibc}", version_file="libc.so.6")] if glibc else []
    elf = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))
    path = directory / f"{name}-1.0-cp312-cp312-{tag}.whl"
    path.write_bytes(build_wheel({f"{name}/{EXT}": elf}, name))
    return path


@pytest.fixture()
def kept(tmp_path: Path) -> Path:
    """A directory whose one wheel keeps its promise exactly."""
    directory = tmp_path / "kept"
    directory.mkdir()
    make_wheel(directory, "kept", "manylinux_2_26_x86_64")
    return directory


@pytest.fixture(scope="session")
def kept_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store that one audit of a ``kept`` directory left (copied per test, ``stores.py``)."""
    root = tmp_path_factory.mktemp("kept-store")
    (root / "kept").mkdir()
    make_wheel(root / "kept", "kept", "manylinux_2_26_x86_64")
    db = root / "a.db"
    assert wheelscan("audit", str(root / "kept"), "--db", str(db), "--workers", "0").returncode == 0
    return db


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    """A directory whose one wheel claims manylinux2014 and needs GLIBC_2.29."""
    directory = tmp_path / "broken"
    directory.mkdir()
    make_wheel(directory, "broken", "manylinux2014_x86_64", "2.29")
    return directory


@pytest.fixture()
def unreadable(tmp_path: Path) -> Path:
    """A directory whose one wheel cannot be judged (a member fails its CRC)."""
    directory = tmp_path / "unreadable"
    directory.mkdir()
    case = CASES["crc-mismatch-stored"]
    (directory / case.filename("crc-mismatch-stored")).write_bytes(case.build())
    return directory


# --- refused before any work


def test_an_unknown_musl_policy_is_refused_with_the_valid_names(tmp_path: Path, kept: Path) -> None:
    db = tmp_path / "a.db"
    line = refused(
        wheelscan("audit", str(kept), "--db", str(db), "--musl-policy", "musllinux_1.2"),
        "musllinux_1.2",
        "musllinux_1_1",
        "musllinux_1_2",
    )
    assert "valid values" in line
    assert not db.exists(), "a store was created before the options were checked"
    wheel = next(kept.iterdir())
    refused(wheelscan("show", str(wheel), "--musl-policy", "musllinux_1.2"), "musllinux_1_2")


def test_a_missing_or_malformed_policy_file_is_refused(tmp_path: Path, kept: Path) -> None:
    db = tmp_path / "a.db"
    refused(wheelscan("audit", str(kept), "--db", str(db), "--policy-file", "nope.json"), "nope")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "manylinux_2_5", "symbol_versions": "not a mapping"}]')
    refused(wheelscan("audit", str(kept), "--db", str(db), "--policy-file", str(bad)))
    assert not db.exists()
    wheel = next(kept.iterdir())
    refused(wheelscan("show", str(wheel), "--policy-file", str(tmp_path / "none.json")))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--workers", "-1"),
        ("--timeout", "0"),
        ("--timeout", "nan"),
        ("--limit", "0"),
        ("--commit-every", "0"),
        ("--max-member-size", "-5"),
        ("--fail-on", "over-claims"),
        ("--project", ""),  # `--project "$NAME"`, NAME unset: it listed nothing, exit 0
        ("--project", "../x"),
    ],
)
def test_impossible_numbers_and_kinds_are_refused(
    tmp_path: Path, kept: Path, option: str, value: str
) -> None:
    db = tmp_path / "a.db"
    refused(wheelscan("audit", str(kept), "--db", str(db), option, value), option)
    assert not db.exists()


def test_workers_by_the_thousand_are_refused_before_any_is_forked(
    tmp_path: Path, kept: Path
) -> None:
    # a typo's `--workers 100000` forked hundreds of workers a second, for a few wheels,
    # until stopped. A process of its own, its whole group killed if it outlives the bound
    db = tmp_path / "a.db"
    argv = [sys.executable, "-m", "wheelscan", "audit", str(kept), "--db", str(db)]
    child = subprocess.Popen(
        [*argv, "--workers", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    line = refused(subprocess.CompletedProcess(argv, child.returncode, out, err), "--workers")
    assert "at most " in line and "not 100000" in line
    assert not db.exists()


def test_an_empty_source_is_refused_not_taken_for_the_current_directory(
    tmp_path: Path, kept: Path
) -> None:
    # `wheelscan audit "$MIRROR"` with MIRROR unset audited the directory it ran in
    shutil.copytree(kept, tmp_path / "here")
    db = tmp_path / "a.db"
    line = refused(wheelscan("audit", "", "--db", str(db), "--workers", "0", cwd=tmp_path / "here"))
    assert "empty SOURCE" in line
    assert not db.exists()


@pytest.mark.parametrize("root", ["/", "//", "/./"])
def test_the_filesystem_root_as_source_is_refused(tmp_path: Path, root: str) -> None:
    # `wheelscan audit "$MIRROR/"` with MIRROR unset walked the whole filesystem; a
    # subprocess with a bound, so that a tree without the refusal fails instead of walking
    db = tmp_path / "a.db"
    line = refused(wheelscan_process("audit", root, "--db", str(db), "--workers", "0"))
    assert "SOURCE / is the filesystem's root" in line
    assert not db.exists()


@pytest.mark.parametrize("name", ["", "../x", "a b"])
@pytest.mark.parametrize("command", ["package", "report"])
def test_a_name_no_project_can_have_is_refused(
    tmp_path: Path, kept: Path, command: str, name: str
) -> None:
    # package asked the index for the page of "" (its root) or of "-/x"
    db = tmp_path / "a.db"
    wheelscan("audit", str(kept), "--db", str(db), "--workers", "0")
    closed = "http://127.0.0.1:9/simple/"  # the discard port: nothing listens there
    args = [name, "--index-url", closed] if command == "package" else ["--db", str(db)]
    args += [] if command == "package" else ["--project", name]
    line = refused(wheelscan(command, *args))
    assert f"{name!r} is no project name" in line


@pytest.mark.parametrize("command", ["audit", "report", "show", "reevaluate"])
def test_an_unknown_option_is_said_by_its_command(tmp_path: Path, command: str) -> None:
    out = refused(wheelscan(command, "--no-such-option", cwd=tmp_path), "--no-such-option")
    assert out.startswith(f"wheelscan {command}: unrecognized arguments: --no-such-option")
    assert f"(see wheelscan {command} --help)" in out


@pytest.mark.parametrize("command", ["audit", "report"])
def test_an_unknown_option_before_the_command_is_said_by_wheelscan(
    tmp_path: Path, command: str
) -> None:
    """``wheelscan --bogus report``: the option is wheelscan's, not the command's (report's
    parser used to say it, pointing at ``wheelscan report --help``, which lists no such
    place for it)."""
    run = wheelscan("--no-such-option", command, "--also-unknown", cwd=tmp_path)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == (
        "wheelscan: unrecognized arguments: --no-such-option (see wheelscan --help)\n"
    )


def test_reevaluate_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    refused(wheelscan("reevaluate", "--db", "typo.db", cwd=tmp_path), "typo.db")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_diff_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    (root / "web" / "simple").mkdir(parents=True)
    refused(
        wheelscan("audit", str(root), "--db", str(tmp_path / "a.db"), "--diff-file", "gone.txt"),
        "gone.txt",
    )


def test_a_wheel_given_to_audit_points_to_show(tmp_path: Path, kept: Path) -> None:
    wheel = next(kept.iterdir())
    for spec in (str(wheel), f"{DOWN.removesuffix('/simple/')}/{wheel.name}"):
        refused(wheelscan("audit", spec, "--db", str(tmp_path / "a.db")), "wheelscan show")


# --- the world fails: one line, exit 2


def test_an_index_that_is_down_is_one_line(tmp_path: Path) -> None:
    refused(wheelscan_process("audit", DOWN, "--db", str(tmp_path / "a.db")), "cannot read", DOWN)
    refused(wheelscan_process("package", "demo", "--index-url", DOWN), "cannot read")


def test_a_report_that_cannot_be_written_is_one_line(tmp_path: Path, kept_store: Path) -> None:
    db = copy_store(kept_store, tmp_path, "a.db")
    target = tmp_path / "no" / "such" / "dir" / "r.html"
    refused(wheelscan("report", "--db", str(db), "--format", "html", "-o", str(target)), "r.html")


def test_a_token_in_the_index_url_is_never_printed_nor_stored(
    tmp_path: Path, broken: Path, kept: Path
) -> None:
    secret = "s3cretT0ken"
    mirror = build_mirror(tmp_path / "mirror", sorted([*broken.iterdir(), *kept.iterdir()]))
    # one wheel the index lists is gone: its download fails, naming its URL
    next((mirror.web / "packages").rglob("kept-*.whl")).unlink()
    with IndexServer(mirror.web, credentials=f"reader:{secret}") as index:
        url = index.index_url.replace("://", f"://reader:{secret}@")
        db = tmp_path / "a.db"
        run = wheelscan_process("audit", url, "--db", str(db), "--workers", "0")
        assert run.returncode == 1, run.stderr  # the wheel over-claims: it was read
        assert secret not in run.stdout + run.stderr
        gone = f"{index.url.replace('://', f'://reader:{secret}@')}/packages/x/kept-1.0.whl"
        show = wheelscan_process("show", gone)
        assert show.returncode == 2
        assert secret not in show.stdout + show.stderr
        down = wheelscan_process(
            "package", "demo", "--index-url", DOWN.replace("://", f"://u:{secret}@")
        )
        assert down.returncode == 2
        assert secret not in down.stdout + down.stderr
    with sqlite3.connect(db) as connection:
        dump = "\n".join(connection.iterdump())
        codes = {row[0] for row in connection.execute("SELECT error_code FROM run_failures")}
        codes |= {row[0] for row in connection.execute("SELECT read_error_code FROM wheels")}
    assert "download-failed" in codes  # the failure, with its URL, was recorded
    assert "reader:***@" in dump  # where the URL is kept, it is kept without its token
    assert secret not in dump
    for form in ("terminal", "json", "markdown", "html", "sarif", "junit"):
        report = wheelscan("report", "--db", str(db), "--format", form)
        assert report.returncode == 0, report.stderr
        assert secret not in report.stdout + report.stderr, form


# --- walking a whole index takes a word


def test_no_source_does_not_walk_the_configured_index_unasked(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    line = refused(wheelscan_process("audit", "--db", str(db), PIP_INDEX_URL=DOWN), "--whole-index")
    assert DOWN.rstrip("/") in line
    assert not db.exists()
    # confirmed, it goes and finds the index down
    refused(
        wheelscan_process("audit", "--whole-index", "--db", str(db), PIP_INDEX_URL=DOWN),
        "cannot read",
    )


def test_the_run_says_what_it_is_about_to_audit(tmp_path: Path, kept: Path) -> None:
    run = wheelscan(
        "audit", str(kept), "--db", str(tmp_path / "a.db"), "--arch", "x86_64", "--workers", "0"
    )
    assert run.returncode == 0, run.stderr
    first = run.stderr.splitlines()[0]
    assert str(kept) in first
    assert "arch x86_64" in first
    assert "a.db (0 wheels of 0 projects known)" in first
    again = wheelscan("audit", str(kept), "--db", str(tmp_path / "a.db"), "--workers", "0")
    assert "(1 wheels of 1 projects known)" in again.stderr.splitlines()[0]


# --- exit statuses gate CI


def test_audit_exit_status_follows_what_it_found(
    tmp_path: Path, kept: Path, broken: Path, unreadable: Path
) -> None:
    def status(*args: str) -> subprocess.CompletedProcess[str]:
        return wheelscan("audit", *args, "--db", str(tmp_path / "s.db"), "--workers", "0")

    assert status(str(kept)).returncode == 0
    over = status(str(broken))
    assert over.returncode == 1, over.stdout + over.stderr
    assert "1 over-claims" in over.stdout
    # the second night reads nothing new, and the broken wheel is still broken
    again = status(str(broken))
    assert "1 known skipped" in again.stdout
    assert again.returncode == 1
    assert status(str(broken), "--fail-on", "none").returncode == 0
    # a wheel that could not be judged fails the gate by default, and may be let through
    assert status(str(unreadable)).returncode == 1
    assert status(str(unreadable), "--fail-on", "over-claim").returncode == 0
    # an under-claim only when asked: the kept wheel is tagged exactly, so make one
    under = tmp_path / "under"
    under.mkdir()
    make_wheel(under, "under", "manylinux_2_28_x86_64")
    assert status(str(under)).returncode == 0
    assert status(str(under), "--fail-on", "under-claim").returncode == 1


def test_every_option_has_help_and_the_exit_statuses_are_documented() -> None:
    audit_help = wheelscan("audit", "--help").stdout
    assert "exit status" in audit_help
    assert "  0 " in audit_help and "  1 " in audit_help and "  2 " in audit_help
    # reevaluate judges, it never fails on what it finds: no status 1 is promised
    reevaluate_help = wheelscan("reevaluate", "--help").stdout
    assert "  0 " in reevaluate_help and "  2 " in reevaluate_help
    assert "  1 " not in reevaluate_help
    audit = wheelscan("audit", "--help").stdout
    assert "(default: 600.0)" in audit  # --timeout's default shown
    assert "--fail-on" in audit


def test_an_index_that_lists_no_hashes_is_audited(tmp_path: Path, broken: Path) -> None:
    """PEP 503 lets an index leave out ``#sha256=``: the store keys wheels by their sha256,
    so such a wheel is fetched whole and hashed (it used to end in a traceback)."""
    wheel = next(broken.iterdir())
    mirror = build_mirror(tmp_path / "mirror", [wheel], json_pages=False)
    for page in (mirror.web / "simple").rglob("*.html"):
        page.write_text(re.sub(r"#sha256=[0-9a-f]+", "", page.read_text()))
    db = tmp_path / "a.db"
    with IndexServer(mirror.web) as index:
        run = wheelscan_process("audit", index.index_url, "--db", str(db), "--workers", "0")
    assert run.returncode == 1, run.stdout + run.stderr  # judged: it over-claims
    assert "Traceback" not in run.stderr
    with sqlite3.connect(db) as connection:
        stored = connection.execute("SELECT sha256 FROM wheels").fetchall()
    assert stored == [(hashlib.sha256(wheel.read_bytes()).hexdigest(),)]


def test_a_run_that_sees_no_wheel_does_not_pass_for_a_clean_one(tmp_path: Path) -> None:
    """An empty or unmounted mirror, a login page served instead of an index: 0 seen is
    exit 2, unless a filter (--project, --since, ...) explains it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    run = wheelscan("audit", str(empty), "--db", str(tmp_path / "a.db"), "--workers", "0")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "listed no Linux wheel" in run.stderr
    narrowed = wheelscan(
        "audit", str(empty), "--db", str(tmp_path / "a.db"), "--workers", "0", "--arch", "s390x"
    )
    assert narrowed.returncode == 0, narrowed.stderr


def test_options_that_would_do_nothing_say_so(tmp_path: Path, kept: Path) -> None:
    db = str(tmp_path / "a.db")
    refused(wheelscan("audit", str(kept), "--index-url", DOWN, "--db", db), "--index-url")
    since = wheelscan("audit", str(kept), "--db", db, "--workers", "0", "--since", "2030-01-01")
    assert "--since could not narrow 1 wheels" in since.stderr
    timeout = wheelscan("audit", str(kept), "--db", db, "--workers", "0", "--timeout", "5")
    assert "--timeout needs worker processes" in timeout.stderr


def test_reevaluate_waits_for_no_audit(tmp_path: Path, kept_store: Path) -> None:
    """An audit finishing during a re-evaluation made its own policy the reported one again,
    silently: reevaluate takes the run lock, and is refused while an audit holds it."""
    db = copy_store(kept_store, tmp_path, "a.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         f"{db}-run.lock"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        run = wheelscan("reevaluate", "--db", str(db))
        assert run.returncode == 2, run.stdout + run.stderr
        assert "Traceback" not in run.stderr
    finally:
        holder.kill()
        holder.communicate()
    assert wheelscan("reevaluate", "--db", str(db)).returncode == 0


def test_report_refuses_an_architecture_no_tag_names(tmp_path: Path, kept_store: Path) -> None:
    db = str(copy_store(kept_store, tmp_path, "a.db"))
    refused(wheelscan("report", "--db", db, "--arch", "nothere"), "nothere", "x86_64")
    assert wheelscan("report", "--db", db, "--arch", "x86_64").returncode == 0


def test_a_new_policy_judges_the_wheels_it_knows(tmp_path: Path, broken: Path) -> None:
    """A reviewer's finding: a wheel known from a run under another policy (a new
    wheelscan, another --policy-file) had no verdict under this run's, so the gate passed
    it. It is judged from its stored facts, and still fails the gate."""
    db = str(tmp_path / "a.db")
    assert wheelscan("audit", str(broken), "--db", db, "--workers", "0").returncode == 1
    policy = tmp_path / "policy.json"
    policy.write_text((DATA_DIR / "manylinux-policy.json").read_text())
    again = wheelscan(
        "audit", str(broken), "--db", db, "--workers", "0", "--policy-file", str(policy)
    )
    assert "1 known skipped" in again.stdout
    assert "1 over-claims" in again.stdout
    assert again.returncode == 1


def test_a_strict_error_is_not_hidden_by_a_fast_reading(tmp_path: Path) -> None:
    """The fast path reads a damaged tail's wheel as sound and stores its facts; a strict
    run finds the damage, and its error must reach the gate."""
    wheels = tmp_path / "w"
    wheels.mkdir()
    (wheels / "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(
        CASES["crc-mismatch-unread-tail"].build()
    )
    db = str(tmp_path / "a.db")
    fast = wheelscan("audit", str(wheels), "--db", db, "--workers", "0", "--fail-on", "error")
    assert fast.returncode == 0, fast.stdout + fast.stderr
    strict = wheelscan("audit", str(wheels), "--db", db, "--workers", "0", "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "1 errors" in strict.stdout


def test_a_password_holding_an_at_sign_is_never_printed(tmp_path: Path) -> None:
    """urllib3 ends a URL's userinfo at its last ``@``: the redaction ended it at the
    first, and printed the rest of a password such as ``top@s3cret``."""
    url = DOWN.replace("://", "://reader:top@s3cret@")
    for run in (
        wheelscan_process("package", "demo", "--index-url", url),
        wheelscan_process("audit", url, "--db", str(tmp_path / "a.db"), "--workers", "0"),
    ):
        assert run.returncode == 2, run.stderr
        assert "s3cret" not in run.stdout + run.stderr, run.stderr
        assert "reader:***@" in run.stderr
