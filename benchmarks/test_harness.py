"""Tests of the benchmark harness's own logic (no timings are asserted anywhere).

python -m pytest benchmarks/test_harness.py
"""

from __future__ import annotations

import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS), str(BENCHMARKS.parent)]

from harness import bigmember, cleanenv  # noqa: E402
from harness.corpus import CorpusWheel, ElfLocation, locate  # noqa: E402
from harness.dedupe import dedupe  # noqa: E402
from harness.elfmove import (  # noqa: E402
    PT_DYNAMIC,
    RelocatedElf,
    RelocationError,
    _pack,
    read_headers,
    relocate_dynamic,
)
from harness.floor import inflate_wheel, jobs  # noqa: E402
from harness.procs import run_measured  # noqa: E402
from tests.elfwriter import build_elf, sample_spec  # noqa: E402

from wheelscan.elf import get_parser  # noqa: E402
from wheelscan.engine.worker import audit, read_facts  # noqa: E402
from wheelscan.wheel.archive import Limits  # noqa: E402

MACHINES = ["x86_64", "i686", "s390x", "armv7l"]  # both classes, both byte orders


def whole(moved: RelocatedElf) -> bytes:
    return b"".join(bigmember.relocated_chunks(moved))


@pytest.mark.parametrize("machine", MACHINES)
def test_relocated_file_has_the_same_facts(machine: str) -> None:
    elf = build_elf(sample_spec(machine))
    moved = relocate_dynamic(elf, len(elf) + 3 * 65536 + 123)
    data = whole(moved)
    assert len(data) == moved.size
    parse = get_parser()
    assert parse(data) == parse(elf)
    dynamic = next(s for s in read_headers(data).segments if s.type == PT_DYNAMIC)
    assert dynamic.offset == moved.dynamic_offset > len(elf)
    assert data[dynamic.offset :] == moved.tail


def test_the_old_dynamic_bytes_are_zeroed() -> None:
    elf = build_elf(sample_spec())
    old = next(s for s in read_headers(elf).segments if s.type == PT_DYNAMIC)
    moved = relocate_dynamic(elf, len(elf) + 65536)
    assert moved.head[old.offset : old.offset + old.filesz] == bytes(old.filesz)
    assert moved.tail == elf[old.offset : old.offset + old.filesz]


def test_a_dynamic_segment_outside_the_last_load_is_refused() -> None:
    elf = bytearray(build_elf(sample_spec()))
    headers = read_headers(bytes(elf))
    dynamic = next(s for s in headers.segments if s.type == PT_DYNAMIC)
    _pack(headers, elf, type(dynamic)(**{**dynamic.__dict__, "offset": len(elf) + 4096}))
    with pytest.raises(RelocationError):
        relocate_dynamic(bytes(elf), len(elf) + 65536)


def test_filler_deflates_well_but_below_the_zip_bomb_limit() -> None:
    data = b"".join(bigmember.filler(4 << 20))
    assert len(data) == 4 << 20
    ratio = len(data) / len(zlib.compress(data, 6))
    assert 10 < ratio < Limits().max_compression_ratio


def demo_source(member: str) -> bigmember.Source:
    """A built ELF file as the one member the big-member recipe starts from."""
    elf = build_elf(sample_spec())
    return bigmember.Source("demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", member, len(elf), elf)


def test_big_wheel_gets_the_verdict_and_facts_of_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELSCAN_TEST_CACHE", str(tmp_path))
    source = demo_source("demo/_mod.cpython-312-x86_64-linux-gnu.so")
    pair = bigmember.build_pair(source, 8 << 20)
    assert pair.original.name == pair.big.name
    assert pair.original.parent != pair.big.parent
    small, big = read_facts(pair.original, pair.original.name), read_facts(pair.big, pair.big.name)
    assert [m.facts for m in small.elf_files] == [m.facts for m in big.elf_files]
    assert big.elf_files[0].size == pair.moved_size
    assert audit(pair.original, pair.original.name) == audit(pair.big, pair.big.name)
    # reused, not rebuilt, while the recipe is the same
    stamp = pair.big.stat().st_mtime_ns
    assert bigmember.build_pair(source, 8 << 20).big.stat().st_mtime_ns == stamp


def test_the_floor_inflates_every_elf_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELSCAN_TEST_CACHE", str(tmp_path))
    source = demo_source("demo/_mod.so")
    wheel = locate(bigmember.build_pair(source, 2 << 20).big)
    assert [m.name for m in wheel.elf] == ["demo/_mod.so"]
    assert inflate_wheel(jobs([wheel])[0]) == wheel.elf_bytes


