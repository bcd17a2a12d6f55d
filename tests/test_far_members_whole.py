"""Over a far link, a library that one round trip carries is fetched whole with the wheel's
planned parts (wheel/http.py, ``RemoteWheelArchive._planned_parts``): read by its parts, its
start extended and its end's search stepping back each cost a round trip more, one after
another. Round trips are counted by the delaying proxy (tests/latencyproxy.py), never timed.
Each reading has a session of its own: what a round trip takes is what that session saw."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from wheelscan.engine.worker import read_facts
from wheelscan.model import WheelFacts
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import (
    CENTRAL_SHARE,
    TAIL_SIZE,
    WHOLE_AT_MOST,
    WHOLE_RATE,
    HttpRangeReader,
    round_trip_bytes,
)

from corpus.fetch import fetch, load_entries
from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from latencyproxy import LatencyProxy
from wheelbuilder import build_wheel

CORPUS = Path(__file__).parent / "corpus" / "wheels.json"
# three libraries read in part from 512 KiB on (libstdc++, libzmq, libsodium): over a far
# link, libstdc++'s end searched further back, then its start extended to its strings, each
# one round trip after the plan's parts
WHEEL = "pyzmq-27.3.0-cp312-abi3-musllinux_1_2_x86_64.whl"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


class FarRead(NamedTuple):
    facts: WheelFacts
    fetched: int  # bytes
    requests: int
    deepest: int  # round trips one after another (the proxy's count)
    carried: int  # what a round trip carried, as the session knew it before the reading


def _far_read(server: IndexServer, path: Path, round_trip: float, probes: int = 0) -> FarRead:
    """A reading of ``path`` through ``round_trip`` seconds of delay, one thread, by a
    session of its own that first asked ``probes`` times for a small file on the same link
    (its round trip learnt; a new connection's first answer is longer)."""
    (server.web / "packages" / "probe.bin").write_bytes(b"x")
    address = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    with LatencyProxy(address, round_trip) as proxy, HttpSession() as session:
        url = server.file_url(path).replace(server.url.removeprefix("http://"), proxy.address)
        for _ in range(probes):
            session.get(url.replace(path.name, "probe.bin"), limit=1)
        carried = round_trip_bytes(session, url)
        with open_remote_archive(url, path.stat().st_size, session=session) as archive:
            assert isinstance(archive.reader, HttpRangeReader)
            facts = read_wheel_facts(archive, path.name)
            reader = archive.reader
        deepest = proxy.deepest("/packages/" + path.name)
        return FarRead(facts, reader.bytes_fetched, reader.requests, deepest, carried)


@pytest.mark.network  # a wheel of the tests' corpus, fetched into the cache
def test_a_far_link_fetches_a_library_a_round_trip_carries_whole(server: IndexServer) -> None:
    (wheel,) = fetch([e for e in load_entries(CORPUS) if e["filename"] == WHEEL])
    path = server.web / "packages" / WHEEL
    path.symlink_to(wheel)
    with zipfile.ZipFile(wheel) as archive:
        largest = max(archive.infolist(), key=lambda info: info.compress_size)
    assert largest.filename.startswith("pyzmq.libs/libstdc++")
    # long enough that a round trip carries the largest library's compressed bytes
    round_trip = 1.2 * largest.compress_size / WHOLE_RATE
    read = _far_read(server, path, round_trip)
    assert read.facts == read_facts(path, WHEEL)
    # the tail, the members' first bytes, the libraries whole (five round trips in part)
    assert read.deepest <= 3
    assert read.fetched < path.stat().st_size


def test_a_library_whose_parts_are_held_is_not_fetched_again(server: IndexServer) -> None:
    """A library whose parts came with the wheel's first bytes (over a far link the tail's
    request asks for the first 128 KiB too) is read from what is held: being small enough
    to fetch whole is no reason for one more request."""
    noise = random.Random(5)
    # its tables in its first bytes, then bytes that do not compress: read by a prefix
    library = build_elf(sample_spec("x86_64", interpreter=None)) + noise.randbytes(600_000)
    name = "held-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path = server.web / "packages" / name
    # over what a far link fetches whole (WHOLE_AT_MOST): the wheel is read by its ranges
    files = {"held/_ext.so": library, "held/data.txt": noise.randbytes(600_000)}
    path.write_bytes(build_wheel(files, name="held"))
    assert path.stat().st_size > WHOLE_AT_MOST
    with zipfile.ZipFile(path) as archive:  # a round trip of 0.2 s carries it
        assert archive.infolist()[0].compress_size <= 0.2 * WHOLE_RATE
    read = _far_read(server, path, 0.2, probes=1)
    assert read.facts == read_facts(path, name)
    assert len(read.facts.elf_files) == 1
    assert read.requests == 1  # its tail and first bytes
    assert read.fetched < 300_000


def test_a_far_link_asks_for_a_large_wheel_s_central_directory_with_its_tail(
    server: IndexServer,
) -> None:
    """Over a far link the first request asks for as much of a large wheel's end as its
    central directory may take (http_ranges.py's ``CENTRAL_SHARE``), not TAIL_SIZE: a
    directory longer than that cost a round trip of its own before the plan."""
    noise = random.Random(7)
    files = {f"many/m{i:04d}.py": b"x = %d\n" % i for i in range(1200)}
    files["many/data.txt"] = noise.randbytes(8 << 20)  # never fetched: never an ELF file
    name = "many-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path = server.web / "packages" / name
    path.write_bytes(build_wheel(files, name="many"))
    with zipfile.ZipFile(path) as archive:  # RECORD, then the directory: what the plan needs
        needed = path.stat().st_size - archive.getinfo("many-1.0.dist-info/RECORD").header_offset
    assert TAIL_SIZE < needed <= path.stat().st_size // CENTRAL_SHARE
    read = _far_read(server, path, 0.1, probes=2)
    assert read.carried // 4 >= path.stat().st_size // CENTRAL_SHARE
    assert read.facts == read_facts(path, name)
    assert read.requests == 1  # its tail (the directory and RECORD with it) and first bytes
