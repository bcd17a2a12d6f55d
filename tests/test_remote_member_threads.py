"""One remote wheel's members read on several threads (``show URL``): what one thread fetches,
the same facts, and the members' round trips overlapping, counted by the delaying proxy
(tests/latencyproxy.py), never timed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.cli.show import MAX_THREADS
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import read_facts
from wheelscan.model import WheelFacts
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import GAP_TOLERANCE, HttpRangeReader

from corpus.fetch import fetch, load_entries
from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "corpus.json"
# the benchmark corpus's deepest wheel over HTTP: 19 round trips one after another with one
# thread (its members' starts extended one by one, benchmarks/results/remote-loopback.txt)
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
def test_show_url_overlaps_its_members_round_trips(server: IndexServer) -> None:
    """``show URL`` reads the wheel's members on ``MAX_THREADS`` threads: each member whose
    start proved short waits for its own extension, not for every other member's first."""
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
    assert deepest[1] >= 15
    # 8 of 19 on a quiet machine, 9 under load: an extension sent after another member's
    # answer came counts one deeper, however they overlap in time
    assert deepest[MAX_THREADS] <= deepest[1] * 2 // 3
