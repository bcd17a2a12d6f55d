"""An end inflated in one pass whose PT_DYNAMIC copies from before it is settled by a
look-up in the bytes before it (wheel/end_lookup.py ``looked_up_before``), not by inflating the
end again, whole, from the next margin.

onnxruntime 1.31.1's libonnxruntime.so is such a member: its end, inflated in one pass from
the first margin (0.55 MB), holds PT_DYNAMIC's bytes only as copies of bytes 0.5 to 1.2 MB
before them, and it was inflated again from the second margin (1.27 MB: issue #15). The
member here is built as tests/test_ends_chain.py builds one, PT_DYNAMIC at the end of
repetitions that each copy it from the one before, reaching back past the first margin and
not past the second; and compressed evenly throughout (each repetition's other bytes, and
the filler, noise of a small alphabet), so that each margin's end starts where it aims.
"""

from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

import pytest
from tests.elfwriter import build_elf, sample_spec
from tests.test_ends_large import CHUNK, WHEEL, LargeMember, assembled, flushed, large_wheel

from wheelscan.elf import get_parser, partial_parser
from wheelscan.wheel import end_lookup, end_one_pass, ends
from wheelscan.wheel.archive import Member, WheelArchive

MiB = 1 << 20
SIZE = 6 * MiB
TRAILING = 32 * 1024  # after PT_DYNAMIC: an end short enough for one pass
# Each repetition copies PT_DYNAMIC from the one before, this far back (within the window)
UNIT = 24 * 1024
# as many as reach back between the first margin and the second (by default)
UNITS = (ends.TAIL_MARGINS[0] + ends.TAIL_MARGINS[1]) // 2 // UNIT


def small_alphabet(seed: int, length: int) -> bytes:
    """Noise that deflates to about half (Huffman codes, no matches worth a copy)."""
    return bytes(random.Random(seed).choices(b"0123456789abcdef", k=length))


