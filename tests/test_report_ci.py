"""The CI outputs: SARIF 2.1.0 and JUnit XML, checked against their published schemas.

The schemas are vendored in tests/schemas/ (see its README): OASIS's SARIF 2.1.0 JSON schema
and the Ant JUnit XSD. Verdicts are real: wheels read and judged by the worker, and a store
written by `wheelscan audit`.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import xmlschema

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.report.claims import promises_only, tag_blockers
from wheelscan.report.junit import render_junit
from wheelscan.report.sarif import render_sarif

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

SCHEMAS = Path(__file__).parent / "schemas"
EXT = "pkg/mod.cpython-312-x86_64-linux-gnu.so"


def _so(*symbols: Sym, **overrides: Any) -> bytes:
    spec = sample_spec("x86_64", interpreter=None, **overrides)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *symbols]))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, real_wheels: list[Path]) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    glibc = Sym("exp", version="GLIBC_2.29", version_file="libc.so.6")
    built = {
        # two broken promises in one wheel: two results
        "twice-1.0-cp312-cp312-manylinux2014_x86_64.manylinux_2_28_x86_64.whl": {
            EXT: _so(glibc),
            "pkg/clean.so": _so(),
        },
        "extlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl": {
            EXT: _so(needed=["libfoo.so.1", "libc.so.6"], runpath=None)
        },
        "fine-1.0-cp312-cp312-manylinux_2_17_x86_64.whl": {EXT: _so()},
        # '+' and a space have to be escaped in a URI
        "odd_name-1.0+local-cp312-cp312-manylinux_2_28_x86_64.whl": {"a b/x.so": _so(glibc)},
    }
    for filename, members in built.items():
        (directory / filename).write_bytes(build_wheel(members, name=filename.split("-")[0]))
    (directory / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"no zip")
    for path in real_wheels[:6]:
        (directory / path.name).symlink_to(path)
    return directory


@pytest.fixture(scope="module")
def items(wheels: Path) -> list[tuple[str, Mapping[str, Any] | None]]:
    judged: list[tuple[str, Mapping[str, Any] | None]] = []
    for path in sorted(wheels.iterdir()):
        outcome = audit(path, path.name)
        judged.append((path.name, outcome.to_json()))
    judged.append(("later-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", None))  # not judged yet
    return judged


def _validate_sarif(text: str) -> dict[str, Any]:
    document = json.loads(text)
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(document)
    return document  # type: ignore[no-any-return]


def _validate_junit(text: str) -> ET.Element:
    xmlschema.XMLSchema(SCHEMAS / "JUnit.xsd").validate(text)
    return ET.fromstring(text)


def test_sarif_has_one_result_per_broken_promise(
    items: list[tuple[str, Mapping[str, Any] | None]],
) -> None:
    document = _validate_sarif(render_sarif(items, policy={"digest": "abc"}))
    (run,) = document["runs"]
    assert run["tool"]["driver"]["name"] == "wheelscan"
    assert run["properties"]["policy"] == {"digest": "abc"}
    results, artifacts = run["results"], run["artifacts"]
    verdicts = {f: o for f, o in items if o is not None and "overall_tag" in o}
    errors = {f: o for f, o in items if o is not None and "code" in o}
    promises = [(f, tag) for f, v in verdicts.items() for tag in v["over_claims"]]
    assert len(promises) >= 4
    over = [r for r in results if r["ruleId"] == "over-claim"]
    assert sorted((r["properties"]["wheel"], r["properties"]["tag"]) for r in over) == sorted(
        promises
    )
    assert [r["properties"]["wheel"] for r in results if r["ruleId"] == "audit-error"] == list(
        errors
    )
    assert len({r["partialFingerprints"]["wheelscan/v1"] for r in results}) == len(results)
    for result in over:
        wheel, tag = result["properties"]["wheel"], result["properties"]["tag"]
        first, *members = result["locations"]
        location = first["physicalLocation"]["artifactLocation"]
        assert location["uri"] == quote(wheel) and "+" not in location["uri"]
        assert artifacts[location["index"]]["location"]["uri"] == location["uri"]
        blamed = {f for b in tag_blockers(tag, verdicts[wheel]) for f in b.files}
        assert blamed, f"{wheel} {tag}: nothing to blame"
        assert [m["physicalLocation"]["artifactLocation"]["uri"] for m in members] == [
            f"{quote(wheel)}/{quote(f)}" for f in sorted(blamed)
        ]
        for m in members:  # a member is an artifact nested in its wheel
            nested = artifacts[m["physicalLocation"]["artifactLocation"]["index"]]
            assert nested["parentIndex"] == location["index"]
    twice = [r for r in over if r["properties"]["wheel"].startswith("twice-")]
    assert len(twice) == 2
    # glibc 2.28 is broken by mod's GLIBC_2.29 alone; 2.17 by the sample's GLIBC_2.25 too,
    # which both members need
    (strict,) = [r for r in twice if r["properties"]["tag"] == "manylinux_2_28_x86_64"]
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in strict["locations"]]
    assert uris[1:] == [f"{quote(strict['properties']['wheel'])}/{EXT}"]


def test_sarif_marks_what_is_new(items: list[tuple[str, Mapping[str, Any] | None]]) -> None:
    new = {"extlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"}
    document = _validate_sarif(render_sarif(items, new=new))
    states = {r["properties"]["wheel"]: r["baselineState"] for r in document["runs"][0]["results"]}
    assert states.pop("extlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl") == "new"
    assert set(states.values()) == {"unchanged"}
    assert all(
        "baselineState" not in r for r in json.loads(render_sarif(items))["runs"][0]["results"]
    )


def test_junit_has_one_case_per_wheel(items: list[tuple[str, Mapping[str, Any] | None]]) -> None:
    root = _validate_junit(render_junit(items, properties={"policy.digest": "abc"}))
    (suite,) = root
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [f for f, _ in items]
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    errored = {c.get("name") for c in cases if c.find("error") is not None}
    skipped = {c.get("name") for c in cases if c.find("skipped") is not None}
    assert failed == {f for f, o in items if o and "overall_tag" in o and o["over_claims"]}
    assert errored == {f for f, o in items if o and "code" in o}
    assert skipped == {f for f, o in items if o is None}
    assert suite.get("tests") == str(len(items))
    assert suite.get("failures") == str(len(failed)) and suite.get("errors") == str(len(errored))
    assert suite.get("skipped") == "1"
    assert suite.find("properties/property").attrib == {"name": "policy.digest", "value": "abc"}
    twice = next(c for c in cases if c.get("name", "").startswith("twice-"))
    failure = twice.find("failure")
    assert failure is not None and failure.get("type") == "over-claim"
    assert "manylinux2014_x86_64" in (failure.get("message") or "")
    assert f"in {EXT}" in (failure.text or "")
    fresh = _validate_junit(render_junit(items, new={twice.get("name", "")}))
    assert (
        fresh.find(f"testsuite/testcase[@name='{twice.get('name')}']/failure").get("type")
        == "newly-broken"
    )


def test_the_renderers_take_what_show_has(wheels: Path) -> None:
    """One wheel's verdict as ``show`` makes it, straight from the worker: the same API."""
    path = wheels / "extlib-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    outcome = audit(path, path.name)
    assert isinstance(outcome, Verdict)
    one = [(path.name, outcome.to_json())]
    assert len(_validate_sarif(render_sarif(one))["runs"][0]["results"]) == 1
    error = AuditError(path.name, "not-zip", "no end of central directory", "x/y.so")
    sarif = _validate_sarif(render_sarif([(path.name, error.to_json())]))
    (result,) = sarif["runs"][0]["results"]
    # an unjudged wheel fails a code-scanning gate, as it fails audit's --fail-on default
    assert result["level"] == "error" and result["properties"]["code"] == "not-zip"
    assert result["locations"][1]["physicalLocation"]["artifactLocation"]["uri"].endswith("/x/y.so")
    root = _validate_junit(render_junit([(path.name, error.to_json())]))
    assert root.find("testsuite/testcase/error").get("type") == "not-zip"


