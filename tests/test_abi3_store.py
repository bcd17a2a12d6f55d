"""The abi3 verdict in the store (issue #17): written by audit, re-judged by reevaluate from
stored facts, kept apart from the manylinux verdict; older stores and facts handled.

``audit`` runs as a real process (its worker pool, forked from it, hands the verdicts
over); ``show``, ``report`` and ``reevaluate`` run in this process through the CLI's own
``main`` (``tests/inprocess.py``)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wheelscan.store import Store
from wheelscan.store.codec import unpack

from elfwriter import Sym, build_elf, sample_spec
from inprocess import wheelscan
from stores import copy_store
from wheelbuilder import build_wheel

OVER = "over-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"
CLEAN = "clean-1.0-cp310-abi3-manylinux_2_17_x86_64.whl"
PLAIN = "plain-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


def extension(*imports: str) -> bytes:
    symbols = [Sym("malloc", version="GLIBC_2.2.5", version_file="libc.so.6")]
    symbols += [Sym(name) for name in imports] + [Sym("PyInit_mod", defined=True)]
    return build_elf(sample_spec(symbols=symbols, needed=["libc.so.6"]))


def wheel_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "wheels"
    directory.mkdir()
    for filename, member, imports in (
        (OVER, "mod.abi3.so", ("PyLong_FromLong", "PyType_FromModuleAndSpec")),
        (CLEAN, "mod.abi3.so", ("PyLong_FromLong", "PyType_FromModuleAndSpec")),
        (PLAIN, "mod.cpython-311-x86_64-linux-gnu.so", ("_PyUnicode_Ready",)),
    ):
        name = filename.split("-")[0]
        (directory / filename).write_bytes(build_wheel({member: extension(*imports)}, name=name))
    return directory


def wheelscan_process(*args: object) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args`` in a subprocess: for ``audit``, whose pool forks its caller."""
    command = [sys.executable, "-m", "wheelscan", *map(str, args)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``wheel_dir``'s wheels and the store one ``wheelscan audit`` of them left."""
    root = tmp_path_factory.mktemp("audited")
    wheels = wheel_dir(root)
    db = root / "s.db"
    done = wheelscan_process("audit", wheels, "--db", db)
    assert done.returncode in (0, 1), done.stderr
    return wheels, db


@pytest.fixture()
def audited_store(audited: tuple[Path, Path], tmp_path: Path) -> Path:
    """This test's copy of the audited store (``stores.py``)."""
    return copy_store(audited[1], tmp_path, "s.db")


def query(db: Path, sql: str) -> list[Any]:
    connection = sqlite3.connect(db)
    try:
        with connection:
            return connection.execute(sql).fetchall()
    finally:
        connection.close()


def abi3_by_file(db: Path) -> dict[str, Any]:
    with Store.open(db, read_only=True) as store:
        return {row["filename"]: row["abi3"] for row in store.iter_rows()}


def test_audit_stores_the_abi3_verdict_beside_the_manylinux_one(audited_store: Path) -> None:
    db = audited_store
    found = abi3_by_file(db)
    assert found[PLAIN] is None  # no stable-ABI promise
    assert found[CLEAN]["compliant"] and found[CLEAN]["computed"] == "3.10"
    over = found[OVER]
    assert over["over_claim"] and over["declared"] == "3.7"
    assert [(f["code"], f["file"], f["symbol"]) for f in over["findings"]] == [
        ("abi3-over-claim", "mod.abi3.so", "PyType_FromModuleAndSpec")
    ]
    # the manylinux verdict's own columns and blob know nothing of it
    for blob, over_claim in query(
        db,
        "SELECT v.verdict, v.over_claim FROM verdicts v JOIN wheels w ON w.id = v.wheel_id "
        f"WHERE w.filename = '{OVER}'",
    ):
        assert "abi3" not in unpack(blob) and over_claim == 0


def test_reevaluate_judges_the_abi3_verdict_anew_from_stored_facts(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    wheels = wheel_dir(tmp_path)
    assert wheelscan_process("audit", wheels, "--db", db).returncode in (0, 1)
    # as if judged by a wheelscan before the abi3 audit: no abi3 verdict, another policy
    query(db, "UPDATE verdicts SET abi3 = NULL")
    query(db, "UPDATE policies SET digest = 'older'")
    query(db, "UPDATE meta SET value = 'older' WHERE key = 'policy_digest'")
    for path in wheels.iterdir():  # no wheel is read again
        path.unlink()
    done = wheelscan("reevaluate", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "3 wheels judged anew" in done.stdout
    found = abi3_by_file(db)
    assert found[OVER]["over_claim"] and found[CLEAN]["compliant"] and found[PLAIN] is None


def as_format_3(db: Path) -> None:
    """Rewrite every stored facts blob as wheelscan wrote it before the abi3 audit: format
    3, without the defined Py* symbols (the store of a user who upgrades)."""
    from wheelscan.store.codec import pack

    rows = query(db, "SELECT id, facts FROM wheels WHERE facts IS NOT NULL")
    connection = sqlite3.connect(db)
    try:
        with connection:
            for wheel_id, blob in rows:
                data = unpack(blob)
                data["version"] = 3
                for member in data["elf_files"]:
                    del member["pydef"]
                connection.execute(
                    "UPDATE wheels SET facts = ?, facts_version = 3 WHERE id = ?",
                    (pack(data), wheel_id),
                )
    finally:
        connection.close()


def report_json(db: Path) -> dict[str, Any]:
    import json

    document: dict[str, Any] = json.loads(report(db, "json"))
    return document


def test_an_upgraded_store_keeps_its_verdicts_through_reevaluate(
    audited: tuple[Path, Path], audited_store: Path
) -> None:
    wheels, db = audited[0], audited_store
    before = report_json(db)["totals"]["judged"]
    assert before == 3
    as_format_3(db)
    query(db, "UPDATE policies SET digest = 'older'")  # a new wheelscan: a new policy digest
    done = wheelscan("reevaluate", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "3 wheels judged anew" in done.stdout
    assert done.stderr.startswith("wheelscan reevaluate: 3 wheels' facts are stored in an older")
    # every manylinux verdict is there, judged anew from the format-3 facts
    document = report_json(db)
    assert document["totals"]["judged"] == before
    found = abi3_by_file(db)
    # the imports alone break OVER's promise; CLEAN's is not known until read again (its
    # module exports are not in format 3); PLAIN makes none
    assert found[OVER]["compliant"] is False and found[OVER]["over_claim"]
    assert found[CLEAN]["compliant"] is None and "reads the wheel again" in found[CLEAN]["unknown"]
    assert found[PLAIN] is None
    abi3 = document["abi3"]
    assert (abi3["wheels"], abi3["compliant"], abi3["violating"], abi3["unknown"]) == (2, 0, 1, 1)
    # the next audit reads every one of them again
    done = wheelscan_process("audit", wheels, "--db", db)
    assert done.returncode in (0, 1), done.stderr
    assert query(db, "SELECT DISTINCT facts_version FROM wheels") == [(4,)]
    found = abi3_by_file(db)
    assert found[CLEAN]["compliant"] is True and found[CLEAN]["unknown"] is None
    with Store.open(db) as store:
        assert store.outdated_facts() == 0


def test_facts_of_a_newer_format_are_not_counted_as_older(audited_store: Path) -> None:
    db = audited_store
    query(db, f"UPDATE wheels SET facts_version = 99 WHERE filename = '{OVER}'")
    query(db, f"UPDATE wheels SET facts_version = 3 WHERE filename = '{CLEAN}'")
    with Store.open(db) as store:
        assert store.outdated_facts() == 1


def test_a_schema_2_store_is_migrated_and_read_as_it_is(audited_store: Path) -> None:
    db = audited_store
    # what a wheelscan before the abi3 audit left: schema 2, no verdicts.abi3
    query(db, "ALTER TABLE verdicts DROP COLUMN abi3")
    query(db, "UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    # a report reads it as it is, without writing, --since-run and its abi3 states too
    assert all(v is None for v in abi3_by_file(db).values())
    since = wheelscan("report", "--db", db, "--format", "json", "--since-run", "1")
    assert since.returncode == 0 and since.stderr == "", since.stderr
    assert query(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    # a writer migrates it in place
    with Store.open(db):
        pass
    assert query(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
    assert "abi3" in [c[1] for c in query(db, "PRAGMA table_info(verdicts)")]


def test_a_schema_1_store_takes_every_migration(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store.open(db).close()
    query(db, "ALTER TABLE verdicts DROP COLUMN abi3")
    query(db, "ALTER TABLE wheels DROP COLUMN strict")
    query(db, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    Store.open(db).close()
    assert "abi3" in [c[1] for c in query(db, "PRAGMA table_info(verdicts)")]
    assert "strict" in [c[1] for c in query(db, "PRAGMA table_info(wheels)")]


def test_show_names_symbols_and_files(tmp_path: Path) -> None:
    wheels = wheel_dir(tmp_path)
    done = wheelscan("show", wheels / OVER, wheels / CLEAN, wheels / PLAIN)
    assert done.returncode == 1, done.stderr  # OVER's abi3 promise is broken
    over, clean, plain = done.stdout.split("\n\n")
    assert "abi3: BROKEN; declared cp37, the files need Python 3.10 or later" in over
    assert "abi3-over-claim: PyType_FromModuleAndSpec in mod.abi3.so" in over
    assert "abi3: holds; declared cp310" in clean
    assert "abi3" not in plain.replace(PLAIN, "")
    # the clean wheel alone passes the gate; the manylinux part of the text is as before
    alone = wheelscan("show", wheels / CLEAN)
    assert alone.returncode == 0, alone.stdout
    assert alone.stdout.splitlines()[:1] == [CLEAN]


def test_show_json_carries_the_abi3_verdict_in_its_schema(tmp_path: Path) -> None:
    import json

    import jsonschema

    wheels = wheel_dir(tmp_path)
    done = wheelscan("show", "--json", wheels / OVER, wheels / PLAIN, tmp_path / "missing.whl")
    assert done.returncode == 2, done.stderr  # the missing one
    document = json.loads(done.stdout)
    schema = json.loads(wheelscan("show", "--json-schema").stdout)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["version"] == 2
    over, plain, missing = document["results"]
    assert over["abi3"]["over_claim"] and over["abi3"]["computed"] == "3.10"
    assert over["abi3"]["findings"][0]["symbol"] == "PyType_FromModuleAndSpec"
    assert plain["abi3"] is None and "abi3" not in missing


def report(db: Path, form: str) -> str:
    done = wheelscan("report", "--db", db, "--format", form)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_reports_count_abi3_wheels_and_name_the_wheels_behind(
    audited_store: Path, tmp_path: Path
) -> None:
    import json

    import jsonschema

    from wheelscan.report import json_schema

    db = audited_store
    document = json.loads(report(db, "json"))
    jsonschema.Draft202012Validator(json_schema()).validate(document)
    abi3 = document["abi3"]
    assert (abi3["wheels"], abi3["compliant"], abi3["violating"], abi3["over_claims"]) == (
        2,
        1,
        1,
        1,
    )
    assert abi3["abi3t"] == 0
    lists = {entry["key"]: entry["filenames"] for entry in abi3["wheel_lists"]}
    assert lists["abi3"] == [CLEAN, OVER]
    assert (lists["compliant"], lists["violating"], lists["over-claim"]) == (
        [CLEAN],
        [OVER],
        [OVER],
    )
    assert lists["abi3-over-claim"] == [OVER]
    assert [c["key"] for c in abi3["computed"]["entries"]] == ["3.10"]
    markdown = report(db, "markdown")
    assert "## Stable ABI (abi3/abi3t)" in markdown
    assert "| Over-claim (declared cpXY below the files' need) | 1 | 50.0% |" in markdown
    assert "Stable-ABI (abi3/abi3t) wheels, by state and finding" in markdown
    assert f"<summary><code>violating</code>: 1 wheels</summary>\n\n- `{OVER}`" in markdown
    html = report(db, "html")
    assert "Stable ABI (abi3/abi3t)" in html and "1 of 2 wheels keep their stable-ABI" in html
    terminal = wheelscan("report", "--db", db, "--output", tmp_path / "t.txt")
    assert terminal.returncode == 0, terminal.stderr
    text = (tmp_path / "t.txt").read_text()
    assert "Stable ABI (abi3/abi3t)" in text and "Promise broken" in text


def test_sarif_and_junit_name_a_broken_abi3_promise(
    audited: tuple[Path, Path], audited_store: Path
) -> None:
    import json

    import jsonschema
    import xmlschema

    schemas = Path(__file__).parent / "schemas"
    db = audited_store
    sarif = json.loads(report(db, "sarif"))
    jsonschema.Draft4Validator(
        json.loads((schemas / "sarif-schema-2.1.0.json").read_text())
    ).validate(sarif)
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "abi3-violation"]
    assert len(results) == 1
    assert results[0]["properties"] == {
        "wheel": OVER,
        "code": "abi3-over-claim",
        "symbols": ["PyType_FromModuleAndSpec"],
        "omitted": 0,
    }
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in results[0]["locations"]]
    assert uris[1].endswith("/mod.abi3.so")
    junit = report(db, "junit")
    xmlschema.XMLSchema(schemas / "JUnit.xsd").validate(junit)
    assert 'type="abi3-violation"' in junit and junit.count("<failure") == 1
    # show gives the same result for the one wheel
    shown = wheelscan("show", "--format", "sarif", audited[0] / OVER)
    assert shown.returncode == 1
    assert [r["ruleId"] for r in json.loads(shown.stdout)["runs"][0]["results"]] == [
        "abi3-violation"
    ]


def test_audit_fails_on_a_broken_abi3_promise_when_asked(tmp_path: Path) -> None:
    wheels = wheel_dir(tmp_path)
    (wheels / PLAIN).unlink()
    plain = wheelscan_process(
        "audit", wheels, "--db", tmp_path / "a.db", "--fail-on", "over-claim,error"
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr  # the manylinux tags all hold
    assert "1 breaking their abi3 promise" in plain.stdout
    gated = wheelscan_process("audit", wheels, "--db", tmp_path / "b.db", "--fail-on", "abi3")
    assert gated.returncode == 1, gated.stdout + gated.stderr
    (wheels / OVER).unlink()
    clean = wheelscan_process("audit", wheels, "--db", tmp_path / "c.db", "--fail-on", "abi3")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "abi3 promise" not in clean.stdout


def test_show_gives_the_abi3_verdict_beside_an_evaluation_error(tmp_path: Path) -> None:
    import json

    import jsonschema

    from wheelscan.cli.show import json_schema

    # an extension under .data/purelib: the platform verdict is an evaluation error
    # (elf-in-purelib), yet the facts were read, and the store keeps an abi3 verdict
    filename = "inpure-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"
    member = "inpure-1.0.data/purelib/mod.abi3.so"
    path = tmp_path / filename
    imports = ("PyLong_FromLong", "PyType_FromModuleAndSpec")
    path.write_bytes(build_wheel({member: extension(*imports)}, name="inpure"))
    shown = wheelscan("show", "--format", "json", path)
    assert shown.returncode == 2, shown.stderr
    document = json.loads(shown.stdout)
    jsonschema.Draft202012Validator(json_schema()).validate(document)
    (result,) = document["results"]
    assert result["code"] == "elf-in-purelib"
    assert result["abi3"]["compliant"] is False and result["abi3"]["over_claim"]
    text = wheelscan("show", path).stdout
    assert "elf-in-purelib" in text and "abi3: BROKEN" in text
    # the same verdict the store records
    db = tmp_path / "s.db"
    assert wheelscan_process("audit", tmp_path, "--db", db).returncode in (0, 1, 2)
    assert abi3_by_file(db)[filename] == result["abi3"]


def test_since_run_counts_a_newly_broken_abi3_promise(tmp_path: Path) -> None:
    import json

    wheels = wheel_dir(tmp_path)
    db = tmp_path / "s.db"
    assert wheelscan_process("audit", wheels, "--db", db).returncode in (0, 1)  # run 1
    # a wheel whose platform tag holds and whose abi3 promise does not
    broken = "broken-1.0-cp310-abi3-manylinux_2_17_x86_64.whl"
    member = extension("PyLong_FromLong", "_PyUnicode_Ready")
    (wheels / broken).write_bytes(build_wheel({"mod.abi3.so": member}, name="broken"))
    assert wheelscan_process("audit", wheels, "--db", db).returncode in (0, 1)  # run 2
    done = wheelscan("report", "--db", db, "--format", "json", "--since-run", "1")
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)["changes"]
    entries = changes["newly_broken"]["entries"]
    assert [(e["filename"], e["was"]) for e in entries] == [(broken, "absent")]
    assert "abi3 promise broken (abi3-symbol)" in entries[0]["detail"]
    junit = wheelscan("report", "--db", db, "--format", "junit", "--since-run", "1").stdout
    case = junit[junit.index(f'name="{broken}"') :]
    assert case[: case.index("</testcase>")].count('type="newly-broken"') == 1


def test_since_run_counts_a_fixed_abi3_promise(audited_store: Path) -> None:
    """A promise run 1 judged broken and this wheelscan judges kept is ``fixed``, as a
    platform tag's is: here CLEAN's, as if an older wheelscan (another policy digest) had
    judged it as it judged OVER's; the wheel itself was not read again."""
    import json

    db = audited_store  # run 1
    query(
        db,
        "UPDATE verdicts SET abi3 = (SELECT v.abi3 FROM verdicts v JOIN wheels w "
        f"ON w.id = v.wheel_id WHERE w.filename = '{OVER}') "
        f"WHERE wheel_id = (SELECT id FROM wheels WHERE filename = '{CLEAN}')",
    )
    query(db, "UPDATE policies SET digest = 'older'")
    query(db, "UPDATE meta SET value = 'older' WHERE key = 'policy_digest'")
    done = wheelscan("reevaluate", "--db", db)
    assert done.returncode == 0, done.stderr
    assert abi3_by_file(db)[CLEAN]["compliant"] is True
    done = wheelscan("report", "--db", db, "--format", "json", "--since-run", "1")
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)["changes"]
    assert changes["newly_broken"]["wheels"] == 0  # OVER was broken then too
    (entry,) = changes["fixed"]["entries"]
    assert (entry["filename"], entry["was"]) == (CLEAN, "broken")
    assert entry["detail"].startswith("every declared tag holds")
    markdown = report_with(db, "markdown", "--since-run", "1")
    assert re.search(f"Fixed: 1.*?{re.escape(CLEAN)}", markdown, re.S)
    sarif = json.loads(report_with(db, "sarif", "--since-run", "1"))
    assert sarif["runs"][0]["properties"]["fixed"] == 1
    states = {r["properties"]["wheel"]: r["baselineState"] for r in sarif["runs"][0]["results"]}
    assert states[OVER] == "unchanged" and CLEAN not in states


def report_with(db: Path, form: str, *args: str) -> str:
    done = wheelscan("report", "--db", db, "--format", form, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout
