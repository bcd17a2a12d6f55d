"""Shared fixtures: the real-wheel corpus and auditwheel's verdicts on it.

The corpus is pinned in ``tests/corpus/wheels.json``; the wheels themselves live in a cache
outside the repository (``$WHEELSCAN_TEST_CACHE``, default ``~/.cache/wheelscan-tests``) and are
downloaded, verified, on first use.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from corpus import oracle
from corpus.fetch import default_cache_dir, fetch, load_entries
from property_budget import FAST_LOOP_PROFILE

CORPUS_FILE = Path(__file__).parent / "corpus" / "wheels.json"

# Fixtures that need the pinned real wheels (downloaded on first use): a test using any of
# them is marked ``network``
_CORPUS_FIXTURES = {"corpus_entries", "real_wheels", "auditwheel_verdicts"}
# Modules whose every test takes seconds: real process trees signalled, killed or fuzzed
_SLOW_MODULES = {"test_fault_signals", "test_fault_kills", "test_properties"}
# Single tests of seconds each, by module and function (or test id): deadlines waited out (a
# trickling server), allocations up to a memory limit, a Dask cluster, every prefix of a file,
# and tests over 1.5 s whose coverage the loop has from quicker ones (the reason beside each)
_SLOW_TESTS = {
    ("test_hostile_index", "test_the_index_listing_gives_up_on_a_trickling_page"),
    ("test_hostile_index", "test_show_gives_up_on_a_trickling_server"),
    ("test_hostile_index", "test_no_report_nor_message_shows_the_token"),
    ("test_native_vs_reference", "test_every_prefix_of_a_file"),
    ("test_memory_bounds", "test_scattered_tables_are_refused_within_the_memory_bound"),
    ("test_memory_bounds", "test_workers_allocate_within_their_limit"),
    ("test_cli_usage", "test_a_token_in_the_index_url_is_never_printed_nor_stored"),
    ("test_dask_engine", "test_a_wheel_that_crashes_or_hangs_costs_only_itself_in_its_batch"),
    # every prefix of a file read by the reference reader, as its native twin's above; the
    # loop keeps the truncated files of the hostile catalogue, read by both backends
    ("test_reference_reader", "test_every_prefix_parses_or_raises_elf_error"),
    # the reports of an unfinished run after a SIGKILL: the loop reads them mid-run
    # (test_report_during_a_run) and a killed run's store (the read-only and resumed ones)
    ("test_report_store", "test_report_after_a_killed_first_run"),
    # two stores in two orders through every report: the loop gives aggregate() its rows
    # shuffled and checks each tie-break (test_aggregate_order)
    ("test_report_store", "test_reports_do_not_depend_on_the_order_wheels_were_stored"),
    # EACCES instead of EROFS: the same fall-back to an immutable reading as [ro-mount]
    ("test_report_store", "test_report_on_a_read_only_store[chmod-as-user]"),
    # the chain walked past the kept bytes (~1.5 s of CPU): the loop audits the same wheel,
    # to the same record, in test_a_table_walked_past_the_kept_bytes_costs_a_few_passes
    ("test_hostile_wheels", "test_each_hostile_wheel_gets_its_record[elf-long-gnu-chain]"),
    # every hostile case again on three threads: the loop reads each on one, and keeps the
    # threads' rule (the first failure in archive order is the record)
    ("test_hostile_wheels", "test_members_read_on_threads_get_the_same_records"),
    # the wheel's bound met by Python definitions: the loop meets it with undefined symbols
    # (test_memory_bounds) and the per-file bound on definitions
    ("test_abi3_facts", "test_python_definitions_count_toward_the_wheel_bound"),
    # an index that refuses connections, asked twice with its retries waited out (~4 s): the
    # loop meets it once (test_no_source_does_not_walk_the_configured_index_unasked)
    ("test_cli_usage", "test_an_index_that_is_down_is_one_line"),
    # a worker's mapping grown to its memory limit (~2.5 s of CPU): the loop keeps the limit's
    # other tests in test_worker_memory and test_memory_bounds' streamed member
    ("test_worker_memory", "test_a_member_mapped_past_the_limit_is_out_of_memory"),
    # every ELF file of the host by both backends: the loop compares every fifth of them with
    # readelf in test_reference_reader, and every member of the hostile catalogue by both
    ("test_native_vs_reference", "test_host_files"),
    # fifty thousand symbols through show, audit and four reports (~2 s): the loop keeps the
    # ranking's own bound (test_the_symbol_ranking_counts_a_bounded_number_of_names)
    ("test_abi3_bounds", "test_a_verdict_on_fifty_thousand_bad_symbols_a_file_stays_small"),
    # a worker's wheels read through 100 ms round trips (~2.7 s waited, 0.1 s of CPU): the
    # loop keeps a wheel's spans in one round trip and wheels in flight by the round trip
    ("test_latency", "test_a_worker_reads_more_wheels_at_once_over_a_slow_link"),
    # nginx of 32 connections behind 0.3 s of round trip, 200 pages listed (~6 s waited):
    # the loop keeps the window's bounds on its own (test_a_page_lost_beside_others_...)
    ("test_listing_latency", "test_a_server_that_takes_fewer_connections_still_gives_every_page"),
    # the proxy's own cost beside 60 idle connections (~4 s): apparatus, not wheelscan; the
    # loop keeps the proxy's round-trip count (test_the_proxy_counts_round_trips_...)
    ("test_latencyproxy", "test_the_proxy_looks_only_at_the_connections_that_have_traffic"),
}

# Tests parametrized over a large sample, by module and function: the fast loop runs every
# Nth case of the sample, the full suite all of them
_SAMPLED_TESTS = {
    # 300 system files, each compared with readelf (and parsed three ways): 60 in the loop
    ("test_reference_reader", "test_system_file_matches_readelf"): 5,
}


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module is imported: where Python caches bytecode, and how many
    examples the property tests draw."""
    _cache_bytecode_outside_the_tree()
    _ctrl_c_delivered()
    if _is_the_fast_loop(config) and config.getoption("hypothesis_profile", None) is None:
        settings.load_profile(FAST_LOOP_PROFILE)  # property_budget.py says what it draws


