"""The pool hands out a listed wheel as soon as it is listed (engine/pool.py's ``_Backlog``),
not once ``LOOKAHEAD`` are: over a slow link that was one more round of the index's pages
before any worker began (at 50 ms of round trip the listing asks 32 pages at once, and 64
wheels of a page each took two rounds). Counted, never timed: the listing's second wheel is
read only once the first is being audited."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wheelscan.engine.pool import LOOKAHEAD, LocalPool
from wheelscan.sources.base import WheelRef
from wheelscan.sources.simple_index import SimpleIndexSource, pages_in_flight
from wheelscan.wheel.httpclient import HttpSession

from indexserver import IndexServer
from latencyproxy import LatencyProxy
from mirror import listed_only_index

RTT = 0.05
PROJECTS = 2 * LOOKAHEAD
# How long the listing waits for the first wheel to be handed out before it goes on without
# (only a pool that waits for more wheels first ever waits this long)
PATIENCE = 30.0


@dataclass(frozen=True)
class Begun:
    ref: WheelRef
    listed: int  # wheels the listing had given the pool when this one was begun


class NoteWhenBegun:
    """A task that notes how many wheels were listed when it began each."""

    def __init__(self, listed: Any, begun: Any) -> None:
        self.listed, self.begun = listed, begun

    def __call__(self, ref: WheelRef) -> Begun:
        listed = self.listed.value
        self.begun.set()
        return Begun(ref, listed)


def test_the_first_listed_wheel_is_handed_out_before_the_next_is_listed(
    tmp_path: Path,
) -> None:
    names = listed_only_index(tmp_path / "simple", PROJECTS)
    assert pages_in_flight(RTT) < LOOKAHEAD  # the listing's first round holds fewer wheels
    context = multiprocessing.get_context("fork")
    listed, begun = context.Value("i", 0), context.Event()
    waited: list[bool] = []

    def counted(refs: Iterator[WheelRef]) -> Iterator[WheelRef]:
        for ref in refs:
            if listed.value == 1:  # the second: only once a worker has begun the first
                waited.append(begun.wait(PATIENCE))
            listed.value += 1
            yield ref

    with (
        IndexServer(tmp_path) as server,
        LatencyProxy(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), RTT) as proxy,
        HttpSession() as session,
    ):
        source = SimpleIndexSource(f"http://{proxy.address}/simple/", session=session)
        pool = LocalPool(NoteWhenBegun(listed, begun), workers=2, context=context)
        results: list[Any] = list(pool.results(counted(source.wheels())))
    assert waited == [True]  # the first wheel was begun while the listing waited
    assert min(result.listed for result in results) == 1
    assert sorted(result.ref.project for result in results) == names
