"""``tests/inprocess.py`` answers as ``python -m wheelscan`` does: most tests of a command's
output run it in-process, and would test something else if ``main`` and the console script
came apart, or if the helper's pipes, exit statuses or logging differed from a process's.

Each command line here runs both ways, and the two must give the same exit status, stdout
and stderr: a verdict in text and in JSON, a usage error, a user's error, ``--version``, a
logged warning, a store judged anew and reported, and a second in-process run after a first
(nothing carried over). They are also the tests where ``reevaluate`` and ``report`` run as
real processes over a store.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wheelscan.policy.policies import DATA_DIR

from elfwriter import Sym, build_elf, sample_spec
from inprocess import wheelscan
from mirror import build_mirror
from stores import copy_store
from wheelbuilder import build_wheel

OVER = "over-1.0-cp312-cp312-manylinux2014_x86_64.whl"
KEPT = "kept-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two wheels (one over-claims) and a bandersnatch mirror of them that lacks a page."""
    directory = tmp_path_factory.mktemp("inprocess")
    wheels = directory / "wheels"
    wheels.mkdir()
    glibc_2_29 = Sym("fresh", version="GLIBC_2.29", version_file="libc.so.6")
    for filename, extra in ((OVER, [glibc_2_29]), (KEPT, [])):
        spec = sample_spec("x86_64", interpreter=None)
        elf = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))
        name = filename.split("-")[0]
        (wheels / filename).write_bytes(build_wheel({f"{name}/m.so": elf}, name=name))
    mirror = build_mirror(directory / "mirror", sorted(wheels.iterdir()))
    shutil.rmtree(mirror.web / "simple" / "kept")  # asked for, no page: a logged warning
    audited = wheelscan("audit", wheels, "--db", directory / "store.db", "--workers", "0")
    assert audited.returncode == 1, audited.stderr  # OVER over-claims
    # the built-in policies in a file of the user's: another digest, every wheel judged anew
    shutil.copy(DATA_DIR / "manylinux-policy.json", directory / "p.json")
    return directory


# each a command line, from the fixture's directory (the store a name in a fresh one)
COMMAND_LINES: dict[str, Callable[[Path, Path], list[str]]] = {
    "show-text": lambda r, _: ["show", str(r / "wheels" / OVER), str(r / "wheels" / KEPT)],
    "show-json": lambda r, _: ["show", "--json", str(r / "wheels" / KEPT), str(r / "none.whl")],
    "usage-error": lambda r, db: ["audit", str(r / "wheels"), "--db", str(db), "--limit", "0"],
    "user-error": lambda _, db: ["reevaluate", "--db", str(db)],
    "version": lambda _, __: ["--version"],
    # the audited store copied to the run's own path first (``stored``)
    "reevaluate": lambda r, db: ["reevaluate", "--db", str(db), "--policy-file", str(r / "p.json")],
    "report": lambda _, db: ["report", "--db", str(db), "--format", "markdown"],
    "logged-warning": lambda r, db: [
        *("audit", str(r / "mirror"), "--db", str(db), "--workers", "0"),
        *("--project", "kept", "--project", "over"),
    ],
}


def as_process(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def answer(run: subprocess.CompletedProcess[str], db: Path) -> tuple[int, str, str]:
    """What a test sees of a run; the store's own path, the times and the rates a run
    measured, aside."""

    def plain(text: str) -> str:
        text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.+Z-]+", "TIME", text.replace(str(db), "DB"))
        # a duration or a rate (not a version: GLIBC_2.29 must compare as itself)
        return re.sub(r"(?<![\w.])\d+\.\d+(?= ?(?:s|ms|wheels/s|MB/s)\b)", "N", text)

    return run.returncode, plain(run.stdout), plain(run.stderr)


@pytest.mark.parametrize("case", sorted(COMMAND_LINES))
def test_a_command_in_process_answers_as_its_process_does(
    case: str, root: Path, tmp_path: Path
) -> None:
    argv = COMMAND_LINES[case]

    def stored(name: str) -> Path:
        """This run's store: the audited one, copied, for a command that needs one."""
        if case in ("reevaluate", "report"):
            return copy_store(root / "store.db", tmp_path / name, "s.db")
        (tmp_path / name).mkdir()
        return tmp_path / name / "s.db"

    process_db, in_process_db, again = stored("p"), stored("i"), stored("again")
    expected = answer(as_process(argv(root, process_db)), process_db)
    assert expected[0] in (0, 1, 2) and "Traceback" not in expected[2], expected
    if case == "logged-warning":  # logging's own path, not a print
        assert "wheelscan audit: no page for project kept in " in expected[2], expected
    if case == "reevaluate":  # work done, not only an answer
        assert expected[1].startswith("2 wheels judged anew"), expected
    assert answer(wheelscan(*argv(root, in_process_db)), in_process_db) == expected
    # and again: the first in-process run left nothing that changes the second's answer
    assert answer(wheelscan(*argv(root, again)), again) == expected
