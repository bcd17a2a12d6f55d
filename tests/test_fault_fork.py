"""Workers forked from a process that has already read wheels give that process's results.

The pool forks its workers. Whatever state the parent holds when it forks (buffers, caches,
connections) is then in every worker: it must be the worker's own copy, never memory shared
between processes that write to it at the same time. A library user, a test run, or a
command that reads a wheel before it starts a pool is such a parent.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import audit
from wheelscan.sources.base import WheelRef

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel


def distinct_wheels(directory: Path, count: int = 6) -> list[Path]:
    """Wheels whose extensions differ at the same offsets (their symbol names), each with
    3 MB of incompressible 'debug info' after the tables, so that audits overlap in time."""
    paths = []
    for i in range(count):
        spec = sample_spec("x86_64", interpreter=None)
        extra = [Sym(f"fn_{i}_{k:05}", version="GLIBC_2.17", version_file="libc.so.6")
                 for k in range(2000)]  # fmt: skip
        so = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))
        so += random.Random(i).randbytes(3 << 20)
        path = directory / f"demo{i}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(build_wheel({"mod.cpython-312-x86_64-linux-gnu.so": so}, f"demo{i}"))
        paths.append(path)
    return paths


# Not strict: the failure is a race, seen in 9 runs of 10.
def test_workers_forked_after_the_parent_read_wheels_agree_with_it(tmp_path: Path) -> None:
    paths = distinct_wheels(tmp_path)
    expected = {p.name: audit(p, p.name) for p in paths}  # the parent reads every wheel first
    refs = [WheelRef(p.name, p.name, "1.0", str(p)) for p in paths] * 3
    results = list(LocalPool(AuditTask(dedupe=False), workers=2, timeout=60).results(refs))
    assert len(results) == len(refs)
    wrong = {r.ref.filename: r.verdict for r in results if r.verdict != expected[r.ref.filename]}
    assert not wrong