def chained_member(units_count: int = UNITS) -> LargeMember:
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from harness.elfmove import relocate_dynamic

    moved = relocate_dynamic(build_elf(sample_spec("x86_64", interpreter=None)), SIZE - TRAILING)
    chained = zlib.compressobj(6, zlib.DEFLATED, -15)
    units = [
        small_alphabet(10 + i, UNIT - len(moved.tail)) + moved.tail for i in range(units_count)
    ]
    repeated = b"".join(chained.compress(u) + chained.flush(zlib.Z_SYNC_FLUSH) for u in units)
    repeated += chained.flush(zlib.Z_FULL_FLUSH)
    before = moved.filler_size - (units_count * UNIT - len(moved.tail))
    pieces: list[tuple[bytes, bytes, int]] = [(moved.head, flushed(moved.head), 1)]
    for length, seed in ((before, 1), (TRAILING, 2)):
        chunk = small_alphabet(seed, CHUNK)
        rest = chunk[: length % CHUNK]
        pieces += [(chunk, flushed(chunk), length // CHUNK), (rest, flushed(rest), 1)]
        if length == before:
            pieces.append((b"".join(units), repeated, 1))
    return assembled(pieces, SIZE, moved.dynamic_offset, moved.head[:4096])


@pytest.mark.parametrize(
    "reach",
    [
        # past the first margin and not past the second: one look-up
        (ends.TAIL_MARGINS[0] + ends.TAIL_MARGINS[1]) // 2,
        # past the second: a chain of look-ups, each from a block further back, where the
        # end was inflated again from the second margin and the third (onnxruntime 1.31.1's
        # pybind11 module: 1.2 MB then 5.2 MB, most of its ``show``; issue #15)
        (ends.TAIL_MARGINS[1] + ends.TAIL_MARGINS[2]) // 2,
    ],
)
def test_an_end_in_one_pass_is_inflated_once_and_its_bytes_looked_up_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reach: int
) -> None:
    member = chained_member(reach // UNIT)
    first = member.dynamic_offset - ends.TAIL_MARGINS[0]
    route = ends._route(SIZE, member.dynamic_offset, member.dynamic_offset, ends.TAIL_MARGINS[0])
    assert route is ends.Route.ONE_PASS
    ends_inflated: list[int] = []
    looked_up: list[bool] = []
    inflate_to_the_end = end_one_pass.inflate_to_the_end

    def noted(archive: WheelArchive, elf: Member, begin: int) -> ends.Tail | None:
        tail = inflate_to_the_end(archive, elf, begin)
        ends_inflated.append(begin)
        if tail is not None and tail.known is not None:
            # PT_DYNAMIC's first bytes, unknown in the end from the first margin
            at = member.dynamic_offset - tail.begin
            looked_up.append(not all(tail.known[at : at + 16]))
        return tail

    monkeypatch.setattr(end_one_pass, "inflate_to_the_end", noted)
    wheel = large_wheel(tmp_path / WHEEL, member)
    partial = partial_parser()
    assert partial is not None
    with WheelArchive.open(wheel) as archive:
        (elf,) = archive.elf_members()
        by_ends = ends.parse_by_ends(archive, elf, partial)
        whole = get_parser()(archive.read(elf))
    assert by_ends is not None and by_ends == whole
    # one end, from the first margin, where PT_DYNAMIC was unknown: looked up before it
    assert ends_inflated == [first]
    assert looked_up == [True]


def test_an_ends_look_ups_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many times the parser asks for unknown bytes of one end, its look-ups
    together inflate at most MAX_CHAIN_INFLATED: each chain is given what the earlier ones
    left, and once it cannot be met, the look-up fails (the next margin's end is read)."""
    budgets: list[int] = []

    def chain(*args: object) -> tuple[dict[int, int], int] | None:
        wanted, budget = args[4], args[6]
        assert isinstance(wanted, set) and isinstance(budget, int)
        budgets.append(budget)
        return ({offset: 7 for offset in wanted}, 1000) if budget >= 1000 else None

    monkeypatch.setattr(end_lookup, "_looked_up", chain)
    monkeypatch.setattr(end_lookup, "MAX_CHAIN_INFLATED", 2500)
    length, above = 4096, 100_000
    window = memoryview(bytearray(2 * length)).cast("H")
    for i in range(length):
        window[i] = i
    tail = ends.Tail(
        ends.NO_BIT, above + 10, bytearray(length), [], bytearray(length), None,
        ends.Copied(window, above, 12345),
    )  # fmt: skip
    found = []
    for start in (above + 10, above + 1000, above + 2000):
        looked_up = end_lookup.looked_up_before(
            None,  # type: ignore[arg-type]  # (the chain is the stub's)
            None,  # type: ignore[arg-type]
            tail, start, start + 100, above - 5000,
        )  # fmt: skip
        found.append(looked_up is not None)
        tail = looked_up or tail
    assert budgets == [2500, 1500, 500]
    assert found == [True, True, False]
    assert tail.copied is not None and tail.copied.inflated == 2000
    assert all(tail.inflated[i] == 7 for i in range(0, 100))


def test_over_http_a_chain_of_look_ups_waits_no_longer_than_the_margins_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP each level of a chain fetches the stream before the last one's: a round
    trip each, one after another. From the second level on, the stream of FETCH_AHEAD
    levels comes in one request: the chain waits a round trip less (five, as the margins'
    inflations did: the tail, the plan, the end, two look-ups; six without), and the member
    is not fetched whole. Counted by the delaying proxy, never timed; each reading on a
    session of its own (one that had seen a slow answer would fetch the wheel's first
    bytes with its tail, a round trip less either way)."""
    from wheelscan.engine.task import AuditTask
    from wheelscan.engine.worker import read_facts
    from wheelscan.sources.base import wheel_ref
    from wheelscan.wheel import httpclient

    from indexserver import IndexServer
    from latencyproxy import LatencyProxy

    monkeypatch.setattr(httpclient, "session_for", lambda deadline: httpclient.HttpSession())
    (tmp_path / "packages").mkdir()
    member = chained_member((ends.TAIL_MARGINS[1] + ends.TAIL_MARGINS[2]) // 2 // UNIT)
    wheel = large_wheel(tmp_path / "packages" / WHEEL, member)
    path = f"/packages/{wheel.name}"
    deepest: dict[bool, int] = {}
    with IndexServer(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for ahead in (True, False):
            if not ahead:
                monkeypatch.setattr(end_lookup, "_fetch_ahead", lambda *args: False)
            with LatencyProxy(("127.0.0.1", port), 0.02) as proxy:
                ref = wheel_ref(wheel.name, f"http://{proxy.address}{path}", None,
                                wheel.stat().st_size, None)  # fmt: skip
                assert ref is not None
                result = AuditTask(keyed=False, alone=True)(ref)
                deepest[ahead] = proxy.deepest(path)
            assert result.facts == read_facts(wheel, wheel.name)
            assert result.bytes_read < wheel.stat().st_size
    assert deepest[True] < deepest[False]
    assert deepest[True] <= 5
