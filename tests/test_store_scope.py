"""What a store's answers are scoped by: the run, the policy digest, the musl policy.

A re-evaluation judges under the musl policy it is given, and an export writes the rows of
the run and the policy it is asked for. Mutation testing (issue #18, item 8) found that
dropping either went unnoticed; real SQLite files and wheels built by the tests' writers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import zstandard
from packaging.utils import parse_wheel_filename

from wheelscan.engine.worker import audit, read_facts
from wheelscan.model import WheelResult
from wheelscan.policy.policies import load_policies
from wheelscan.sources.base import WheelRef
from wheelscan.store import Store, policy_digest

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

DIGEST = policy_digest()


def _wheel(directory: Path, name: str, libc: str = "glibc") -> Path:
    spec = sample_spec("x86_64", interpreter=None, runpath=None)
    if libc == "musl":
        spec = dataclasses.replace(
            spec, needed=["libc.musl-x86_64.so.1"], symbols=[Sym("PyInit_mod", defined=True)]
        )
        member, tag = "mod.cpython-312-x86_64-linux-musl.so", "musllinux_1_2_x86_64"
    else:
        member, tag = "mod.cpython-312-x86_64-linux-gnu.so", "manylinux_2_28_x86_64"
    path = directory / f"{name}-1.0-cp312-cp312-{tag}.whl"
    path.write_bytes(build_wheel({member: build_elf(spec)}, name))
    return path


def _scan(store: Store, paths: list[Path]) -> int:
    run_id = store.begin_run("dir:/tests", DIGEST)
    for path in paths:
        data = path.read_bytes()
        name, version, _, _ = parse_wheel_filename(path.name)
        ref = WheelRef(path.name, name, str(version), str(path), None, len(data))
        facts = read_facts(path, path.name)
        elf_bytes = sum(m.size for m in facts.elf_files)
        sha256 = hashlib.sha256(data).hexdigest()
        store.add(
            run_id,
            WheelResult(ref, sha256, facts, audit(path, path.name), len(data), elf_bytes, 0.001),
        )
    store.finish_run(run_id)
    return run_id


def _tags(rows: Any) -> dict[str, str | None]:
    return {r["filename"].split("-")[0]: r["verdict"] and r["verdict"]["overall_tag"] for r in rows}


def _exported(path: Path) -> dict[str, str | None]:
    with open(path, "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    return _tags(json.loads(line) for line in text.splitlines())


def test_reevaluate_judges_under_its_musl_policy(tmp_path: Path) -> None:
    paths = [_wheel(tmp_path, "musl", "musl"), _wheel(tmp_path, "glibc")]
    one_musl = policy_digest(None, "musllinux_1_2")
    assert one_musl != DIGEST
    with Store.open(tmp_path / "s.db") as store:
        _scan(store, paths)
        assert _tags(store.iter_rows()) == {
            "musl": "musllinux_1_1_x86_64",
            "glibc": "manylinux_2_26_x86_64",
        }
        assert store.reevaluate(load_policies(), one_musl, musl_policy="musllinux_1_2") == 2
        assert _tags(store.iter_rows()) == {
            "musl": "musllinux_1_2_x86_64",
            "glibc": "manylinux_2_26_x86_64",
        }
        assert _tags(store.iter_rows(policy_digest=DIGEST))["musl"] == "musllinux_1_1_x86_64"


def test_export_writes_the_rows_of_its_run_and_its_policy(tmp_path: Path) -> None:
    first = [_wheel(tmp_path, "first", "musl")]
    second = [_wheel(tmp_path, "second"), _wheel(tmp_path, "third", "musl")]
    one_musl = policy_digest(None, "musllinux_1_2")
    with Store.open(tmp_path / "s.db") as store:
        run_1 = _scan(store, first)
        run_2 = _scan(store, second)
        store.reevaluate(load_policies(), one_musl, musl_policy="musllinux_1_2")
        out = tmp_path / "out.jsonl.zst"
        assert store.export_jsonl_zst(out, run_id=run_1, policy_digest=DIGEST) == 1
        assert _exported(out) == {"first": "musllinux_1_1_x86_64"}
        assert store.export_jsonl_zst(out, run_id=run_2) == 2
        assert _exported(out) == {
            "second": "manylinux_2_26_x86_64",
            "third": "musllinux_1_2_x86_64",
        }
        assert store.export_jsonl_zst(out, policy_digest=DIGEST) == 3
        assert _exported(out) == {
            "first": "musllinux_1_1_x86_64",
            "second": "manylinux_2_26_x86_64",
            "third": "musllinux_1_1_x86_64",
        }
        assert store.export_jsonl_zst(out) == 3
        assert _exported(out)["first"] == "musllinux_1_2_x86_64"  # the reported policy
