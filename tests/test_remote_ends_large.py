"""Over HTTP, the end of a member over WHOLE_MEMBER_LIMIT is fetched from where ends.py's
count first searches (``ends.search_target``), not from where an evenly compressed member
would place it: such an end (symbol tables, debug information) compresses better than the
code before it, and the count is aimed at that (END_DENSER). From the even aim, jaxlib's
libjax_common.so had 13 MB of its stream fetched that its count never decoded.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from tests.elfwriter import build_elf, sample_spec
from tests.test_ends_large import (
    CHUNK,
    WHEEL,
    LargeMember,
    assembled,
    filler_chunk,
    flushed,
    large_wheel,
    read_here_and_over_http,
)

from wheelscan._native import dynamic_segment, facts_end
from wheelscan.wheel import ends
from wheelscan.wheel.inflate import WHOLE_MEMBER_LIMIT

MiB = 1 << 20
SIZE, TRAILING = 80 * MiB, 24 * MiB


def half_noise_chunk(seed: int) -> bytes:
    """64 KiB that deflate to half: code, roughly."""
    return random.Random(seed).randbytes(CHUNK // 2) + bytes(CHUNK // 2)


def denser_end_member() -> LargeMember:
    """80 MiB whose PT_DYNAMIC is 24 MiB before the end: the bytes before it deflate 2x,
    those after it ~30x (as a library's tables and debug information do, better than its
    code)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), SIZE - TRAILING)
    pieces = [(moved.head, flushed(moved.head), 1)]
    for length, chunk in (
        (moved.filler_size, half_noise_chunk(1)),
        (TRAILING, filler_chunk(2)),
    ):
        rest = chunk[: length % CHUNK]
        pieces += [(chunk, flushed(chunk), length // CHUNK), (rest, flushed(rest), 1)]
        if length == moved.filler_size:
            pieces.append((moved.tail, flushed(moved.tail), 1))
    return assembled(pieces, SIZE, moved.dynamic_offset, moved.head[:4096])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[LargeMember, Path]:
    member = denser_end_member()
    web = tmp_path_factory.mktemp("denser")
    (web / "packages").mkdir()
    return member, large_wheel(web / "packages" / WHEEL, member)


def test_a_counted_end_is_fetched_from_where_the_count_searches(
    built: tuple[LargeMember, Path],
) -> None:
    member, path = built
    assert member.size > WHOLE_MEMBER_LIMIT
    end = facts_end(member.head)
    dynamic = dynamic_segment(member.head)
    assert end is not None and dynamic is not None
    margin = ends.TAIL_MARGINS[0]
    assert ends._route(member.size, dynamic[0], end, margin) is ends.Route.COUNTED
    local, facts, reader = read_here_and_over_http(path)
    fetched, requests = reader.bytes_fetched, reader.requests
    assert facts == local
    # the stream from the even aim to the end, what was fetched before
    stream = len(member.stream)
    even = stream * (member.size - member.dynamic_offset + margin) // member.size
    # from the count's target: the end's share over END_DENSER, and 2.5 MB for the start
    # and the search's reach (a 30 MB wheel: 4.8 MB fetched, where 9.4 MB were)
    assert fetched < even // ends.END_DENSER + 2_500_000 < even, (fetched, even, stream)
    assert requests <= 4, requests  # the tail, the plan, its parts together