def _location(name: str, crc: int, size: int) -> ElfLocation:
    return ElfLocation(name, 8, crc, size // 3, size, 0)


def test_dedupe_counts_repeats_by_crc_and_sizes() -> None:
    a = CorpusWheel(
        Path("a-1-py3-none-linux_x86_64.whl"),
        10,
        (_location("a/libz.so", 1, 900), _location("a/x.so", 2, 300)),
    )
    b = CorpusWheel(
        Path("b-1-py3-none-linux_x86_64.whl"),
        10,
        (_location("b/libz.so", 1, 900), _location("b/y.so", 3, 300)),
    )
    found = dedupe([a, b])
    assert (found["elf_members"], found["distinct"], found["repeats"]) == (4, 3, 1)
    assert found["repeated_bytes"] == 900
    assert found["largest_groups"][0]["wheels"] == sorted([a.filename, b.filename])


def test_a_measured_process_does_not_inherit_the_harness_peak_rss() -> None:
    ballast = bytearray(300 << 20)  # touched: the harness is now >300 MB resident
    ballast[::4096] = b"\1" * len(ballast[::4096])
    run = run_measured([sys.executable, "-c", "pass"])
    assert run.max_rss < 150 << 20
    touch = "b = bytearray(200 << 20); b[::4096] = b'1' * len(b[::4096])"
    grow = run_measured([sys.executable, "-c", touch])
    assert grow.max_rss > 200 << 20
    del ballast


def test_inflated_bytes_counts_each_path(tmp_path: Path) -> None:
    """A member with a long tail is inflated in part, one that is all segments whole; the
    counts add up to what was inflated, and the part is less than the member."""
    from harness.batch import inflated_bytes
    from tests.hostile.zipwriter import Entry, write_wheel

    elf = build_elf(sample_spec("x86_64", interpreter=None))
    tail = bytes(range(256)) * (8 << 10)  # 2 MiB past the segments, as debug info would be
    path = tmp_path / "counted-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(
        write_wheel([Entry("counted/a.so", elf + tail), Entry("counted/b.so", elf + bytes(9))])
    )
    counts = inflated_bytes([locate(path)])
    assert (counts["whole_members"], counts["prefix_members"]) == (1, 1)
    assert counts["whole_elf_bytes"] == len(elf) + 9
    assert counts["prefix_elf_bytes"] == len(elf) + len(tail)
    assert counts["prefix_inflated_bytes"] < len(tail)
    assert counts["inflated_bytes"] == counts["whole_elf_bytes"] + counts["prefix_inflated_bytes"]


@pytest.mark.parametrize("counted", [False, True])
def test_inflated_bytes_counts_a_member_read_by_its_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: bool
) -> None:
    """An 8 MiB library with PT_DYNAMIC at its end is read by its two ends (in one pass, or
    counted first where 1 MiB of unread bytes follow it and counting is made free): counted
    there, with far fewer bytes inflated than it holds."""
    from harness.batch import inflated_bytes
    from tests.hostile.zipwriter import Entry, write_wheel

    from wheelscan.wheel import ends

    if counted:
        monkeypatch.setattr(ends, "COUNT_COST", 0.0)

    elf = build_elf(sample_spec("x86_64", interpreter=None))
    moved = relocate_dynamic(elf, 8 << 20)
    # code-like filler, compressing ~2x (the big-member filler's zeros make blocks of
    # megabytes, which the tail search does not take)
    noise = random.Random(3)
    code = b"".join(noise.randbytes(24) + bytes(noise.randrange(24)) for _ in range(1 << 18))
    data = moved.head + code[: moved.filler_size] + moved.tail
    assert len(data) == moved.size
    if counted:
        data += code[-(1 << 20) :]  # past every segment, as debug info would be
    path = tmp_path / "ends-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(write_wheel([Entry("ends/a.so", data)]))
    counts = inflated_bytes([locate(path)])
    assert (counts["ends_tried"], counts["ends_members"], counts["whole_members"]) == (1, 1, 0)
    assert counts["ends_elf_bytes"] == len(data)
    assert 0 < counts["ends_inflated_bytes"] < len(data) // 2
    assert counts["inflated_bytes"] == counts["ends_inflated_bytes"]


