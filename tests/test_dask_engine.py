"""``--engine dask`` on a real LocalCluster (worker processes, 127.0.0.1), nothing mocked:
the store it writes equals the local pool's; a wheel that crashes or hangs the parser costs
only itself, inside its batch; a Dask worker killed mid-run loses nothing; a scheduler that is
not there, or goes away, is said in one line, and what was finished stays stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from wheelscan.engine.dask_executor import DaskExecutor, release_batches
from wheelscan.engine.task import AuditTask
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel

# what the tests give Dask to connect: loopback answers at once, a refusal is retried
FAST_CONNECT = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
SUBSET_BYTES = 4_000_000  # the real wheels under this size: a run of a few seconds


@pytest.fixture(scope="module")
def wheel_dir(real_wheels: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Links to the smaller corpus wheels: several releases with many wheels each."""
    directory = tmp_path_factory.mktemp("dask-wheels")
    for path in real_wheels:
        if path.stat().st_size < SUBSET_BYTES:
            (directory / path.name).symlink_to(path)
    return directory


def audit(directory: Path, db: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "wheelscan", "audit", str(directory), "--db", str(db),
            "--workers", "2", "--fail-on", "none", "--no-progress", *options]  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull, **FAST_CONNECT}


def stored(db: Path) -> set[tuple[object, ...]]:
    """Every fact and verdict the store holds, without row ids or run records."""
    with sqlite3.connect(db) as connection:
        return set(
            connection.execute(
                "SELECT w.sha256, w.filename, w.project, w.version, w.location, w.size, w.facts, "
                "w.facts_version, w.strict, w.read_error_code, w.read_error_reason, "
                "v.verdict, v.overall_tag, v.libc, v.arch, v.over_claim, v.under_claim, "
                "v.error_code, v.error_reason, v.error_member "
                "FROM wheels w LEFT JOIN verdicts v ON v.wheel_id = w.id"
            )
        )


def runs(db: Path) -> list[tuple[str, str, int, int]]:
    with sqlite3.connect(db) as connection:
        return list(
            connection.execute("SELECT status, backend, audited, errors FROM runs ORDER BY id")
        )


