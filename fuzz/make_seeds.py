"""Write the fuzzers' seed corpus: ``python fuzz/make_seeds.py DIR`` makes ``DIR/elf`` (ELF
files of every machine, class, byte order and hash style, the corruption catalogue, the
hostile ELF files at a small size) and ``DIR/wheel`` (sound wheels, stored and deflated, and
every hostile wheel of ``tests/hostile`` under 64 KiB). Nothing is committed: the builders are.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

from _common import ROOT  # noqa: F401  (puts tests/ on sys.path)

from elfwriter import MACHINES, build_elf, make_corruptions, sample_spec
from hostile import elves
from hostile.cases import CASES
from wheelbuilder import build_wheel

MAX_SEED = 64 << 10


def elf_seeds() -> list[bytes]:
    seeds = []
    for machine in sorted(MACHINES):
        for hash_style in ("sysv", "gnu", "both"):
            spec = sample_spec(
                machine,
                hash_style=hash_style,
                x86_isa_needed=3 if "x86" in machine or machine == "i686" else None,
                version_definitions=["mod.so", "MOD_1.0"],
            )
            seeds.append(build_elf(spec))
    for machine in ("x86_64", "s390x", "i686", "ppc64"):
        seeds += [make() for make in make_corruptions(machine).values()]
    seeds += [
        elves.strsz_without_strtab(),
        elves.string_scan_bomb(1 << 10, 1 << 6),
        elves.name_amplification(1 << 8, 1 << 6),
    ]
    return seeds


def wheel_seeds() -> list[bytes]:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    ext = "demo/_mod.cpython-312-x86_64-linux-gnu.so"
    seeds = [
        build_wheel({ext: elf}, compression=zipfile.ZIP_STORED),
        build_wheel({ext: elf}, compression=zipfile.ZIP_DEFLATED),
        build_wheel({ext: elf, "demo/__init__.py": b"", "demo.libs/libz.so.1": elf}),
    ]
    for case in CASES.values():
        data = case.build()
        if len(data) <= MAX_SEED:
            seeds.append(data)
    return seeds


def write(directory: Path, seeds: list[bytes]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for data in seeds:  # named by content, as libFuzzer names its corpus
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(seeds)


def main(target: Path) -> None:
    elf = write(target / "elf", elf_seeds())
    wheel = write(target / "wheel", wheel_seeds())
    print(f"{elf} ELF seeds in {target / 'elf'}, {wheel} wheel seeds in {target / 'wheel'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python fuzz/make_seeds.py DIR")
    main(Path(sys.argv[1]))
