"""The benchmark corpus: pinned real wheels, fetched into the test cache, ELF members located.

Locating ELF members (by magic, as wheelscan does) happens once, before anything is timed:
the inflate floor and the dedupe figure work from these locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.corpus.fetch import default_cache_dir, fetch, load_entries

from wheelscan.sources.base import WheelRef, wheel_ref
from wheelscan.wheel.archive import DEFLATED, WheelArchive

QUICK_WHEELS = 8  # --quick: the smallest wheels of the corpus, enough to smoke-test every stage


@dataclass(frozen=True)
class ElfLocation:
    """One ELF member: where its compressed bytes are and what the directory says of them."""

    name: str
    method: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int

    @property
    def deflated(self) -> bool:
        return self.method == DEFLATED


@dataclass(frozen=True)
class CorpusWheel:
    path: Path
    size: int
    elf: tuple[ElfLocation, ...]

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def elf_bytes(self) -> int:
        return sum(m.size for m in self.elf)


def cache_dir() -> Path:
    return default_cache_dir()


# filename -> pinned sha256, filled by fetch_corpus (which verifies every file against it)
_PINNED: dict[str, str] = {}


def fetch_corpus(corpus_file: Path, quick: bool) -> list[Path]:
    """The corpus wheels in the file's order (release by release, the largest first there,
    which keeps a pool's tail short), downloaded and verified if not cached yet."""
    entries = load_entries(corpus_file)
    _PINNED.update({e["filename"]: e["sha256"] for e in entries})
    if quick:
        smallest = sorted(entries, key=lambda e: int(e["size"]))[:QUICK_WHEELS]
        entries = [e for e in entries if e in smallest]
    return fetch(entries, cache_dir())


def locate(path: Path) -> CorpusWheel:
    with WheelArchive.open(path) as archive:
        elf = tuple(
            ElfLocation(m.name, m.method, m.crc, m.compressed_size, m.size, archive.data_offset(m))
            for m in archive.elf_members()
        )
        return CorpusWheel(path, archive.size, elf)


def ref(path: Path) -> WheelRef:
    # with the sha256, as a mirror or an index lists it (bandersnatch's JSON pages, PEP 691):
    # the main job, a mirror-wide audit, never hashes a wheel itself. A directory of wheels
    # has no hashes to give: there the task hashes each file (about 1.2 GB/s here).
    found = wheel_ref(path.name, str(path), sha256=_PINNED.get(path.name), size=path.stat().st_size)
    if found is None:
        raise ValueError(f"{path.name} is not a wheel's name")
    return found
