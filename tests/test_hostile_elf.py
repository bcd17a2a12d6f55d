"""Hostile ELF members: the same error code from both backends, in a wheel as bare, whole or
streamed, and in bounded time.

``elfwriter.CORRUPTIONS`` (offsets and counts past the end, huge e_phnum, looping version
chains, unterminated strings, wrong byte order, ...) for four machines, and the costlier
inputs of ``hostile/elves.py``.
"""

from __future__ import annotations

import time
import zipfile
import zlib

import pytest

from wheelscan._native import NeedBytes
from wheelscan._native import parse_elf as native
from wheelscan.elf import BACKEND_ENV, ElfError, ElfFacts
from wheelscan.elf.reference import parse_elf as reference
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError
from wheelscan.wheel.stream import parse_streamed

from elfwriter import (
    DT_GNU_HASH,
    DT_STRTAB,
    PT_GNU_STACK,
    PT_INTERP,
    PT_LOAD,
    build_image,
    make_corruptions,
    sample_spec,
)
from hostile import elves
from hostile.cases import EXT
from wheelbuilder import build_wheel

MACHINES = ("x86_64", "s390x", "i686", "ppc64")
NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def outcome(parse: object, data: bytes) -> ElfFacts | str:
    try:
        return parse(data)  # type: ignore[operator, no-any-return]
    except ElfError as e:
        return e.code


def streamed(data: bytes, keep: int) -> ElfFacts | str:
    payload = zlib.compressobj(6, zlib.DEFLATED, -15)
    compressed = memoryview(payload.compress(data) + payload.flush())
    try:
        return parse_streamed(compressed, len(data), zlib.crc32(data), native, keep=keep)
    except ElfError as e:
        return e.code


CORRUPT = [(m, n, make) for m in MACHINES for n, make in make_corruptions(m).items()]


@pytest.mark.parametrize("backend", ["native", "reference"])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_corrupt_member_gets_the_code_of_the_bare_file(
    backend: str, compression: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKEND_ENV, backend)
    for machine, name, make in CORRUPT:
        data = make()
        bare = outcome(reference, data)
        assert isinstance(bare, str), name
        result = audit(build_wheel({EXT: data}, compression=compression), NAME)
        assert isinstance(result, AuditError), (machine, name)
        if bare == "not-elf":  # no magic: not an ELF member at all
            assert result.code == "not-platform-wheel", (machine, name)
        else:
            assert (result.code, result.member) == (f"elf-{bare}", EXT), (machine, name)


@pytest.mark.parametrize("keep", [64, 4096])
def test_streamed_parsing_of_a_corrupt_file_gives_the_whole_files_outcome(keep: int) -> None:
    for machine, name, make in CORRUPT:
        data = make()
        if len(data) >= 16:  # shorter ones never reach the streamed path (no full header)
            assert streamed(data, keep) == outcome(native, data), (machine, name)


def requests(data: bytes) -> tuple[list[tuple[int, int]], ElfFacts | str]:
    """The ranges the partial mode asks for, given the first 64 bytes, and its outcome; the
    bytes it was not given are garbage."""
    buffer, given, asked = bytearray(b"\xa5" * len(data)), [(0, min(64, len(data)))], []
    buffer[:64] = data[:64]
    for _ in range(len(data) + 2):
        try:
            return asked, outcome(lambda b: native(b, sorted(given)), bytes(buffer))
        except NeedBytes as e:
            asked.append((e.start, e.end))
            given.append((e.start, e.end))
            buffer[e.start : e.end] = data[e.start : e.end]
    raise AssertionError("never ends")


def test_the_partial_mode_asks_only_for_bytes() -> None:
    """An empty segment needs no bytes: asking for [n, n) cost a stream a pass (fuzz_elf.py)."""
    image = build_image(sample_spec("x86_64"))
    image.set_phdr(PT_INTERP, "p_offset", len(image.data) - 8)
    image.set_phdr(PT_INTERP, "p_filesz", 0)
    for data in [bytes(image.data), *(make() for _, _, make in CORRUPT)]:
        asked, result = requests(data)
        assert all(start < end for start, end in asked), asked
        assert result == outcome(native, data)


def test_the_costly_files_give_the_same_outcome_from_both_backends() -> None:
    for make in (
        elves.strsz_without_strtab,
        lambda: elves.string_scan_bomb(1 << 14, 1 << 10),
        lambda: elves.name_amplification(1 << 10, 1 << 10),
    ):
        data = make()
        assert outcome(native, data) == outcome(reference, data)
        assert streamed(data, 64) == outcome(native, data)


@pytest.mark.parametrize("p_offset", [2**63, 2**64 - 4, 2**64 - 1])
@pytest.mark.parametrize("tag", [DT_STRTAB, DT_GNU_HASH])
def test_an_offset_past_two_to_the_64_is_past_the_end(p_offset: int, tag: int) -> None:
    """A second PT_LOAD, with a p_offset near 2**64, holds the table's address. The offset is
    past any buffer: not "in no PT_LOAD" (as a negative int64 said), nor wrapped around to the
    start of the file (found by fuzz_elf.py against the reference)."""
    image = build_image(sample_spec("x86_64"))
    second = next(offset for p_type, offset in image.phdrs if p_type == PT_GNU_STACK)
    for name, value in (
        ("p_type", PT_LOAD),
        ("p_offset", p_offset),
        ("p_vaddr", 0x4000_0000),
        ("p_filesz", 0x1000),
    ):
        image.set_field(image.s.phdr, second, name, value)
    image.set_dyn(tag, 0x4000_0000 + 8)
    data = bytes(image.data)
    assert outcome(native, data) == outcome(reference, data)
    assert outcome(native, data) == ("bad-offset" if tag == DT_STRTAB else "bad-table")


def test_names_are_read_only_from_the_string_table() -> None:
    """DT_STRSZ without DT_STRTAB: no names at all, not bytes of the header or past the end."""
    assert outcome(native, elves.strsz_without_strtab()) == "bad-table"


def test_a_name_shared_by_many_symbols_is_checked_once() -> None:
    """2**18 symbols named by one 4 MiB string: 10**12 bytes to scan for the NUL each time."""
    data = elves.string_scan_bomb(4 << 20, 1 << 18)
    started = time.perf_counter()
    facts = native(data)
    assert time.perf_counter() - started < 1.0
    assert facts.symbol_count == 1 << 18


def test_a_long_name_shared_by_many_symbols_is_held_once() -> None:
    """2**17 undefined symbols named by one 2 MiB string (found by fuzz_wheel.py: an OOM).
    One string object for all of them: held once, not 2**17 times (256 GiB)."""
    facts = native(elves.string_scan_bomb(2 << 20, 1 << 17, undefined=True))
    names = {id(s.name) for s in facts.undefined_symbols}
    assert len(facts.undefined_symbols) == (1 << 17) - 1 and len(names) == 1


def test_the_names_of_a_record_are_bounded_by_the_file() -> None:
    """8192 symbols naming the suffixes of one 8 KiB string: 33 MB of names from a 240 KB
    file. Both backends refuse it, before holding the names."""
    data = elves.name_amplification(1 << 13, 1 << 13)
    assert outcome(native, data) == outcome(reference, data) == "too-large"
    # below the bound, the same shape parses, with every name
    small = elves.name_amplification(1 << 10, 1 << 10)
    assert len(native(small).undefined_symbols) == (1 << 10) - 1
