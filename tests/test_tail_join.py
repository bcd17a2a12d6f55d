"""A count aimed too late (wheel/end_count.py ``count_end``, END_DENSER) is taken back, and the
stream before it counted only up to where the late count began, then joined to it
(``_joined``): the result is exactly ``block_starts``' from the earlier search; false
starts included (tests/test_ends_failsafe.py's crafted members)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.test_ends_failsafe import ROUTES, false_start_member
from tests.test_tail_split import stream  # noqa: F401  (the fixture)

from wheelscan._tail import block_starts
from wheelscan.wheel import end_count, ends
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
    joined = end_count._joined(memoryview(stream), early, max(0, early - ends.SEARCH_BITS), later)
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
    assert end_count._joined(data, member.search_from, search_to, later) == one


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
    # under WHOLE_MEMBER_LIMIT, aimed as if it compressed evenly
    small = Member("lib.so", DEFLATED, 0, 2 << 20, 20 << 20, 0)
    assert abs(ends.count_target(small, 12 << 20) - 8 * small.compressed_size * 12 / 20) <= 1


def test_a_mid_size_library_copied_from_far_back_is_read_by_its_ends(
    real_wheels: list[Path],
) -> None:
    """cryptography 50's armv7l `_rust.abi3.so` (10 MB, 4.25 MB compressed): three bytes
    of its PT_DYNAMIC copy from before the end decoded, and are found in a block the count
    holds only if it began where an evenly compressed member places PT_DYNAMIC. Aimed
    END_DENSER times later, it was read from its start (over HTTP, 4.25 MB fetched where
    its ends take 1.56)."""
    from wheelscan.elf import get_parser, partial_parser
    from wheelscan.wheel.archive import WheelArchive

    (wheel,) = [
        w
        for w in real_wheels
        if w.name.startswith("cryptography-50.0.2-cp39-abi3-manylinux_2_31_armv7l")
    ]
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(wheel) as archive:
        archive.fetched = True  # the costs of a remote reading, where ends pay from 512 KiB
        (member,) = [m for m in archive.members if m.name.endswith("_rust.abi3.so")]
        by_ends = ends.parse_by_ends(archive, member, partial)
        assert by_ends is not None and by_ends == get_parser()(archive.read(member))
