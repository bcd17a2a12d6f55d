"""The worker pool: results for every wheel, whatever a worker does."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.pool import LOOKAHEAD, QUEUE_DEPTH, InlineExecutor, LocalPool, _Backlog
from wheelscan.engine.run import PreparingTask, RunCounts
from wheelscan.engine.run import audit as run_audit
from wheelscan.engine.task import AuditTask
from wheelscan.model import WheelResult
from wheelscan.sources.base import WheelRef
from wheelscan.store import Store, policy_digest

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel


class MisbehavingTask:
    """Audits wheels for real, but crashes or hangs on the ones named so."""

    def __init__(self) -> None:
        self.audit = AuditTask()

    def __call__(self, ref: WheelRef) -> WheelResult:
        if "segfault" in ref.filename:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "killed" in ref.filename:
            os.kill(os.getpid(), signal.SIGKILL)
        if "hang" in ref.filename:
            time.sleep(60)
        return self.audit(ref)


def make_refs(tmp_path: Path, names: list[str], soname: str | None = None) -> list[WheelRef]:
    elf = build_elf(sample_spec("x86_64", interpreter=None, soname=soname))
    data = build_wheel({"mod.cpython-312-x86_64-linux-gnu.so": elf})
    refs = []
    for name in names:
        path = tmp_path / f"{name}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(data)
        refs.append(WheelRef(path.name, name, "1.0", str(path)))
    return refs


@pytest.mark.slow
def test_crashing_and_hanging_workers_are_recorded_and_replaced(tmp_path: Path) -> None:
    names = ["a", "segfault", "b", "killed", "c", "hang", "d", "e"]
    refs = make_refs(tmp_path, names)
    pool = LocalPool(MisbehavingTask(), workers=2, timeout=3.0)
    started = time.monotonic()
    results = {r.ref.project: r for r in pool.results(refs)}
    assert time.monotonic() - started < 30
    assert sorted(results) == sorted(names)
    assert results["segfault"].verdict.code == "worker-crashed"  # type: ignore[union-attr]
    assert "signal 11" in results["segfault"].verdict.reason  # type: ignore[union-attr]
    assert results["killed"].verdict.code == "worker-crashed"  # type: ignore[union-attr]
    assert results["hang"].verdict.code == "timeout"  # type: ignore[union-attr]
    for name in "abcde":
        assert results[name].ok and results[name].sha256
    assert pool.replaced == 3


def test_pool_and_inline_agree(tmp_path: Path) -> None:
    refs = make_refs(tmp_path, ["p", "q", "r"])
    pooled = sorted(LocalPool(AuditTask(), workers=2).results(refs), key=lambda r: r.ref.project)
    inline = list(InlineExecutor(AuditTask()).results(refs))
    assert [r.verdict for r in pooled] == [r.verdict for r in inline]
    assert [r.facts for r in pooled] == [r.facts for r in inline]


def test_refs_are_pulled_lazily(tmp_path: Path) -> None:
    refs = make_refs(tmp_path, ["x"])
    pulled = 0

    def endless():  # an index larger than memory: never materialised
        nonlocal pulled
        while True:
            pulled += 1
            yield refs[0]

    results = LocalPool(AuditTask(), workers=2).results(endless())
    for _ in range(5):
        next(results)
    results.close()
    # what is done, what each worker has queued, and the look-ahead
    assert pulled <= 5 + 2 * QUEUE_DEPTH + LOOKAHEAD


def test_identical_members_are_parsed_once_per_worker(tmp_path: Path) -> None:
    """Vendored libraries repeat across a project's wheels: the second copy costs no parse."""
    refs = make_refs(tmp_path, ["one", "two", "three"], soname="libunique-to-this-test.so")
    results = list(InlineExecutor(AuditTask()).results(refs))
    reused = [r.reused_elf_bytes for r in results]
    assert reused[0] == 0 and reused[1] > 0 and reused[1] == reused[2]
    assert len({r.facts.elf_files for r in results if r.facts}) == 1
    no_dedupe = list(InlineExecutor(AuditTask(dedupe=False)).results(refs))
    assert [r.reused_elf_bytes for r in no_dedupe] == [0, 0, 0]
    assert [r.facts for r in no_dedupe] == [r.facts for r in results]


