"""One remote wheel's members read on several threads (``show URL``): what one thread fetches,
the same facts, and the members' round trips overlapping, counted by the delaying proxy
(tests/latencyproxy.py), never timed."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wheelscan.cli.show import MAX_THREADS
from wheelscan.engine import task as task_module
from wheelscan.engine.task import MEMBER_HELPERS, AuditTask
from wheelscan.engine.worker import read_facts
from wheelscan.model import WheelFacts
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import http as http_module
from wheelscan.wheel import httpclient as httpclient_module
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import GAP_TOLERANCE, NEAR, HttpRangeReader

from corpus.fetch import fetch, load_entries
from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "corpus.json"
# the benchmark corpus's deepest wheel over HTTP: 19 round trips one after another with one
# thread (its members' starts extended one by one, benchmarks/results/remote-loopback.txt);
# 13-14 at 200 ms since its libraries that a round trip carries come whole (wheel/http.py)
DEEPEST = "pyarrow-26.0.1-cp312-cp312-manylinux_2_28_aarch64.whl"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


def test_members_read_on_threads_fetch_what_one_thread_fetches(server: IndexServer) -> None:
    """Beside its libraries, a wheel holds files no ELF file is named like (``.txt``,
    ``.json``): a remote reading never fetches them (wheel/http.py's ``may_be_elf``). Read
    on several threads, the archive's own search is kept: sniffing every member a local
    reading would look at fetched each one's first bytes, a request each."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    noise = random.Random(3)
    files: dict[str, bytes] = {}
    for i in range(3):
        files[f"pkg/_mod{i}.cpython-312-x86_64-linux-gnu.so"] = elf + bytes([i])
        # farther apart than one request spans (GAP_TOLERANCE): each a request of its own
        for kind in ("txt", "json"):
            files[f"pkg/data/{kind}{i}.{kind}"] = noise.randbytes(GAP_TOLERANCE + 4096)
    name = "threads-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path = server.web / "packages" / name
    path.write_bytes(build_wheel(files, name="threads"))
    read: dict[int, tuple[WheelFacts, int]] = {}
    with HttpSession(backoff=0.01) as session:
        for threads in (1, 4):
            with open_remote_archive(
                server.file_url(path), path.stat().st_size, session=session, whole_below=0
            ) as archive:
                assert isinstance(archive.reader, HttpRangeReader)
                facts = read_wheel_facts(archive, name, threads=threads)
                read[threads] = (facts, archive.reader.requests)
    assert read[4][0] == read[1][0] == read_facts(path, name)
    assert len(read[4][0].elf_files) == 3
    assert read[4][1] == read[1][1] <= 3  # the tail, the plan, its parts


@pytest.mark.network  # a wheel of the benchmark corpus, fetched into the cache
def test_show_url_overlaps_its_members_round_trips(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``show URL`` reads the wheel's members on ``MAX_THREADS`` threads: each member whose
    start proved short waits for its own extension, not for every other member's first.
    Each reading has a session of its own: the process's keeps the round trips of 64
    origins at most, past which this far link would be taken for the quickest seen. The
    starts are fetched first only as far as their guess, as over a near link, so that
    they prove short (``START_AHEAD``: with it, 7 round trips deep on one thread and 4 on
    ``MAX_THREADS``)."""
    monkeypatch.setattr(httpclient_module, "session_for", lambda deadline: HttpSession())
    monkeypatch.setattr(http_module, "START_AHEAD", 0)
    (wheel,) = fetch([e for e in load_entries(BENCHMARK) if e["filename"] == DEEPEST])
    path = server.web / "packages" / DEEPEST
    path.symlink_to(wheel)
    deepest: dict[int, int] = {}
    facts: dict[int, object] = {}
    for threads in (1, MAX_THREADS):
        # a round trip long beside the machine's scheduling and the members' inflation:
        # a request sent after an answer came is one deeper (the proxy's count)
        with LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), 0.2) as proxy:
            url = server.file_url(path).replace(server.url.removeprefix("http://"), proxy.address)
            task = AuditTask(keyed=False, member_threads=threads)
            result = task(WheelRef(DEEPEST, "", "", url))
            deepest[threads] = proxy.deepest("/packages/" + DEEPEST)
        facts[threads] = result.facts
    assert facts[MAX_THREADS] == facts[1] == read_facts(path, DEEPEST)
    assert deepest[1] >= 12
    # 8 of 19 on a quiet machine, 9 under load; 7 of 13-14 since the small libraries come
    # whole: an extension sent after another member's answer came counts one deeper,
    # however they overlap in time
    assert deepest[MAX_THREADS] <= deepest[1] - 4


def _threads_used(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``threads`` each remote wheel's reading was given by the audit task (the reading
    itself runs as it would: this only notes its argument)."""
    used: list[int] = []
    reading = task_module.read_wheel_facts

    def noted(archive: object, filename: str, *args: object, **kwargs: Any) -> WheelFacts:
        used.append(kwargs.get("threads", 1))
        return reading(archive, filename, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(task_module, "read_wheel_facts", noted)
    return used


def test_an_audit_reads_a_large_far_wheels_members_on_threads(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an audit's worker, a wheel's members are read on ``member_threads`` threads only
    where that saves round trips: from a far origin (its tail answered in NEAR or more), a
    wheel of ``MEMBER_THREADS_FROM`` bytes or more whose bytes are not all at hand; near,
    small, or fetched whole, on the wheel's own thread (threads only cost CPU there).
    ``show URL`` (``alone``) reads on threads whatever the wheel. The threads borrowed are
    given back."""
    monkeypatch.setattr(task_module, "MEMBER_THREADS_FROM", 1 << 20)
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    noise = random.Random(23).randbytes(3 << 19)  # the wheel over the (lowered) threshold
    files = {f"pkg/_mod{i}.cpython-312-x86_64-linux-gnu.so": elf + bytes([i]) for i in range(3)}
    large = {**files, "pkg/data/blob.bin": noise}
    used = _threads_used(monkeypatch)
    port = int(server.url.rsplit(":", 1)[1])
    sessions: list[HttpSession] = []

    def fresh_session(deadline: float | None) -> HttpSession:
        sessions.append(HttpSession(backoff=0.01))  # the round trips it sees are its origin's
        return sessions[-1]

    monkeypatch.setattr(httpclient_module, "session_for", fresh_session)
    cases = []
    with LatencyProxy(("127.0.0.1", port), 0.05) as proxy:
        for name, content, far, alone in [
            ("large-1.0", large, True, False),
            ("small-1.0", files, True, False),
            ("near-1.0", large, False, False),
            ("shown-1.0", files, False, True),
        ]:
            filename = f"{name}-cp312-cp312-manylinux_2_17_x86_64.whl"
            path = server.web / "packages" / filename
            path.write_bytes(build_wheel(content, name=name.split("-")[0]))
            url = server.file_url(path)
            if far:
                url = url.replace(server.url.removeprefix("http://"), proxy.address)
            task = AuditTask(keyed=False, alone=alone)
            if not far:  # its origin seen answering from near by, whatever the machine's load
                near = _near(url, fresh_session(None))
                monkeypatch.setattr(httpclient_module, "session_for", lambda _, s=near: s)
            result = task(WheelRef(filename, "", "", url, size=path.stat().st_size))
            assert result.facts is not None and len(result.facts.elf_files) == 3
            cases.append(used[-1])
            monkeypatch.setattr(httpclient_module, "session_for", fresh_session)
    for session in sessions:
        session.close()
    assert cases == [MAX_THREADS, 1, 1, MAX_THREADS]
    assert task_module._HELPERS.borrow(MEMBER_HELPERS) == MEMBER_HELPERS  # all given back
    task_module._HELPERS.give(MEMBER_HELPERS)


def _near(url: str, session: HttpSession) -> HttpSession:
    """``session``, having seen ``url``'s origin answer from near by."""
    session._quickest[httpclient_module._origin(httpclient_module._normalised(url))] = NEAR / 10
    return session


def test_member_threads_come_from_the_process_budget() -> None:
    """However many large wheels a worker reads at once, their member threads stay within
    ``MEMBER_HELPERS`` (each stack counts against RLIMIT_DATA): a wheel takes what is free,
    none when nothing is, and gives them back."""
    helpers = task_module._Helpers(MEMBER_HELPERS)
    taken = [helpers.borrow(3) for _ in range(MEMBER_HELPERS // 3 + 2)]
    assert taken[: MEMBER_HELPERS // 3] == [3] * (MEMBER_HELPERS // 3)
    assert taken[MEMBER_HELPERS // 3 :] == [MEMBER_HELPERS % 3, 0]
    helpers.give(3)
    assert helpers.borrow(5) == 3


def test_member_threads_stay_within_their_share_of_a_tight_limit() -> None:
    """Under a tight RLIMIT_DATA (a worker's ``--max-member-size`` small) the helpers are
    fewer: their stacks take at most ``MEMBER_HELPERS_SHARE`` of it."""
    script = (
        "import resource\n"
        "_, hard = resource.getrlimit(resource.RLIMIT_DATA)\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (256 << 20, hard))\n"
        "from wheelscan.engine import task\n"
        "print(task._Helpers(task.MEMBER_HELPERS).borrow(100))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert 1 <= int(out) < MEMBER_HELPERS
