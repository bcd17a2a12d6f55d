"""Regenerate wheelscan's policy data from the installed auditwheel.

    python scripts/update_policies.py

Copies auditwheel's ``manylinux-policy.json``, ``musllinux-policy.json`` and
``android-policy.json`` verbatim (re-printed with sorted keys; lists keep their order) into
``src/wheelscan/policy/data/``, the manylinux policies also one file per architecture
(``manylinux.<arch>.json``: what a ``show`` reads, policy/policies.py), and records where
they came from in ``SOURCE.json``.
Run it whenever the pinned auditwheel (``pyproject.toml``, extra ``test``) changes;
``tests/test_policies.py`` fails until the data matches the installed auditwheel again.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import auditwheel.policy

from wheelscan.policy.policies import by_arch_file, split_by_arch

POLICY_FILES = ("manylinux-policy.json", "musllinux-policy.json", "android-policy.json")
DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "wheelscan" / "policy" / "data"


def main() -> int:
    upstream_dir = Path(auditwheel.policy.__file__).parent
    checksums = {}
    for name in POLICY_FILES:
        raw = (upstream_dir / name).read_bytes()
        checksums[name] = hashlib.sha256(raw).hexdigest()
        policies = json.loads(raw)
        (DATA_DIR / name).write_text(json.dumps(policies, indent=2, sort_keys=True) + "\n")
        if name == "manylinux-policy.json":  # and each architecture's alone, for start-up
            for stale in DATA_DIR.glob(by_arch_file("*").name):
                stale.unlink()
            for arch, entries in split_by_arch(policies).items():
                # derived, never edited: compact (half the bytes, parsed faster)
                text = json.dumps(entries, sort_keys=True, separators=(",", ":")) + "\n"
                by_arch_file(arch).write_text(text)
    source = {
        "package": "auditwheel",
        "version": version("auditwheel"),
        # sha256 of the upstream files as shipped, before re-printing
        "sha256": checksums,
    }
    (DATA_DIR / "SOURCE.json").write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
    print(f"policy data regenerated from auditwheel {source['version']} into {DATA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
