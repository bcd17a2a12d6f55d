"""The abi3 verdict against abi3audit (pinned in the test extra), run as a real subprocess.

On every abi3-tagged wheel of the pinned corpus (bcrypt, cryptography cp39/cp311 and its
cp315-abi3.abi3t wheel, psutil, pycryptodome, pynacl, pyzmq, opencv: minimums from 3.6 to
3.15) and on wheels built here that show each finding. Per extension file, abi3audit's
baseline, computed version, non-abi3 symbols and baseline verdict must be what ours give,
once the deliberate differences (docs/abi3.md) are applied to ours, each by a named rule
below, so a new difference fails here instead of passing unseen.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.utils import parse_wheel_filename

from wheelscan.engine.worker import read_facts
from wheelscan.policy.abi3 import (
    DEFINES_PYTHON_NAME,
    OVER_CLAIM,
    SYMBOL,
    Abi3Verdict,
    evaluate_abi3,
    stable_abi_added,
)

from elfwriter import STB_WEAK, STT_OBJECT, Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

ABI3AUDIT = shutil.which("abi3audit")
pytestmark = pytest.mark.skipif(ABI3AUDIT is None, reason="abi3audit (the test extra) missing")


def abi3audit(wheels: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    """abi3audit's result per wheel file name, then per extension (base) name."""
    assert ABI3AUDIT is not None
    done = subprocess.run(
        [ABI3AUDIT, "--report", *map(str, wheels)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: some violation found
    report = json.loads(done.stdout)["specs"]
    return {
        Path(spec).name: {item["name"]: item["result"] for item in found["wheel"]}
        for spec, found in report.items()
    }


def ours(path: Path) -> Abi3Verdict:
    verdict = evaluate_abi3(read_facts(path, path.name))
    assert verdict is not None, path.name
    return verdict


def expected_by_abi3audit(verdict: Abi3Verdict, file: str) -> dict[str, Any]:
    """Our verdict on ``file``, put as abi3audit would, through each deliberate difference."""
    [examined] = [f for f in verdict.files if f.file == file]
    findings = [f for f in verdict.findings if f.file == file]
    non_abi3 = {f.symbol for f in findings if f.code == SYMBOL}
    # Difference 1: abi3audit calls every Py* name a file defines a violation (ours: a
    # notice), unless the stable ABI has that name (then it raises its computed version)
    non_abi3 |= {
        f.symbol
        for f in findings
        if f.code == DEFINES_PYTHON_NAME and f.symbol and stable_abi_added(f.symbol) is None
    }
    # Difference 2: abi3audit knows PyInit_* as module exports only, not PEP 793's
    # PyModExport_*: it calls those non-abi3
    non_abi3 |= {name for name in examined.module_exports if name.startswith("PyModExport_")}
    # Difference 3: abi3audit's baseline is the highest abi3 tag's version (ours: the lowest)
    # and its computed version starts from that baseline, where ours starts from 3.2
    tags = parse_wheel_filename(verdict.wheel)[3]
    baseline = max((int(t.interpreter[2]), int(t.interpreter[3:])) for t in tags if t.abi == "abi3")
    computed = max(baseline, examined.computed)
    return {
        "baseline": f"{baseline[0]}.{baseline[1]}",
        "computed": f"{computed[0]}.{computed[1]}",
        "non_abi3_symbols": sorted(non_abi3),
        "is_abi3": not non_abi3,
        "is_abi3_baseline_compatible": not any(f.code == OVER_CLAIM for f in findings),
    }


def compare(verdicts: dict[str, Abi3Verdict], theirs: dict[str, dict[str, dict[str, Any]]]) -> None:
    for filename, verdict in verdicts.items():
        by_name = theirs[filename]
        # abi3audit examines the *.so members; each of ours that imports Python is one
        with_python = {
            PurePosixPath(f.file).name
            for f in verdict.files
            if f.file.endswith(".so")
            and (f.stable_symbols or any(x.file == f.file for x in verdict.findings))
        }
        assert with_python <= set(by_name), (filename, with_python - set(by_name))
        for examined in verdict.files:
            name = PurePosixPath(examined.file).name
            if name not in by_name:
                continue
            result = by_name[name]
            got = {
                "baseline": result["baseline"],
                "computed": result["computed"],
                "non_abi3_symbols": sorted(result["non_abi3_symbols"]),
                "is_abi3": result["is_abi3"],
                "is_abi3_baseline_compatible": result["is_abi3_baseline_compatible"],
            }
            assert got == expected_by_abi3audit(verdict, examined.file), (filename, name)


def test_the_real_abi3_wheels_agree(real_wheels: list[Path]) -> None:
    wheels = [
        p for p in real_wheels if any(t.abi == "abi3" for t in parse_wheel_filename(p.name)[3])
    ]
    assert len(wheels) >= 10
    minimums = {ours(p).declared for p in wheels}
    assert {(3, 6), (3, 7), (3, 8), (3, 9), (3, 11), (3, 12), (3, 15)} <= minimums
    compare({p.name: ours(p) for p in wheels}, abi3audit(wheels))


def extension(*symbols: Sym) -> bytes:
    base = [Sym("malloc", version="GLIBC_2.2.5", version_file="libc.so.6")]
    return build_elf(sample_spec(symbols=[*base, *symbols], needed=["libc.so.6"]))


BUILT = {
    # an over-claim: 3.10's and 3.13's functions in a cp37 wheel
    "overclaim-1.0-cp37-abi3-manylinux_2_17_x86_64.whl": extension(
        Sym("PyType_FromModuleAndSpec"), Sym("PyObject_GetOptionalAttr"), Sym("PyInit_m", True)
    ),
    # names outside the stable ABI, imported and defined
    "private-1.0-cp39-abi3-manylinux_2_17_x86_64.whl": extension(
        Sym("_PyUnicode_Ready"),
        Sym("PyUnicode_AsUTF8"),
        Sym("PyLong_FromLong"),
        Sym("_Py_private_table", True, type=STT_OBJECT),
        Sym("PyInit_m", True),
    ),
    # PEP 793's export hook beside PyInit_
    "hook-1.0-cp315-abi3-manylinux_2_17_x86_64.whl": extension(
        Sym("PyModule_Exec"), Sym("PyInit_m", True), Sym("PyModExport_m", True)
    ),
    # clean, with room to spare
    "clean-1.0-cp312-abi3-manylinux_2_17_x86_64.whl": extension(
        Sym("PyLong_FromLong"), Sym("PyFrame_GetCode"), Sym("PyInit_m", True)
    ),
}


def test_built_wheels_agree(tmp_path: Path) -> None:
    paths = []
    for filename, elf in BUILT.items():
        path = tmp_path / filename
        path.write_bytes(build_wheel({"pkg/m.abi3.so": elf}, name=filename.split("-")[0]))
        paths.append(path)
    verdicts = {p.name: ours(p) for p in paths}
    assert not verdicts["overclaim-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"].compliant
    assert not verdicts["private-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"].compliant
    assert verdicts["clean-1.0-cp312-abi3-manylinux_2_17_x86_64.whl"].compliant
    compare(verdicts, abi3audit(paths))


def test_a_weak_import_is_where_the_two_differ(tmp_path: Path) -> None:
    # Difference 4: a WEAK import of a later function is the fallback pattern (the loader
    # leaves it NULL on an older Python, the code checks): ours keeps the minimum, abi3audit
    # raises it to the function's version
    path = tmp_path / "weak-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"
    elf = extension(Sym("PyObject_GetOptionalAttr", binding=STB_WEAK), Sym("PyInit_m", True))
    path.write_bytes(build_wheel({"m.abi3.so": elf}, name="weak"))
    verdict = ours(path)
    assert verdict.compliant and verdict.computed == (3, 2)
    result = abi3audit([path])[path.name]["m.abi3.so"]
    assert (result["computed"], result["is_abi3_baseline_compatible"]) == ("3.13", False)
