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
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wheelscan.elf import ElfError, get_parser
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError
from wheelscan.wheel.contents import MAX_WHEEL_UNDEFINED

from elfwriter import Sym, build_elf, sample_spec
from hostile.cases import CASES
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
    measured = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, subprocess, sys; "
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "print(done.stdout)",
            sys.executable,
            "-m",
            "wheelscan",
            "show",
            "--json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    first, _, output = measured.stdout.partition("\n")
    status, max_rss_kib = map(int, first.split())
    assert status == 2
    assert '"code": "scattered-tables"' in output
    assert max_rss_kib < 150 * 1024, f"{max_rss_kib / 1024:.0f} MB"