class _Cycle:
    def __init__(self) -> None:
        self.me = self


_LAST_CYCLE: list[weakref.ref[_Cycle]] = []


def cycle_task(ref: WheelRef) -> tuple[str, bool | None]:
    """Leaves a reference cycle behind; says whether the previous wheel's was collected."""
    previous = _LAST_CYCLE[-1]() is None if _LAST_CYCLE else None
    _LAST_CYCLE.append(weakref.ref(_Cycle()))
    return ref.filename, previous


def test_a_worker_collects_the_garbage_of_each_wheel(tmp_path: Path) -> None:
    """Automatic collection is off in a worker; it collects after every wheel instead."""
    refs = make_refs(tmp_path, ["g1", "g2", "g3"])
    outcomes = list(LocalPool(cycle_task, workers=1).results(refs))  # type: ignore[arg-type]
    assert [collected for _, collected in outcomes] == [None, True, True]


def release_refs(tmp_path: Path, releases: list[str], pythons: list[str]) -> list[WheelRef]:
    """Each release's wheels, one per Python, carry that release's own vendored library."""
    refs = []
    for release in releases:
        elf = build_elf(sample_spec("x86_64", interpreter=None, soname=f"lib{release}-vendored.so"))
        data = build_wheel({f"{release}.libs/lib{release}-vendored.so": elf})
        for py in pythons:
            path = tmp_path / f"{release}-1.0-{py}-{py}-manylinux_2_28_x86_64.whl"
            path.write_bytes(data)
            refs.append(WheelRef(path.name, release, "1.0", str(path)))
    return refs


def test_a_release_stays_on_one_worker_so_its_libraries_are_parsed_once(
    tmp_path: Path,
) -> None:
    """Listed release by release (as a mirror lists them), the second wheel of each release
    would go to the other worker; it goes to the worker that parsed the first."""
    refs = release_refs(tmp_path, ["rela", "relb"], ["cp311", "cp312"])
    results = {r.ref.filename: r for r in LocalPool(AuditTask(), workers=2).results(refs)}
    assert all(r.ok for r in results.values())
    for ref in refs:
        reused = results[ref.filename].reused_elf_bytes
        assert (reused > 0) == ("cp312" in ref.filename), ref.filename


def test_the_backlog_prefers_the_own_release_then_a_free_one(tmp_path: Path) -> None:
    refs = release_refs(tmp_path, ["a", "b", "c"], ["cp311", "cp312"])
    backlog = _Backlog(iter(refs))
    assert backlog.take(None, set()) is refs[0]  # a-cp311: the first
    assert backlog.take(None, {("a", "1.0")}) is refs[2]  # b-cp311: a is taken
    assert backlog.take(("a", "1.0"), {("b", "1.0")}) is refs[1]  # a-cp312: its own
    assert backlog.take(("a", "1.0"), {("b", "1.0")}) is refs[4]  # c-cp311: a is done
    assert backlog.take(None, {("b", "1.0"), ("c", "1.0")}) is refs[3]  # all taken: the first
    assert backlog.take(None, set()) is refs[5]
    assert backlog.take(None, set()) is None


def test_the_backlog_reads_no_further_than_its_look_ahead(tmp_path: Path) -> None:
    ref = release_refs(tmp_path, ["x"], ["cp312"])[0]
    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield ref

    backlog = _Backlog(endless())
    for _ in range(3):  # a release no wheel is of, beside the only one, which is taken
        backlog.take(("y", "1.0"), {("x", "1.0")})
    assert pulled == LOOKAHEAD + 2


@pytest.mark.slow
def test_a_worker_dying_on_its_queued_wheel_loses_no_result(tmp_path: Path) -> None:
    """Each worker has its next wheel waiting in its pipe: when it dies on that one right after
    sending a result, the parent's next send meets a broken pipe. The run goes on."""
    names = [n for i in range(200) for n in (f"a{i}", f"segfault{i}")]
    refs = make_refs(tmp_path, names)
    pool = LocalPool(MisbehavingTask(), workers=1, timeout=30.0)
    results = {r.ref.project: r for r in pool.results(refs)}
    assert sorted(results) == sorted(names)
    for name, result in results.items():
        if name.startswith("segfault"):
            assert result.verdict.code == "worker-crashed", name  # type: ignore[union-attr]
        else:
            assert result.ok, name


