"""Imports point down the pipeline (ARCHITECTURE.md): judging facts needs no zip reader,
storing a result no engine. The records both share live in ``wheelscan.model``."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("wheelscan.policy.evaluate", ("wheelscan._zipdir", "wheelscan.wheel.archive")),
        ("wheelscan.store", ("wheelscan.engine",)),
        ("wheelscan.report", ("wheelscan.engine", "wheelscan.wheel.archive")),
    ],
)
def test_a_stage_does_not_load_the_stages_above_it(
    module: str, must_not_load: tuple[str, ...]
) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    for name in must_not_load:
        assert not [m for m in loaded if m == name or m.startswith(name + ".")], (module, name)
