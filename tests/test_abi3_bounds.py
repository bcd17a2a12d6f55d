"""The abi3 verdict is bounded (policy/abi3.py MAX_FINDINGS): a file importing fifty thousand
names outside the stable ABI makes a verdict of a few kilobytes in ``show``, the store and
every report, not one finding per symbol; the report's symbol ranking counts a bounded
number of names (report/abi3_stats.py MAX_SYMBOL_NAMES)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wheelscan.report.abi3_stats import MAX_SYMBOL_NAMES, Abi3Aggregator
from wheelscan.store import Store

from hostile import elves
from wheelbuilder import build_wheel

SYMBOLS = 50_000  # per file; each outside the stable ABI
FILES = ("a.abi3.so", "b.abi3.so")
WHEEL = "many-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"
KEPT = 20  # MAX_FINDINGS, spelled out: the bound is the promise tested
BOUND = 64 * 1024  # bytes of any one output: the findings kept, and counts


def many_imports(count: int) -> bytes:
    """An ELF file importing ``count`` GLOBAL names ``Py_000000``... (none in the stable
    ABI)."""
    names = [b"Py_%06x" % i for i in range(count)]
    strtab = b"\0" + b"\0".join(names) + b"\0"
    offsets, offset = [], 1
    for name in names:
        offsets.append(offset)
        offset += len(name) + 1
    image = elves._image(needed=[], runpath=None, soname=None)
    elves._symbol_table(image, strtab, offsets, undefined=True)
    return bytes(image.data)


def wheelscan(*args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wheelscan", *map(str, args)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)


def test_a_verdict_on_fifty_thousand_bad_symbols_a_file_stays_small(tmp_path: Path) -> None:
    elf = many_imports(SYMBOLS)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / WHEEL).write_bytes(build_wheel(dict.fromkeys(FILES, elf), name="many"))
    shown = wheelscan("show", "--format", "json", wheels / WHEEL)
    assert shown.returncode == 1, shown.stderr  # the promise is broken
    assert len(shown.stdout) < BOUND
    abi3 = json.loads(shown.stdout)["results"][0]["abi3"]
    assert not abi3["compliant"]
    for file in FILES:
        kept = [f for f in abi3["findings"] if f["file"] == file]
        assert len(kept) == KEPT and {f["code"] for f in kept} == {"abi3-symbol"}
    # the rest are counted, per file and code: nothing is lost from the count
    assert sorted((o["file"], o["code"], o["count"]) for o in abi3["omitted"]) == [
        (file, "abi3-symbol", SYMBOLS - KEPT) for file in FILES
    ]
    text = wheelscan("show", wheels / WHEEL)
    assert len(text.stdout) < BOUND
    counted = len(FILES) * (SYMBOLS - KEPT)
    assert f"abi3-symbol: and {counted} more, counted but not kept" in text.stdout
    # the store, and each report made from it
    db = tmp_path / "s.db"
    audited = wheelscan("audit", wheels, "--db", db)
    assert audited.returncode in (0, 1), audited.stderr
    with Store.open(db, read_only=True) as store:
        (row,) = list(store.iter_rows())
    assert len(json.dumps(row["abi3"])) < BOUND
    for form in ("json", "sarif", "junit", "markdown"):
        done = wheelscan("report", "--db", db, "--format", form)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout) < BOUND, form
    sarif = json.loads(wheelscan("report", "--db", db, "--format", "sarif").stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "abi3-violation"]
    assert len(result["properties"]["symbols"]) == KEPT  # the same names in both files
    assert result["properties"]["omitted"] == len(FILES) * (SYMBOLS - KEPT)
    junit = wheelscan("report", "--db", db, "--format", "junit").stdout
    assert f"abi3-symbol: and {len(FILES) * (SYMBOLS - KEPT)} more" in junit


def test_the_symbol_ranking_counts_a_bounded_number_of_names() -> None:
    aggregator = Abi3Aggregator(top=10, listed=5)
    wheels = MAX_SYMBOL_NAMES + 500
    for index in range(wheels):
        finding = {"code": "abi3-symbol", "file": "m.abi3.so", "symbol": f"Py_{index}"}
        aggregator.add(
            {
                "filename": f"w{index}-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
                "sha256": f"{index:064x}",
                "location": "",
                "abi3": {
                    "abis": ["abi3"],
                    "computed": "3.2",
                    "compliant": False,
                    "over_claim": False,
                    "findings": [finding],
                },
            }
        )
    assert len(aggregator.symbols) == MAX_SYMBOL_NAMES
    stats = aggregator.result()
    assert stats.symbols_uncounted == 500
    # every wheel is still in the ranking's count: the shown, plus the rest
    assert sum(c.wheels for c in stats.symbols.entries) + stats.symbols.rest == wheels
