"""wheelscan's batch engine on the corpus: ``LocalPool(PreparingTask(AuditTask()))``, as
``wheelscan audit`` runs it, the SQLite writes aside.

Also what it inflated: one untimed, single-process pass with the inflation paths wrapped
from the outside (``inflate_into`` for whole members, ``inflate_prefix`` for members inflated
only as far as the parser needs, ``parse_by_ends`` and the tail inflater for members read by
their two ends, ``parse_streamed`` handed a fresh ``StreamStats`` per call), so the product
code carries no counters.
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

from harness.corpus import CorpusWheel, ref
from wheelscan import _tail
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.run import PreparingTask
from wheelscan.engine.task import AuditTask
from wheelscan.policy.evaluate import evaluate
from wheelscan.policy.verdict import Verdict
from wheelscan.store.codec import PreparedResult, unpack
from wheelscan.wheel import contents, partial, stream
from wheelscan.wheel.codec import facts_from_json
from wheelscan.wheel.ends import EndFound
from wheelscan.wheel.stream import StreamStats


@dataclass(frozen=True)
class WheelOutcome:
    """What the harness keeps of one WheelResult: the facts themselves are dropped at once,
    since a parent holding every run's facts would grow, and so would the workers it forks."""

    wheel: str
    seconds: float  # in the worker
    elf_bytes: int
    overall_tag: str  # as auditwheel would put it (see ``auditwheel_tag``)
    reused_elf_bytes: int  # not parsed again: its worker had parsed an identical member


@dataclass(frozen=True)
class BatchRun:
    workers: int
    seconds: float
    wheel_bytes: int
    outcomes: list[WheelOutcome] = field(repr=False, compare=False)

    def summary(self) -> dict[str, float | int]:
        elf_bytes = sum(o.elf_bytes for o in self.outcomes)  # sum of WheelResult.elf_bytes
        return {
            "workers": self.workers,
            "seconds": self.seconds,
            "wheels": len(self.outcomes),
            "wheel_bytes": self.wheel_bytes,
            "elf_bytes": elf_bytes,
            "wheels_per_s": len(self.outcomes) / self.seconds,
            "compressed_mb_per_s": self.wheel_bytes / 1e6 / self.seconds,
            "elf_mb_per_s": elf_bytes / 1e6 / self.seconds,
            # what dedupe saved in this very run, the workers' caches being their own
            "reused_elf_bytes": sum(o.reused_elf_bytes for o in self.outcomes),
        }


class BatchError(RuntimeError):
    """A corpus wheel got an error record: the timing would not be of a full audit."""


def auditwheel_tag(result: PreparedResult, musl_policy: str = "musllinux_1_2") -> str:
    """The overall tag as auditwheel would put it: a musl wheel re-judged (from its stored
    facts, untimed) against the one musllinux policy auditwheel uses on a glibc host;
    wheelscan's default judges every musllinux policy (docs/differences.md)."""
    assert result.verdict is not None
    overall_tag, libc = result.verdict[1], result.verdict[2]
    if libc == "musl" and result.facts is not None:
        verdict = evaluate(facts_from_json(unpack(result.facts)), musl_policy=musl_policy)
        return verdict.overall_tag if isinstance(verdict, Verdict) else "?"
    return overall_tag or "?"


def _outcome(result: PreparedResult) -> WheelOutcome:
    if not result.ok:
        raise BatchError(f"{result.ref.filename}: {result.read_error or result.verdict}")
    return WheelOutcome(
        result.ref.filename,
        result.seconds,
        result.elf_bytes,
        auditwheel_tag(result),
        result.reused_elf_bytes,
    )


def run_batch(wheels: list[Path], workers: int) -> BatchRun:
    """One timed run, of what ``wheelscan audit`` runs but the SQLite writes: the pool, its
    workers auditing and encoding each result for the store (``PreparingTask``). The pool's
    start and shutdown are inside the timing, as in a real run."""
    refs = [ref(path) for path in wheels]
    started = time.perf_counter()
    results = list(LocalPool(PreparingTask(AuditTask()), workers).results(refs))
    seconds = time.perf_counter() - started
    outcomes = [_outcome(r) for r in results]
    del results
    return BatchRun(workers, seconds, sum(r.size or 0 for r in refs), outcomes)


