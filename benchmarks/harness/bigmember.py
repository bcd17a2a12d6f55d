"""A wheel whose one ELF member is ~1 GiB with PT_DYNAMIC at its very end.

The member is a real small extension from the corpus, relocated by ``elfmove`` behind ~1 GiB
of filler. The filler is deterministic pseudo-random noise (2 KiB in every 64 KiB, zeros
elsewhere): it deflates ~30x, so the wheel stays at a few tens of MB and below wheelscan's
zip-bomb limit (1000x) with its default limits. A twin wheel holds the original ELF under
the same member path and wheel name, so both ``wheelscan show --json`` outputs must be equal
byte for byte, and the ElfFacts of both members too.

Both wheels are built once into the test cache (never the repository) and reused while
their recipe (recorded beside them) is unchanged.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.corpus import CorpusWheel, ElfLocation, cache_dir
from harness.elfmove import RelocatedElf, RelocationError, relocate_dynamic
from harness.floor import inflate_member
from harness.largewheel import wheelscan_show
from harness.procs import ProcessRun, best_of
from harness.wheelwriter import write_wheel
from wheelscan.elf import ElfError, ElfFacts, get_parser
from wheelscan.engine.worker import read_facts
from wheelscan.wheel.archive import Limits, WheelArchive

GIB = 1 << 30
FILLER_BLOCK = 64 * 1024
FILLER_NOISE = 2 * 1024
FILLER_SEED = 1
RECIPE_VERSION = 1  # bump when the way the wheels are built changes


@dataclass(frozen=True)
class Source:
    wheel: str
    member: str
    size: int
    elf: bytes

    @property
    def tags(self) -> str:
        return "-".join(self.wheel.removesuffix(".whl").split("-")[-3:])


def filler(size: int, seed: int = FILLER_SEED) -> Iterator[bytes]:
    noise = random.Random(seed)
    zeros = bytes(FILLER_BLOCK - FILLER_NOISE)
    for start in range(0, size, FILLER_BLOCK):
        block = noise.randbytes(FILLER_NOISE) + zeros
        yield block[: min(FILLER_BLOCK, size - start)]


def relocated_chunks(moved: RelocatedElf) -> Iterator[bytes]:
    yield moved.head
    yield from filler(moved.filler_size)
    yield moved.tail


def _member_bytes(wheel: CorpusWheel, location: ElfLocation) -> bytes:
    with WheelArchive.open(wheel.path) as archive:
        member = archive.find(location.name)
        assert member is not None
        return bytes(archive.read(member))


def pick_source(corpus: list[CorpusWheel]) -> Source:
    """The smallest Python extension module of the corpus that needs symbol versions from two
    or more libraries (so its verdict has something to get wrong) and whose layout allows the
    move: deterministic, and cheap to rebuild."""
    parse = get_parser()
    candidates = sorted(((m.size, w.filename, m.name), w, m) for w in corpus for m in w.elf)
    for _, wheel, location in candidates:
        elf = _member_bytes(wheel, location)
        try:
            facts = parse(elf)
            relocate_dynamic(elf, len(elf) + (1 << 20))  # only asks: does the layout allow it?
        except (ElfError, RelocationError):
            continue
        if facts.init_functions and len(facts.version_needs) >= 2:
            return Source(wheel.filename, location.name, location.size, elf)
    raise RuntimeError("no ELF member of the corpus can be relocated")


def _recipe(source: Source, member_size: int) -> dict[str, Any]:
    return {
        "recipe": RECIPE_VERSION,
        "source_wheel": source.wheel,
        "member": source.member,
        "member_size": member_size,
        "filler_block": FILLER_BLOCK,
        "filler_noise": FILLER_NOISE,
        "filler_seed": FILLER_SEED,
    }


def _build_once(target: Path, recipe: dict[str, Any], build: Callable[[Path], None]) -> bool:
    """Build ``target`` unless it exists with the same recipe; True when it was built."""
    stamp = target.with_name(target.name + ".json")
    if target.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == recipe:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    build(target)
    stamp.write_text(json.dumps(recipe, indent=1))
    return True


@dataclass(frozen=True)
class WheelPair:
    original: Path
    big: Path
    moved_size: int
    dynamic_offset: int
    build_seconds: float


def build_pair(source: Source, member_size: int) -> WheelPair:
    root = cache_dir() / "benchmarks"
    filename = f"bigelf-1.0-{source.tags}.whl"  # the same name for both: identical JSON
    moved = relocate_dynamic(source.elf, member_size)
    recipe = _recipe(source, member_size)
    original = root / "elf-original" / filename
    big = root / f"elf-{member_size >> 20}MiB" / filename
    started = time.perf_counter()
    _build_once(
        original,
        {**recipe, "member_size": source.size},
        lambda path: write_wheel(path, {source.member: ([source.elf], source.size)}),
    )
    _build_once(
        big,
        recipe,
        lambda path: write_wheel(path, {source.member: (relocated_chunks(moved), moved.size)}),
    )
    return WheelPair(original, big, moved.size, moved.dynamic_offset, time.perf_counter() - started)


def _inflate_seconds(wheel: Path) -> float:
    """The floor for this wheel: its one member inflated whole, in this process."""
    with WheelArchive.open(wheel) as archive:
        member = next(archive.elf_members())
        view = archive.reader.read_at(0, archive.size)
        try:
            started = time.perf_counter()
            inflate_member(view, archive.data_offset(member), member.compressed_size, member.size)
            return time.perf_counter() - started
        finally:
            view.release()


def _member_facts(wheel: Path) -> list[ElfFacts]:
    return [m.facts for m in read_facts(wheel, wheel.name).elf_files]


def measure(corpus: list[CorpusWheel], member_size: int, repeats: int) -> dict[str, Any]:
    source = pick_source(corpus)
    pair = build_pair(source, member_size)
    small = best_of(repeats, lambda: wheelscan_show(pair.original), _seconds)
    big = best_of(repeats, lambda: wheelscan_show(pair.big), _seconds)
    with WheelArchive.open(pair.big) as archive:
        member = archive.members[0]
        ratio = member.size / member.compressed_size
    return {
        "source": {"wheel": source.wheel, "member": source.member, "size": source.size},
        "member_size": pair.moved_size,
        "dynamic_offset": pair.dynamic_offset,
        "wheel_bytes": pair.big.stat().st_size,
        "compression_ratio": ratio,
        "zip_bomb_limit": Limits().max_compression_ratio,
        "build_seconds": pair.build_seconds,  # ~0 when reused from the cache
        "same_verdict": _results(small[0]) == _results(big[0]),
        "same_facts": _member_facts(pair.original) == _member_facts(pair.big),
        "overall_tag": _results(big[0])[0].get("overall_tag"),
        "seconds": [r.seconds for r in big],
        "best_seconds": big[0].seconds,
        "max_rss": max(r.max_rss for r in big),
        "original_seconds": small[0].seconds,
        "original_max_rss": max(r.max_rss for r in small),
        "inflate_seconds": min(_inflate_seconds(pair.big) for _ in range(max(1, repeats))),
        "wheels": {"original": str(pair.original), "big": str(pair.big)},
    }


def _seconds(run: ProcessRun) -> float:
    return run.seconds


def _results(run: ProcessRun) -> list[dict[str, Any]]:
    return json.loads(run.stdout)["results"]  # type: ignore[no-any-return]
