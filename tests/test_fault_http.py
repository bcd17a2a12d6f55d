"""Remote wheels over a network that fails: bodies cut short, connections reset, answers that
never come or crawl. Each transient failure is retried; a wheel whose bytes never arrive gets
a ``download-failed`` record of its own; every wheel whose bytes arrived gets the verdict and
facts of a local read of the same file.

(HTTP 5xx, retries after them and servers ignoring Range: tests/test_http_ranges.py.)
"""

from __future__ import annotations

import random
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import audit, read_facts
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import httpclient
from wheelscan.wheel.archive import WheelError
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive

from elfwriter import Sym, build_elf, sample_spec
from hostile.faultserver import FaultServer
from wheelbuilder import build_wheel

TRIES = 3


def make_wheel(i: int) -> tuple[str, bytes]:
    spec = sample_spec("x86_64", interpreter=None)
    extra = Sym(f"fn{i}", version=f"GLIBC_2.{17 + i}", version_file="libc.so.6")
    spec.symbols = [*spec.symbols, extra]
    name = f"demo{i}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    return name, build_wheel({"demo/_mod.cpython-312-x86_64-linux-gnu.so": build_elf(spec)})


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheels")
    paths = {}
    for i in range(6):
        name, data = make_wheel(i)
        paths[name] = root / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def server(wheels: dict[str, Path]) -> Iterator[FaultServer]:
    with FaultServer({f"/packages/{n}": p.read_bytes() for n, p in wheels.items()}) as running:
        yield running


@pytest.fixture
def session() -> Iterator[HttpSession]:
    with HttpSession(timeout=0.5, tries=TRIES, backoff=0.01) as client:
        yield client


def remote_facts(server: FaultServer, path: Path, session: HttpSession) -> object:
    url = server.url(f"/packages/{path.name}")
    with open_remote_archive(url, path.stat().st_size, session=session) as archive:
        return read_wheel_facts(archive, path.name)


@pytest.mark.parametrize("fault", ["truncate", "reset", "slow"])
def test_a_transient_failure_is_retried_and_changes_nothing(
    fault: str, server: FaultServer, session: HttpSession, wheels: dict[str, Path]
) -> None:
    server.slow_seconds = 2.0  # four times the session's per-request timeout
    name, path = next(iter(wheels.items()))
    server.faults = [fault] * (TRIES - 1)  # the last try gets through
    started = time.monotonic()
    assert remote_facts(server, path, session) == read_facts(path, name)
    assert time.monotonic() - started < 10
    faulted = [f for _, f in server.requests(f"/packages/{name}") if f]
    assert faulted == [fault] * (TRIES - 1)


@pytest.mark.parametrize("fault", ["truncate", "reset", "slow", "truncate-unframed"])
def test_a_failure_that_lasts_gives_download_failed(
    fault: str, server: FaultServer, session: HttpSession, wheels: dict[str, Path]
) -> None:
    name, path = next(iter(wheels.items()))
    server.slow_seconds = 1.0
    server.always[f"/packages/{name}"] = fault
    with pytest.raises(WheelError) as failure:
        remote_facts(server, path, session)
    assert failure.value.code == "download-failed"
    attempts = len(server.requests(f"/packages/{name}"))
    # a body cut short without a length can only be caught by what was asked for: it is
    # refused at once, not retried (the server answered; it answered wrong)
    assert attempts == 1 if fault == "truncate-unframed" else attempts >= TRIES


@pytest.mark.slow
def test_a_batch_over_a_failing_network(
    server: FaultServer,
    session: HttpSession,
    wheels: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the worker pool: two wheels never arrive (a reset; a trickle, which each
    request's deadline cuts off long before the per-wheel limit), the others arrive despite
    transient faults, and equal local reads."""
    monkeypatch.setattr(httpclient, "default_session", lambda timeout: session)  # forked
    names = list(wheels)
    lost, crawling = names[0], names[1]
    server.always = {f"/packages/{lost}": "reset", f"/packages/{crawling}": "trickle"}
    server.faults = ["truncate", "reset", "truncate"]  # scattered over the first requests
    refs = [WheelRef(n, n, "1.0", server.url(f"/packages/{n}"), size=wheels[n].stat().st_size)
            for n in names]  # fmt: skip
    started = time.monotonic()
    results = {r.ref.filename: r for r in LocalPool(AuditTask(), 2, timeout=4).results(refs)}
    assert time.monotonic() - started < 30
    assert results[lost].verdict.code == "download-failed"  # type: ignore[union-attr]
    assert results[crawling].verdict.code == "download-failed"  # type: ignore[union-attr]
    assert "no complete answer" in results[crawling].verdict.reason  # type: ignore[union-attr]
    for name in names[2:]:
        assert results[name].verdict == audit(wheels[name], name), name
        assert results[name].facts == read_facts(wheels[name], name), name


def spread_wheel(noise_seed: int, noise_size: int) -> bytes:
    """An ELF member first, then data no audit reads: the tail and the member are two requests."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    noise = random.Random(noise_seed).randbytes(noise_size)
    return build_wheel(
        {"demo/_mod.cpython-312-x86_64-linux-gnu.so": elf, "demo/data.txt": noise},
        compression=zipfile.ZIP_STORED,
    )


@pytest.mark.parametrize(
    ("etags", "second_size"),
    [(True, 300_000), (False, 300_001)],  # an ETag tells; without one, the total does
    ids=["etag", "content-range-total"],
)
def test_a_file_that_changes_between_requests_is_never_mixed(
    etags: bool, second_size: int, session: HttpSession
) -> None:
    first, second = spread_wheel(1, 300_000), spread_wheel(2, second_size)
    path = "/packages/demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    with FaultServer({path: first}, versions={path: [first, second]}, etags=etags) as server:
        with pytest.raises(WheelError) as failure:  # noqa: SIM117 (the archive's opening raises)
            with open_remote_archive(server.url(path), session=session) as archive:
                read_wheel_facts(archive, path.rpartition("/")[2])
        assert failure.value.code == "file-changed"
        assert len(server.requests(path)) == 2  # the tail, then the member: refused at once
