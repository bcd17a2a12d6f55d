"""``wheelscan audit`` stopped by a signal sent to its parent process alone (issue #13).

``timeout``, systemd, cron and ``kill PID`` signal one process, not its process group (which
tests/test_fault_kills.py kills whole). Whatever the signal (SIGTERM, SIGHUP, SIGINT, SIGKILL)
and whenever it lands: no process of the run is left, the store's run lock is free, the next
run begins and ends, and the store ends as an uninterrupted run leaves it. A run stopped by a
catchable signal is recorded ``interrupted`` with its true counts, says so, and exits with
128 + the signal's number.

Each run starts in a session of its own, so that only the signal sent here reaches it; its
processes are found by a marker in their environment, wherever they were reparented.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from test_fault_kills import command, make_wheels, stored

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from mirror import build_mirror
from wheelbuilder import build_wheel

SEED = 20261206
ROUNDS = 4  # signals per test, each at a random moment, before the run that completes
WHEELS = 300
MARKER = "WHEELSCAN_TEST_PROCESS_TREE"
ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
STOPPING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

Stored = dict[str, tuple[str | None, str | None]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stored]:
    """The wheels, and the store an uninterrupted run makes of them."""
    root = tmp_path_factory.mktemp("signals")
    directory = root / "wheels"
    total = make_wheels(directory, WHEELS)
    reference = root / "reference.db"
    subprocess.run(command(directory, reference), env=ENV, check=True, capture_output=True)
    expected = stored(reference)
    assert len(expected) == total
    return directory, expected


def tree(marker: str) -> set[int]:
    """The live processes (zombies are dead) whose environment holds ``marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or another user's
            continue
        if state != "Z":
            found.add(int(entry.name))
    return found