@pytest.fixture(scope="module")
def local_store(wheel_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("local") / "local.db"
    subprocess.run(audit(wheel_dir, db), env=environment(), check=True, capture_output=True)
    return db


def test_the_dask_engine_stores_what_the_local_pool_stores(
    wheel_dir: Path, local_store: Path, tmp_path: Path
) -> None:
    db = tmp_path / "dask.db"
    done = subprocess.run(
        audit(wheel_dir, db, "--engine", "dask"),
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # no Dask chatter: the announcement is the only line on stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert stored(db) == stored(local_store)
    [(status, backend, audited, errors)] = runs(db)
    assert (status, audited, errors) == ("finished", len(list(wheel_dir.iterdir())), 0)
    assert backend == "native, dask LocalCluster of 2 workers"
    assert runs(local_store)[0][1] == "native, local pool of 2 workers"


def _dask_workers(audit_process: psutil.Process) -> list[psutil.Process]:
    """The LocalCluster's worker processes: the audit's children its nannies spawned.

    Dask titles them "dask worker" only where setproctitle is installed, which nothing here
    asks for; without it a worker's command line is multiprocessing's ``spawn_main`` (the
    resource tracker, the other child, runs ``resource_tracker``'s ``main``).
    """
    workers = []
    for child in audit_process.children():
        try:
            command = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if command.startswith("dask worker") or "spawn_main" in command:
            workers.append(child)
    return workers


def test_a_dask_worker_killed_mid_run_loses_nothing(
    wheel_dir: Path, local_store: Path, tmp_path: Path
) -> None:
    db = tmp_path / "killed.db"
    total = len(list(wheel_dir.iterdir()))
    process = subprocess.Popen(
        audit(wheel_dir, db, "--engine", "dask", "--commit-every", "1"),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # the first results are stored: both workers are on batches of what is left
        while not (db.exists() and _count(db) >= 1) and process.poll() is None:
            assert time.monotonic() < deadline, "no result stored"
            time.sleep(0.02)
        victims = _dask_workers(psutil.Process(process.pid))
        assert victims, "no Dask worker process found"
        victims[0].kill()
        at_kill = _count(db)
        _, err = process.communicate(timeout=180)
    finally:
        process.kill()
        process.communicate()  # closes the pipes too, should an assertion have come first
    assert process.returncode == 0, err
    assert 1 <= at_kill < total, "the kill came after the run"
    assert stored(db) == stored(local_store)
    [(status, _, audited, errors)] = runs(db)
    assert (status, audited, errors) == ("finished", total, 0)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as connection:
            return int(connection.execute("SELECT count(*) FROM wheels").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


class MisbehavingTask:
    """Audits wheels for real, but crashes or hangs the process on the ones named so."""

    def __init__(self) -> None:
        self.audit = AuditTask()

    def __call__(self, ref: WheelRef) -> WheelResult:
        if "segfault" in ref.location:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "hang" in ref.location:
            time.sleep(60)
        return self.audit(ref)


def release_refs(tmp_path: Path, names: list[str]) -> list[WheelRef]:
    """One release's wheels (one per Python version), each in a directory of its name."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    refs = []
    for i, name in enumerate(names):
        filename = f"demo-1.0-cp3{i}-cp3{i}-manylinux_2_28_x86_64.whl"
        path = tmp_path / name / filename
        path.parent.mkdir()
        path.write_bytes(build_wheel({f"demo/_mod.cpython-3{i}-x86_64-linux-gnu.so": elf}))
        refs.append(WheelRef(filename, "demo", "1.0", str(path)))
    return refs


def test_a_wheel_that_crashes_or_hangs_costs_only_itself_in_its_batch(tmp_path: Path) -> None:
    names = ["a", "segfault", "b", "hang", "c", "d"]
    refs = release_refs(tmp_path, names)
    # the listing's end is shared out in two batches: each holds a misbehaving wheel
    assert list(release_batches(refs, lambda ref: 1.0, 20)) == [refs[:3], refs[3:]]
    executor = DaskExecutor(MisbehavingTask(), workers=1, timeout=3.0)
    results = {Path(r.ref.location).parent.name: r for r in executor.results(refs)}
    assert sorted(results) == sorted(names)
    assert results["segfault"].verdict.code == "worker-crashed"  # type: ignore[union-attr]
    assert "signal 11" in results["segfault"].verdict.reason  # type: ignore[union-attr]
    assert results["hang"].verdict.code == "timeout"  # type: ignore[union-attr]
    for name in "abcd":
        assert results[name].ok and results[name].sha256, name


def test_batches_keep_releases_whole_and_pull_refs_as_needed() -> None:
    refs = [
        WheelRef(f"p{p}-1.0-cp3{i}-cp3{i}-manylinux_2_28_x86_64.whl", f"p{p}", "1.0", f"/{p}/{i}")
        for p in range(6)
        for i in range(3)
    ]
    pulled = 0

    def listing() -> Iterator[WheelRef]:
        nonlocal pulled
        for ref in refs:
            pulled += 1
            yield ref

    batches = release_batches(listing(), lambda ref: 1.0, 6)
    first = next(batches)
    assert [r.project for r in first] == ["p0"] * 3 + ["p1"] * 3
    assert pulled == 12  # two batches' worth read ahead, not the whole listing
    rest = list(batches)
    assert [r for b in [first, *rest] for r in b] == refs
    # a release larger than a batch is cut into batches of its own
    big = [WheelRef(f"big-1-cp3{i}-none-any.whl", "big", "1", f"/b{i}") for i in range(5)]
    # (the last three, once the listing is exhausted, in two batches per thread)
    assert [len(b) for b in release_batches(big, lambda ref: 1.0, 2)] == [2, 1, 1, 1]


def test_the_last_wheels_are_shared_among_the_workers() -> None:
    refs = [WheelRef(f"p{p}-1.0-py3-none-any.whl", f"p{p}", "1.0", f"/{p}") for p in range(44)]
    sizes = [len(b) for b in release_batches(refs, lambda ref: 1.0, 20, threads=2)]
    # once the listing is exhausted, what is left goes in two batches per thread
    assert sizes == [20, 6, 6, 6, 6]
    assert [len(b) for b in release_batches(refs[:8], lambda ref: 1.0, 20, threads=2)] == [2] * 4


def test_batches_are_cut_by_their_guessed_seconds_not_their_count() -> None:
    big = [WheelRef(f"big{p}-1.0-py3-none-any.whl", f"big{p}", "1.0", f"/b{p}") for p in range(4)]
    small = [WheelRef(f"s{p}-1.0-py3-none-any.whl", f"s{p}", "1.0", f"/s{p}") for p in range(40)]

    def estimate(ref: WheelRef) -> float:
        return 1.0 if ref.project.startswith("big") else 0.05

    batches = list(release_batches([*big, *small], estimate, 1.0, threads=1))
    assert [len(b) for b in batches][:4] == [1, 1, 1, 1]  # a large wheel fills a batch
    assert [len(b) for b in batches][4:] == [20, 10, 10]


def test_the_cost_model_learns_seconds_per_byte() -> None:
    from wheelscan.engine.dask_executor import FIXED_SECONDS, CostModel

    def result(size: int, seconds: float) -> WheelResult:
        ref = WheelRef(f"p{size}-1.0-py3-none-any.whl", "p", "1.0", "/p", size=size)
        return WheelResult(ref, None, None, AuditError(ref.filename, "x", "y"), 0, 0, seconds)

    costs = CostModel()
    unknown = WheelRef("q-1.0-py3-none-any.whl", "q", "1.0", "/q")
    small, large = (dataclasses.replace(unknown, size=n) for n in (10**5, 10**8))
    assert costs.estimate(large) > 40 * costs.estimate(small)  # the prior: by size
    # a batch's own seconds count, not its results': read at once, each result's seconds
    # (here 5 s) count the other wheels' work and waits too
    batch = [result(10**6, 5.0), result(10**7, 5.0)]
    costs.record(batch, 2 * FIXED_SECONDS + 0.11)
    assert abs(costs.estimate(large) - (FIXED_SECONDS + 1.0)) < 1e-9  # 10 ns a byte, fitted
    # a listing without sizes: the mean size seen so far
    assert abs(costs.estimate(unknown) - (FIXED_SECONDS + 0.055)) < 1e-9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_another_cluster_on_the_machine_costs_no_warning(wheel_dir: Path, tmp_path: Path) -> None:
    """Dask's default HTTP port taken (another cluster's dashboard): the local cluster's
    scheduler takes a free port, and the run's stderr stays its one line."""
    with contextlib.ExitStack() as stack:
        taken = stack.enter_context(socket.socket())
        try:
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        except OSError:
            pass  # taken already: the same case
        done = subprocess.run(
            audit(wheel_dir, tmp_path / "d.db", "--engine", "dask", "--limit", "2"),
            env=environment(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "8787" not in done.stderr, done.stderr


def test_a_scheduler_that_is_not_there_is_said_in_one_line(wheel_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    address = f"tcp://127.0.0.1:{_free_port()}"
    done = subprocess.run(
        audit(wheel_dir, db, "--engine", "dask", "--scheduler", address),
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"wheelscan audit: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in done.stderr
    assert not db.exists()  # refused before a store was opened


@pytest.mark.parametrize("address", ["notaurl", "tcp://127.0.0.1", "foo://127.0.0.1:1"])
def test_a_scheduler_address_dask_cannot_parse_is_one_line_at_once(
    tmp_path: Path, address: str
) -> None:
    # no port, an unknown scheme: distributed's Client fails half made, and its __del__ at
    # exit waited a minute for a loop already stopped, then printed "Exception ignored ...
    # TimeoutError" under the line
    db = tmp_path / "none.db"
    done = subprocess.run(
        audit(tmp_path, db, "--engine", "dask", "--scheduler", address),
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"wheelscan audit: cannot reach the Dask scheduler at {address}: ")
    assert not db.exists()


def test_without_distributed_the_engine_says_what_to_install(
    wheel_dir: Path, tmp_path: Path
) -> None:
    """distributed made unimportable, as it is where the extra was not installed."""
    program = (
        "import sys; sys.modules['distributed'] = None\n"
        "from wheelscan.cli.main import main\n"
        f"sys.exit(main({audit(wheel_dir, tmp_path / 'x.db', '--engine', 'dask')[3:]!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "wheelscan audit: --engine dask needs dask.distributed: pip install 'wheelscan[dask]'"
    )


def test_a_scheduler_that_goes_away_ends_the_run_in_one_line_and_the_next_resumes(
    wheel_dir: Path, local_store: Path, tmp_path: Path
) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0", "--no-dashboard"],
        env=environment(), **quiet,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
         "--nthreads", "2", "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
        env=environment(), **quiet,
    )  # fmt: skip
    db = tmp_path / "lost.db"
    try:
        process = subprocess.Popen(
            audit(wheel_dir, db, "--engine", "dask", "--scheduler", address, "--commit-every", "1"),
            env={**environment(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "30s"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not (db.exists() and _count(db) >= 1) and process.poll() is None:
            assert time.monotonic() < deadline, "no result stored"
            time.sleep(0.02)
        scheduler.kill()
        at_kill = _count(db)
        _, err = process.communicate(timeout=120)
    finally:
        for started in (process, worker, scheduler):
            started.kill()
            started.wait()
    assert process.returncode == 2, err
    assert err.splitlines()[-1] == f"wheelscan audit: lost the Dask scheduler at {address}"
    assert "Traceback" not in err
    finished = _count(db)
    assert 1 <= at_kill <= finished < len(list(wheel_dir.iterdir()))
    assert [r[0] for r in runs(db)] == ["failed"]
    # the next run, on the local pool, reads only what the first did not store
    subprocess.run(audit(wheel_dir, db), env=environment(), check=True, capture_output=True)
    assert stored(db) == stored(local_store)
    assert runs(db)[1][2] == len(list(wheel_dir.iterdir())) - finished


def test_ctrl_c_stops_the_run_as_with_the_local_pool(
    wheel_dir: Path, local_store: Path, tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches the whole process group, the Dask workers too: the audit
    alone answers it (exit 130, the run interrupted, nothing else said), and the next run
    reads only what was not stored."""
    db = tmp_path / "interrupted.db"
    process = subprocess.Popen(
        audit(wheel_dir, db, "--engine", "dask", "--commit-every", "1"),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (db.exists() and _count(db) >= 1) and process.poll() is None:
            assert time.monotonic() < deadline, "no result stored"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert err.count("\n") == 1, err  # the announcement alone: no worker's traceback
    assert [r[0] for r in runs(db)] == ["interrupted"]
    subprocess.run(audit(wheel_dir, db), env=environment(), check=True, capture_output=True)
    assert stored(db) == stored(local_store)


def test_a_scheduler_that_cannot_be_reached_keeps_its_cause_for_debugging(tmp_path: Path) -> None:
    # WHEELSCAN_DEBUG's traceback shows why distributed failed, and the half-made Client is
    # still let go of in time (no "Exception ignored" at exit)
    done = subprocess.run(
        audit(tmp_path, tmp_path / "none.db", "--engine", "dask", "--scheduler", "notaurl"),
        env={**environment(), "WHEELSCAN_DEBUG": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode != 0
    assert "The above exception was the direct cause" in done.stderr, done.stderr
    assert "SchedulerError: cannot reach the Dask scheduler at notaurl" in done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