def _ctrl_c_delivered() -> None:
    """Python's SIGINT handler in force, whatever the run was started with: a shell starts a
    command it puts in the background (``.ci/run &``) with SIGINT ignored, which every
    process a test starts inherits across exec, and the tests of Ctrl-C (real signals, sent
    to this process or to a ``wheelscan`` it started) then see none arrive."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _is_the_fast_loop(config: pytest.Config) -> bool:
    """A run whose marker expression leaves out the slow tests (CONTRIBUTING.md's loop)."""
    return re.search(r"\bnot\s+slow\b", config.getoption("markexpr", "") or "") is not None


def _cache_bytecode_outside_the_tree() -> None:
    """Where ``PYTHONDONTWRITEBYTECODE`` is set (this sandbox sets it), every ``python -m
    wheelscan`` the tests start, hundreds of them, would compile each module it imports
    again, and each test module its rewritten assertions: as ``benchmarks/harness/procs.py``
    does, the bytecode goes to the test cache instead, never into the tree. Python checks
    a cached file against its source's size and time, so what runs is what is written."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # Python caches beside the sources, as usual
    prefix = str(default_cache_dir() / "pycache")
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = prefix  # for every process a test starts
    sys.dont_write_bytecode = False  # for this one: the test modules not imported yet
    sys.pycache_prefix = prefix


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what the fast loop leaves out (pyproject.toml's markers): CI runs it all."""
    for item in items:
        if _CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.network)
        module = item.module.__name__.rpartition(".")[2] if item.module is not None else ""
        name = getattr(item, "originalname", item.name)
        if module in _SLOW_MODULES or {(module, name), (module, item.name)} & _SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        every = _SAMPLED_TESTS.get((module, name))
        callspec = getattr(item, "callspec", None)
        if every and callspec is not None and max(callspec.indices.values()) % every:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _origins_not_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts, as a new process does, knowing no origin's answers to ranges
    (wheel/remote.py's ``answered_range``): one test's server must not be taken, on a port
    a later test's reuses, for what it answered before, nor fill the record."""
    from wheelscan.wheel import remote

    monkeypatch.setattr(remote, "_RANGES_ANSWERED", {})


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
