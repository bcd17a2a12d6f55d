"""Messages that must say what is so: the ELF backend's origin in ``--version``, a ``--db``
that exists but is no store file, a conflicting pair of output options, a wheel named by a
URL that names none.

In this process (``tests/inprocess.py``) where the command's output is the point; in a
subprocess where the environment it inherits is (``--version`` without the variable).
"""

from __future__ import annotations

import os
import subprocess
import sys

BACKEND_ENV = "WHEELSCAN_ELF_BACKEND"


def version(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    return done.stdout


def test_version_says_set_by_the_variable_only_when_it_is_set() -> None:
    unset = {k: v for k, v in os.environ.items() if k != BACKEND_ENV}
    assert version(unset).endswith(f"(ELF backend: native, default; {BACKEND_ENV} chooses)\n")
    chosen = version({**unset, BACKEND_ENV: "reference"})
    assert chosen.endswith(f"(ELF backend: reference, set by {BACKEND_ENV})\n")
