"""Differential test of the verdict: wheelscan against auditwheel 6.8.2 on real wheels.

auditwheel runs as ``auditwheel show --json --ldpaths ""`` (tests/corpus/oracle.py). Every
field auditwheel reports is compared: the overall tag, the symbol-version tag, the versioned
symbols, the external libraries and the per-policy upgrades. The one normalisation is
auditwheel's musl handling: on a glibc host it judges a musl wheel against musllinux_1_2
only, so wheelscan is asked to do the same (``musl_policy``); the default judges every
musllinux policy (docs/differences.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict


def _auditwheel_view(v: Verdict) -> dict[str, Any]:
    """Our verdict in the shape of auditwheel's ``show --json``."""
    upgrades: dict[str, Any] = {}
    for check in v.upgrades:
        entry: dict[str, Any] = {}
        libs = sorted(b.subject for b in check.blockers if b.kind == "external-library")
        if libs:
            entry["libs_to_eliminate"] = libs
        blacklisted = {
            b.subject: list(b.symbols) for b in check.blockers if b.kind == "blacklisted-symbol"
        }
        if blacklisted:
            entry["blacklisted_symbols"] = blacklisted
        if entry:
            upgrades[check.policy] = entry
    return {
        "overall_tag": v.overall_tag,
        "sym_tag": v.criteria["symbol_versions"],
        "pyfpe": v.criteria["pyfpe"].startswith("linux"),
        "ucs2": v.criteria["ucs2"].startswith("linux"),
        "unsupported_isa": v.criteria["isa"].startswith("linux"),
        # auditwheel lists versions in text order, wheelscan as versions (GLIBC_2.7 before
        # GLIBC_2.14): the same versions, compared as sets
        "versioned_symbols": {k: sorted(vs) for k, vs in v.versioned_symbols.items()},
        "external_libs": sorted(v.external_libraries),
        "policy_upgrades": upgrades,
    }


def test_every_real_wheel_matches_auditwheel(
    real_wheels: list[Path], auditwheel_verdicts: dict[str, dict[str, Any]]
) -> None:
    mismatches = []
    for path in real_wheels:
        expected = auditwheel_verdicts[path.name]
        musl = "musllinux_1_2" if "musllinux" in path.name else None
        result = audit(path, path.name, musl_policy=musl)
        if "error" in expected:  # auditwheel's own JSON error: not a platform wheel
            if not (isinstance(result, AuditError) and result.code == "not-platform-wheel"):
                mismatches.append((path.name, "auditwheel: error", result))
            continue
        assert "crash" not in expected, f"auditwheel crashed on {path.name}: {expected}"
        assert isinstance(result, Verdict), result
        ours = _auditwheel_view(result)
        theirs = {key: expected[key] for key in ours}
        theirs["external_libs"] = sorted(theirs["external_libs"])
        theirs["versioned_symbols"] = {
            k: sorted(vs) for k, vs in theirs["versioned_symbols"].items()
        }
        if ours != theirs:
            diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
            mismatches.append((path.name, diff))
    assert mismatches == []


def test_corpus_verdicts_are_not_all_alike(
    real_wheels: list[Path], auditwheel_verdicts: dict[str, dict[str, Any]]
) -> None:
    """The comparison means something only if the corpus has varied verdicts."""
    tags = {auditwheel_verdicts[p.name].get("overall_tag", "error") for p in real_wheels}
    assert len(tags) >= 15, tags
    assert any(t.startswith("linux_") for t in tags), "no wheel auditwheel rejects"
    assert any(t.startswith("musllinux_") for t in tags)


@pytest.mark.parametrize("backend", ["native", "reference"])
def test_both_backends_give_the_same_verdicts(
    real_wheels: list[Path], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = real_wheels[::9]
    monkeypatch.setenv("WHEELSCAN_ELF_BACKEND", "native")
    native = [audit(p, p.name) for p in sample]
    monkeypatch.setenv("WHEELSCAN_ELF_BACKEND", backend)
    assert [audit(p, p.name) for p in sample] == native
