"""wheelscan's benchmark: every figure from one run, on the same wheels, as ratios.

    python benchmarks/run.py [--workers N] [--output benchmarks/results/latest.json] [--quick]

Stages, in this order (the order matters: the batch comes first, while the harness is small
and has started no other process, so that the peak RSS figures are the batch's own):

1. wheelscan's batch engine on the corpus with 1, 2 and N workers, best of 3 each;
   the peak RSS of the parent and of the largest worker; then, untimed, how many ELF bytes
   it inflated;
2. the inflate floor: the same ELF members inflated whole, same inflater, same processes;
3. a warm-up of both command-line tools (bytecode caches), untimed;
4. auditwheel 6.8.2, one process per wheel: summed sequentially, and wall time with N at once;
5. the largest corpus wheel as whole processes, ``wheelscan show`` against ``auditwheel show``;
   ``wheelscan audit DIR`` as a whole process, fast and ``--strict``;
   the Dask engine against the local pool, on a running LocalCluster and as a whole process;
6. a ~1 GiB ELF member with PT_DYNAMIC at its end: verdict, time and peak RSS;
7. the dedupe potential of the corpus.

See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
sys.path.insert(0, str(REPO))  # tests.corpus.fetch: the corpus download the tests use

from harness import (  # noqa: E402
    auditwheel,
    batch,
    bigmember,
    cleanenv,
    command,
    dask_engine,
    floor,
    largewheel,
)
from harness.corpus import CorpusWheel, fetch_corpus, locate  # noqa: E402
from harness.dedupe import dedupe  # noqa: E402
from harness.machine import describe, usable_cores  # noqa: E402
from harness.procs import best_of_interleaved  # noqa: E402
from harness.report import as_json, figures, markdown  # noqa: E402

CORPUS = BENCHMARKS / "corpus.json"
ML_WHEELS = BENCHMARKS / "ml-wheels.json"  # the largest ML wheels: `show` only (issue #15)
MEMBER_SIZE = 1 << 30
QUICK_MEMBER_SIZE = 64 << 20
LARGE_WHEEL_RUNS = 5
# The ML wheels' ``show`` is the shortest process measured (onnxruntime's, 60-100 ms) and its
# best of five still moved by a tenth from run to run (session 14: 9.2x, 9.2x and 10.3x for
# the same tree, alone on the machine): eleven runs of each tool, the same number for both
# (but auditwheel's within its budget, largewheel.AUDITWHEEL_BUDGET: tensorflow-cpu's one
# run), and the ratio of their medians reported beside that of their bests
ML_WHEEL_RUNS = 11


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: every usable core)"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results JSON (default: benchmarks/results/latest.json, or quick.json with --quick)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: the smallest wheels, one repetition, a 64 MiB member",
    )
    p.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the pinned wheels to measure (default: benchmarks/corpus.json; the tests' "
        "tests/corpus/wheels.json is another)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repetitions per timing, the best is kept (default: 3; 1 with --quick)",
    )
    return p.parse_args(argv)


def worker_counts(workers: int) -> list[int]:
    return sorted({1, min(2, workers), workers})


def corpus_summary(corpus: list[CorpusWheel], corpus_file: Path) -> dict[str, Any]:
    return {
        "file": str(corpus_file.resolve().relative_to(REPO)),
        "wheels": len(corpus),
        "wheel_bytes": sum(w.size for w in corpus),
        "elf_members": sum(len(w.elf) for w in corpus),
        "elf_bytes": sum(w.elf_bytes for w in corpus),
        "deflated_elf_bytes": sum(m.size for w in corpus for m in w.elf if m.deflated),
    }


def stage_wheelscan(
    wheels: list[Path], counts: list[int], repeats: int
) -> tuple[dict[str, Any], dict[str, batch.BatchRun]]:
    log(f"wheelscan batch, {' and '.join(map(str, counts))} worker(s), {repeats} round(s)")
    by_count = best_of_interleaved(
        counts, repeats, lambda k: batch.run_batch(wheels, k), lambda run: run.seconds
    )
    runs = {str(k): v for k, v in by_count.items()}
    result = {
        "repeats": repeats,
        "seconds": {k: [run.seconds for run in v] for k, v in runs.items()},
        "best": {k: v[0].summary() for k, v in runs.items()},
        "memory": batch.peak_memory(),
    }
    return result, {k: v[0] for k, v in runs.items()}


def stage_floor(corpus: list[CorpusWheel], counts: list[int], repeats: int) -> dict[str, Any]:
    log(f"inflate floor, {' and '.join(map(str, counts))} process(es), {repeats} round(s)")
    runs = {str(k): v for k, v in floor.best_floors(corpus, counts, repeats).items()}
    return {
        "repeats": repeats,
        "seconds": {k: [run.seconds for run in v] for k, v in runs.items()},
        "best": {
            k: {
                "workers": v[0].workers,
                "seconds": v[0].seconds,
                "inflated_bytes": v[0].inflated_bytes,
            }
            for k, v in runs.items()
        },
    }


def stage_auditwheel(
    corpus: list[CorpusWheel], cmd: list[str], workers: int, best: batch.BatchRun
) -> dict[str, Any]:
    paths = [w.path for w in corpus]
    log(f"auditwheel, {len(paths)} wheels one after another")
    audits = auditwheel.sequential(cmd, paths)
    log(f"auditwheel, {workers} processes at a time")
    parallel = auditwheel.parallel(cmd, paths, workers)
    ours = {o.wheel: o for o in best.outcomes}
    per_wheel = [
        {
            "wheel": a.wheel,
            "auditwheel_seconds": a.run.seconds,
            "auditwheel_max_rss": a.run.max_rss,
            "wheelscan_seconds_in_worker": ours[a.wheel].seconds,
            "auditwheel_tag": a.overall_tag,
            "wheelscan_tag": ours[a.wheel].overall_tag,
        }
        for a in audits
    ]
    return {
        "command": [*cmd, "show", "--json", "--ldpaths", ""],
        "sequential_seconds": sum(a.run.seconds for a in audits),
        "parallel_seconds": parallel,
        "agree": sum(w["auditwheel_tag"] == w["wheelscan_tag"] for w in per_wheel),
        "disagree": [w for w in per_wheel if w["auditwheel_tag"] != w["wheelscan_tag"]],
        "per_wheel": per_wheel,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    workers = args.workers or usable_cores()
    repeats = args.repeats or (1 if args.quick else 3)
    counts = worker_counts(workers)
    aw_cmd = auditwheel.command()  # fail before the long stages, not after them
    log("corpus: fetching or verifying")
    wheels = fetch_corpus(args.corpus, args.quick)
    # smallest first: the largest's auditwheel runs for minutes and takes gigabytes, and the
    # processes timed right after it ran slow (session 13: both tools' onnxruntime runs
    # after tensorflow-cpu's, wheelscan's 0.110 s and auditwheel's 0.800, against 0.067-0.078
    # and 0.71-0.83 s measured alone minutes later)
    ml_wheels = [] if args.quick else fetch_corpus(ML_WHEELS, quick=False)
    ml_wheels.sort(key=lambda path: path.stat().st_size)
    # other processes on the machine disturb every figure: say how busy it was beforehand
    results: dict[str, Any] = {
        "workers": workers,
        "quick": args.quick,
        "load_average_at_start": os.getloadavg(),
    }
    # first, while the harness is small and has started no other process (peak RSS)
    results["wheelscan"], best = stage_wheelscan(wheels, counts, repeats)
    log("corpus: locating ELF members; counting what wheelscan inflates (untimed)")
    corpus = [locate(path) for path in wheels]
    results["corpus"] = corpus_summary(corpus, args.corpus)
    results["wheelscan"]["inflated"] = batch.inflated_bytes(corpus)
    results["machine"] = describe(REPO, auditwheel.version(aw_cmd))
    results["floor"] = stage_floor(corpus, counts, repeats)
    log("warm-up: one untimed run of each tool, filling their bytecode caches")
    largewheel.warm_up(min(wheels, key=lambda p: p.stat().st_size), aw_cmd)
    results["auditwheel"] = stage_auditwheel(corpus, aw_cmd, workers, best[str(workers)])
    largest = max(corpus, key=lambda w: w.size)
    log(f"one large wheel as whole processes: {largest.filename}")
    # processes of a fraction of a second move by a third on this kind of machine: five runs
    # of each tool (the same number for both), where three were too few to find either's best
    large_repeats = repeats if args.quick else max(repeats, LARGE_WHEEL_RUNS)
    results["large_wheel"] = largewheel.compare(largest.path, aw_cmd, large_repeats)
    log(f"the largest ML wheels as whole processes, and their layouts' floors: {len(ml_wheels)}")
    with tempfile.TemporaryDirectory() as clean_dir:
        clean_python = cleanenv.make(Path(clean_dir))
        # what this machine's site hooks import that the clean interpreter does not
        results["site_hook_modules"] = sorted(
            cleanenv.started_modules(sys.executable) - cleanenv.started_modules(clean_python)
        )
        ml_repeats = repeats if args.quick else max(repeats, ML_WHEEL_RUNS)
        results["ml_wheels"] = largewheel.compare_ml(ml_wheels, aw_cmd, ml_repeats, clean_python)
    log(f"wheelscan audit DIR as a whole process, {repeats} run(s)")
    results["audit_command"] = command.audit_command(wheels, workers, repeats)
    log(f"wheelscan audit --strict DIR as a whole process, {repeats} run(s)")
    results["audit_command_strict"] = command.audit_command(wheels, workers, repeats, strict=True)
    log(f"the Dask engine against the local pool, {workers} workers each, {repeats} round(s)")
    results["dask_engine"] = dask_engine.compare(wheels, workers, repeats)
    log(f"wheelscan audit --engine dask DIR as a whole process, {repeats} run(s)")
    results["audit_command_dask"] = command.audit_command(wheels, workers, repeats, engine="dask")
    member_size = QUICK_MEMBER_SIZE if args.quick else MEMBER_SIZE
    log(f"a {member_size >> 20} MiB ELF member (built once into the cache)")
    results["big_member"] = bigmember.measure(corpus, member_size, repeats)
    results["dedupe"] = dedupe(corpus)
    results["figures"] = as_json(figures(results))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = args.output or BENCHMARKS / "results" / ("quick.json" if args.quick else "latest.json")
    results = run(args)
    results["command"] = " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    log(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
