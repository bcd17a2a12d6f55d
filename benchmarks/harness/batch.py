"""wheelscan's batch engine on the corpus: LocalPool(AuditTask()), as ``wheelscan scan`` runs it.

Also what it inflated: one untimed, single-process pass with ``parse_streamed`` wrapped from
the outside to hand each call a ``StreamStats``, so the product code carries no counters.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import wheelscan.wheel.contents as contents
from harness.corpus import CorpusWheel, ref
from harness.procs import best_of
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.result import WheelResult
from wheelscan.engine.task import AuditTask
from wheelscan.policy.evaluate import evaluate
from wheelscan.policy.verdict import Verdict
from wheelscan.wheel.stream import StreamStats


@dataclass(frozen=True)
class BatchRun:
    workers: int
    seconds: float
    wheels: int
    wheel_bytes: int
    elf_bytes: int  # sum of WheelResult.elf_bytes
    results: list[WheelResult] = field(repr=False, compare=False)

    def summary(self) -> dict[str, float | int]:
        return {"workers": self.workers, "seconds": self.seconds, "wheels": self.wheels,
                "wheels_per_s": self.wheels / self.seconds,
                "compressed_mb_per_s": self.wheel_bytes / 1e6 / self.seconds,
                "elf_mb_per_s": self.elf_bytes / 1e6 / self.seconds}


class BatchError(RuntimeError):
    """A corpus wheel got an error record: the timing would not be of a full audit."""


def run_batch(wheels: list[Path], workers: int) -> BatchRun:
    """One timed run; the pool's start and shutdown are inside the timing, as in a real run."""
    refs = [ref(path) for path in wheels]
    started = time.perf_counter()
    results = list(LocalPool(AuditTask(), workers).results(refs))
    seconds = time.perf_counter() - started
    failed = [r for r in results if not r.ok]
    if failed:
        raise BatchError("; ".join(f"{r.ref.filename}: {r.verdict}" for r in failed))
    return BatchRun(workers, seconds, len(results), sum(r.size or 0 for r in refs),
                    sum(r.elf_bytes for r in results), results)


def best_batches(wheels: list[Path], workers: int, repeats: int) -> list[BatchRun]:
    return best_of(repeats, lambda: run_batch(wheels, workers), lambda run: run.seconds)


def peak_memory() -> dict[str, int]:
    """Peak RSS so far, bytes: the parent's own, and the largest reaped child's (a worker's:
    call this before the harness starts any other child process, and before it maps wheels
    itself, so that the parent's figure is the run's, not the harness's)."""
    return {"parent_max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "worker_max_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def overall_tags(run: BatchRun, musl_policy: str = "musllinux_1_2") -> dict[str, str]:
    """Each wheel's overall tag as auditwheel would put it: a musl wheel re-judged (from the
    facts the run kept, untimed) against the one musllinux policy auditwheel uses on a glibc
    host; wheelscan's default judges every musllinux policy (README, deliberate differences)."""
    tags = {}
    for r in run.results:
        if isinstance(r.verdict, Verdict) and r.facts is not None:
            verdict = (evaluate(r.facts, musl_policy=musl_policy) if r.verdict.libc == "musl"
                       else r.verdict)
            tags[r.ref.filename] = verdict.overall_tag if isinstance(verdict, Verdict) else "?"
    return tags


@dataclass
class StreamedMember:
    wheel: str
    size: int
    stats: StreamStats


@contextmanager
def _counting_streams(current: Callable[[], str]) -> Iterator[list[StreamedMember]]:
    """Wrap ``parse_streamed`` where ``contents`` looks it up, giving every call fresh stats."""
    seen: list[StreamedMember] = []
    original = contents.parse_streamed

    def counting(payload: Any, size: int, *args: Any, **kwargs: Any) -> Any:
        stats = StreamStats()
        seen.append(StreamedMember(current(), size, stats))
        return original(payload, size, *args, **{**kwargs, "stats": stats})

    with mock.patch.object(contents, "parse_streamed", counting):
        yield seen


def inflated_bytes(corpus: list[CorpusWheel]) -> dict[str, Any]:
    """How many ELF bytes wheelscan inflates (all passes) against the ELF bytes there are."""
    task = AuditTask()
    wheel = [""]
    with _counting_streams(lambda: wheel[0]) as seen:
        for item in corpus:
            wheel[0] = item.filename
            task(ref(item.path))
    total = sum(w.elf_bytes for w in corpus)
    stored = sum(m.size for w in corpus for m in w.elf if not m.deflated)
    inflated = sum(s.stats.inflated for s in seen)
    return {
        "elf_bytes": total,
        "stored_elf_bytes": stored,  # parsed in place, never inflated
        "streamed_members": len(seen),
        "streamed_elf_bytes": sum(s.size for s in seen),
        "inflated_bytes": inflated,
        "inflated_fraction": inflated / total if total else 0.0,
        "members_inflated_to_end": sum(s.stats.complete for s in seen),
        "members_inflated_twice_or_more": [
            {"wheel": s.wheel, "member": _member_name(corpus, s), "size": s.size,
             "passes": s.stats.passes, "inflated": s.stats.inflated}
            for s in seen if s.stats.passes > 1],
        "parser_calls": sum(s.stats.parses for s in seen),
    }


def _member_name(corpus: list[CorpusWheel], streamed: StreamedMember) -> str:
    """The member ``parse_streamed`` was given (it sees bytes, not names): found by size."""
    names = [m.name for w in corpus if w.filename == streamed.wheel for m in w.elf
             if m.size == streamed.size]
    return " or ".join(names) or "?"
