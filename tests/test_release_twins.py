"""One release's wheels over HTTP: a vendored library they share is fetched once (issue #15).

A member read in part over HTTP is not fetched whole when its twins are told (over a far
link a small one is, afterwards), so it has no digest to tell a repeat by; within one
project and version its identity is trusted instead (name, CRC-32, sizes and its first
compressed bytes: wheel/dedupe.py's ``ReleaseScope``). The oracle is
the directory audit of the same wheels: every fact and verdict equal, while the twin's
parts are not fetched again; another release, another library under the same name, and
``--strict`` never take a twin's facts.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.test_remote_ends import MID_SIZE, late_dynamic_library

from wheelscan.elf import ElfFacts
from wheelscan.store.codec import unpack
from wheelscan.wheel.archive import Member
from wheelscan.wheel.dedupe import FactsCache

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from mirror import build_mirror
from wheelbuilder import build_wheel

LIBRARY = "twin.libs/libshared.so"
ORIGIN = "http://127.0.0.1:8080"


def twin_wheel(version: str, python: str, library: bytes) -> tuple[str, bytes]:
    name = f"twin-{version}-{python}-{python}-manylinux_2_17_x86_64.whl"
    extension = build_elf(sample_spec("x86_64", interpreter=None))
    files = {f"twin/_ext.{python}-x86_64-linux-gnu.so": extension, LIBRARY: library}
    return name, build_wheel(files, name="twin", version=version)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two wheels of twin 1.0 sharing the library byte for byte, one of twin 2.0 with it
    too, and a wheel of 1.0 for another Python with another library under the same name."""
    shared = late_dynamic_library(MID_SIZE)
    other = late_dynamic_library(MID_SIZE + 4096)
    made = [
        twin_wheel("1.0", "cp311", shared),
        twin_wheel("1.0", "cp312", shared),
        twin_wheel("2.0", "cp312", shared),
        twin_wheel("1.0", "cp313", other),
    ]
    wheels = tmp_path_factory.mktemp("wheels")
    for name, data in made:
        (wheels / name).write_bytes(data)
    return wheels


def audit(source: str, db: Path, *more: str) -> float:
    """The run's summary figure of ELF bytes deduplicated, in MB."""
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "audit", source, "--db", str(db), "--workers", "1",
         "--fail-on", "none", *more],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r"([\d.]+) MB deduplicated", done.stdout)
    assert found is not None, done.stdout
    return float(found.group(1))


def stored(db: Path) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(db) as store:
        rows = store.execute(
            "SELECT w.filename, w.sha256, w.facts, v.verdict, w.read_error_code FROM wheels w "
            "LEFT JOIN verdicts v ON v.wheel_id = w.id"
        ).fetchall()
    return {
        name: (sha, facts and unpack(facts), verdict and unpack(verdict), error)
        for name, sha, facts, verdict, error in rows
    }


def fetched(server: IndexServer, filename: str) -> int:
    return sum(s.body_bytes for s in server.served(filename))


def test_a_release_fetches_its_shared_library_once(release: Path, tmp_path: Path) -> None:
    mirror = build_mirror(tmp_path / "mirror", sorted(release.iterdir()))
    audit(str(mirror.root), tmp_path / "local.db")
    with IndexServer(mirror.root / "web") as server:
        deduplicated = audit(server.index_url, tmp_path / "remote.db")
        sizes = {p.name: p.stat().st_size for p in release.iterdir()}
        first, second = sorted(
            n for n in sizes if n.startswith("twin-1.0-cp31") and "cp313" not in n
        )
        # one of the two 1.0 wheels read the library by its parts; the other took its facts
        spent = sorted([fetched(server, first), fetched(server, second)])
        other_release = fetched(server, next(n for n in sizes if n.startswith("twin-2.0")))
        other_library = fetched(server, next(n for n in sizes if "cp313" in n))
    assert stored(tmp_path / "remote.db") == stored(tmp_path / "local.db")
    assert spent[0] < spent[1] / 4, spent
    # another release and another library under the same name are read on their own
    assert other_release > spent[1] / 2 and other_library > spent[1] / 2
    assert deduplicated == round(MID_SIZE / 1e6)  # the summary's MB


