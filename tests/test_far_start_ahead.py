"""Over a far link, the start of a library read by its ends is fetched at first as far as
its program headers bound its tables (wheel/http.py, ``RemoteWheelArchive._start_ahead``;
``tables_bound``, native). A start that falls short waits for the end, which names where
the strings lie, and then for its own extension: a round trip more for its wheel.

``tables_bound`` is checked against its rule over pyelftools' reading of the headers; the
round trips are counted by the delaying proxy (tests/latencyproxy.py), never timed.
"""

from __future__ import annotations

import io
import random
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from tests.test_far_members_whole import FarRead, _far_read

from wheelscan._native import tables_bound
from wheelscan.engine.worker import read_facts
from wheelscan.wheel import contents
from wheelscan.wheel import http as http_module
from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.ends import FIRST_PREFIX, HEAD_BYTES
from wheelscan.wheel.http import (
    START_AHEAD,
    START_AHEAD_AT_MOST,
    RemoteWheelArchive,
    open_remote_archive,
)
from wheelscan.wheel.http_ranges import is_far
from wheelscan.wheel.inflate import PREFIX_SLACK

from elfwriter import MACHINES, Sym, build_elf, sample_spec
from indexserver import IndexServer
from wheelbuilder import build_wheel

LIBRARY_SIZE = 3 << 20  # read by its ends over HTTP (from 512 KiB on)
DATA = 384 << 10  # bytes that do not deflate before PT_DYNAMIC, as in test_remote_ends.py


def reference_tables_bound(data: bytes) -> int | None:
    """``tables_bound``'s rule over pyelftools' reading of the ELF and program headers."""
    elf = ELFFile(io.BytesIO(data))
    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    if not loads:
        return None
    first, entry = loads[0], elf.header.e_entry
    if not first["p_flags"] & 1:  # PF_X
        return int(first["p_offset"] + first["p_filesz"])
    if first["p_vaddr"] < entry < first["p_vaddr"] + first["p_filesz"]:
        return int(first["p_offset"] + entry - first["p_vaddr"])
    return None


