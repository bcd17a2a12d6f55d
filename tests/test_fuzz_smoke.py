"""The fuzz harnesses (``fuzz/``), briefly: each runs 10 s under atheris from the seed corpus
``fuzz/make_seeds.py`` writes, both at once, and must find nothing. The ELF harness runs in
its differential mode (the pyelftools reference must agree on every input).

A real run is longer (CONTRIBUTING.md, "Fuzzing"):
``python fuzz/fuzz_elf.py CORPUS SEEDS/elf -max_total_time=3600``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 10


@pytest.mark.fuzz
def test_the_fuzzers_find_nothing_in_a_short_run(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris has no wheel for this Python")
    seeds = tmp_path / "seeds"
    subprocess.run([sys.executable, ROOT / "fuzz" / "make_seeds.py", seeds], check=True)
    env = {**os.environ, "WHEELSCAN_FUZZ_DIFFERENTIAL": "1"}
    runs = {}
    for harness in ("elf", "wheel"):
        corpus = tmp_path / "corpus" / harness
        corpus.mkdir(parents=True)
        command = [
            sys.executable,
            str(ROOT / "fuzz" / f"fuzz_{harness}.py"),
            str(corpus),
            str(seeds / harness),
            f"-max_total_time={SECONDS}",
            "-seed=1",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={tmp_path}/{harness}-",
        ]
        runs[harness] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
    for harness, run in runs.items():
        output, _ = run.communicate(timeout=SECONDS * 12)
        tail = "\n".join(line for line in output.splitlines() if "Instrumenting" not in line)
        assert run.returncode == 0, f"fuzz_{harness}.py:\n{tail[-3000:]}"
        executed = re.search(r"stat::number_of_executed_units: (\d+)", output)
        assert executed and int(executed[1]) > 500, tail[-2000:]
    assert not list(tmp_path.glob("*-crash-*")) and not list(tmp_path.glob("*-oom-*"))