class PidTask:
    """The real audit, slowed down, with the worker's pid in place of the bytes read."""

    def __init__(self) -> None:
        self.audit = AuditTask()

    def __call__(self, ref: WheelRef) -> WheelResult:
        time.sleep(0.3)
        return dataclasses.replace(self.audit(ref), bytes_read=os.getpid())


def test_a_short_run_is_spread_over_every_worker(tmp_path: Path) -> None:
    """Two wheels, two workers: one each, not both queued on the first."""
    refs = make_refs(tmp_path, ["one", "two"])
    results = list(LocalPool(PidTask(), workers=2).results(refs))
    assert len({r.bytes_read for r in results}) == 2


def test_kept_workers_serve_the_next_call_and_a_crashed_one_is_replaced(tmp_path: Path) -> None:
    """The Dask engine's batches reuse their process (keep_workers): the same worker
    answers a second ``results``; one that died between calls is not handed work."""
    refs = make_refs(tmp_path, ["one", "two", "three"])
    pool = LocalPool(PidTask(), workers=1, keep_workers=True)
    try:
        first = {r.bytes_read for r in pool.results(refs[:1])}
        second = {r.bytes_read for r in pool.results(refs[1:2])}
        assert first == second and len(first) == 1  # one process for both calls
        (pid,) = first
        os.kill(pid, signal.SIGKILL)
        pool._kept[0].process.join(10)  # dead before the next call looks
        third = list(pool.results(refs[2:]))
        assert third[0].ok and third[0].bytes_read != pid  # a new worker, the wheel judged
    finally:
        pool.close()
    assert not pool._kept
    without = LocalPool(PidTask(), workers=1)
    pids = [r.bytes_read for ref in refs[:2] for r in without.results([ref])]
    assert pids[0] != pids[1]  # by default a call's workers stop with it


class _Listing:
    """A source that lists the wheels it is given, as an index page would, sha256 and all."""

    def __init__(self, name: str, refs: list[WheelRef]) -> None:
        self.name, self._refs = name, refs
        self.prepared = 0  # times read ahead

    def prepare(self) -> None:
        self.prepared += 1

    def wheels(self) -> Iterator[WheelRef]:
        return iter(self._refs)


def _audit_twice_listed(tmp_path: Path, refs: list[WheelRef]) -> RunCounts:
    """One run over two sources that list the same wheels, with two workers."""
    sources = [_Listing("first", refs), _Listing("second", list(refs))]
    with Store.open(tmp_path / "store.db") as store:
        run_id = store.begin_run("listed twice", policy_digest(None, None))
        pool = LocalPool(PreparingTask(AuditTask()), workers=2)
        counts = run_audit(sources, store, pool, run_id)
        store.finish_run(run_id, "finished", seen=counts.seen)
    # only the first listing is read ahead of the workers: a page read now for the second
    # would hold up the run's start (an index that is down: its retries) and be stale
    assert [source.prepared for source in sources] == [1, 0]
    return counts


def test_a_wheel_two_sources_list_is_audited_once(tmp_path: Path) -> None:
    """Both listings are read ahead before any result comes back; the second is skipped."""
    refs = [
        dataclasses.replace(r, sha256=hashlib.sha256(Path(r.location).read_bytes()).hexdigest())
        for r in release_refs(tmp_path, ["ra", "rb", "rc"], ["cp312"])
    ]
    counts = _audit_twice_listed(tmp_path, refs)
    assert (counts.seen, counts.audited, counts.skipped_known) == (6, 3, 3)
    assert counts.errors == 0


def test_a_wheel_listed_twice_without_hashes_is_audited_once(tmp_path: Path) -> None:
    """A directory given twice lists each file twice and no sha256: the location tells."""
    refs = release_refs(tmp_path, ["da", "db", "dc"], ["cp312"])
    assert all(r.sha256 is None for r in refs)
    counts = _audit_twice_listed(tmp_path, refs)
    assert (counts.seen, counts.audited, counts.skipped_known) == (6, 3, 3)
    assert counts.errors == 0
