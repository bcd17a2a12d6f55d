"""The report's cuts and orders: which entries a top-N list keeps, and in which order.

Every ranking of the statistics is cut at ``top`` and ordered by its count, most first, ties
by name; the projects by over-claims, then errors, then wheels; the over-claiming wheels
newest first; the trend by start time, the most recent runs. Rows here are built so that
each key of each order decides somewhere, and so that flipping one (mutation testing,
issue #18 item 8) changes what is listed. The verdicts in the rows are real: wheels from
the tests' writers, judged by the engine.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import Verdict
from wheelscan.report.aggregate import MAX_CAUSES, TREND_RUNS, aggregate
from wheelscan.report.statistics import Statistics

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
EXT = "mod.cpython-312-x86_64-linux-gnu.so"


def _verdict(tag: str, *extra: Sym, needed: tuple[str, ...] = ()) -> dict[str, Any]:
    spec = sample_spec("x86_64", interpreter=None, runpath=None)
    spec = dataclasses.replace(
        spec, symbols=[*spec.symbols, *extra], needed=[*spec.needed, *needed]
    )
    filename = f"demo-1.0-cp312-cp312-{tag}.whl"
    result = audit(build_wheel({EXT: build_elf(spec)}), filename)
    assert isinstance(result, Verdict), result
    return result.to_json()


@pytest.fixture(scope="module")
def over() -> dict[str, Any]:
    """getrandom@GLIBC_2.25 under a manylinux_2_17 tag: an over-claim."""
    verdict = _verdict("manylinux_2_17_x86_64")
    assert verdict["over_claims"] == ["manylinux_2_17_x86_64"]
    return verdict


def _row(
    filename: str,
    project: str = "demo",
    verdict: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
    upload_time: str | None = "2025-01-01T00:00:00+00:00",
    sha256: str | None = None,
) -> dict[str, Any]:
    return {
        "sha256": sha256 or f"{abs(hash((filename, project))):064x}"[:64],
        "filename": filename,
        "project": project,
        "version": "1.0",
        "upload_time": upload_time,
        "location": f"/srv/{filename}",
        "size": 1000,
        "verdict": verdict,
        "error": None if error is None else {"code": error[0], "reason": error[1]},
    }


def _stats(rows: list[dict[str, Any]], top: int, runs: list[dict[str, Any]] = ()) -> Statistics:  # type: ignore[assignment]
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)  # no result may depend on the order rows come in
    first = aggregate(rows, runs, top=top, now=NOW)
    assert aggregate(shuffled, runs, top=top, now=NOW) == first
    return first


def _error_rows(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [
        _row(f"p{code}{i}-1.0-{python}-{python}-manylinux_2_17_x86_64.whl", error=(code, f"r{i}"))
        for code, n in counts.items()
        for i in range(n)
        for python in [f"cp3{10 + len(code) % 3}"]
    ]


def test_a_ranking_keeps_the_most_counted_ties_in_natural_order_and_counts_the_rest() -> None:
    rows = [
        _row(f"w{python}{i}-1.0-{python}-{python}-manylinux_2_17_x86_64.whl", error=("bad", "r"))
        for python, n in [("cp39", 1), ("cp311", 2), ("cp310", 2), ("cp312", 3), ("cp313", 1)]
        for i in range(n)
    ]
    ranking = _stats(rows, top=3).python_tags
    assert [(c.key, c.wheels) for c in ranking.entries] == [
        ("cp312", 3),
        ("cp310", 2),
        ("cp311", 2),
    ]
    assert (ranking.distinct, ranking.rest) == (5, 2)
    whole = _stats(rows, top=5).python_tags
    # ties read with their numbers as numbers: cp39 before cp313 (aggregate.natural_key)
    assert [c.key for c in whole.entries] == ["cp312", "cp310", "cp311", "cp39", "cp313"]
    assert whole.rest == 0
    one = _stats(rows, top=1).python_tags
    assert [c.key for c in one.entries] == ["cp312"] and one.rest == 6


def test_errors_are_cut_by_count_ties_by_code_with_the_first_wheel_by_name() -> None:
    rows = _error_rows({"b-code": 2, "a-code": 2, "c-code": 3, "d": 1})
    errors = _stats(rows, top=2).errors
    assert [(e.code, e.wheels) for e in errors] == [("c-code", 3), ("a-code", 2)]
    assert (errors[1].example_wheel, errors[1].example_reason) == (
        "pa-code0-1.0-cp310-cp310-manylinux_2_17_x86_64.whl",
        "r0",
    )
    assert [e.code for e in _stats(rows, top=4).errors] == ["c-code", "a-code", "b-code", "d"]
    # one wheel name, two reasons: the example is the smallest reason, whatever came first
    same = [_row("x-1.0-cp312-cp312-linux_x86_64.whl", error=("e", r)) for r in ("zz", "aa")]
    for rows in (same, same[::-1]):
        (error,) = aggregate(rows, top=5, now=NOW).errors
        assert (error.wheels, error.example_reason) == (2, "aa")


def test_projects_rank_by_over_claims_then_errors_then_wheels_then_name(
    over: dict[str, Any],
) -> None:
    def wheels(project: str, n_over: int, n_errors: int, n_pending: int) -> list[dict[str, Any]]:
        tag = "cp312-cp312-manylinux_2_17_x86_64"
        return [
            *(_row(f"{project}-{i}.0-{tag}.whl", project, over) for i in range(n_over)),
            *(
                _row(f"{project}-e{i}-{tag}.whl", project, error=("x", "y"))
                for i in range(n_errors)
            ),
            *(_row(f"{project}-p{i}-{tag}.whl", project) for i in range(n_pending)),
        ]

    rows = [
        *wheels("alpha", 1, 0, 0),
        *wheels("beta", 1, 1, 0),
        *wheels("gamma", 1, 1, 1),
        *wheels("delta", 2, 0, 0),
        *wheels("epsilon", 0, 5, 0),
        *wheels("zeta", 1, 0, 0),
        *wheels("eta", 0, 0, 9),
    ]
    projects = _stats(rows, top=10).projects
    assert [p.project for p in projects] == [
        "delta",
        "gamma",
        "beta",
        "alpha",
        "zeta",
        "epsilon",
        "eta",
    ]
    gamma = projects[1]
    assert (gamma.wheels, gamma.judged, gamma.over_claims, gamma.errors) == (3, 1, 1, 1)
    assert [p.project for p in _stats(rows, top=3).projects] == ["delta", "gamma", "beta"]
    assert _stats(rows, top=10).totals.projects == 7


def test_the_newest_over_claims_are_kept_newest_first(over: dict[str, Any]) -> None:
    def claim(name: str, day: int | None, sha256: str = "") -> dict[str, Any]:
        upload = None if day is None else f"2025-03-{day:02d}T00:00:00+00:00"
        filename = f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        return _row(filename, name, over, upload_time=upload, sha256=sha256 or None)

    rows = [
        claim("old", 1),
        claim("unknown", None),
        claim("newest", 9),
        claim("mid", 5),
        claim("also-mid", 5),
        claim("twin", 3, "b" * 64),
        claim("twin", 3, "a" * 64),
    ]
    kept = _stats(rows, top=3).over_claim_wheels
    assert [w.project for w in kept] == ["newest", "mid", "also-mid"]
    assert kept[0].upload_time == "2025-03-09T00:00:00+00:00"
    every = _stats(rows, top=10).over_claim_wheels
    assert [w.project for w in every] == [
        "newest",
        "mid",
        "also-mid",
        "twin",
        "twin",
        "old",
        "unknown",
    ]
    five = _stats(rows, top=5).over_claim_wheels
    assert [w.project for w in five] == ["newest", "mid", "also-mid", "twin", "twin"]
    four = aggregate(rows, top=4, now=NOW).over_claim_wheels
    assert four[-1].project == "twin"  # of the twins, the larger sha256 is kept
    assert four == aggregate(rows[::-1], top=4, now=NOW).over_claim_wheels


def test_claim_gaps_are_cut_by_count_ties_by_name(over: dict[str, Any]) -> None:
    needs_2_28 = _verdict(
        "manylinux_2_17_x86_64", Sym("fn", version="GLIBC_2.28", version_file="libc.so.6")
    )
    over_2_24 = _verdict("manylinux_2_24_x86_64")
    tag = "cp312-cp312-{}.whl"
    rows = [
        *(_row(f"a{i}-1.0-" + tag.format("manylinux_2_17_x86_64"), verdict=over) for i in range(2)),
        *(
            _row(f"b{i}-1.0-" + tag.format("manylinux_2_17_x86_64"), verdict=needs_2_28)
            for i in range(2)
        ),
        _row("c-1.0-" + tag.format("manylinux_2_24_x86_64"), verdict=over_2_24),
    ]
    gaps = _stats(rows, top=2).over_claim_pairs
    assert [(g.declared, g.computed, g.wheels) for g in gaps] == [
        ("manylinux_2_17_x86_64", "manylinux_2_26_x86_64", 2),
        ("manylinux_2_17_x86_64", "manylinux_2_28_x86_64", 2),
    ]
    assert len(_stats(rows, top=3).over_claim_pairs) == 3
    assert _stats(rows, top=3).over_claim_pairs[2].declared == "manylinux_2_24_x86_64"


def test_causes_keep_the_newest_version_per_bucket_and_are_cut(over: dict[str, Any]) -> None:
    libs = tuple(f"libext{i}.so.1" for i in range(MAX_CAUSES + 2))
    verdict = _verdict(
        "manylinux_2_17_x86_64",
        Sym("fn", version="GLIBC_2.28", version_file="libc.so.6"),
        needed=libs,
    )
    (claim,) = aggregate(
        [_row("x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", verdict=verdict)], now=NOW
    ).over_claim_wheels
    assert len(claim.causes) == MAX_CAUSES
    assert claim.causes == libs[:MAX_CAUSES]
    (claim,) = aggregate(
        [
            _row(
                "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                verdict=_verdict(
                    "manylinux_2_17_x86_64",
                    Sym("fn", version="GLIBC_2.28", version_file="libc.so.6"),
                    Sym("fn2", version="GLIBCXX_3.4.22", version_file="libstdc++.so.6"),
                ),
            )
        ],
        now=NOW,
    ).over_claim_wheels
    # GLIBC_2.25 and 2.28 both block 2_17: the newest speaks for the bucket; buckets in
    # version_key's order (GLIBC before GLIBCXX)
    assert claim.causes == ("CXXABI_1.3.8", "GLIBC_2.28", "GLIBCXX_3.4.22")


def _run(id: int, started: str) -> dict[str, Any]:
    return {
        "id": id,
        "started": started,
        "finished": started,
        "source": "dir:/srv",
        "status": "finished",
        "seen": 1,
        "skipped_known": 0,
        "audited": 1,
        "errors": 0,
        "bytes_read": 1,
        "elf_bytes": 1,
        "seconds": 1.0,
        "wheelscan_version": "1",
        "backend": "native",
    }


def test_the_trend_keeps_the_most_recent_runs_in_start_order() -> None:
    runs = [
        _run(i, f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00") for i in range(TREND_RUNS + 5)
    ]
    runs.append(_run(TREND_RUNS + 5, runs[-1]["started"]))  # a tie on start time: by id
    random.Random(3).shuffle(runs)
    points = aggregate([], runs, now=NOW).runs
    assert len(points) == TREND_RUNS
    assert [p.id for p in points[-2:]] == [str(TREND_RUNS + 4), str(TREND_RUNS + 5)]
    assert points[0].id == "6"
    assert [p.started for p in points] == sorted(p.started for p in points)
