"""``wheelscan report`` against real stores: at any moment of a run, on a read-only mount, the
same for the same wheels whatever order they were stored in, naming its policy, filtered, and
saying what changed since a run.

Stores are written by the real ``wheelscan audit`` and ``reevaluate`` (or, where a run must be
caught in the middle, by a child process driving the store as the audit does), and read by the
real ``wheelscan report``: run in this process through the CLI's own ``main``
(``tests/inprocess.py``), or in a subprocess where it must run inside a read-only mount.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from wheelscan.policy.policies import DATA_DIR

from elfwriter import Sym, build_elf, sample_spec
from inprocess import wheelscan
from stores import copy_store
from wheelbuilder import build_wheel

CORPUS = Path.home() / ".cache" / "wheelscan-tests"
EXT = "mod.cpython-312-x86_64-linux-gnu.so"
# one project's wheels for two architectures, meeting policies of the same priority: which
# of them is "the least compatible" must not depend on which was stored first
I686 = "MarkupSafe-1.1.1-cp27-cp27m-manylinux1_i686.whl"
X86_64 = "MarkupSafe-1.1.1-cp27-cp27m-manylinux1_x86_64.whl"
FORMATS = ("terminal", "markdown", "html", "json")


def _so(*symbols: Sym) -> bytes:
    spec = sample_spec("x86_64", interpreter=None)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *symbols]))


def _glibc(version: str, name: str = "fn") -> Sym:
    return Sym(name, version=f"GLIBC_{version}", version_file="libc.so.6")


def _built(directory: Path, name: str, tag: str, so: bytes) -> None:
    wheel = build_wheel({EXT: so}, name=name)
    (directory / f"{name}-1.0-cp312-cp312-{tag}.whl").write_bytes(wheel)


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two directories of wheels: over-claims, an under-claim, errors and ties in each."""
    root = tmp_path_factory.mktemp("sources")
    a, b = root / "a", root / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(CORPUS / I686, a)
    shutil.copy(CORPUS / X86_64, b)
    _built(a, "overone", "manylinux2014_x86_64", _so(_glibc("2.29")))
    _built(b, "overtwo", "manylinux_2_17_x86_64", _so(_glibc("2.29", "other")))
    _built(a, "recent", "manylinux_2_28_x86_64", _so(_glibc("2.28")))
    _built(a, "modest", "linux_x86_64", _so())  # meets manylinux: an under-claim
    (a / "brokena-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"not a zip")
    (b / "brokenb-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"not a zip either")
    return a, b


def wheelscan_wrapped(wrapper: tuple[str, ...], *args: object) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args`` in a subprocess started through ``wrapper`` (a mount namespace)."""
    command = [*wrapper, sys.executable, "-m", "wheelscan", *map(str, args)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)


def ok(*args: object) -> str:
    done = wheelscan(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def audit(*args: object) -> None:
    """``wheelscan audit``, which exits 1 when it finds broken promises or errors."""
    done = wheelscan("audit", "--workers", "0", *args)
    assert done.returncode in (0, 1), done.stderr


def report_json(db: Path, *args: object) -> dict[str, Any]:
    return json.loads(ok("report", "--db", db, "--format", "json", *args))  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def store_a(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first directory audited (copied per test, ``stores.py``)."""
    db = tmp_path_factory.mktemp("store-a") / "c.db"
    audit("--db", db, sources[0])
    return db


@pytest.fixture(scope="session")
def store_ab(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both directories audited in one run, the first first (copied per test)."""
    db = tmp_path_factory.mktemp("store-ab") / "c.db"
    audit("--db", db, *sources)
    return db


# --- at any moment of a run

# the store driven as `wheelscan audit` drives it, in a process the test can hold or kill
_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from wheelscan.engine.task import AuditTask
    from wheelscan.sources.directory import DirectorySource
    from wheelscan.store import Store, policy_digest

    database, directory, how = sys.argv[1:]
    store = Store.open(database)
    run = store.begin_run(f"dir:{directory}", policy_digest())
    stored = 0
    for ref in DirectorySource(directory).wheels():
        store.add(run, AuditTask()(ref))
        stored += 1
    store.flush()
    print(stored, flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.readline()  # the run stays open until the test has read the store
    store.finish_run(run)
    store.close()
    """
)


def _writer(db: Path, directory: Path, how: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), str(directory), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    stored = int(child.stdout.readline())
    return child, stored


def _check_unfinished(db: Path, stored: int, judged: int) -> None:
    for form in ("terminal", "markdown", "html"):
        out = " ".join(ok("report", "--db", db, "--format", form).split())  # terminal wraps
        line = re.search(r"run 1 is in progress[^<>]*?stored so far", out)
        assert line, f"{form}: no word of the unfinished run"
        assert f": {stored} wheels stored so far" in line.group(0)
    document = report_json(db)
    assert document["totals"]["wheels"] == stored
    assert document["totals"]["judged"] == judged  # not "nothing judged yet"
    assert document["totals"]["pending"] == 0
    (run,) = document["runs"]
    assert run["status"] == "running" and run["finished"] is None and run["seconds"] >= 0
    # the CI formats tell a gate too that the verdicts are those stored so far
    sarif = json.loads(ok("report", "--db", db, "--format", "sarif"))
    properties = sarif["runs"][0]["properties"]
    assert properties["partial"] is True and properties["unfinished_runs"] == [1]
    junit = ok("report", "--db", db, "--format", "junit")
    assert '<property name="partial" value="true"/>' in junit
    assert '<property name="unfinished_runs" value="1"/>' in junit


def test_report_during_a_run(sources: tuple[Path, Path], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    child, stored = _writer(db, sources[0], "hold")
    try:
        assert stored == 5
        _check_unfinished(db, stored, judged=4)  # brokena cannot be judged
    finally:
        child.communicate("\n", timeout=120)
    assert child.returncode == 0  # the reports took no lock the run needed
    assert report_json(db)["runs"][0]["status"] == "finished"
    sarif = json.loads(ok("report", "--db", db, "--format", "sarif"))
    assert sarif["runs"][0]["properties"]["partial"] is False
    junit = ok("report", "--db", db, "--format", "junit")
    assert '<property name="partial" value="false"/>' in junit


def test_report_after_a_killed_first_run(sources: tuple[Path, Path], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    child, stored = _writer(db, sources[0], "kill")
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    _check_unfinished(db, stored, judged=4)


# --- a read-only store

# a private mount namespace in which the store's directory is mounted read-only: even root
# cannot write there (EROFS), as on a read-only share; and a user namespace in which this
# process is an ordinary user who owns the files, whose modes 0444/0555 then hold
READ_ONLY = {
    "ro-mount": lambda d: (
        "unshare",
        "--mount",
        "sh",
        "-c",
        f'mount --bind -o ro "{d}" "{d}" && exec "$@"',
        "sh",
    ),
    "chmod-as-user": lambda d: ("unshare", "--user", "--map-user=1000"),
}


@pytest.mark.parametrize("how", sorted(READ_ONLY))
def test_report_on_a_read_only_store(store_ab: Path, tmp_path: Path, how: str) -> None:
    directory = tmp_path / "store"
    db = copy_store(store_ab, directory)
    expected = report_json(db)
    before = sorted(p.name for p in directory.iterdir())
    db.chmod(0o444)
    directory.chmod(0o555)
    try:
        wrapper = READ_ONLY[how](directory)
        probe = subprocess.run(
            [*wrapper, "touch", str(directory / "probe")], check=False, capture_output=True
        )
        assert probe.returncode != 0, "the store's directory is writable: nothing is tested"
        for form in FORMATS:
            done = wheelscan_wrapped(wrapper, "report", "--db", db, "--format", form)
            assert done.returncode == 0, f"{form}: {done.stderr}"
        done = wheelscan_wrapped(wrapper, "report", "--db", db, "--format", "json")
        document = json.loads(done.stdout)
    finally:
        directory.chmod(0o755)
    assert sorted(p.name for p in directory.iterdir()) == before
    for key in ("totals", "computed_policies", "projects", "errors", "policy"):
        assert document[key] == expected[key]


def test_a_read_only_store_left_by_a_killed_run(sources: tuple[Path, Path], tmp_path: Path) -> None:
    """A killed writer leaves its last commits in -wal: read through the -shm it left, or,
    with no -shm and no way to make one, refused rather than reported as an older store."""
    directory = tmp_path / "store"
    directory.mkdir()
    db = directory / "c.db"
    child, stored = _writer(db, sources[0], "kill")
    child.communicate(timeout=120)
    assert Path(f"{db}-wal").stat().st_size > 0
    wrapper = READ_ONLY["ro-mount"](directory)
    directory.chmod(0o555)
    try:
        done = wheelscan_wrapped(wrapper, "report", "--db", db, "--format", "json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["totals"]["wheels"] == stored
        directory.chmod(0o755)
        Path(f"{db}-shm").unlink()
        directory.chmod(0o555)
        done = wheelscan_wrapped(wrapper, "report", "--db", db, "--format", "json")
    finally:
        directory.chmod(0o755)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"wheelscan report: {db}: its last commits are in {db}-wal")
    assert done.stderr.count("\n") == 1


# --- the same wheels, the same report


def _without_time(markdown: str) -> str:
    """The Markdown report less its generation time and its runs (each store has its own)."""
    text = re.sub(r"Generated \S+", "Generated -", markdown)
    return re.sub(r"## Runs\n.*?(?=\n## |\Z)", "", text, flags=re.S)


def test_reports_do_not_depend_on_the_order_wheels_were_stored(
    sources: tuple[Path, Path], store_ab: Path, tmp_path: Path
) -> None:
    a, b = sources
    ba = tmp_path / "ba" / "c.db"
    ba.parent.mkdir()
    audit("--db", ba, b, a)
    documents, markdowns, ci = [], [], []
    for db in (copy_store(store_ab, tmp_path / "ab"), ba):
        document = report_json(db)
        del document["generated"], document["runs"]
        documents.append(json.dumps(document, indent=1))
        markdowns.append(_without_time(ok("report", "--db", db, "--format", "markdown")))
        sarif = ok("report", "--db", db, "--format", "sarif").replace(str(db), "DB")
        junit = ok("report", "--db", db, "--format", "junit").replace(str(db), "DB")
        ci.append((sarif, re.sub(r'timestamp="[^"]*"', "", junit)))
    assert documents[0] == documents[1]
    assert markdowns[0] == markdowns[1]
    assert ci[0] == ci[1]
    document = json.loads(documents[0])
    (markupsafe,) = [p for p in document["projects"] if p["project"] == "markupsafe"]
    # the two policies rank alike: the tie goes to the name
    assert markupsafe["worst_tag"] == "manylinux_2_5_i686"
    (not_zip,) = [e for e in document["errors"] if e["wheels"] == 2]
    assert not_zip["example_wheel"] == "brokena-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"


# --- the policy each verdict came from


def _strict_policy(path: Path) -> Path:
    """The built-in glibc policies less GLIBC_2.28: a wheel needing it keeps no promise."""
    policies = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    for policy in policies:
        for versions in policy["symbol_versions"].values():
            if "2.28" in versions.get("GLIBC", ()):
                versions["GLIBC"].remove("2.28")
    path.write_text(json.dumps(policies))
    return path


def test_report_names_the_policy_of_its_verdicts(store_a: Path, tmp_path: Path) -> None:
    db = copy_store(store_a, tmp_path)
    builtin = report_json(db)["policy"]
    assert builtin["recorded"] and builtin["policy_file"] is None
    assert builtin["digest"] == report_json(db)["runs"][0]["policy_digest"]
    assert "judged with the built-in policies" in ok("report", "--db", db, "--format", "markdown")
    strict = _strict_policy(tmp_path / "strict-policy.json")
    ok("reevaluate", "--db", db, "--policy-file", strict)
    policy = report_json(db)["policy"]
    sha256 = hashlib.sha256(strict.read_bytes()).hexdigest()
    assert policy["policy_file"] == str(strict) and policy["policy_file_sha256"] == sha256
    assert policy["digest"] != builtin["digest"]
    for form in ("markdown", "html", "terminal"):
        out = ok("report", "--db", db, "--format", form)
        assert str(strict) in out.replace("\n", ""), form
        assert sha256[:16] in out, form


def test_a_reader_sees_one_moment_of_the_store(
    sources: tuple[Path, Path], store_a: Path, tmp_path: Path
) -> None:
    """A report reads runs, wheels and policies in several statements; a reevaluate or a
    run committed between them must not make it show one policy's verdicts beside
    another's: the reader reads one snapshot."""
    from wheelscan.store import Store

    db = copy_store(store_a, tmp_path, "moment.db")
    with Store.open(db, read_only=True) as store:
        runs = store.runs()
        digest = store.reported_policy()
        # meanwhile: every verdict re-judged under another policy, and another run
        strict = _strict_policy(tmp_path / "strict.json")
        ok("reevaluate", "--db", db, "--policy-file", strict)
        audit("--db", db, "--policy-file", strict, sources[1])
        assert store.reported_policy() == digest
        assert [r.id for r in store.runs()] == [r.id for r in runs]
        rows = list(store.iter_rows())
    assert {row["filename"] for row in rows} == {p.name for p in sources[0].iterdir()}
    with Store.open(db, read_only=True) as store:  # a new reader sees the new moment
        assert store.reported_policy() != digest
        assert len(store.runs()) == len(runs) + 1


# --- filters


def test_report_filters_by_project_and_architecture(store_ab: Path, tmp_path: Path) -> None:
    db = copy_store(store_ab, tmp_path)
    whole = report_json(db)
    assert whole["totals"]["wheels"] == 8
    one = report_json(db, "--project", "MarkupSafe", "--project", "overone")
    assert one["totals"]["wheels"] == 3 and one["totals"]["over_claims"] == 1
    assert one["filters"] == {"projects": ["markupsafe", "overone"], "architectures": []}
    assert {p["project"] for p in one["projects"]} == {"markupsafe", "overone"}
    i686 = report_json(db, "--arch", "i686")
    assert i686["totals"]["wheels"] == 1
    assert [c["key"] for c in i686["architectures"]["entries"]] == ["i686"]
    both = report_json(db, "--arch", "i686", "--arch", "x86_64", "--project", "markupsafe")
    assert both["totals"]["wheels"] == 2
    assert "only projects markupsafe" in ok(
        "report", "--db", db, "--format", "markdown", "--project", "markupsafe"
    )


# --- what changed since a run


@pytest.fixture(scope="session")
def nightly(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1 judged `a` under a strict policy; run 2 met `a` again and `b` for the first time;
    then everything was judged again under the built-in policies."""
    a, b = sources
    tmp = tmp_path_factory.mktemp("nightly")
    db = tmp / "c.db"
    audit("--db", db, "--policy-file", _strict_policy(tmp / "s.json"), a)
    audit("--db", db, a, b)
    ok("reevaluate", "--db", db)
    return db


def test_since_run_in_json(nightly: Path) -> None:
    changes = report_json(nightly, "--since-run", "1")["changes"]
    assert changes["since_run"] == 1 and changes["since_started"]

    def names(kind: str) -> list[tuple[str, str | None]]:
        assert changes[kind]["wheels"] == len(changes[kind]["entries"])
        return [(e["filename"], e["was"]) for e in changes[kind]["entries"]]

    assert names("newly_broken") == [
        ("overtwo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "absent")
    ]
    # broken under the strict policy, keeps its promise under the built-in one
    assert names("fixed") == [("recent-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "broken")]
    # never hashed (not a zip): known by its location only, which run 1 did not meet
    assert names("new_errors") == [("brokenb-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", None)]
    assert report_json(nightly, "--since-run", "2")["changes"]["newly_broken"]["wheels"] == 0
    filtered = report_json(nightly, "--since-run", "1", "--project", "recent")["changes"]
    assert (filtered["newly_broken"]["wheels"], filtered["fixed"]["wheels"]) == (0, 1)


def test_since_run_in_every_format(nightly: Path) -> None:
    for form in ("terminal", "markdown", "html"):
        out = ok("report", "--db", nightly, "--format", form, "--since-run", "1")
        assert "Since run 1" in out, form
        for section, name in (
            ("Newly broken", "overtwo-1.0"),
            ("Fixed", "recent-1.0"),
            ("New errors", "brokenb-1.0"),
        ):
            assert re.search(f"{section}: 1.*?{name}", out, re.S), (form, section)
    sarif = json.loads(ok("report", "--db", nightly, "--format", "sarif", "--since-run", "1"))
    states = {
        (r["properties"]["wheel"].split("-")[0], r["ruleId"]): r["baselineState"]
        for r in sarif["runs"][0]["results"]
    }
    assert states[("overtwo", "over-claim")] == "new"
    assert states[("overone", "over-claim")] == "unchanged"
    assert states[("brokenb", "audit-error")] == "new"
    assert sarif["runs"][0]["properties"]["fixed"] == 1
    junit = ok("report", "--db", nightly, "--format", "junit", "--since-run", "1")
    assert re.search(r'name="overtwo[^>]*><failure type="newly-broken"', junit)
    assert re.search(r'name="overone[^>]*><failure type="over-claim"', junit)


@pytest.mark.parametrize("option", ["--since-run", "--run"])
def test_runs_named_are_runs_the_store_holds(nightly: Path, option: str) -> None:
    done = wheelscan("report", "--db", nightly, option, "9")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"wheelscan report: {option} 9: no such run in {nightly} (runs 1 to 2)\n"
    assert report_json(nightly, option, "2")["totals"]["wheels"] == 8


# --- options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--top", "0"), "argument --top: must be at least 1, not 0"),
        (("--top", "-3"), "argument --top: must be at least 1, not -3"),
        (("--wheels-listed", "-1"), "argument --wheels-listed: must be 0 or more, not -1"),
    ],
)
def test_counts_are_validated(
    store_a: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    db = copy_store(store_a, tmp_path)
    for form in ("terminal", "json"):
        done = wheelscan("report", "--db", db, "--format", form, *args)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == f"wheelscan report: {message} (see wheelscan report --help)\n"
    assert report_json(db, "--top", "1")["computed_policies"]["distinct"] > 1


def test_every_option_says_its_default() -> None:
    from wheelscan.cli.main import build_parser

    parser = build_parser(["report"])
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    report = commands.choices["report"]  # type: ignore[index]
    options = [a for a in report._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"top", "since_run", "project", "arch", "format"}
    formatter = report._get_formatter()
    for action in options:  # as --help shows it: the formatter adds defaults not written out
        assert "default: " in formatter._get_help_string(action), action.option_strings
    assert "(default: 20)" in ok("report", "--help").replace("\n", " ").replace("  ", " ")


def test_a_killed_and_resumed_store_reports_as_an_uninterrupted_one(
    sources: tuple[Path, Path], store_ab: Path, tmp_path: Path
) -> None:
    a, b = sources
    whole = copy_store(store_ab, tmp_path, "whole.db")
    resumed = tmp_path / "resumed.db"
    child, _ = _writer(resumed, b, "kill")  # b's wheels stored first, then the run killed
    child.communicate(timeout=120)
    audit("--db", resumed, a, b)  # the next night: b is known, a is new
    documents = []
    for db in (whole, resumed):
        document = report_json(db)
        del document["generated"], document["runs"]
        documents.append(json.dumps(document, indent=1))
    assert documents[0] == documents[1]
    assert [r["status"] for r in report_json(resumed)["runs"]] == ["interrupted", "finished"]
