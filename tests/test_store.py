"""The store on real SQLite files: round trips, idempotence, resuming after SIGKILL, re-judging
stored facts under a new policy, locks, a full disk, the export, and the size per wheel.

Results are real: built by reading wheels the tests make (``wheelbuilder``, ``elfwriter``) and a
few corpus wheels, as an engine worker would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from packaging.utils import parse_wheel_filename

from wheelscan.engine.worker import audit, read_facts
from wheelscan.model import WheelFacts, WheelResult
from wheelscan.policy.evaluate import EvaluationError, evaluate
from wheelscan.policy.policies import DATA_DIR, PolicyDatabase, load_policies
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.report.aggregate import aggregate
from wheelscan.sources.base import WheelRef
from wheelscan.store import Store, StoreError, policy_digest, prepare
from wheelscan.wheel.archive import WheelError

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

TESTS = Path(__file__).parent
DIGEST = policy_digest()


# --- results, as a worker makes them


def ref_for(path: Path, with_sha256: bool = False) -> WheelRef:
    name, version, _, _ = parse_wheel_filename(path.name)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest() if with_sha256 else None
    return WheelRef(path.name, name, str(version), str(path), sha256, path.stat().st_size)


def result_for(
    path: Path, ref: WheelRef | None = None, database: PolicyDatabase | None = None
) -> WheelResult:
    data = path.read_bytes()
    try:
        facts: WheelFacts | None = read_facts(path, path.name)
    except WheelError:
        facts = None
    elf_bytes = 0 if facts is None else sum(m.size for m in facts.elf_files)
    return WheelResult(
        ref or ref_for(path),
        hashlib.sha256(data).hexdigest(),
        facts,
        audit(path, path.name, database),
        len(data),
        elf_bytes,
        0.001,
    )


def ext(extra: Iterable[Sym] = (), **overrides: Any) -> bytes:
    spec = sample_spec("x86_64", interpreter=None, **overrides)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))


def make_wheels(directory: Path, count: int = 12) -> list[Path]:
    """``count`` distinct wheels needing GLIBC 2.25 and up, one unreadable, one not judgeable."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        glibc = ("2.17", "2.28", "2.34")[i % 3]
        so = ext([Sym(f"fn{i}", version=f"GLIBC_{glibc}", version_file="libc.so.6")])
        path = directory / f"demo{i}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(build_wheel({"mod.cpython-312-x86_64-linux-gnu.so": so}, f"demo{i}"))
        paths.append(path)
    broken = directory / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    broken.write_bytes(paths[0].read_bytes()[:-100])  # the central directory cut off
    purelib = directory / "pure-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    purelib.write_bytes(build_wheel({"pure-1.0.data/purelib/mod.so": ext()}, "pure"))
    return [*paths, broken, purelib]


def scan(store: Store, paths: list[Path], announce: bool = False, delay: float = 0.0) -> int:
    """One run over ``paths``, as the engine does it: skip what is known, read the rest."""
    run_id = store.begin_run(f"dir:{paths[0].parent}", DIGEST)
    for i, path in enumerate(paths):
        ref = ref_for(path)
        sha256 = store.known(ref)
        if sha256 is not None:
            store.mark_seen(run_id, sha256)
        else:
            store.add(run_id, result_for(path, ref))
        if announce:
            print(f"done {i + 1}", flush=True)
        time.sleep(delay)
    store.finish_run(run_id)
    return run_id


def rows(store: Store, **kw: Any) -> list[dict[str, Any]]:
    return sorted(store.iter_rows(**kw), key=lambda r: (r["sha256"] or "", r["location"]))


