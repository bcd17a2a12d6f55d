"""auditwheel as the oracle: its ``show --json`` verdict for each wheel of the corpus.

wheelscan must give the same verdict as ``auditwheel show``, so the reference is the real command
(``python -m auditwheel show --json --ldpaths "" WHEEL``), not a re-implementation of it. An empty
``--ldpaths`` (and no ``AUDITWHEEL_LD_LIBRARY_PATH``/``LD_LIBRARY_PATH``) keeps the host's own
libraries out of the verdict: a scanner judges other machines' wheels.

auditwheel is slow (pyelftools), so verdicts are cached as JSON under the corpus cache, keyed by
(auditwheel version, wheel sha256): a second run reads files and starts no process. A run that
crashes or prints no JSON is recorded as ``{"crash": "<last line of stderr>"}``; a time-out is
reported the same way but not cached.

Usage::

    python -m tests.corpus.oracle tests/corpus/wheels.json [--summary]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .fetch import default_cache_dir, fetch, load_entries, sha256_of

__all__ = ["auditwheel_verdicts", "auditwheel_version"]

WORKERS = 2  # one per core of the project's machines
TIMEOUT = 900.0  # seconds for one wheel; the largest benchmark wheels take minutes
_STRIPPED_ENV = ("AUDITWHEEL_LD_LIBRARY_PATH", "LD_LIBRARY_PATH")


def auditwheel_version() -> str:
    """Return the version of the auditwheel that ``sys.executable -m auditwheel`` runs."""
    return version("auditwheel")


def _run_auditwheel(wheel: Path) -> tuple[dict[str, Any], bool]:
    """Return (verdict, cacheable) for one wheel."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    command = [sys.executable, "-m", "auditwheel", "show", "--json", "--ldpaths", "", str(wheel)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"crash": f"timed out after {TIMEOUT:.0f} s"}, False
    # stdout holds one (indented) JSON document on success, and also for a non-platform wheel
    # (``{"error": ...}`` with exit status 1); anything else is a crash. Warnings go to stderr.
    start = done.stdout.find("{")
    if start >= 0:
        try:
            verdict, _ = json.JSONDecoder().raw_decode(done.stdout, start)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(verdict, dict):
                return verdict, True
    stderr = done.stderr.strip().splitlines()
    reason = stderr[-1] if stderr else f"exit status {done.returncode} and no output"
    return {"crash": reason}, True


def _verdict(wheel: Path, store: Path) -> dict[str, Any]:
    cached = store / f"{sha256_of(wheel)}.json"
    if cached.is_file():
        result: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return result
    verdict, cacheable = _run_auditwheel(wheel)
    if cacheable:
        # Written aside and renamed: concurrent runs never read a half-written verdict.
        handle, name = tempfile.mkstemp(prefix=f".{cached.name}.", suffix=".part", dir=store)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(verdict, f, sort_keys=True)
        os.replace(name, cached)
    return verdict


def auditwheel_verdicts(
    paths: Iterable[Path], cache_dir: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Return auditwheel's ``show --json`` verdict per wheel filename, running it where needed."""
    wheels = list(paths)
    store = (cache_dir or default_cache_dir()) / "auditwheel-verdicts" / auditwheel_version()
    store.mkdir(parents=True, exist_ok=True)
    # Largest first: with two workers, a big wheel left for last would run alone.
    order = sorted(wheels, key=lambda p: p.stat().st_size, reverse=True)
    with ThreadPoolExecutor(WORKERS) as pool:
        verdicts = dict(zip(order, pool.map(lambda p: _verdict(p, store), order), strict=False))
    return {wheel.name: verdicts[wheel] for wheel in wheels}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="auditwheel verdicts for a wheel corpus.")
    parser.add_argument("corpus", nargs="+", type=Path, help="corpus JSON file(s)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    entries = [entry for path in args.corpus for entry in load_entries(path)]
    paths = fetch(entries, args.cache_dir)
    started = time.perf_counter()
    verdicts = auditwheel_verdicts(paths, args.cache_dir)
    elapsed = time.perf_counter() - started

    tags = Counter(
        v.get("overall_tag", "crash" if "crash" in v else "error") for v in verdicts.values()
    )
    print(f"auditwheel {auditwheel_version()}: {len(verdicts)} wheels in {elapsed:.1f} s")
    for tag, count in sorted(tags.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {count:4d}  {tag}")
    for name, verdict in sorted(verdicts.items()):
        if "overall_tag" not in verdict:
            print(f"  not audited: {name}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
