"""``wheelscan audit DIR`` as a user runs it: one whole process over a directory of the corpus.

The batch figure times the engine alone (a pool of tasks, the sha256 given as a mirror's
metadata gives it). This one times the command: interpreter start-up and imports, the
directory listing, every wheel's sha256 computed (a plain directory has none to give), the
results encoded in the workers and written to a fresh SQLite store, the summary line. The
directory holds links to the cached wheels, so the bytes read are the same.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from harness.largewheel import wheelscan_command
from harness.procs import best_of, run_measured


def _link_all(wheels: list[Path], into: Path) -> None:
    for path in wheels:
        target = into / path.name
        try:
            os.link(path, target)
        except OSError:  # another file system: a symbolic link reads the same bytes
            target.symlink_to(path)


def audit_command(
    wheels: list[Path], workers: int, repeats: int, strict: bool = False, engine: str = "local"
) -> dict[str, Any]:
    """``strict``: ``--strict``, every byte of every wheel read and checked (a gate's run).
    ``engine``: ``dask`` starts a LocalCluster of ``workers`` processes inside the command."""
    with tempfile.TemporaryDirectory(prefix="wheelscan-bench-") as tmp:
        directory = Path(tmp) / "wheels"
        directory.mkdir()
        _link_all(wheels, directory)
        count = [0]

        def once() -> Any:
            count[0] += 1
            store = Path(tmp) / f"store-{count[0]}.db"  # fresh: every wheel is read
            command = wheelscan_command(
                "audit", str(directory), "--db", str(store), "--workers", str(workers),
                "--no-progress", "--fail-on", "none", *(["--strict"] if strict else []),
                "--engine", engine,
            )  # fmt: skip
            run = run_measured(command)
            if b"0 errors" not in run.stderr + run.stdout:
                raise RuntimeError(f"wheelscan audit reported errors: {run.stderr[-500:]!r}")
            return run

        runs = best_of(repeats, once, lambda run: run.seconds)
    return {
        "strict": strict,
        "engine": engine,
        "workers": workers,
        "wheels": len(wheels),
        "seconds": [r.seconds for r in runs],
        "best": runs[0].seconds,
        "max_rss": max(r.max_rss for r in runs),
    }