def query(path: Path, sql: str) -> Any:
    """One row of ``sql`` on the file at ``path``, through a connection of its own."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def as_json(outcome: Verdict | AuditError) -> Any:
    return json.loads(json.dumps(outcome.to_json()))  # tuples become lists, as stored


@pytest.fixture
def some_real_wheels(real_wheels: list[Path]) -> list[Path]:
    return real_wheels[::20]  # a handful, across projects, architectures and libcs


# --- round trips


def test_facts_and_verdicts_round_trip(tmp_path: Path, some_real_wheels: list[Path]) -> None:
    paths = [*make_wheels(tmp_path / "w"), *some_real_wheels]
    results = [result_for(p) for p in paths]
    missing = WheelRef("gone-1.0-py3-none-manylinux_2_17_x86_64.whl", "gone", "1.0", "/nowhere")
    unread = WheelResult(
        missing, None, None, AuditError(missing.filename, "io-error", "ENOENT"), 0, 0, 0.0
    )
    with Store.open(tmp_path / "s.db") as store:
        run_id = store.begin_run("test", DIGEST)
        for result in [*results, unread]:
            store.add(run_id, result)
        run = store.finish_run(run_id)
        assert (run.status, run.audited, run.seen) == ("finished", len(paths) + 1, len(paths) + 1)
        assert run.errors == sum(not r.ok for r in results) + 1
        facts = dict(store.iter_facts())
        by_sha = {r["sha256"]: r for r in store.iter_rows()}
    assert facts == {r.sha256: r.facts for r in results if r.facts is not None}
    for result in results:
        row = by_sha[result.sha256]
        assert (row["filename"], row["location"], row["size"]) == (
            result.ref.filename,
            result.ref.location,
            result.ref.size,
        )
        if result.ok:
            assert row["verdict"] == as_json(result.verdict) and row["error"] is None
        else:
            assert row["verdict"] is None and row["error"] == as_json(result.verdict)
    assert by_sha[None]["error"]["code"] == "io-error"
    codes = {r["error"]["code"] for r in by_sha.values() if r["error"]}
    assert codes == {"io-error", "not-zip", "elf-in-purelib"}


def test_add_is_idempotent(tmp_path: Path) -> None:
    results = [result_for(p) for p in make_wheels(tmp_path / "w", 4)]
    # as a worker would send it, encoded already
    prepared = [pickle.loads(pickle.dumps(prepare(r))) for r in results]
    with Store.open(tmp_path / "s.db", batch_size=2) as store:
        run_id = store.begin_run("test", DIGEST)
        for result in [*results, *prepared]:  # the same result twice in one run
            store.add(run_id, result)
        assert store.finish_run(run_id).audited == len(results)
        once = rows(store)
        again = store.begin_run("test", DIGEST)
        for result in results:
            store.add(again, result)
        store.finish_run(again)
        assert rows(store) == once
    count = {
        table: query(tmp_path / "s.db", f"SELECT count(*) FROM {table}")[0]
        for table in ("wheels", "verdicts", "run_wheels")
    }
    # one verdict less: the unreadable wheel has none; each run lists every wheel once
    assert count == {
        "wheels": len(results),
        "verdicts": len(results) - 1,
        "run_wheels": 2 * len(results),
    }
    assert len(once) == len(results)


def test_known_by_sha256_and_by_location(tmp_path: Path) -> None:
    path, broken, _ = make_wheels(tmp_path / "w", 1)
    with Store.open(tmp_path / "s.db") as store:
        run_id = store.begin_run("test", DIGEST)
        local = ref_for(path)
        assert store.known(local) is None  # unknown: its size and mtime are noted
        result = result_for(path, local)
        store.add(run_id, result)
        indexed = ref_for(path, with_sha256=True)
        assert store.known(indexed) == result.sha256  # still buffered: known all the same
        store.add(run_id, result_for(broken))
        store.finish_run(run_id)
        assert store.known(indexed) == result.sha256
        assert store.known(local) == result.sha256
        assert store.known(ref_for(broken)) is None  # never asked, so no size and mtime noted
        assert store.known(ref_for(broken, with_sha256=True))  # unreadable bytes stay unreadable
        # same size and mtime: known without reading the file (its new bytes are not hashed)
        stat = path.stat()
        path.write_bytes(bytes(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert store.known(local) == result.sha256
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        assert store.known(local) is None
        # a failed download says nothing about the bytes: read again next time
        other = WheelRef(
            "x-1.0-py3-none-manylinux_2_17_x86_64.whl",
            "x",
            "1.0",
            "https://example.invalid/x.whl",
            "ab" * 32,
        )
        run_id = store.begin_run("test", DIGEST)
        store.add(
            run_id,
            WheelResult(
                other,
                other.sha256,
                None,
                AuditError(other.filename, "download-failed", "timeout"),
                0,
                0,
                1.0,
            ),
        )
        assert store.known(other) is None
        store.finish_run(run_id)
        assert store.known(other) is None


def test_batches_commit_by_count_and_by_time(tmp_path: Path) -> None:
    results = [result_for(p) for p in make_wheels(tmp_path / "w", 5)]
    reader = sqlite3.connect(tmp_path / "s.db")

    def committed() -> int:
        return int(reader.execute("SELECT count(*) FROM wheels").fetchone()[0])

    try:
        with Store.open(tmp_path / "s.db", batch_size=3, flush_seconds=3600) as store:
            run_id = store.begin_run("test", DIGEST)
            for result in results[:2]:
                store.add(run_id, result)
            assert committed() == 0
            store.add(run_id, results[2])
            assert committed() == 3
            store.flush_seconds = 0.05
            time.sleep(0.1)
            store.add(run_id, results[3])  # the batch is not full, but old enough
            assert committed() == 4
            store.add(run_id, results[4])
            store.finish_run(run_id)
            assert committed() == 5
    finally:
        reader.close()


# --- durability


def child_scan(db: str, wheel_dir: str) -> None:
    """A run in its own process, announcing each wheel, slow enough to be killed midway."""
    with Store.open(db, batch_size=3, flush_seconds=3600) as store:
        scan(store, sorted(Path(wheel_dir).glob("*.whl")), announce=True, delay=0.05)


def kill_after(db: Path, wheel_dir: Path, wheels: int) -> None:
    code = f"import test_store; test_store.child_scan({str(db)!r}, {str(wheel_dir)!r})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True
    )
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == f"done {wheels}":
            break
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def test_sigkilled_runs_resume_to_the_same_rows(
    tmp_path: Path, some_real_wheels: list[Path]
) -> None:
    wheel_dir = tmp_path / "w"
    make_wheels(wheel_dir, 10)
    for path in some_real_wheels[:3]:
        shutil.copy(path, wheel_dir)
    paths = sorted(wheel_dir.glob("*.whl"))
    with Store.open(tmp_path / "once.db") as store:
        scan(store, paths)
        expected = rows(store)

    db = tmp_path / "killed.db"
    kill_after(db, wheel_dir, 4)
    status, audited = query(db, "SELECT status, audited FROM runs")
    assert status == "running" and audited >= 3  # every batch flushed before the kill is there
    kill_after(db, wheel_dir, 8)  # the second run skips what the first committed
    with Store.open(db) as store:
        scan(store, paths)
        runs = store.runs()
        assert rows(store) == expected
        assert len(list(store.iter_rows(run_id=runs[-1].id))) == len(paths)
        assert len(list(store.iter_rows(run_id=runs[0].id))) == runs[0].seen
    assert [r.status for r in runs] == ["interrupted", "interrupted", "finished"]
    assert runs[-1].seen == len(paths) and runs[-1].skipped_known >= 6
    assert sum(r.audited for r in runs) >= len(paths)  # some batches were lost and redone
    assert all(r.seconds is not None and r.seconds > 0 for r in runs)
    assert query(db, "SELECT count(*) FROM wheels") == (len(paths),)
    assert query(db, "PRAGMA integrity_check") == ("ok",)


# --- re-judging


def without_glibc(version: str, directory: Path) -> Path:
    """A copy of the manylinux policy file with one GLIBC version removed from every policy."""
    entries = json.loads((DATA_DIR / "manylinux-policy.json").read_text())
    for entry in entries:
        for prefixes in entry["symbol_versions"].values():
            if version in prefixes.get("GLIBC", []):
                prefixes["GLIBC"].remove(version)
    path = directory / "manylinux-policy.json"
    path.write_text(json.dumps(entries))
    return path


def test_reevaluate_under_a_new_policy_reads_no_wheel(
    tmp_path: Path, some_real_wheels: list[Path]
) -> None:
    own = make_wheels(tmp_path / "w", 6)
    copies = tmp_path / "real"
    copies.mkdir()
    paths = [*own, *(Path(shutil.copy(p, copies)) for p in some_real_wheels)]
    policy_file = without_glibc("2.25", tmp_path)
    database, digest = load_policies(policy_file), policy_digest(policy_file)
    assert digest != DIGEST
    with Store.open(tmp_path / "s.db", batch_size=4) as store:
        scan(store, paths)
        before = {r["sha256"]: r for r in store.iter_rows()}
        facts = dict(store.iter_facts())
        for path in paths:
            path.unlink()  # re-judging must not need them
        pending = [r for r in store.iter_rows(policy_digest=digest) if r["error"] is None]
        assert len(pending) == len(facts) and not any(r["verdict"] for r in pending)
        assert store.reevaluate(database, digest, workers=2) == len(facts)
        assert store.reevaluate(database, digest) == 0  # done already: nothing to redo
        after = {r["sha256"]: r for r in store.iter_rows()}
        assert {r["sha256"]: r for r in store.iter_rows(policy_digest=DIGEST)} == before
    for sha256, wheel in facts.items():
        try:
            assert after[sha256]["verdict"] == as_json(evaluate(wheel, database))
        except EvaluationError as e:
            assert after[sha256]["error"] == as_json(AuditError(wheel.filename, e.code, e.reason))
    changed = [s for s in facts if after[s]["verdict"] != before[s]["verdict"]]
    # the tests' own wheels need getrandom@GLIBC_2.25, which no policy has any more
    assert {before[s]["filename"] for s in changed} >= {p.name for p in own[:6]}
    assert all(
        after[s]["verdict"]["overall_tag"] == "linux_x86_64"
        for s in changed
        if after[s]["filename"].startswith("demo")
    )


# --- failures that must be clear, never a hang or a damaged file


def test_a_second_writer_gives_store_error_not_a_hang(tmp_path: Path) -> None:
    (result,) = [result_for(p) for p in make_wheels(tmp_path / "w", 1)[:1]]
    with Store.open(tmp_path / "s.db", busy_timeout=0.2) as store:
        run_id = store.begin_run("test", DIGEST)
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        try:
            store.add(run_id, result)
            started = time.monotonic()
            with pytest.raises(StoreError) as error:
                store.flush()
            assert time.monotonic() - started < 5
            assert error.value.code == "locked" and "--db" in error.value.hint
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.finish_run(run_id)  # the buffered result was kept, and is written now
        assert len(rows(store)) == 1


def test_one_run_at_a_time(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as first, Store.open(tmp_path / "s.db") as second:
        run_id = first.begin_run("test", DIGEST)
        with pytest.raises(StoreError, match="another wheelscan run"):
            second.begin_run("test", DIGEST)
        first.finish_run(run_id)
        second.finish_run(second.begin_run("test", DIGEST))
        assert [r.status for r in second.runs()] == ["finished", "finished"]


def test_a_full_disk_gives_store_error_and_a_sound_file(tmp_path: Path) -> None:
    results = [result_for(p) for p in make_wheels(tmp_path / "w", 8)]
    with Store.open(tmp_path / "s.db", batch_size=100) as store:
        run_id = store.begin_run("test", DIGEST)
        store.add(run_id, results[0])
        store.flush()
        pages = store._connection.execute("PRAGMA page_count").fetchone()[0]
        # a disk with no room for another page: SQLite's own SQLITE_FULL, as on a full disk
        store._connection.execute(f"PRAGMA max_page_count = {pages}")
        for result in results[1:]:
            store.add(run_id, result)
        with pytest.raises(StoreError) as error:
            store.flush()
        assert error.value.code == "disk-full" and "free space" in error.value.hint
        assert store._connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store._connection.execute("PRAGMA max_page_count = 1073741823")
        store.finish_run(run_id)
        assert len(rows(store)) == len(results)


def test_unknown_schema_version_and_foreign_files(tmp_path: Path) -> None:
    Store.open(tmp_path / "s.db").close()
    query(tmp_path / "s.db", "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99") as error:
        Store.open(tmp_path / "s.db")
    assert error.value.code == "schema-version"
    (tmp_path / "junk.db").write_bytes(b"not SQLite at all" * 100)
    with pytest.raises(StoreError) as error:
        Store.open(tmp_path / "junk.db")
    assert error.value.code == "not-a-store"


# --- export, report and size


def test_rows_and_runs_feed_the_report(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        scan(store, make_wheels(tmp_path / "w", 6))
        statistics = aggregate(store.iter_rows(), [r.to_json() for r in store.runs()])
    totals = statistics.totals
    assert (totals.wheels, totals.judged, totals.errors, totals.pending) == (8, 6, 2, 0)
    (run,) = statistics.runs
    assert (run.status, run.audited, run.backend) == ("finished", 8, "native")


def test_export_is_one_json_line_per_wheel(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        scan(store, make_wheels(tmp_path / "w", 5))
        count = store.export_jsonl_zst(tmp_path / "out.jsonl.zst")
        expected = rows(store)
    with open(tmp_path / "out.jsonl.zst", "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    lines = text.splitlines()
    assert count == len(lines) == 7 and text.endswith("\n")
    exported = sorted((json.loads(line) for line in lines), key=lambda r: r["sha256"])
    assert exported == expected


def vacuumed_size(path: Path) -> int:
    query(path, "VACUUM")
    return path.stat().st_size


def test_stored_size_per_real_wheel(tmp_path: Path, some_real_wheels: list[Path]) -> None:
    Store.open(tmp_path / "empty.db").close()
    with Store.open(tmp_path / "s.db") as store:
        scan(store, some_real_wheels)
    n, facts_size, verdict_size = query(
        tmp_path / "s.db",
        "SELECT count(*), avg(length(facts)), avg(length(verdict)) "
        "FROM wheels JOIN verdicts ON wheel_id = wheels.id",
    )
    per_wheel = (vacuumed_size(tmp_path / "s.db") - vacuumed_size(tmp_path / "empty.db")) / n
    print(
        f"\n{n} real wheels: facts {facts_size:.0f} B, verdict {verdict_size:.0f} B, "
        f"file {per_wheel:.0f} B per wheel"
    )
    assert facts_size < 20_000 and verdict_size < 5_000


def test_verdict_json_is_what_asdict_gives(real_wheels: list[Path]) -> None:
    """``to_json_bytes`` (orjson writing the records itself) against the plain definition:
    every field by ``dataclasses.asdict``, then ``over_claims``, on every corpus wheel."""
    import dataclasses

    import orjson

    from wheelscan.engine.worker import audit
    from wheelscan.policy.verdict import Verdict

    judged = 0
    for path in real_wheels:
        verdict = audit(path.read_bytes(), path.name)
        if not isinstance(verdict, Verdict):
            continue
        expected = dataclasses.asdict(verdict)
        expected["over_claims"] = list(verdict.over_claims)
        assert verdict.to_json_bytes() == orjson.dumps(expected), path.name
        assert json.loads(json.dumps(verdict.to_json())) == orjson.loads(verdict.to_json_bytes())
        judged += 1
    assert judged > 100