def test_tables_bound_agrees_with_pyelftools_on_real_members(real_wheels: list[Path]) -> None:
    """From the whole file and from the member's first bytes, it is its rule over
    pyelftools' reading; and where it gives a bound, a real library's symbol and version
    tables end by it."""
    checked = bounded = 0
    for path in real_wheels[::2]:
        with WheelArchive.open(path) as archive:
            for member in archive.elf_members():
                data = bytes(archive.read(member))
                expected = reference_tables_bound(data)
                assert tables_bound(data) == expected, member.name
                assert tables_bound(archive.head(member, contents.HEAD_BYTES)) == expected
                checked += 1
                if expected is None:
                    continue
                elf = ELFFile(io.BytesIO(data))
                tables = [elf.get_section_by_name(n) for n in (".dynsym", ".gnu.version_r")]
                if all(tables) and not any(s["sh_offset"] > len(data) // 2 for s in tables):
                    # (patchelf's moved tables lie at the end: the bound is of the first ones)
                    assert max(s["sh_offset"] + s["sh_size"] for s in tables) <= expected
                    bounded += 1
    assert checked > 50
    assert bounded > 10


@pytest.mark.parametrize(
    "data", [b"", b"\x7fELF", b"\x7fELF\x02\x01" + bytes(10), b"MZ" + bytes(100)]
)
def test_tables_bound_is_none_without_a_whole_header(data: bytes) -> None:
    assert tables_bound(data) is None


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_tables_bound_reads_every_class_and_byte_order(machine: str) -> None:
    """The entry point where the first segment maps code, the segment's end where it maps
    none (ld's ``-z separate-code``), and nothing where the entry point is 0: 32 and 64
    bits, either byte order."""
    elf = bytearray(build_elf(sample_spec(machine, second_load_from=".dynamic")))
    parsed = ELFFile(io.BytesIO(bytes(elf)))
    assert tables_bound(elf) is None  # its entry point is 0, its first segment maps code
    order = "<" if parsed.little_endian else ">"
    word = "Q" if parsed.elfclass == 64 else "I"
    text = parsed.get_section_by_name(".text")
    struct.pack_into(order + word, elf, 24, text["sh_addr"])  # e_entry
    assert tables_bound(elf) == reference_tables_bound(bytes(elf)) == text["sh_offset"]
    (index, first), *_ = (
        (i, s) for i, s in enumerate(parsed.iter_segments()) if s["p_type"] == "PT_LOAD"
    )
    header = parsed.header.e_phoff + index * parsed.header.e_phentsize
    flags_at = header + (4 if parsed.elfclass == 64 else 24)
    struct.pack_into(order + "I", elf, flags_at, 4)  # PF_R alone
    expected = first["p_offset"] + first["p_filesz"]
    assert tables_bound(elf) == reference_tables_bound(bytes(elf)) == expected


def library(entry_at_text: bool, symbols: int = 5000, size: int = LIBRARY_SIZE) -> bytes:
    """A library of ``size`` bytes whose PT_DYNAMIC lies at its end: read by its ends.
    Its tables (``symbols`` of 60 letters: 5,000 reach past its start's first guess,
    FIRST_PREFIX) come first; its first PT_LOAD maps them and its code, as ld maps them
    without ``-z separate-code``; its entry point is where .text starts (as ld sets it
    where none is named), or 0: then its headers bound nothing."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    noise = random.Random(11)
    letters = "abcdefghijklmnopqrstuvwxyz_"
    spec = sample_spec("x86_64", interpreter=None, second_load_from=".dynamic")
    spec.symbols += [
        Sym("".join(noise.choice(letters) for _ in range(60)), defined=True) for _ in range(symbols)
    ]
    elf = bytearray(build_elf(spec))
    text = ELFFile(io.BytesIO(bytes(elf))).get_section_by_name(".text")
    if entry_at_text:
        struct.pack_into("<Q", elf, 24, text["sh_addr"])  # e_entry
    moved = relocate_dynamic(bytes(elf), size)
    code = b"".join(noise.randbytes(24) + bytes(noise.randrange(24)) for _ in range(size // 30))
    filler = code[: moved.filler_size - DATA] + noise.randbytes(DATA)
    assert tables_bound(moved.head[:4096]) == (text["sh_offset"] if entry_at_text else None)
    return moved.head + filler + moved.tail


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    (tmp_path / "packages").mkdir()
    with IndexServer(tmp_path) as running:
        yield running


def _served(server: IndexServer, name: str, content: bytes) -> Path:
    path = server.web / "packages" / f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    path.write_bytes(build_wheel({f"{name}/_ext.so": content}, name=name))
    return path


def _far_reads(
    server: IndexServer, path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FarRead, FarRead]:
    """The wheel read at 200 ms with its start fetched ahead, then with its guess alone (as
    before ``_start_ahead``); each read's facts are the local read's."""
    reads = []
    for ahead in (START_AHEAD, 0):
        monkeypatch.setattr(http_module, "START_AHEAD", ahead)
        read = _far_read(server, path, 0.2, probes=2)
        assert read.facts == read_facts(path, path.name)
        assert len(read.facts.elf_files) == 1
        reads.append(read)
    return reads[0], reads[1]


def test_a_far_link_fetches_a_start_as_far_as_its_headers_bound_its_tables(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two round trips (the tail with the first bytes; then the end and the start at once)
    where the start's first guess took three; and fewer bytes than the same library whose
    headers bound nothing (half a round trip's past its guess)."""
    path = _served(server, "bounded", library(entry_at_text=True))
    ahead, guess = _far_reads(server, path, monkeypatch)
    assert (ahead.deepest, guess.deepest) == (2, 3)
    assert ahead.requests == 2
    unbounded = _served(server, "unbounded", library(entry_at_text=False))
    monkeypatch.setattr(http_module, "START_AHEAD", START_AHEAD)
    assert ahead.fetched < _far_read(server, unbounded, 0.2, probes=2).fetched


def test_the_start_fetched_ahead_is_capped_however_far_the_link(server: IndexServer) -> None:
    """However much a round trip carries (a link of seconds), a start is fetched at most
    START_AHEAD_AT_MOST past its guess: the bytes it holds so are bounded."""
    # long enough that neither its end nor how far the parser extends a start stops it first
    path = _served(server, "capped", library(entry_at_text=False, size=8 << 20))
    with open_remote_archive(server.file_url(path), path.stat().st_size) as archive:
        assert isinstance(archive, RemoteWheelArchive)
        (member,) = [m for m in archive.members if m.name.endswith(".so")]
        head = archive.head(member, HEAD_BYTES)
        parts = archive._parts(member, head, archive.data_offset(member))
        assert len(parts) == 2  # read by its ends
        guessed = parts[1][1]
        start, furthest = archive._start_ahead(member, head, parts, carried=1 << 40)
    assert start == parts[1][0]
    assert furthest == guessed + START_AHEAD_AT_MOST


def test_where_the_headers_bound_nothing_half_a_round_trip_s_bytes_more(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _served(server, "unbounded", library(entry_at_text=False))
    ahead, guess = _far_reads(server, path, monkeypatch)
    assert (ahead.deepest, guess.deepest) == (2, 3)
    cap = min(int(ahead.carried * START_AHEAD), START_AHEAD_AT_MOST)
    # the guess's extension fetched the rest of the start: never the cap's bytes more
    assert 0 < ahead.fetched - guess.fetched <= cap


def test_tables_within_the_guess_fetch_nothing_more(
    server: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the headers bound the tables within what the guess inflates, the start is
    fetched as far as its guess: the parser never extends it."""
    content = library(entry_at_text=True, symbols=0)
    bound = tables_bound(content[:4096])
    assert bound is not None and bound < FIRST_PREFIX - PREFIX_SLACK
    path = _served(server, "small", content)
    ahead, guess = _far_reads(server, path, monkeypatch)
    assert ahead.fetched == guess.fetched
    assert ahead.deepest == guess.deepest == 2


def test_a_near_link_fetches_the_start_s_guess_alone(server: IndexServer) -> None:
    """On loopback a round trip carries a few KiB: the start is not fetched ahead, and it
    costs the round trips it did: the tail, the library's first bytes, its end with the
    start's guess, then the start's rest."""
    path = _served(server, "near", library(entry_at_text=True))
    read = _far_read(server, path, 0.0, probes=2)
    assert read.facts == read_facts(path, path.name)
    assert not is_far(read.carried)
    assert read.deepest == 4
