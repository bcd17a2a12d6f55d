"""Shared fixtures: the real-wheel corpus and auditwheel's verdicts on it.

The corpus is pinned in ``tests/corpus/wheels.json``; the wheels themselves live in a cache
outside the repository (``$WHEELSCAN_TEST_CACHE``, default ``~/.cache/wheelscan-tests``) and are
downloaded, verified, on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpus import oracle
from corpus.fetch import fetch, load_entries

CORPUS_FILE = Path(__file__).parent / "corpus" / "wheels.json"

# Fixtures that need the pinned real wheels (downloaded on first use): a test using any of
# them is marked ``network``
_CORPUS_FIXTURES = {"corpus_entries", "real_wheels", "auditwheel_verdicts"}
# Modules whose every test takes seconds: real process trees signalled, killed or fuzzed
_SLOW_MODULES = {"test_fault_signals", "test_fault_kills", "test_properties"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what the fast loop leaves out (pyproject.toml's markers): CI runs it all."""
    for item in items:
        if _CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.network)
        if item.module is not None and item.module.__name__.rpartition(".")[2] in _SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def corpus_entries() -> list[dict[str, Any]]:
    """The pinned entries of ``tests/corpus/wheels.json``."""
    return load_entries(CORPUS_FILE)


@pytest.fixture(scope="session")
def real_wheels(corpus_entries: list[dict[str, Any]]) -> list[Path]:
    """Paths of the corpus wheels in the cache, in corpus order, each verified by sha256."""
    return fetch(corpus_entries)


@pytest.fixture(scope="session")
def auditwheel_verdicts(real_wheels: list[Path]) -> dict[str, dict[str, Any]]:
    """``auditwheel show --json`` per corpus wheel filename (cached by auditwheel version)."""
    return oracle.auditwheel_verdicts(real_wheels)


def ensure_chromium() -> str:
    """Debian's chromium, which the HTML report is checked in: a system package, installed
    by ``.ci/run`` (Debian's chromium package), never by a test."""
    import shutil

    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail(
            "the HTML report is checked in a real browser: install Debian's chromium "
            "(Debian's chromium package; .ci/run installs it)"
        )
    return browser
