"""The floor: inflating every ELF member of the corpus whole, with wheelscan's own inflaters,
on the same number of processes, and nothing else (no hashing, no parsing, no CRC).

Members are located beforehand (``corpus.locate``); each worker is given whole wheels, maps
the file and inflates its deflated ELF members as wheelscan does: up to
``WHOLE_MEMBER_LIMIT`` in one libdeflate call into one reused buffer, larger ones streamed
with ISA-L in the streaming reader's chunk sizes, the output discarded. Stored members cost
nothing to inflate.
"""

from __future__ import annotations

import mmap
import multiprocessing
import time
from dataclasses import dataclass

from harness.corpus import CorpusWheel
from harness.procs import best_of_interleaved
from wheelscan.wheel.inflate import WHOLE_MEMBER_LIMIT, inflate_into, raw_inflater
from wheelscan.wheel.scratch import scratch
from wheelscan.wheel.stream import INPUT_CHUNK, OUTPUT_CHUNK

# wheel path, (data offset, compressed size, size)...
Job = tuple[str, tuple[tuple[int, int, int], ...]]


@dataclass(frozen=True)
class FloorRun:
    workers: int
    seconds: float
    inflated_bytes: int


def inflate_member(view: memoryview, offset: int, compressed_size: int, size: int) -> int:
    """Inflate one raw deflate stream to its end; return how many bytes it gave."""
    if size <= WHOLE_MEMBER_LIMIT:
        with scratch(size, populate=True) as out:
            inflate_into(view[offset : offset + compressed_size], out, crc32=False)
        return size
    inflater = raw_inflater()
    position, end, produced = offset, offset + compressed_size, 0
    pending = b""
    while not inflater.eof:
        if not pending:
            if position >= end:
                break
            # fed in slices: one call with the whole payload would copy its unconsumed tail
            # again after every output chunk
            pending = bytes(view[position : min(end, position + INPUT_CHUNK)])
            position += len(pending)
        produced += len(inflater.decompress(pending, OUTPUT_CHUNK))
        pending = inflater.unconsumed_tail
    return produced


def inflate_wheel(job: Job) -> int:
    path, members = job
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(data)
    try:
        return sum(inflate_member(view, *member) for member in members)
    finally:
        view.release()
        data.close()


def jobs(corpus: list[CorpusWheel]) -> list[Job]:
    return [
        (
            str(w.path),
            tuple((m.data_offset, m.compressed_size, m.size) for m in w.elf if m.deflated),
        )
        for w in corpus
    ]


def run_floor(corpus: list[CorpusWheel], workers: int) -> FloorRun:
    work = jobs(corpus)  # outside the timing, like the member lookup
    started = time.perf_counter()
    # fork and one wheel per task, in corpus order: the same start-up and scheduling as LocalPool
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        inflated = sum(pool.imap_unordered(inflate_wheel, work, chunksize=1))
    return FloorRun(workers, time.perf_counter() - started, inflated)


def best_floors(
    corpus: list[CorpusWheel], counts: list[int], repeats: int
) -> dict[int, list[FloorRun]]:
    """Per process count, its runs fastest first, taken in rounds over the counts."""
    runs = best_of_interleaved(
        counts, repeats, lambda k: run_floor(corpus, k), lambda run: run.seconds
    )
    expected = sum(m.size for w in corpus for m in w.elf if m.deflated)
    for found in runs.values():
        if found[0].inflated_bytes != expected:
            inflated = found[0].inflated_bytes
            raise RuntimeError(f"the floor inflated {inflated} bytes, the directories {expected}")
    return runs
