"""A worker reads several remote wheels at once (engine/inflight.py), and still gives each
wheel exactly one record: its own, whatever another wheel in flight beside it does."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.test_engine import MisbehavingTask

from wheelscan.engine.inflight import IN_FLIGHT_BYTES, UNKNOWN_SIZE, WHEELS_IN_FLIGHT
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import read_facts
from wheelscan.sources.base import WheelRef
from wheelscan.store.codec import pack, prepare, unpack
from wheelscan.wheel import httpclient as httpclient_module
from wheelscan.wheel import remote as remote_module
from wheelscan.wheel.codec import facts_to_json

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from wheelbuilder import build_wheel


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with IndexServer(tmp_path) as running:
        yield running


def remote_refs(server: IndexServer, names: list[str]) -> list[WheelRef]:
    (server.web / "packages").mkdir(exist_ok=True)
    refs = []
    for index, name in enumerate(names):
        elf = build_elf(sample_spec("x86_64", interpreter=None, soname=f"lib{index}.so"))
        data = build_wheel({f"{name}/_mod.cpython-312-x86_64-linux-gnu.so": elf}, name=name)
        path = server.web / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(data)
        refs.append(WheelRef(path.name, name, "1.0", server.file_url(path), size=len(data)))
    return refs


def test_one_worker_reads_several_remote_wheels_at_once(server: IndexServer) -> None:
    """Each answer held 0.3 s: one wheel at a time, never two requests would be in flight
    (each of these wheels is one request); the worker has several out at once."""
    server.answer_delay = 0.3
    refs = remote_refs(server, [f"w{i}" for i in range(8)])
    results = list(LocalPool(AuditTask(), workers=1).results(refs))
    assert sorted(r.ref.project for r in results) == sorted(r.project for r in refs)
    for result in results:
        path = server.web / "packages" / result.ref.filename
        assert result.facts == read_facts(path, result.ref.filename)
    assert server.most_in_flight > 1


def test_a_wheel_of_no_given_size_weighs_its_size_once_an_answer_names_it(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PEP 503 page gives no size: such a wheel counts against what a worker's wheels in
    flight may weigh as what its first answer may hold, then as its size once the answer
    names it (tests/test_inflight_weights.py). Each of these is read in two requests, each
    held 0.3 s: counted as UNKNOWN_SIZE throughout, 15 were in flight at most
    (IN_FLIGHT_BYTES less what the allocator keeps); weighed by its size after its first
    answer, up to what the pool queues on the worker (WHEELS_IN_FLIGHT)."""
    # no answer seen by this process's sessions (an earlier test's, from a port this
    # server may reuse, would make the link near: 4 wheels queued, NEAR_WHEELS_IN_FLIGHT)
    monkeypatch.setattr(httpclient_module, "_DEFAULT_SESSIONS", [])
    server.answer_delay = 0.3
    refs = unsized_refs(server, 48, 600_000)
    assert IN_FLIGHT_BYTES // UNKNOWN_SIZE == 16 < WHEELS_IN_FLIGHT
    results = list(LocalPool(AuditTask(), workers=1).results(refs))
    assert len(results) == len(refs) and all(r.ok for r in results)
    assert server.most_in_flight > IN_FLIGHT_BYTES // UNKNOWN_SIZE


def unsized_refs(server: IndexServer, count: int, noise_bytes: int) -> list[WheelRef]:
    """Wheels listed as a PEP 503 page lists them: a hash, no size."""
    (server.web / "packages").mkdir(exist_ok=True)
    noise = random.Random(4)
    refs = []
    for index in range(count):
        name = f"unsized{index}"
        elf = build_elf(sample_spec("x86_64", interpreter=None, soname=f"lib{index}.so"))
        files = {f"{name}/_mod.so": elf, f"{name}/data.bin": noise.randbytes(noise_bytes)}
        path = server.web / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(data := build_wheel(files, name=name))
        sha256 = hashlib.sha256(data).hexdigest()
        refs.append(WheelRef(path.name, name, "1.0", server.file_url(path), sha256, None))
    return refs


