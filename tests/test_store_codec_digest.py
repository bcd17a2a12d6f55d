"""The store's policy digest (store/codec.py): everything a verdict depends on besides the
wheel's facts, so that a change of any of it re-judges the stored wheels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wheelscan.policy import policies
from wheelscan.store import codec


def test_each_architecture_s_manylinux_file_is_in_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the evaluation reads manylinux.<arch>.json, not the whole file: a per-architecture
    # file out of step with the whole one judges otherwise and must change the digest
    data = tmp_path / "data"
    shutil.copytree(policies.DATA_DIR, data)
    monkeypatch.setattr(codec, "DATA_DIR", data)
    before = codec.policy_digest()
    aarch64 = data / policies.by_arch_file("aarch64").name
    aarch64.write_text(aarch64.read_text().replace("libz.so.1", "libz.so.2", 1))
    assert codec.policy_digest() != before
    # and the whole files still count
    shutil.copy(policies.DATA_DIR / aarch64.name, aarch64)
    assert codec.policy_digest() == before
    whole = data / "musllinux-policy.json"
    whole.write_text(whole.read_text() + " ")
    assert codec.policy_digest() != before
