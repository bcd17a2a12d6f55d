"""``wheelscan audit`` / ``report`` / ``reevaluate`` / ``package`` as users run them.

Real processes, a real SQLite file, a real HTTP index on loopback over real wheels.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import zstandard

from indexserver import IndexServer
from mirror import Mirror, build_mirror

SUBSET = slice(0, None, 4)  # a quarter of the corpus: every architecture, quick


def wheelscan(*args: str, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        **kw,
    )  # type: ignore[call-overload]


def verdicts(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """sha256 -> (overall tag, error code), as stored for the store's current policy."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT w.sha256, v.overall_tag, coalesce(v.error_code, w.read_error_code) "
            "FROM wheels w LEFT JOIN verdicts v ON v.wheel_id = w.id"
        ).fetchall()
    return {sha: (tag, error) for sha, tag, error in rows}


def stored_count(db: Path) -> int:
    try:
        return len(verdicts(db)) if db.exists() else 0
    except sqlite3.OperationalError:  # the schema is not there yet, or a write is under way
        return 0


def start_audit(wheel_dir: Path, db: Path, **kw: Any) -> subprocess.Popen[Any]:
    """One worker, a commit per result: a run that is easy to stop mid-way."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    command = ["audit", str(wheel_dir), "--db", str(db), "--workers", "1", "--commit-every", "1",
               "--fail-on", "none"]  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "wheelscan", *command], **kw)


def wait_until_stored(db: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while stored_count(db) < count and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture(scope="module")
def wheels(real_wheels: list[Path]) -> list[Path]:
    return real_wheels[SUBSET]


def linked_dir(factory: pytest.TempPathFactory, name: str, wheels: list[Path]) -> Path:
    root = factory.mktemp(name)
    for path in wheels:
        (root / path.name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Path:
    return linked_dir(tmp_path_factory, "wheels", wheels)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Mirror:
    return build_mirror(tmp_path_factory.mktemp("mirror"), wheels)


@pytest.fixture(scope="module")
def server(mirror: Mirror) -> Iterator[IndexServer]:
    with IndexServer(mirror.web) as running:
        yield running


def test_directory_mirror_and_index_give_the_same_results(
    tmp_path: Path, wheel_dir: Path, mirror: Mirror, server: IndexServer, wheels: list[Path]
) -> None:
    results = {}
    for name, source in (
        ("dir", str(wheel_dir)),
        ("mirror", str(mirror.root)),
        ("index", server.index_url),
    ):
        db = tmp_path / f"{name}.db"
        run = wheelscan("audit", "--fail-on", "none", source, "--db", str(db), "--workers", "2")
        assert run.returncode == 0, run.stdout + run.stderr
        results[name] = verdicts(db)
    assert len(results["dir"]) == len(wheels)
    assert results["dir"] == results["mirror"] == results["index"]


def test_http_reads_less_than_the_wheels(
    tmp_path: Path, server: IndexServer, wheels: list[Path]
) -> None:
    server.clear()
    run = wheelscan("audit", "--fail-on", "none", server.index_url, "--db", str(tmp_path / "a.db"))
    assert run.returncode == 0, run.stdout + run.stderr
    files = sum(s.body_bytes for s in server.log if "/packages/" in s.path)
    assert files < sum(p.stat().st_size for p in wheels)


def test_a_second_run_reads_no_wheel(tmp_path: Path, server: IndexServer, wheel_dir: Path) -> None:
    db = tmp_path / "nightly.db"
    assert (
        wheelscan("audit", "--fail-on", "none", server.index_url, "--db", str(db)).returncode == 0
    )
    server.clear()
    again = wheelscan("audit", "--fail-on", "none", server.index_url, "--db", str(db))
    assert again.returncode == 0
    assert not [s for s in server.log if "/packages/" in s.path]  # not one byte of a wheel
    assert " 0 audited" in again.stdout
    # a directory source skips by path, size and mtime, without reading the file either
    assert wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(db)).returncode == 0
    local = wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(db))
    assert " 0 audited" in local.stdout


def test_killed_and_restarted_run_loses_and_duplicates_nothing(
    tmp_path: Path, wheel_dir: Path
) -> None:
    reference = tmp_path / "reference.db"
    assert (
        wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(reference)).returncode
        == 0
    )
    db = tmp_path / "killed.db"
    for stored in (3, 8):  # kill it twice: once 3 results in, once 8 in
        process = start_audit(wheel_dir, db, start_new_session=True)
        wait_until_stored(db, stored)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert len(verdicts(db)) < len(verdicts(reference))  # killed mid-run, for real
    final = wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(db))
    assert final.returncode == 0, final.stdout + final.stderr
    assert verdicts(db) == verdicts(reference)
    with sqlite3.connect(db) as connection:
        statuses = [s for (s,) in connection.execute("SELECT status FROM runs ORDER BY id")]
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert statuses[-1] == "finished" and "interrupted" in statuses


def test_report_formats(tmp_path: Path, wheel_dir: Path) -> None:
    db = tmp_path / "r.db"
    assert wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(db)).returncode == 0
    document = json.loads(wheelscan("report", "--db", str(db), "--format", "json").stdout)
    from wheelscan.report import json_schema

    jsonschema.validate(document, json_schema())
    assert document["totals"]["wheels"] == len(verdicts(db))
    markdown = wheelscan("report", "--db", str(db), "--format", "markdown").stdout
    assert "| " in markdown and "manylinux" in markdown
    html = tmp_path / "report.html"
    assert wheelscan("report", "--db", str(db), "--format", "html", "-o", str(html)).returncode == 0
    assert "<svg" in html.read_text()
    export = tmp_path / "all.jsonl.zst"
    assert (
        wheelscan("report", "--db", str(db), "--format", "jsonl.zst", "-o", str(export)).returncode
        == 0
    )
    lines = (
        zstandard.ZstdDecompressor().decompressobj().decompress(export.read_bytes()).splitlines()
    )
    assert len(lines) == len(verdicts(db)) and all(json.loads(line) for line in lines)
    assert "Computed policies" in wheelscan("report", "--db", str(db)).stdout


def test_reevaluate_with_a_stricter_policy_reads_no_wheel(tmp_path: Path, wheel_dir: Path) -> None:
    from wheelscan.policy.policies import DATA_DIR

    db = tmp_path / "re.db"
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in wheel_dir.iterdir():
        (copies / path.name).write_bytes(path.read_bytes())
    assert wheelscan("audit", "--fail-on", "none", str(copies), "--db", str(db)).returncode == 0
    before = verdicts(db)
    policies = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    for policy in policies:  # pretend glibc 2.17 never had GLIBC_2.17 on any architecture
        for arch in policy["symbol_versions"].values():
            if policy["name"] == "manylinux_2_17" and "2.17" in arch.get("GLIBC", []):
                arch["GLIBC"].remove("2.17")
    stricter = tmp_path / "stricter.json"
    stricter.write_text(json.dumps(policies))
    for path in copies.iterdir():
        path.unlink()  # not one wheel left to read
    run = wheelscan("reevaluate", "--db", str(db), "--policy-file", str(stricter))
    assert run.returncode == 0, run.stdout + run.stderr
    after = verdicts(db)
    changed = {sha for sha in before if before[sha] != after[sha]}
    assert changed and all(before[s][0].startswith("manylinux_2_17") for s in changed)


def test_package_investigation(server: IndexServer, mirror: Mirror) -> None:
    from packaging.utils import canonicalize_name

    def project_of(filename: str) -> str:
        return canonicalize_name(filename.split("-", maxsplit=1)[0])

    project = project_of(next(iter(mirror.files)))
    run = wheelscan("package", project, "--index-url", server.index_url, "--json")
    assert run.returncode in (0, 1), run.stdout + run.stderr
    document = json.loads(run.stdout)
    expected = [f for f in mirror.files if project_of(f) == project]
    assert sorted(r["wheel"] for r in document["results"]) == sorted(expected)
    assert document["statistics"]["totals"]["wheels"] == len(expected)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def all_wheel_dir(tmp_path_factory: pytest.TempPathFactory, real_wheels: list[Path]) -> Path:
    return linked_dir(tmp_path_factory, "all-wheels", real_wheels)


def test_ctrl_c_stops_cleanly_and_keeps_finished_results(
    tmp_path: Path, all_wheel_dir: Path
) -> None:
    wheel_dir = all_wheel_dir  # every corpus wheel: plenty left when the signal lands
    db = tmp_path / "ctrl-c.db"
    process = start_audit(
        wheel_dir,
        db,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell without job control starts background commands with
        # SIGINT ignored, which Python (and so the audit) then keeps ignoring
        preexec_fn=_default_sigint,
    )
    wait_until_stored(db, 3)
    # The run is stopped (SIGSTOP: it can neither finish nor hand out more wheels), given
    # Ctrl-C, and let go: the interrupt lands mid-run however fast the machine audits
    # (a whole run of 29 wheels once ended between two polls of the store).
    process.send_signal(signal.SIGSTOP)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    process.send_signal(signal.SIGCONT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "Traceback" not in err
    kept = stored_count(db)
    assert kept >= 3
    with sqlite3.connect(db) as connection:
        (status,) = connection.execute("SELECT status FROM runs").fetchone()
    assert status == "interrupted"
    assert wheelscan("audit", "--fail-on", "none", str(wheel_dir), "--db", str(db)).returncode == 0
    assert len(verdicts(db)) > kept  # the next run audits only what was left


def test_a_name_that_is_not_utf8_is_skipped_and_the_run_goes_on(tmp_path: Path) -> None:
    """A file whose name holds undecodable bytes cannot be stored (SQLite text, JSON): it is
    skipped with a warning, not the end of the run; ``show`` still judges it by path."""
    from elfwriter import build_elf, sample_spec
    from wheelbuilder import build_wheel

    directory = tmp_path / "wheels"
    directory.mkdir()
    data = build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))})
    good = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    bad = os.fsencode(directory) + b"/demo-1.0-1\xff-cp311-cp311-manylinux_2_17_x86_64.whl"
    (directory / good).write_bytes(data)
    with open(bad, "wb") as f:
        f.write(data)
    db = tmp_path / "store.db"
    run = wheelscan("audit", "--fail-on", "none", str(directory), "--db", str(db), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "not valid UTF-8" in run.stderr
    assert len(verdicts(db)) == 1

    shown = wheelscan("show", "--json", os.fsdecode(bad))
    assert shown.returncode in (0, 1), shown.stderr
    assert json.loads(shown.stdout)["results"][0]["wheel"].startswith("demo-1.0-1")