def test_the_local_prediction_takes_the_lowest_of_its_bounds() -> None:
    import capacity_model

    calibration = {"wheels": 10, "cpu_seconds": 0.1, "server_cpu_seconds": 0.02}
    in_flight = capacity_model.WHEELS_IN_FLIGHT
    # 2 workers of `in_flight` wheels of 640 ms each (round trips mostly): 100/s; 2 cores
    # for 10 ms of CPU a wheel: 200/s; the server's 2 ms a wheel under one lock: 500/s
    figures = {"task_seconds_per_wheel": 0.02 * in_flight}
    predicted = capacity_model.predict_local(figures, calibration, 100, workers=2, cores=2)
    assert predicted["wheels_per_second"] == pytest.approx(100)
    assert predicted["wall_seconds"] == pytest.approx(10.0)
    # 4 workers on one core: the CPU every wheel costs (audit, server, store) is the bound
    predicted = capacity_model.predict_local(figures, calibration, 100, workers=4, cores=1)
    assert predicted["workers_bound_wheels_per_second"] == pytest.approx(200)
    assert predicted["wheels_per_second"] == pytest.approx(100)
    fast = {"task_seconds_per_wheel": 0.001}
    predicted = capacity_model.predict_local(fast, calibration, 100, workers=8, cores=64)
    assert predicted["wheels_per_second"] == pytest.approx(500)  # the server's lock


def test_round_trips_are_hidden_by_the_wheels_in_flight() -> None:
    import capacity_model

    load = {"cpu_seconds": 100.0, "requests": 1000.0, "bytes": 0.0}
    # 10 ms round trips: 110 s held, spread over 32 wheels in flight: the CPU bounds
    wall = capacity_model.wall_seconds(load, 1, 1, 10, 0.01)
    assert wall["cores_bound_seconds"] == pytest.approx(100.0)
    # 100 s round trips: 100,100 s of waits that even the most wheels at once cannot cover
    wall = capacity_model.wall_seconds(load, 1, 1, 10, 100.0)
    most = capacity_model.wheels_in_flight(100.0)
    assert most > capacity_model.WHEELS_IN_FLIGHT
    assert wall["cores_bound_seconds"] == pytest.approx(100_100 / most)


def test_one_client_bounds_the_whole_audit() -> None:
    import capacity_model

    load = {"cpu_seconds": 100.0, "requests": 0.0, "bytes": 0.0, "client_cpu_seconds": 50.0}
    # 100 machines share 100 s of audit; the one client still spends its 50 s
    wall = capacity_model.wall_seconds(load, 100, 1, 10, 0.01)
    assert wall["wall_seconds"] == pytest.approx(50.0) == wall["client_bound_seconds"]


def test_the_clean_interpreter_has_the_packages_and_not_the_hooks(tmp_path: Path) -> None:
    """The venv made for the ML wheels' second measurement imports wheelscan and auditwheel
    from where this interpreter does, and starts exactly as a venv with no package does."""
    clean = cleanenv.make(tmp_path / "clean")
    bare = cleanenv.venv(tmp_path / "bare")
    assert cleanenv.started_modules(clean) == cleanenv.started_modules(bare)
    probe = "import wheelscan, auditwheel; print(wheelscan.__file__); print(auditwheel.__file__)"
    here = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    there = subprocess.run([clean, "-c", probe], capture_output=True, text=True, check=True)
    assert there.stdout == here


def test_the_tools_are_timed_in_turns_and_auditwheel_within_its_budget() -> None:
    from harness.largewheel import _alternated
    from harness.procs import ProcessRun

    order: list[str] = []

    def run(tool: str, seconds: float) -> ProcessRun:
        order.append(tool)
        return ProcessRun(seconds, 0, 0, b"", b"")

    ws, aw = _alternated(3, lambda: run("ws", 0.1), lambda: run("aw", 1.0), None)
    assert order == ["ws", "aw"] * 3
    assert len(ws) == len(aw) == 3
    order.clear()
    # auditwheel's runs stop once they took the budget; wheelscan's go on to ``repeats``
    ws, aw = _alternated(4, lambda: run("ws", 0.1), lambda: run("aw", 20.0), 30.0)
    assert order == ["ws", "aw", "ws", "aw", "ws", "ws"]
    assert (len(ws), len(aw)) == (4, 2)


def test_the_median_of_runs_is_their_middle_or_the_mean_of_the_two() -> None:
    from harness.largewheel import _median
    from harness.procs import ProcessRun

    def runs(*seconds: float) -> list[ProcessRun]:
        return [ProcessRun(s, 0, 0, b"", b"") for s in sorted(seconds)]

    assert _median(runs(0.3, 0.1, 0.2)) == 0.2
    assert _median(runs(0.4, 0.1, 0.2, 0.3)) == pytest.approx(0.25)