def peak_memory() -> dict[str, int]:
    """Peak RSS so far, bytes: the parent's own, and the largest reaped child's (a worker's:
    call this before the harness starts any other child process, and before it maps wheels
    itself, so that the parent's figure is the run's, not the harness's)."""
    return {
        "parent_max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "worker_max_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


@dataclass
class StreamedMember:
    wheel: str
    size: int
    stats: StreamStats


@dataclass
class PrefixMember:
    wheel: str
    member: str
    size: int
    passes: list[int] = field(default_factory=list)  # bytes inflated by each pass


@dataclass
class EndsMember:
    """A member tried by its two ends: what the tail inflater decoded (written or only
    counted; every attempt, the ones that failed included), what libdeflate inflated of its
    start, and whether the facts came that way."""

    wheel: str
    member: str
    size: int
    tail_bytes: int = 0
    passes: list[int] = field(default_factory=list)
    read: bool = False


@contextmanager
def _counting_streams(
    current: Callable[[], str],
) -> Iterator[tuple[list[StreamedMember], list[int], list[PrefixMember], list[EndsMember]]]:
    """Wrap ``parse_streamed``, ``inflate_into``, ``_parse_prefix``, ``parse_by_ends``,
    the tail inflater's three entry points and ``inflate_prefix`` where they are looked
    up: every streamed member gets fresh stats, every member inflated whole its size is
    noted, every member inflated in part its passes, every member tried by its ends what
    that inflated."""
    seen: list[StreamedMember] = []
    whole: list[int] = []
    prefixed: list[PrefixMember] = []
    ends: list[EndsMember] = []
    passes: list[list[int]] = [[]]  # where the next inflate_prefix call is counted
    original_stream = stream.parse_streamed
    original_whole = contents.inflate_into
    original_parse_prefix = contents._parse_prefix
    original_skipping = contents.parse_by_ends
    original_prefix = partial.inflate_prefix  # every start, by prefix or by ends
    original_tail = _tail.inflate_tail
    original_starts = _tail.block_starts
    original_from = _tail.inflate_from
    original_until = _tail.inflate_until

    def counting_parse_prefix(archive: Any, member: Any, *args: Any) -> Any:
        prefixed.append(PrefixMember(current(), member.name, member.size))
        passes[0] = prefixed[-1].passes
        return original_parse_prefix(archive, member, *args)

    def counting_skipping(archive: Any, member: Any, *args: Any) -> Any:
        ends.append(EndsMember(current(), member.name, member.size))
        passes[0] = ends[-1].passes
        facts = original_skipping(archive, member, *args)
        # an end placed whose start is then streamed (EndFound) counts as streamed
        ends[-1].read = facts is not None and not isinstance(facts, EndFound)
        return facts

    def counting_tail(
        payload: Any, start: Any, stop: Any, out: Any, known: Any, *window: Any
    ) -> Any:
        found = original_tail(payload, start, stop, out, known, *window)
        if found is not None:
            ends[-1].tail_bytes += len(out) if found[0] is None else found[0]
        return found

    def counting_until(
        payload: Any, start: Any, stop: Any, block: Any, out: Any, known: Any, *window: Any
    ) -> Any:
        found = original_until(payload, start, stop, block, out, known, *window)
        if found is not None:  # the bytes before a one-pass end, for its look-ups
            ends[-1].tail_bytes += found[0]
        return found

    def counting_starts(payload: Any, start: Any, stop: Any) -> Any:
        found = original_starts(payload, start, stop)
        if found is not None:
            ends[-1].tail_bytes += found[0]  # decoded to count them, not written
        return found

    def counting_from(payload: Any, bit: Any, out: Any, known: Any, *window: Any) -> Any:
        written = original_from(payload, bit, out, known, *window)
        ends[-1].tail_bytes += written or 0
        return written

    def counting_prefix(payload: Any, out: Any) -> Any:
        passes[0].append(len(out))
        return original_prefix(payload, out)

    def counting(payload: Any, size: int, *args: Any, **kwargs: Any) -> Any:
        stats = StreamStats()
        seen.append(StreamedMember(current(), size, stats))
        return original_stream(payload, size, *args, **{**kwargs, "stats": stats})

    def counting_whole(payload: Any, out: Any, *args: Any, **kwargs: Any) -> Any:
        whole.append(len(out))
        return original_whole(payload, out, *args, **kwargs)

    with (
        mock.patch.object(stream, "parse_streamed", counting),  # where contents takes it
        mock.patch.object(contents, "inflate_into", counting_whole),
        mock.patch.object(contents, "_parse_prefix", counting_parse_prefix),
        mock.patch.object(partial, "inflate_prefix", counting_prefix),
        mock.patch.object(contents, "parse_by_ends", counting_skipping),
        mock.patch.object(_tail, "inflate_tail", counting_tail),
        mock.patch.object(_tail, "block_starts", counting_starts),
        mock.patch.object(_tail, "inflate_from", counting_from),
        mock.patch.object(_tail, "inflate_until", counting_until),
    ):
        yield seen, whole, prefixed, ends


def inflated_bytes(corpus: list[CorpusWheel]) -> dict[str, Any]:
    """How many ELF bytes wheelscan inflates (all passes) against the ELF bytes there are."""
    task = AuditTask()
    wheel = [""]
    reused = 0
    with _counting_streams(lambda: wheel[0]) as (seen, whole, prefixed, ends):
        for item in corpus:
            wheel[0] = item.filename
            reused += task(ref(item.path)).reused_elf_bytes
    total = sum(w.elf_bytes for w in corpus)
    stored = sum(m.size for w in corpus for m in w.elf if not m.deflated)
    in_part = sum(sum(p.passes) for p in prefixed)
    by_ends = sum(e.tail_bytes + sum(e.passes) for e in ends)
    inflated = sum(s.stats.inflated for s in seen) + sum(whole) + in_part + by_ends
    return {
        "elf_bytes": total,
        "stored_elf_bytes": stored,  # parsed in place, never inflated
        "whole_members": len(whole),  # inflated in one call (libdeflate)
        "whole_elf_bytes": sum(whole),
        "reused_elf_bytes": reused,  # identical members parsed once (wheel/dedupe.py)
        # inflated only as far as the parser needs (libdeflate, from the start each pass)
        "prefix_members": sum(1 for p in prefixed if p.passes),
        "prefix_elf_bytes": sum(p.size for p in prefixed if p.passes),
        "prefix_inflated_bytes": in_part,
        # read by their two ends: the start with libdeflate, the end with the tail inflater
        # (every attempt counted, and the members whose attempt failed, read another way)
        "ends_members": sum(1 for e in ends if e.read),
        "ends_elf_bytes": sum(e.size for e in ends if e.read),
        "ends_inflated_bytes": by_ends,
        "ends_tail_bytes": sum(e.tail_bytes for e in ends),
        # members of the size for it whose end was decoded, whether or not it served
        "ends_tried": sum(1 for e in ends if e.tail_bytes),
        "streamed_members": len(seen),
        "streamed_elf_bytes": sum(s.size for s in seen),
        "inflated_bytes": inflated,
        "inflated_fraction": inflated / total if total else 0.0,
        "streamed_members_inflated_to_end": sum(s.stats.complete for s in seen),
        "members_inflated_twice_or_more": [
            {
                "wheel": s.wheel,
                "member": _member_name(corpus, s),
                "size": s.size,
                "passes": s.stats.passes,
                "inflated": s.stats.inflated,
            }
            for s in seen
            if s.stats.passes > 1
        ]
        + [
            {
                "wheel": p.wheel,
                "member": p.member,
                "size": p.size,
                "passes": len(p.passes),
                "inflated": sum(p.passes),
            }
            for p in prefixed
            if len(p.passes) > 1
        ],
        "parser_calls": sum(s.stats.parses for s in seen),
    }


def _member_name(corpus: list[CorpusWheel], streamed: StreamedMember) -> str:
    """The member ``parse_streamed`` was given (it sees bytes, not names): found by size."""
    names = [
        m.name
        for w in corpus
        if w.filename == streamed.wheel
        for m in w.elf
        if m.size == streamed.size
    ]
    return " or ".join(names) or "?"
