"""Time the two native deflate decoders on the benchmark corpus, best of N: the ELF sniffer
(``elf_heads`` over every candidate member of every cached corpus wheel) and the tail
decoder (``block_starts`` and ``inflate_tail`` on the six first members over 2 MB).

To compare two builds on the same machine, copy each one's ``_zipdir`` and ``_tail`` .so
files into a directory and run this once per directory, alternating:

    PYTHONPATH=src python benchmarks/decoder_timing.py /tmp/before 15
    PYTHONPATH=src python benchmarks/decoder_timing.py /tmp/after 15

With no directory given, the tree's own build is timed. Prints one JSON line (ms).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEARCH_BITS = 8 * 128 * 1024  # as wheel/ends.py searches
LARGE = 2_000_000  # compressed bytes of a member the tail decoder is timed on
TAILS = 6


def load_build(directory: Path) -> None:
    """Make ``wheelscan._zipdir`` and ``wheelscan._tail`` the ones in ``directory``."""
    for name in ("_zipdir", "_tail"):
        path = next(directory.glob(name + ".cpython*.so"))
        spec = importlib.util.spec_from_file_location("wheelscan." + name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["wheelscan." + name] = module
        spec.loader.exec_module(module)


def best(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return 1e3 * min(times)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        load_build(Path(sys.argv[1]))
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    sys.path.insert(0, str(ROOT))
    from tests.corpus.fetch import default_cache_dir, load_entries

    from wheelscan._tail import block_starts, inflate_tail
    from wheelscan._zipdir import elf_heads
    from wheelscan.wheel.archive import DEFLATED, BufferReader, Member, WheelArchive

    jobs: list[tuple[memoryview, list[Member], dict[int, int]]] = []
    tails: list[bytes] = []
    for entry in load_entries(ROOT / "benchmarks" / "corpus.json"):
        path = default_cache_dir() / entry["filename"]
        if not path.exists():
            continue
        archive = WheelArchive(path.read_bytes())
        candidates = [m for m in archive.members if archive.may_be_elf(m)]
        archive.locate(candidates)
        assert isinstance(archive.reader, BufferReader)  # (a file read into memory)
        jobs.append((archive.reader.view, candidates, dict(archive._begins)))
        for member in candidates:
            if member.method == DEFLATED and member.compressed_size > LARGE and len(tails) < TAILS:
                tails.append(bytes(archive.payload(member)))

    def sniff() -> None:
        for job in jobs:
            elf_heads(*job)

    def count() -> None:
        for stream in tails:
            for share in (0.5, 0.9):
                target = int(8 * len(stream) * share)
                block_starts(stream, target, max(0, target - SEARCH_BITS))

    out, known = bytearray(1 << 20), bytearray(1 << 20)

    def write() -> None:
        for stream in tails:
            target = max(0, 8 * len(stream) - 8 * 300_000)
            inflate_tail(stream, target, max(0, target - SEARCH_BITS), out, known)

    figures = {
        "wheels": len(jobs),
        "members": sum(len(job[1]) for job in jobs),
        "tails": len(tails),
        "sniff_ms": round(best(repeats, sniff), 3),
        "block_starts_ms": round(best(repeats, count), 3),
        "inflate_tail_ms": round(best(repeats, write), 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
