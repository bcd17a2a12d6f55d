"""A count aimed too late (wheel/ends.py ``_count``, END_DENSER) is taken back, and the
stream before it counted only up to where the late count began, then joined to it
(``_joined``): the result is exactly ``block_starts``' from the earlier search; false
starts included (tests/test_ends_failsafe.py's crafted members)."""

from __future__ import annotations

import pytest
from tests.test_ends_failsafe import ROUTES, false_start_member
from tests.test_tail_split import stream  # noqa: F401  (the fixture)

from wheelscan._tail import block_starts
from wheelscan.wheel import ends
from wheelscan.wheel.archive import DEFLATED, Member


@pytest.mark.parametrize("shares", [(0.2, 0.5), (0.45, 0.5), (0.1, 0.9)])
def test_a_late_count_joined_counts_as_one_does(
    stream: bytes,  # noqa: F811
    shares: tuple[float, float],
) -> None:
    early, late = (int(8 * len(stream) * share) for share in shares)
    later = block_starts(stream, late, late - ends.SEARCH_BITS)
    one = block_starts(stream, early, max(0, early - ends.SEARCH_BITS))
    assert later is not None and one is not None and one != later
    joined = ends._joined(memoryview(stream), early, max(0, early - ends.SEARCH_BITS), later)
    assert joined == one


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_false_start_joined_never_decides(route: str) -> None:
    """Searched from where ends.py searches, the crafted stream decodes from its fake
    blocks: joined to a count from further on, the result is still ``block_starts``' own
    (which the member's reading then refuses, tests/test_ends_failsafe.py)."""
    member = false_start_member(ROUTES[route])
    data = memoryview(member.stream)
    search_to = max(0, member.search_from - ends.SEARCH_BITS)
    late = (member.search_from + 8 * len(data)) // 2
    later = block_starts(data, late, late - ends.SEARCH_BITS)
    assert later is not None
    one = block_starts(data, member.search_from, search_to)
    assert ends._joined(data, member.search_from, search_to, later) == one


def test_the_count_is_aimed_denser_towards_the_end() -> None:
    """END_DENSER: the end's share of the stream is taken as its share of the member over
    two; a member that compresses evenly is aimed past its place (then taken back)."""
    member = Member("lib.so", DEFLATED, 0, 10 << 20, 100 << 20, 0)
    even = 8 * member.compressed_size * (60 << 20) // member.size
    aimed = ends.count_target(member, 60 << 20)
    assert aimed == 8 * member.compressed_size * 8 // 10  # the last 40% in the last 20%
    assert aimed > even
    assert ends.count_target(member, 0) == 8 * member.compressed_size // 2  # the whole in half
    assert ends.count_target(member, member.size) == 8 * member.compressed_size
