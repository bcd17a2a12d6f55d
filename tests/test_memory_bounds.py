"""Memory under hostile input has hard bounds, each with a stable error code.

- Undefined symbols: each becomes a record of ~140 bytes, and a small file can hold millions
  (8M took 1.2 GB): at most 2**18 per file (both ELF backends), 2**20 per wheel.
- Tables far apart in a member too large to inflate whole: after MAX_STREAM_PASSES passes
  the member is refused (``scattered-tables``), where it used to be inflated whole (1.14 GB
  of memory for a 1 GiB member), and a worker stays under the README's bound.
"""

from __future__ import annotations

import dataclasses
import functools
import zipfile
from pathlib import Path

import pytest

from wheelscan.elf import ElfError, get_parser
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.contents import MAX_WHEEL_UNDEFINED

from elfwriter import Sym, build_elf, sample_spec
from hostile.cases import CASES
from peak_rss import show_measured
from wheelbuilder import build_wheel

PER_FILE = 1 << 18
EXT = "demo/_mod{}.cpython-312-x86_64-linux-gnu.so"


@functools.cache
def many_undefined(count: int) -> bytes:
    spec = sample_spec("x86_64", interpreter=None)
    symbols = [Sym(f"f{i}") for i in range(count - sum(not s.defined for s in spec.symbols))]
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *symbols]))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["native", "reference"])
def test_a_file_with_too_many_undefined_symbols_is_too_large(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELSCAN_ELF_BACKEND", backend)
    parse = get_parser()
    assert len(parse(many_undefined(PER_FILE)).undefined_symbols) == PER_FILE
    with pytest.raises(ElfError) as raised:
        parse(many_undefined(PER_FILE + 1))
    assert raised.value.code == "too-large"


@pytest.mark.slow
def test_a_wheel_with_too_many_undefined_symbols_is_too_large(tmp_path: Path) -> None:
    """Five files, each within its own bound, together past the wheel's (the same bytes
    under five names: a worker's dedupe shares their facts, the record would not)."""
    elf = many_undefined(PER_FILE)
    files = {EXT.format(i): elf for i in range(MAX_WHEEL_UNDEFINED // PER_FILE + 1)}
    path = tmp_path / "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(build_wheel(files, compression=zipfile.ZIP_DEFLATED))
    result = audit(path, path.name)
    assert isinstance(result, AuditError), result
    assert result.code == "too-large"


def test_scattered_tables_are_refused_within_the_memory_bound(tmp_path: Path) -> None:
    """A 128 MiB member whose GNU hash chain runs past every pass's kept bytes: refused after
    MAX_STREAM_PASSES, and the process never holds the member whole (it used to)."""
    case = CASES["elf-long-gnu-chain"]
    path = tmp_path / case.filename("elf-long-gnu-chain")
    path.write_bytes(case.build())
    status, output, max_rss = show_measured(path)
    max_rss_kib = max_rss // 1024
    assert status == 2
    assert '"code": "scattered-tables"' in output
    assert max_rss_kib < 150 * 1024, f"{max_rss_kib / 1024:.0f} MB"


class _Greedy:
    """A task that wants 1 GiB for a wheel, and says whether it got it."""

    def __call__(self, ref: WheelRef) -> str:
        try:
            block = bytearray(1 << 30)
        except MemoryError:
            return "refused"
        del block
        return "granted"


@pytest.mark.parametrize(("limit", "expected"), [(512 << 20, "refused"), (None, "granted")])
def test_workers_allocate_within_their_limit(limit: int | None, expected: str) -> None:
    """Whatever slips past the readers' own bounds meets the worker's RLIMIT_DATA: the
    allocation fails in the worker (AuditTask makes it an ``out-of-memory`` record), where
    the machine would swap or the OOM killer choose a victim."""
    refs = [WheelRef("a-1.0-py3-none-manylinux1_x86_64.whl", "a", "1.0", "/nonexistent")]
    pool = LocalPool(_Greedy(), workers=1, memory_limit=limit)  # type: ignore[arg-type]
    assert list(pool.results(refs)) == [expected]


def test_the_audit_command_bounds_its_workers() -> None:
    """``audit`` gives its pool a limit from --max-member-size: twice it, and a GiB."""
    from wheelscan.cli.main import build_parser
    from wheelscan.cli.options import executor
    from wheelscan.engine.task import AuditTask

    args = build_parser(["audit"]).parse_args(["audit", "x", "--max-member-size", "1000"])
    pool = executor(AuditTask(), args)
    assert isinstance(pool, LocalPool)
    assert pool.memory_limit == 2000 + (1 << 30)
