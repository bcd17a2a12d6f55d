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
from pathlib import Path

import pytest

from inprocess import wheelscan

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


@pytest.mark.parametrize("command", ["report", "reevaluate", "audit"])
def test_a_db_that_is_no_regular_file_is_named_for_what_it_is(tmp_path: Path, command: str) -> None:
    # a FIFO of the test's own, where the user's was /dev/null: it exists, it is no store
    db = tmp_path / "store.db"
    os.mkfifo(db)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    args = ["--db", db, wheels] if command == "audit" else ["--db", db]
    done = wheelscan(command, *args)
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"wheelscan {command}: {db}: a FIFO, not a store file (hint: name a store file"
    ), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db", "wheels"]  # no -wal
