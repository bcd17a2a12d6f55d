"""The figures a run yields, each with its target, as JSON and as Markdown tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MB = 1e6


@dataclass(frozen=True)
class Figure:
    name: str
    wheelscan: str
    reference: str
    ratio: float
    target: str = ""  # e.g. ">= 100"; empty: reported, not judged
    met: bool | None = None


def _at_least(value: float, bound: float) -> tuple[str, bool]:
    return f"≥ {bound:g}×", value >= bound


def _at_most(value: float, bound: float) -> tuple[str, bool]:
    return f"≤ {bound:g}×", value <= bound


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def figures(r: dict[str, Any]) -> list[Figure]:
    n = r["workers"]
    ws = r["wheelscan"]["best"]
    ws_n, ws_1 = ws[str(n)]["seconds"], ws["1"]["seconds"]
    floor = r["floor"]["best"]
    aw = r["auditwheel"]
    out: list[Figure] = []

    ratio = aw["sequential_seconds"] / ws_n
    out.append(
        Figure(
            "corpus: auditwheel summed (one process per wheel) / wheelscan batch",
            f"{_s(ws_n)} ({n} workers)",
            _s(aw["sequential_seconds"]),
            ratio,
            *_at_least(ratio, 100),
        )
    )
    ratio = aw["parallel_seconds"] / ws_n
    out.append(
        Figure(
            f"corpus: wall / wall, {n} processes each", _s(ws_n), _s(aw["parallel_seconds"]), ratio
        )
    )
    command = r.get("audit_command")
    if command is not None:
        ratio = aw["sequential_seconds"] / command["best"]
        out.append(
            Figure(
                "corpus: auditwheel summed / `wheelscan audit DIR` as a whole process "
                "(start-up, sha256 of every wheel, SQLite store)",
                f"{_s(command['best'])} ({command['workers']} workers)",
                _s(aw["sequential_seconds"]),
                ratio,
            )
        )
    strict = r.get("audit_command_strict")
    if strict is not None:
        ratio = aw["sequential_seconds"] / strict["best"]
        out.append(
            Figure(
                "corpus: auditwheel summed / `wheelscan audit --strict DIR` as a whole process "
                "(every byte inflated and checked against RECORD)",
                f"{_s(strict['best'])} ({strict['workers']} workers)",
                _s(aw["sequential_seconds"]),
                ratio,
                *_at_least(ratio, 20),
            )
        )
    dask = r.get("dask_engine")
    if dask is not None:
        local_best, dask_best = min(dask["local_seconds"]), min(dask["dask_seconds"])
        out.append(
            Figure(
                f"corpus: Dask engine / local pool throughput, {dask['workers']} workers each "
                f"(a running LocalCluster; its start-up {_s(dask['cluster_start_seconds'])})",
                _s(dask_best),
                _s(local_best),
                dask["ratio"],
                *_at_least(dask["ratio"], 0.85),
            )
        )
    whole = r.get("audit_command_dask")
    if whole is not None and command is not None:
        ratio = command["best"] / whole["best"]
        out.append(
            Figure(
                "corpus: `wheelscan audit --engine dask DIR` / `wheelscan audit DIR`, whole "
                "processes (the LocalCluster started inside)",
                _s(whole["best"]),
                _s(command["best"]),
                ratio,
            )
        )
    ratio = ws_n / floor[str(n)]["seconds"]
    out.append(
        Figure(
            f"corpus: wheelscan / inflate floor ({n} processes)",
            _s(ws_n),
            _s(floor[str(n)]["seconds"]),
            ratio,
            *_at_most(ratio, 1.2),
        )
    )
    if n != 1:
        ratio = ws_1 / floor["1"]["seconds"]
        out.append(
            Figure(
                "corpus: wheelscan / inflate floor (1 process)",
                _s(ws_1),
                _s(floor["1"]["seconds"]),
                ratio,
            )
        )
    for k in sorted((int(w) for w in ws if w != "1"), key=int):
        ratio = ws_1 / ws[str(k)]["seconds"]
        floor_scaling = floor["1"]["seconds"] / floor[str(k)]["seconds"] if str(k) in floor else 0
        target = _at_least(ratio, 1.8) if k == 2 else ("", None)
        out.append(
            Figure(
                f"scaling 1 → {k} workers (the floor scales {floor_scaling:.2f}×)",
                f"{_s(ws_1)} → {_s(ws[str(k)]['seconds'])}",
                "",
                ratio,
                *target,
            )
        )
    large = r["large_wheel"]
    out.append(
        Figure(
            f"one large wheel as whole processes ({large['wheel_bytes'] / MB:.0f} MB "
            f"{large['wheel'].split('-')[0]})",
            _s(large["wheelscan_best"]),
            _s(large["auditwheel_best"]),
            large["ratio"],
            *_at_least(large["ratio"], 20),
        )
    )
    for ml in r.get("ml_wheels", []):
        floor = ml["floor"]
        out.append(
            Figure(
                f"ML wheel as whole processes ({ml['wheel_bytes'] / MB:.0f} MB "
                f"{ml['wheel'].split('-')[0]}; {ml['over_floor']:.1f}× its layout's floor, "
                f"{_s(floor['seconds'])}: {floor['counted_bytes'] / MB:.0f} MB counted; "
                f"medians {_median_ratio(ml)})",
                _s(ml["wheelscan_best"]),
                _s(ml["auditwheel_best"]),
                ml["ratio"],
                *_at_least(ml["ratio"], 10),
            )
        )
        clean = ml.get("clean")
        if clean is not None:
            out.append(
                Figure(
                    f"{ml['wheel'].split('-')[0]} again, without this machine's site hooks "
                    f"(a venv's start-up: wheelscan --version "
                    f"{_s(clean['wheelscan_startup_seconds'])}, "
                    f"here {_s(ml['wheelscan_startup_seconds'])}; medians {_median_ratio(clean)})",
                    _s(clean["wheelscan_best"]),
                    _s(clean["auditwheel_best"]),
                    clean["ratio"],
                    *_at_least(clean["ratio"], 10),
                )
            )
    big = r["big_member"]
    rss = big["max_rss"] / MB
    out.append(
        Figure(
            f"{_size(big['member_size'])} ELF member: peak RSS of wheelscan show",
            f"{rss:.0f} MB",
            "",
            rss,
            "≤ 150 MB",
            rss <= 150,
        )
    )
    return out


def _median_ratio(measured: dict[str, Any]) -> str:
    """The ratio of the two tools' median runs, where the run recorded it (older results
    hold only their best)."""
    ratio = measured.get("ratio_median")
    return "not recorded" if ratio is None else f"{ratio:.2f}×"


def _ratio_text(f: Figure) -> str:
    return f"{f.ratio:.0f} MB" if f.target.endswith("MB") else f"{f.ratio:.2f}×"


def _met_text(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def figures_table(items: list[Figure]) -> list[str]:
    lines = [
        "| figure | wheelscan | reference | ratio | target | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {f.name} | {f.wheelscan} | {f.reference} | {_ratio_text(f)} | {f.target} "
        f"| {_met_text(f.met)} |"
        for f in items
    ]
    return lines


def details_table(r: dict[str, Any]) -> list[str]:
    corpus, ws, inf = r["corpus"], r["wheelscan"], r["wheelscan"]["inflated"]
    lines = [
        "| detail | value |",
        "|---|---|",
        f"| corpus | {corpus['wheels']} wheels, {corpus['wheel_bytes'] / MB:.0f} MB, "
        f"{corpus['elf_members']} ELF members, {corpus['elf_bytes'] / MB:.0f} MB of ELF |",
    ]
    for k, run in sorted(ws["best"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| wheelscan, {k} worker(s), best of {ws['repeats']} | "
            f"{run['wheels_per_s']:.1f} wheels/s, "
            f"{run['compressed_mb_per_s']:.0f} MB/s compressed, "
            f"{run['elf_mb_per_s']:.0f} MB/s of ELF, "
            f"{run.get('reused_elf_bytes', 0) / MB:.0f} MB of ELF not parsed again "
            "(a copy of a member its worker had parsed) |"
        )
    memory = ws["memory"]
    lines.append(
        f"| peak RSS of the batch | parent {memory['parent_max_rss'] / MB:.0f} MB, "
        f"largest worker {memory['worker_max_rss'] / MB:.0f} MB |"
    )
    again = (
        "; ".join(
            f"{m['member']}: {m['passes']} passes, {m['inflated'] / MB:.0f} MB "
            f"inflated for {m['size'] / MB:.0f} MB"
            for m in inf["members_inflated_twice_or_more"]
        )
        or "none"
    )
    lines.append(
        f"| ELF bytes inflated by wheelscan | {inf['inflated_bytes'] / MB:.0f} MB of "
        f"{inf['elf_bytes'] / MB:.0f} MB ({inf['inflated_fraction']:.0%}): "
        f"{inf['whole_members']} members whole ({inf['whole_elf_bytes'] / MB:.0f} MB), "
        f"{inf['prefix_members']} only up to their tables "
        f"({inf['prefix_inflated_bytes'] / MB:.0f} MB of {inf['prefix_elf_bytes'] / MB:.0f} MB), "
        f"{inf.get('ends_members', 0)} by their two ends "
        f"({inf.get('ends_inflated_bytes', 0) / MB:.0f} MB of "
        f"{inf.get('ends_elf_bytes', 0) / MB:.0f} MB, {inf.get('ends_tail_bytes', 0) / MB:.0f} MB "
        f"of it decoded from the end, written or only counted; tried on "
        f"{inf.get('ends_tried', 0)}), "
        f"{inf['streamed_members']} streamed, {inf['streamed_members_inflated_to_end']} "
        f"of them to their end; inflated more than once: {again}; identical members "
        f"parsed once: {inf['reused_elf_bytes'] / MB:.1f} MB not inflated again |"
    )
    aw = r["auditwheel"]
    lines.append(
        f"| auditwheel {r['machine']['auditwheel']} | {_s(aw['sequential_seconds'])} "
        f"summed, {_s(aw['parallel_seconds'])} wall with {r['workers']} processes; "
        f"overall tag agrees on {aw['agree']} of {corpus['wheels']} wheels |"
    )
    large = r["large_wheel"]
    lines.append(
        f"| process start-up (`--version`) | wheelscan "
        f"{_s(large['wheelscan_startup_seconds'])}, auditwheel "
        f"{_s(large['auditwheel_startup_seconds'])} |"
    )
    big = r["big_member"]
    lines.append(
        f"| {_size(big['member_size'])} member | `wheelscan show` "
        f"{_s(big['best_seconds'])} (inflating it alone: "
        f"{_s(big['inflate_seconds'])}), wheel {big['wheel_bytes'] / MB:.0f} MB "
        f"({big['compression_ratio']:.0f}×); same verdict and facts as the "
        f"{big['source']['size'] / 1e3:.0f} kB original: "
        f"{'yes' if big['same_verdict'] and big['same_facts'] else '**NO**'}; "
        f"original: {_s(big['original_seconds'])}, "
        f"{big['original_max_rss'] / MB:.0f} MB |"
    )
    d = r["dedupe"]
    lines.append(
        f"| dedupe potential (CRC, compressed size, size) | {d['repeats']} of "
        f"{d['elf_members']} ELF members repeat, {d['repeated_bytes'] / MB:.1f} MB "
        f"({d['repeated_compressed_bytes'] / MB:.1f} MB compressed) |"
    )
    return lines


def _libdeflate(provider: str | None) -> str:
    """The inflater's origin: ``deflate 0.9.0`` now, a libdeflate version in older results."""
    if not provider:
        return "none (ISA-L)"
    return f"from {provider}" if provider.startswith("deflate ") else provider


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    load = ", ".join(f"{x:.2f}" for x in r["load_average_at_start"])
    head = (
        f"{m['cpu']}, {m['usable_cores']} cores, Python {m['python']}, zlib {m['zlib']}, "
        f"ISA-L {m['isal']}, libdeflate {_libdeflate(m.get('libdeflate'))}, "
        f"wheelscan {m['wheelscan']}, {m['date']}; load average at start {load}"
    )
    large_runs = len(r["large_wheel"]["wheelscan_seconds"])
    note = (
        f"Times: best of {r['wheelscan']['repeats']} runs (the large wheel: {large_runs} of "
        "each tool; auditwheel on the corpus: one run, sequential and parallel). Ratios: the "
        "reference's time over wheelscan's, except against the floor (wheelscan's over the "
        "floor's)."
    )
    return "\n".join(
        [
            head,
            "",
            *figures_table([Figure(**f) for f in r["figures"]]),
            "",
            note,
            "",
            *details_table(r),
        ]
    )


def as_json(items: list[Figure]) -> list[dict[str, Any]]:
    return [asdict(f) for f in items]