def test_report_writes_both_from_the_store(wheels: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"

    def wheelscan(*args: object) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "wheelscan", *map(str, args)],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    audited = subprocess.run(
        [sys.executable, "-m", "wheelscan", "audit", "--workers", "0", "--db", str(db), wheels],
        check=False,
        capture_output=True,
        text=True,
    )
    assert audited.returncode == 1, audited.stderr  # broken promises found
    total = len(list(wheels.iterdir()))
    sarif = _validate_sarif(wheelscan("report", "--db", db, "--format", "sarif"))
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"over-claim", "audit-error"}
    assert sarif["runs"][0]["properties"]["policy"]["recorded"] is True
    junit = _validate_junit(wheelscan("report", "--db", db, "--format", "junit"))
    assert junit.find("testsuite").get("tests") == str(total)
    only = _validate_junit(
        wheelscan("report", "--db", db, "--format", "junit", "--project", "twice")
    )
    assert only.find("testsuite").get("tests") == "1"
    out = tmp_path / "report.sarif"
    wheelscan("report", "--db", db, "--format", "sarif", "--output", out)
    assert json.loads(out.read_text()) == sarif


def test_what_the_ci_formats_keep_of_a_verdict_changes_nothing(
    items: list[tuple[str, Mapping[str, Any] | None]],
) -> None:
    """``report`` holds ``promises_only`` of each verdict, not the verdict, until it writes."""
    kept = [(f, promises_only(o) if o and "overall_tag" in o else o) for f, o in items]
    assert render_sarif(kept) == render_sarif(items)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert render_junit(kept, timestamp=when) == render_junit(items, timestamp=when)
    assert len(json.dumps(kept)) < len(json.dumps(items)) / 2


@pytest.mark.parametrize("form", ["sarif", "junit"])
def test_show_speaks_the_ci_formats(wheels: Path, form: str) -> None:
    """``show`` over the same wheels: the same documents ``report`` renders, valid against
    their schemas, with the exit status a gate reads (2: one wheel could not be judged)."""
    paths = sorted(str(p) for p in wheels.iterdir())

    def show(*flags: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "wheelscan", "show", *flags, *paths]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)

    run = show("--format", form)
    assert run.returncode == 2, run.stderr
    verdicts = json.loads(show("--json").stdout)["results"]
    unkept = {r["wheel"] for r in verdicts if r.get("over_claims") or "code" in r}
    assert unkept and len(unkept) < len(paths)
    if form == "sarif":
        results = _validate_sarif(run.stdout)["runs"][0]["results"]
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
        assert uris == {quote(name) for name in unkept}
    else:
        cases = list(_validate_junit(run.stdout).iter("testcase"))
        assert {c.get("name") for c in cases} == {Path(p).name for p in paths}
        failing = {c.get("name") for c in cases if c.find("failure") is not None}
        failing |= {c.get("name") for c in cases if c.find("error") is not None}
        assert failing == unkept