def survivors(marker: str, seconds: float = 10.0) -> set[int]:
    """What is left of the tree once it ended, or after ``seconds`` (a bound, not a figure:
    processes that die with their parent are gone in milliseconds)."""
    deadline = time.monotonic() + seconds
    while (left := tree(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.fixture
def marker() -> Iterator[str]:
    """A marker for the processes a test starts; whatever of them outlives the test (on a
    tree without the fix) is killed, by pid, at its end."""
    value = uuid.uuid4().hex
    yield value
    for pid in tree(value):
        os.kill(pid, signal.SIGKILL)


def _default_stop_signals() -> None:
    # as from a terminal: a test runner started in the background, or under nohup, passes
    # SIGINT or SIGHUP on ignored, and an ignored signal stays ignored
    for stop in STOPPING:
        signal.signal(stop, signal.SIG_DFL)


class Process:
    """A process in a session of its own (only the signals sent here reach it), marked, its
    output in files: what it leaves behind holding them cannot keep a test waiting."""

    def __init__(self, argv: list[str], marker: str) -> None:
        # closed by end()
        self._out = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self._err = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            argv,
            env={**ENV, MARKER: marker},
            stdout=self._out,
            stderr=self._err,
            text=True,
            start_new_session=True,
            preexec_fn=_default_stop_signals,  # noqa: PLW1509 - a test process starts no threads
        )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def end(self) -> tuple[int, str, str]:
        """Its exit status and output, once it has exited."""
        returncode = self.process.wait(timeout=120)
        output = []
        for file in (self._out, self._err):
            file.seek(0)
            output.append(file.read())
            file.close()
        return returncode, output[0], output[1]


def audit(directory: Path, db: Path, marker: str) -> Process:
    return Process(command(directory, db), marker)


def lock_is_free(db: Path) -> bool:
    fd = os.open(f"{db}-run.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and with it the lock, if taken


def runs(db: Path) -> list[tuple[int, str, int, int, int, int]]:
    """The store's runs; none where a stop came before its schema was written (the file
    is made, and set to WAL, before the transaction that writes the schema commits: a
    later run makes it a store, and ``report`` says it is none yet)."""
    with sqlite3.connect(db) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if "runs" not in {name for (name,) in tables}:
            return []
        return connection.execute(
            "SELECT id, status, seen, skipped_known, audited, errors FROM runs ORDER BY id"
        ).fetchall()


def wait_until_stored(db: Path, count: int, run: Process) -> None:
    deadline = time.monotonic() + 60
    while len(stored(db)) < count and run.running():
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.005)


@pytest.mark.parametrize("stop", [*STOPPING, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_to_the_parent_alone_leaves_nothing_behind(
    tmp_path: Path, corpus: tuple[Path, Stored], marker: str, stop: signal.Signals
) -> None:
    directory, expected = corpus
    total = len(expected)
    db, rng, mid_run = tmp_path / "signalled.db", random.Random(f"{SEED} {stop.name}"), 0
    for round_ in range(ROUNDS):
        run = audit(directory, db, marker)
        before = len(stored(db))
        if rng.random() < 0.2:  # at a random moment of start-up (imports, the store's opening)
            time.sleep(rng.uniform(0.0, 0.4))
        else:  # after a random share of what is left, then a random few milliseconds more
            target = before + rng.randint(1, max(1, (total - before) // (ROUNDS - round_ + 1)))
            wait_until_stored(db, target, run)
            time.sleep(rng.uniform(0.0, 0.03))
        at_signal = len(stored(db))
        with contextlib.suppress(ProcessLookupError):  # it ended first: its last wheel was done
            os.kill(run.pid, stop)
        returncode, out, err = run.end()
        mid_run += before < at_signal < total

        assert survivors(marker) == set(), f"round {round_}: processes outlived the run"
        assert lock_is_free(db), f"round {round_}: the run lock is still held"
        # stopped mid-run, by a signal it handles (before its handlers, the signal's
        # default action; after its last wheel, a finished run)
        catchable = stop in STOPPING
        assert returncode in ((128 + stop, -stop, 0) if catchable else (-stop,)), out + err
        if returncode == 128 + stop:
            assert "Traceback" not in err
            # nothing to say if it came before the run began; after its last wheel, while
            # the known wheels were judged again (cli/audit.py arms the signals there: that
            # judging is stoppable), the run is finished but the command was stopped, and
            # says which of its work the next run takes up
            assert (
                out == ""
                or re.match(r"run \d+ interrupted: ", out)
                or (re.match(r"run \d+ finished: ", out) and "stopped judging the known" in err)
            ), out + err
        for run_id, status, seen, known, audited, _ in runs(db) if db.exists() else []:
            if status == "interrupted":  # its counts are the store's, nothing lost or made up
                assert seen == known + audited, f"run {run_id}: {seen} seen"
    assert mid_run >= ROUNDS // 2, f"{mid_run} of {ROUNDS} signals mid-run"  # real stops

    returncode, out, err = audit(directory, db, marker).end()
    assert returncode == 0, out + err
    assert stored(db) == expected
    statuses = [status for _, status, *_ in runs(db)]
    assert statuses[-1] == "finished" and "running" not in statuses


@pytest.mark.parametrize("stop", STOPPING, ids=lambda s: s.name)
def test_a_stopped_run_records_and_prints_its_true_counts(
    tmp_path: Path, corpus: tuple[Path, Stored], marker: str, stop: signal.Signals
) -> None:
    directory, expected = corpus
    db = tmp_path / "stopped.db"
    run = audit(directory, db, marker)
    wait_until_stored(db, 5, run)
    # stopped (it can neither finish nor store more) while the signal is sent: the signal
    # lands mid-run however fast the machine audits
    os.kill(run.pid, signal.SIGSTOP)
    assert len(stored(db)) < len(expected), "the run ended before the signal"
    os.kill(run.pid, stop)
    os.kill(run.pid, signal.SIGCONT)
    returncode, out, err = run.end()

    assert returncode == 128 + stop, out + err
    assert "Traceback" not in err
    printed = re.search(
        r"run 1 interrupted: (\d+) audited.*, (\d+) errors, (\d+) known skipped, (\d+) seen", out
    )
    assert printed, out
    audited, errors, known, seen = map(int, printed.groups())
    assert audited > 0 and seen > 0, out  # not "0 audited ... 0 seen"
    assert [(1, "interrupted", seen, known, audited, errors)] == runs(db)
    results = stored(db)  # every stored result is this run's: the store was new
    assert seen == known + audited == len(results)
    assert errors == sum(error is not None for _, error in results.values())
    assert survivors(marker) == set()


def test_a_run_whose_parent_was_killed_is_named_by_the_next(
    tmp_path: Path, corpus: tuple[Path, Stored], marker: str
) -> None:
    directory, expected = corpus
    db = tmp_path / "killed.db"
    run = audit(directory, db, marker)
    wait_until_stored(db, 5, run)
    os.kill(run.pid, signal.SIGSTOP)
    assert len(stored(db)) < len(expected), "the run ended before the signal"
    os.kill(run.pid, signal.SIGKILL)
    run.end()
    assert survivors(marker) == set()
    assert [status for _, status, *_ in runs(db)] == ["running"]

    returncode, out, err = audit(directory, db, marker).end()
    assert returncode == 0, out + err
    warnings = [line for line in err.splitlines() if "run 1 " in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("wheelscan audit: ") and f"process {run.pid}" in warnings[0]
    assert [status for _, status, *_ in runs(db)] == ["interrupted", "finished"]
    assert stored(db) == expected


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(300)
"""


def test_a_lock_held_after_its_owner_died_is_refused_naming_the_holders(
    tmp_path: Path, corpus: tuple[Path, Stored], marker: str
) -> None:
    """What the workers of a wheelscan before issue #13 did once their parent was killed:
    they held the run lock, whose file names a process that is gone."""
    directory, _ = corpus
    db = tmp_path / "orphaned.db"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone_pid = int(gone.stdout)
    lock = Path(f"{db}-run.lock")
    lock.write_text(f"{gone_pid} 1\n")
    holder = Process([sys.executable, "-c", HOLD_LOCK, str(lock)], marker)
    deadline = time.monotonic() + 60
    while lock_is_free(db):
        assert holder.running() and time.monotonic() < deadline, "the lock was never taken"
        time.sleep(0.01)

    returncode, out, err = audit(directory, db, marker).end()
    assert returncode == 2, out + err
    assert f"held by process {holder.pid}" in err and f"kill {holder.pid}" in err, err
    assert f"process {gone_pid} is gone" in err, err

    os.kill(holder.pid, signal.SIGKILL)
    holder.end()
    returncode, out, err = audit(directory, db, marker).end()
    assert returncode == 0, out + err


POOL_THEN_DIE = """
import os, signal, sys
from pathlib import Path
from wheelscan.engine import pool
from wheelscan.engine.task import AuditTask
from wheelscan.sources.base import WheelRef

pool._prctl = lambda: None  # as where prctl does not exist
paths = sorted(Path(sys.argv[1]).glob("*.whl"))
refs = [WheelRef(p.name, p.name, "1.0", str(p)) for p in paths]
for _ in pool.LocalPool(AuditTask(), workers=2).results(refs):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_without_prctl_workers_end_with_their_pipe(
    corpus: tuple[Path, Stored], marker: str
) -> None:
    """The fallback: killed, the parent closes the pipes, and a worker that holds no other
    end of them reads EOF (or fails to send) and ends."""
    directory, _ = corpus
    parent = Process([sys.executable, "-c", POOL_THEN_DIE, str(directory)], marker)
    returncode, _, err = parent.end()
    assert returncode == -signal.SIGKILL, err
    assert survivors(marker) == set()


def test_a_signal_to_package_s_parent_alone_stops_its_workers(tmp_path: Path, marker: str) -> None:
    """``wheelscan package`` runs the same pool, over HTTP: SIGTERM stops it as Ctrl-C does,
    SIGKILL takes its workers with it."""
    releases = tmp_path / "releases"
    releases.mkdir()
    so = build_elf(sample_spec("x86_64", interpreter=None))
    for i in range(WHEELS // 2):
        name = f"demo-1.{i}-cp312-cp312-manylinux_2_28_x86_64.whl"
        (releases / name).write_bytes(build_wheel({"demo/_mod.so": so}, "demo", f"1.{i}"))
    mirror = build_mirror(tmp_path / "mirror", sorted(releases.iterdir()))
    with IndexServer(mirror.web) as server:

        def fetched() -> int:
            return len({s.path for s in server.log if s.path.startswith("/packages/")})

        for stop in (signal.SIGTERM, signal.SIGKILL):
            argv = [sys.executable, "-m", "wheelscan", "package", "demo",
                    "--index-url", server.index_url, "--workers", "2"]  # fmt: skip
            run = Process(argv, marker)
            deadline = time.monotonic() + 60
            while fetched() < 5 and run.running():
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.005)
            os.kill(run.pid, signal.SIGSTOP)
            assert fetched() < WHEELS // 2 and run.running(), "the run ended before the signal"
            os.kill(run.pid, stop)
            os.kill(run.pid, signal.SIGCONT)
            returncode, out, err = run.end()
            assert returncode == (128 + stop if stop != signal.SIGKILL else -stop), out + err
            assert "Traceback" not in err
            assert survivors(marker) == set(), f"{stop.name}: processes outlived the run"


MOMENT_ROUNDS = 6  # each moment taken this many times: a signal lands a little late
INTERRUPTED = 128 + signal.SIGINT


def importing(run: Process) -> bool:
    """The command's imports are under way: wheelscan's native modules are being loaded."""
    with contextlib.suppress(OSError):
        return "/wheelscan/_" in Path(f"/proc/{run.pid}/maps").read_text()
    return True  # gone already


def forking(run: Process) -> bool:
    """The parent has just forked its first worker (and is in the fork's callbacks)."""
    with contextlib.suppress(OSError):
        return bool(Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().strip())
    return True


def begun(db: Path, before: int) -> Callable[[Process], bool]:
    """The run is recorded, the ``before + 1``-th (its first wheel may not be stored yet)."""

    def seen(run: Process) -> bool:
        return db.exists() and len(runs_or_none(db)) > before

    return seen


def runs_or_none(db: Path) -> list[tuple[int, str, int, int, int, int]]:
    try:
        return runs(db)
    except sqlite3.Error:  # the schema not made yet, or a write under way
        return []


def interrupt_when(run: Process, moment: Callable[[Process], bool]) -> None:
    deadline = time.monotonic() + 60
    while run.running() and not moment(run):
        assert time.monotonic() < deadline, "the moment never came"
    with contextlib.suppress(ProcessLookupError):  # it ended first
        os.kill(run.pid, signal.SIGINT)


@pytest.mark.parametrize("moment", ["importing", "forking", "begun"])
def test_a_ctrl_c_at_any_moment_ends_the_run_stopped_and_clean(
    tmp_path: Path, corpus: tuple[Path, Stored], marker: str, moment: str
) -> None:
    """Ctrl-C during the command's imports, as its first workers are forked, once its run
    is recorded, each found by watching the process (its mappings, its children, the
    store), not by timing. Whenever it lands, the process ends stopped: 130, or before the
    command began the signal's default action (a shell says 130 too); never a traceback,
    a crash (an import interrupted in orjson's module crashed), nor a Ctrl-C lost (one in
    a fork's callback was only printed, and the run went on to its end, 0). The lock is
    free, no run is left ``running``, and what was stored is kept."""
    directory, expected = corpus
    db = tmp_path / "interrupted.db"
    for round_ in range(MOMENT_ROUNDS):
        watch = {"importing": importing, "forking": forking}.get(moment) or begun(
            db, len(runs_or_none(db))
        )
        run = audit(directory, db, marker)
        interrupt_when(run, watch)
        returncode, out, err = run.end()

        for crash in ("Traceback", "Exception ignored", "Fatal Python error"):
            assert crash not in err, f"round {round_}: {err}"
        # before the command's handlers (its imports): the default action, silently
        stopped = (INTERRUPTED, -signal.SIGINT) if moment == "importing" else (INTERRUPTED,)
        assert returncode in stopped, f"round {round_}: {returncode}\n{out}{err}"
        assert out == "" or re.fullmatch(r"run \d+ interrupted: .*", out.splitlines()[0]), out
        assert survivors(marker) == set(), f"round {round_}: processes outlived the run"
        if db.exists():
            assert lock_is_free(db), f"round {round_}: the run lock is still held"
            # stopped as the store was made, it has no tables yet (the next run makes them)
            assert "running" not in [status for _, status, *_ in runs_or_none(db)]

    returncode, out, err = audit(directory, db, marker).end()
    assert returncode == 0, out + err
    assert stored(db) == expected  # what the stopped runs stored was kept, and is right