def test_the_steady_rate_is_the_stride_between_the_tenth_and_ninetieth_percentile() -> None:
    from remote import steady_rate  # imported here: remote.py puts tests/ on sys.path

    # 1,000 wheels: the first and last hundred slow (0.05 s apart), the 800 between 100 a
    # second; pages and each wheel's second request do not count
    times = [0.05 * i for i in range(100)]
    times += [times[-1] + 0.05 + 0.01 * i for i in range(800)]
    times += [times[-1] + 0.05 * (i + 1) for i in range(100)]
    requested = [(when, f"/packages/w{i}.whl") for i, when in enumerate(times)]
    requested += [(when + 0.2, f"/packages/w{i}.whl") for i, when in enumerate(times)]
    requested += [(when, f"/simple/p{i}/") for i, when in enumerate(times)]
    assert steady_rate(requested) == pytest.approx(100.0)
    whole = len(times) / (times[-1] - times[0])
    assert whole < 60  # the slow ends drag the whole run's rate
    assert steady_rate([(float("nan"), path) for _, path in requested]) is None
    assert steady_rate(requested[:999]) is None  # too few for a stride


def test_inflated_bytes_counts_an_ends_look_ups(tmp_path: Path) -> None:
    """A library whose PT_DYNAMIC copies from past the second margin is read by its end from
    the first margin and a chain of look-ups further back (wheel/end_lookup.py): the
    look-ups' inflations are counted with the end's."""
    from harness.batch import inflated_bytes
    from tests.test_ends_large import large_wheel
    from tests.test_ends_lookup import UNIT, chained_member

    from wheelscan.wheel import ends

    member = chained_member((ends.TAIL_MARGINS[1] + ends.TAIL_MARGINS[2]) // 2 // UNIT)
    wheel = large_wheel(tmp_path / "chain-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", member)
    counts = inflated_bytes([locate(wheel)])
    assert (counts["ends_tried"], counts["ends_members"], counts["whole_members"]) == (1, 1, 0)
    # the end from the first margin, and more than a margin's worth looked up before it;
    # less than the third margin's end, which the look-ups spare
    assert ends.TAIL_MARGINS[1] < counts["ends_inflated_bytes"] < ends.TAIL_MARGINS[2]


def test_shares_and_round_by_round_ratios_weigh_each_round_trip_against_0_ms() -> None:
    from remote import Row, _median, _paired, _shares

    def row(name: str, *seconds: float) -> list[Row]:
        return [Row(name, s, 1000, 1.0) for s in seconds]

    rows = {
        "directory": row("directory", 2.0, 1.0),
        "http 0 ms": row("http 0 ms", 3.0, 1.2),
        "http 0 ms proxied": row("http 0 ms proxied", 3.3, 1.5),
        "http 50 ms": row("http 50 ms", 4.0, 1.5),
        "http 200 ms": row("http 200 ms", 6.0, 3.0),
    }
    # each round paired with its own directory and 0 ms proxied rows, not with the medians
    assert _paired("", rows) == (
        "# this tree, round by round: 0 ms over the directory 1.50 1.20; "
        "50 ms 82% 100%; 200 ms 55% 50%"
    )
    medians = {name: _median(measured) for name, measured in rows.items()}  # the slower two
    assert _shares("", medians) == (
        "# this tree: 50 ms 75% of 0 ms's wheels/s, 82% of 0 ms proxied's wheels/s; "
        "200 ms 50% of 0 ms's wheels/s, 55% of 0 ms proxied's wheels/s"
    )


def test_a_placed_end_streamed_from_its_start_is_routed_by_its_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from remote_bytes import ROUTES, _routed, _State

    from wheelscan.wheel.archive import Member
    from wheelscan.wheel.ends import EndFound

    member = Member("lib/big.so", 8, 0, 30 << 20, 70 << 20, 4096)
    monkeypatch.setattr(_State, "routes", {})
    placed = _routed("parse_by_ends", lambda member: EndFound([(0, b"\x7fELF")]))
    placed(member)
    # the end is only where its stream begins: nothing is said of the member yet
    assert member.header_offset not in _State.routes
    _routed("_parse_stream", lambda member: "facts")(member)
    assert _State.routes[member.header_offset] == ROUTES["_parse_stream"]