def test_strict_fetches_every_wheel_whole(release: Path, tmp_path: Path) -> None:
    """--strict trusts no identity: each wheel is fetched whole and its bytes checked (a
    library two wheels share byte for byte may still be parsed once: its bytes are compared,
    the dedupe of a local file)."""
    mirror = build_mirror(tmp_path / "mirror", sorted(release.iterdir()))
    audit(str(mirror.root), tmp_path / "local.db", "--strict")
    with IndexServer(mirror.root / "web") as server:
        audit(server.index_url, tmp_path / "strict.db", "--strict")
        for path in release.iterdir():
            assert fetched(server, path.name) >= path.stat().st_size  # every byte, each wheel
    assert stored(tmp_path / "strict.db") == stored(tmp_path / "local.db")


def member(name: str = LIBRARY, crc: int = 1) -> Member:
    return Member(name, 8, crc, 1 << 20, 3 << 20, 0)


def test_a_twin_needs_the_same_identity_and_first_bytes() -> None:
    cache = FactsCache()
    facts = ElfFacts.__new__(ElfFacts)  # an identity object: only its reuse is asserted
    first = cache.release(ORIGIN, "twin", "1.0")
    assert first.claim([(member(), b"head")]) == {}
    first.remember(member(), facts)
    first.close()
    assert cache.release(ORIGIN, "twin", "1.0").claim([(member(), b"head")]) == {0: facts}
    assert cache.release(ORIGIN, "twin", "2.0").claim([(member(), b"head")]) == {}
    assert cache.release(ORIGIN, "twin", "1.0").claim([(member(), b"other head")]) == {}
    assert cache.release(ORIGIN, "twin", "1.0").claim([(member(crc=2), b"head")]) == {}
    assert cache.release(ORIGIN, "twin", "1.0").claim([(member("x/other.so"), b"head")]) == {}


def test_a_claim_never_read_is_let_go() -> None:
    cache = FactsCache()
    reading = cache.release(ORIGIN, "twin", "1.0")
    assert reading.claim([(member(), b"head")]) == {}
    reading.close()  # its wheel failed before it parsed the member
    waiting = cache.release(ORIGIN, "twin", "1.0")
    assert waiting.claim([(member(), b"head")]) == {}  # claimed again, not waited for


def test_another_index_s_file_is_no_twin() -> None:
    cache = FactsCache()
    facts = ElfFacts.__new__(ElfFacts)
    first = cache.release(ORIGIN, "twin", "1.0")
    first.claim([(member(), b"head")])
    first.remember(member(), facts)
    assert cache.release("http://elsewhere:80", "twin", "1.0").claim([(member(), b"head")]) == {}


def test_a_twin_being_read_is_waited_for() -> None:
    cache = FactsCache()
    facts = ElfFacts.__new__(ElfFacts)
    reading = cache.release(ORIGIN, "twin", "1.0")
    assert reading.claim([(member(), b"head")]) == {}
    got: list[dict[int, ElfFacts]] = []
    waiter = threading.Thread(
        target=lambda: got.append(cache.release(ORIGIN, "twin", "1.0").claim([(member(), b"head")]))
    )
    waiter.start()
    reading.remember(member(), facts)  # the waiter, waiting or not yet, takes these facts
    waiter.join(timeout=60)
    assert got == [{0: facts}]


def test_a_member_being_read_with_other_first_bytes_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("wheelscan.wheel.dedupe.TWIN_WAIT", 600.0)
    cache = FactsCache()
    reading = cache.release(ORIGIN, "twin", "1.0")
    assert reading.claim([(member(), b"head")]) == {}
    # still being read: a member with other first bytes is no twin of it, and its claim
    # returns at once (it waited the whole TWIN_WAIT for a twin that could never serve)
    got: list[dict[int, ElfFacts]] = []
    other = threading.Thread(
        target=lambda: got.append(cache.release(ORIGIN, "twin", "1.0").claim([(member(), b"x")]))
    )
    other.start()
    other.join(timeout=60)  # a bound on a hang, not a measurement
    done = not other.is_alive()
    reading.close()  # lets a waiting claim go, whatever happened
    other.join()
    assert done and got == [{}]