@pytest.mark.parametrize("ignore_range", [False, True])
def test_unsized_wheels_are_asked_for_together_where_ranges_are_answered(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch, ignore_range: bool
) -> None:
    """Small wheels of no given size, each read in one request held 0.3 s. Once the
    server has answered a range with its part, each counts as the suffix it is asked for:
    more than 16 are in flight at once (counted as UNKNOWN_SIZE until named, 15 were). A
    server that ignores ranges answers each suffix with the whole file: each counts as
    UNKNOWN_SIZE then, 15 at once at most."""
    monkeypatch.setattr(httpclient_module, "_DEFAULT_SESSIONS", [])  # no link known
    server.answer_delay = 0.3
    server.ignore_range = ignore_range
    refs = unsized_refs(server, 48, 20_000)
    results = list(LocalPool(AuditTask(), workers=1).results(refs))
    assert len(results) == len(refs) and all(r.ok for r in results)
    assert len(server.log) == len(refs)  # one request each: the suffix is the whole file
    if ignore_range:
        assert 1 <= server.most_in_flight <= IN_FLIGHT_BYTES // UNKNOWN_SIZE
    else:
        assert server.most_in_flight > IN_FLIGHT_BYTES // UNKNOWN_SIZE


def test_unsized_wheels_fetched_whole_count_as_large(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--strict`` fetches each wheel whole, in one GET that is no range: from an origin
    known to answer ranges, such a wheel of no given size still counts as UNKNOWN_SIZE
    while it comes, 15 at once at most."""
    monkeypatch.setattr(httpclient_module, "_DEFAULT_SESSIONS", [])
    server.answer_delay = 0.3
    refs = unsized_refs(server, 48, 20_000)
    remote_module.answered_range(server.url, True)  # inherited by the forked worker
    results = list(LocalPool(AuditTask(strict=True), workers=1).results(refs))
    assert len(results) == len(refs) and all(r.ok for r in results)
    assert all(served.range is None for served in server.log)  # whole, not a suffix
    assert 1 <= server.most_in_flight <= IN_FLIGHT_BYTES // UNKNOWN_SIZE


@pytest.mark.slow
def test_a_wheel_that_kills_its_worker_among_others_in_flight_gets_the_record(
    server: IndexServer,
) -> None:
    """The worker dies while it reads several wheels: which one killed it is unknown, so
    each is read again on a worker of its own; only the culprits get records of failure."""
    names = ["a", "segfault", "b", "killed", "c", "hang", "d", "e"]
    refs = remote_refs(server, names)
    pool = LocalPool(MisbehavingTask(), workers=2, timeout=3.0)
    results = {r.ref.project: r for r in pool.results(refs)}
    assert sorted(results) == sorted(names)
    assert results["segfault"].verdict.code == "worker-crashed"  # type: ignore[union-attr]
    assert results["killed"].verdict.code == "worker-crashed"  # type: ignore[union-attr]
    assert results["hang"].verdict.code == "timeout"  # type: ignore[union-attr]
    for name in "abcde":
        assert results[name].ok, name


def test_results_prepared_on_several_threads_are_stored_intact(tmp_path: Path) -> None:
    """A worker reading wheels on threads prepares their results there (store/codec.py):
    one zstd compressor shared by the threads made corrupt blobs."""
    refs = local_refs(tmp_path)
    result = AuditTask()(refs[0])
    assert result.facts is not None
    expected = facts_to_json(result.facts)
    blobs: list[bytes] = []

    def encode() -> None:
        for _ in range(200):
            prepared = prepare(result)
            assert prepared.facts is not None
            blobs.append(prepared.facts)

    threads = [threading.Thread(target=encode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(blobs) == 1600
    assert all(unpack(blob) == unpack(pack(expected)) for blob in blobs)


def local_refs(tmp_path: Path) -> list[WheelRef]:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    path = tmp_path / "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(build_wheel({"demo/_mod.cpython-312-x86_64-linux-gnu.so": elf}))
    return [WheelRef(path.name, "demo", "1.0", str(path))]
