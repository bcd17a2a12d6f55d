"""The policy database builds a (libc, arch)'s policy set when it is first asked for: a
wheel is judged against one set of the 27, and ``show`` paid for building all 154 policies
at start-up (issue #15). Built late or not, a set is the same."""

from __future__ import annotations

import pytest

from wheelscan.policy import policies
from wheelscan.policy.policies import Architecture, Libc


def fresh_database() -> policies.PolicyDatabase:
    return policies._build_database(dict(map(policies._load_file, policies._BUILTIN_FILES)))


def test_only_the_set_asked_for_is_built() -> None:
    database = fresh_database()
    chosen = database.for_platform(Libc.GLIBC, Architecture.x86_64_v3)  # judged as x86_64
    assert chosen.arch is Architecture.x86_64 and chosen.highest.name == "manylinux_2_5_x86_64"
    sets = database.sets
    assert isinstance(sets, policies._PolicySets)
    assert list(sets._built) == [(Libc.GLIBC, Architecture.x86_64)]
    assert database.for_platform(Libc.GLIBC, Architecture.x86_64) is chosen  # built once


def test_every_set_is_listed_and_the_same_whenever_built() -> None:
    early, late = fresh_database(), fresh_database()
    keys = list(early.sets)
    assert len(early.sets) == len(keys) == len(set(keys))
    assert {libc for libc, _ in keys} == set(Libc)
    assert {arch for _, arch in keys} == {a.baseline for a in Architecture}
    for key in keys:
        assert [p for p in early.sets[key]] == [p for p in late.sets[key]]
    for key in reversed(keys):
        assert early.sets[key] is early.sets[key]


def test_an_arch_that_is_no_baseline_is_no_key() -> None:
    with pytest.raises(KeyError):
        fresh_database().sets[(Libc.GLIBC, Architecture.x86_64_v3)]
