"""The native core against its pyelftools twin: identical records, or the same error code.

Every ELF file the tests can find: the ones the ELF writer builds (every machine, class,
byte order and hash style), the corrupt ones, every prefix of a small file, the host's own
libraries, and every ELF member of the real-wheel corpus.
"""

from __future__ import annotations

import dataclasses
import glob
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan._native import parse_elf as native
from wheelscan.elf import ElfError, ElfFacts
from wheelscan.elf.reference import parse_elf as reference
from wheelscan.wheel.archive import WheelArchive

from elfwriter import CORRUPTIONS, MACHINES, build_elf, make_corruptions, sample_spec


def outcome(parse: object, data: bytes) -> ElfFacts | tuple[str, str]:
    try:
        return parse(data)  # type: ignore[operator, no-any-return]
    except ElfError as e:
        return ("error", e.code)


def assert_same(data: bytes, label: str) -> ElfFacts | tuple[str, str]:
    ours, theirs = outcome(native, data), outcome(reference, data)
    if ours != theirs and isinstance(ours, ElfFacts) and isinstance(theirs, ElfFacts):
        diff = {
            f.name: (getattr(ours, f.name), getattr(theirs, f.name))
            for f in dataclasses.fields(ours)
            if getattr(ours, f.name) != getattr(theirs, f.name)
        }
        pytest.fail(f"{label}: fields differ: {diff}")
    assert ours == theirs, label
    return ours


@pytest.mark.parametrize("hash_style", ["sysv", "gnu", "both"])
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_built_files(machine: str, hash_style: str) -> None:
    spec = sample_spec(
        machine,
        hash_style=hash_style,
        x86_isa_needed=3 if "x86" in machine else None,
        version_definitions=["mod.so", "MOD_1.0"],
    )
    facts = assert_same(build_elf(spec), machine)
    assert isinstance(facts, ElfFacts)
    assert facts.needed == tuple(spec.needed)
    assert facts.symbol_count == len(spec.symbols) + 1
    assert facts.init_functions == ("PyInit_mod",)
    assert facts.version_definitions == ("mod.so", "MOD_1.0")


@pytest.mark.parametrize("machine", ["x86_64", "s390x", "i686", "ppc64"])
def test_corrupt_files_give_the_same_error(machine: str) -> None:
    for name, make in make_corruptions(machine).items():
        result = assert_same(make(), f"{machine} {name}")
        assert isinstance(result, tuple), f"{name} parsed"


def test_every_prefix_of_a_file() -> None:
    data = build_elf(sample_spec("aarch64"))
    codes = set()
    for length in range(len(data) + 1):
        result = assert_same(data[:length], f"prefix {length}")
        codes.add(result[1] if isinstance(result, tuple) else "ok")
    assert {"not-elf", "truncated", "bad-offset", "ok"} <= codes


def _system_elf_files() -> Iterator[Path]:
    roots = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        sysconfig.get_config_var("DESTSHARED") or "",
        "/usr/bin",
    ]
    for root in roots:
        for path in sorted(glob.glob(f"{root}/*"))[:250]:
            p = Path(path)
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 20 << 20:
                with open(p, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        yield p


def test_host_files() -> None:
    files = list(_system_elf_files())
    assert len(files) > 50
    for path in files:
        assert_same(path.read_bytes(), str(path))


def test_every_elf_member_of_the_real_wheels(real_wheels: list[Path]) -> None:
    count = 0
    for wheel in real_wheels:
        with WheelArchive.open(wheel) as archive:
            for member in archive.elf_members():
                assert_same(bytes(archive.read(member)), f"{wheel.name}:{member.name}")
                count += 1
    assert count > 200


def test_buffers_of_every_kind(tmp_path: Path) -> None:
    import mmap

    data = build_elf(sample_spec("x86_64"))
    path = tmp_path / "mod.so"
    path.write_bytes(data)
    expected = native(data)
    assert native(bytearray(data)) == expected
    assert native(memoryview(data)) == expected
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert native(m) == expected
    assert native(memoryview(b"xx" + data)[2:]) == expected


def test_corruption_catalogue_is_not_empty() -> None:
    assert len(CORRUPTIONS) >= 15
