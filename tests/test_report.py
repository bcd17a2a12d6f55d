"""The report: statistics checked against counts recomputed here, every format checked.

Rows are real: the corpus wheels and built wheels that over-claim in each way, judged by the
worker, plus error rows and a pending one. Expected figures are recomputed from the
``Verdict`` objects with plain loops, never copied from the aggregator's output. The HTML is
rendered by a real headless Chromium, which CI must have: a missing browser fails the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from rich.console import Console

from wheelscan.engine.worker import audit
from wheelscan.policy.policies import Architecture, Libc, load_policies, platform_tag_info
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.report import (
    aggregate,
    json_schema,
    render_html,
    render_json,
    render_markdown,
    render_terminal,
    to_json,
)
from wheelscan.report.statistics import Ranking, Statistics

from conftest import ensure_chromium
from elfwriter import STB_WEAK, Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"
EVERYTHING = 10**6  # a `top` that cuts nothing, to compare whole counters
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def _ext(extra: list[Sym] = (), **overrides: object) -> bytes:  # type: ignore[assignment]
    spec = sample_spec("x86_64", interpreter=None, **overrides)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))


# name, platform tag, members: each over-claims in its own way, or (the last) under-claims
BUILT = [
    (
        "symver",
        "manylinux2014_x86_64",
        {EXT: _ext([Sym("exp", version="GLIBC_2.29", version_file="libc.so.6")])},
    ),
    (
        "extlib",
        "manylinux_2_17_x86_64",
        {EXT: _ext(needed=["libfoo.so.1", "libc.so.6"], runpath=None)},
    ),
    (
        "blacklisted",
        "manylinux_2_28_x86_64",
        {EXT: _ext([Sym("zcalloc")], needed=["libz.so.1", "libc.so.6"])},
    ),
    # PEP 600 names glibc 2.33, which has no policy of its own: blamed on the newest versions
    (
        "nopolicy",
        "manylinux_2_33_x86_64",
        {EXT: _ext([Sym("fmod", version="GLIBC_2.38", version_file="libc.so.6")])},
    ),
    ("wronglibc", "manylinux_2_28_x86_64.musllinux_1_2_x86_64", {EXT: _ext()}),
    (
        "weak",
        "manylinux_2_34_x86_64",
        {EXT: _ext([Sym("zcalloc", binding=STB_WEAK)], needed=["libz.so.1", "libc.so.6"])},
    ),
]
RUNS = [  # deliberately out of order: the trend sorts by start time
    {
        "id": 2,
        "started": "2025-06-02T02:00:00+00:00",
        "finished": "2025-06-02T02:05:00+00:00",
        "source": "dir:/srv/wheels",
        "status": "finished",
        "seen": 150,
        "skipped_known": 100,
        "audited": 50,
        "errors": 4,
        "bytes_read": 5_000_000,
        "elf_bytes": 2_000_000,
        "seconds": 20.0,
        "wheelscan_version": "0.1.0",
        "backend": "native",
    },
    {
        "id": 1,
        "started": "2025-06-01T02:00:00+00:00",
        "finished": "2025-06-01T02:10:00+00:00",
        "source": "dir:/srv/wheels",
        "status": "finished",
        "seen": 100,
        "skipped_known": 0,
        "audited": 100,
        "errors": 2,
        "bytes_read": 9_000_000,
        "elf_bytes": 3_000_000,
        "seconds": 40.0,
        "wheelscan_version": "0.1.0",
        "backend": "native",
    },
    {
        "id": 3,
        "started": "2025-06-03T02:00:00+00:00",
        "finished": None,
        "source": "dir:/srv/wheels",
        "status": "interrupted",
        "seen": 160,
        "skipped_known": 150,
        "audited": 0,
        "errors": 0,
        "bytes_read": 0,
        "elf_bytes": 0,
        "seconds": 0.0,
        "wheelscan_version": "0.1.0",
        "backend": "reference",
    },
]


@dataclasses.dataclass(frozen=True)
class Judged:
    filename: str
    project: str
    result: Verdict | AuditError | None  # None: listed, not audited yet
    size: int


def _row(item: Judged, index: int) -> dict[str, Any]:
    result = item.result
    return {
        "sha256": hashlib.sha256(item.filename.encode()).hexdigest(),
        "filename": item.filename,
        "project": item.project,
        "version": "1.0",
        "upload_time": f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}T00:00:00+00:00",
        "location": f"/srv/wheels/{item.filename}",
        "size": item.size,
        "verdict": result.to_json() if isinstance(result, Verdict) else None,
        "error": result.to_json() if isinstance(result, AuditError) else None,
    }


@pytest.fixture(scope="session")
def judged(real_wheels: list[Path]) -> list[Judged]:
    items = [
        Judged(p.name, parse_wheel_filename(p.name)[0], audit(p, p.name), p.stat().st_size)
        for p in real_wheels
    ]
    for name, tag, files in BUILT:
        data = build_wheel(files, name=name)
        filename = f"{name}-1.0-cp312-cp312-{tag}.whl"
        items.append(Judged(filename, name, audit(data, filename), len(data)))
    good = build_wheel({EXT: _ext()}, name="broken")
    for filename, data in [
        ("broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", b"not a zip"),
        ("broken-1.1-cp312-cp312-manylinux_2_17_x86_64.whl", good[:-30]),
        ("broken-no-tags.whl", good),
    ]:
        items.append(Judged(filename, "broken", audit(data, filename), len(data)))
    items.append(Judged("later-1.0-cp313-cp313-musllinux_1_2_aarch64.whl", "later", None, 0))
    return items


@pytest.fixture(scope="session")
def rows(judged: list[Judged]) -> list[dict[str, Any]]:
    return [_row(item, i) for i, item in enumerate(judged)]


@pytest.fixture(scope="session")
def stats(rows: list[dict[str, Any]]) -> Statistics:
    return aggregate(iter(rows), RUNS, now=NOW)  # an iterator: one pass must be enough


@pytest.fixture(scope="session")
def full(rows: list[dict[str, Any]]) -> Statistics:
    return aggregate(rows, RUNS, top=EVERYTHING, now=NOW)


def _counts(ranking: Ranking) -> dict[str, int]:
    return {c.key: c.wheels for c in ranking.entries}


def _verdicts(judged: list[Judged]) -> list[Verdict]:
    return [j.result for j in judged if isinstance(j.result, Verdict)]


def test_the_rows_cover_every_case(judged: list[Judged]) -> None:
    built = {v.wheel.split("-")[0]: v for v in _verdicts(judged)}
    assert set(built) >= {name for name, _, _ in BUILT}
    assert all(built[name].over_claims for name, _, _ in BUILT if name != "weak")
    assert built["weak"].under_claim and not built["weak"].over_claims
    codes = {j.result.code for j in judged if isinstance(j.result, AuditError)}
    assert len(codes) >= 2


def test_totals(judged: list[Judged], stats: Statistics) -> None:
    verdicts = _verdicts(judged)
    t = stats.totals
    assert t.wheels == len(judged)
    assert t.judged == len(verdicts)
    assert t.errors == sum(isinstance(j.result, AuditError) for j in judged)
    assert t.pending == sum(j.result is None for j in judged) == 1
    assert t.over_claims == sum(bool(v.over_claims) for v in verdicts)
    assert t.compliant == t.judged - t.over_claims
    assert t.under_claims == sum(v.under_claim is not None for v in verdicts)
    assert t.with_findings == sum(bool(v.findings) for v in verdicts)
    assert t.projects == len({canonicalize_name(j.project) for j in judged})
    assert t.bytes == sum(j.size for j in judged)
    assert stats.compliance == pytest.approx(t.compliant / t.judged)


def test_distributions(judged: list[Judged], full: Statistics) -> None:
    verdicts = _verdicts(judged)
    assert _counts(full.computed_policies) == Counter(v.overall_tag for v in verdicts)
    # a wheel without a verdict is placed by its filename's one architecture and libc
    arches: Counter[str] = Counter(v.architecture for v in verdicts)
    libcs: Counter[str] = Counter(v.libc for v in verdicts)
    for j in judged:
        if not isinstance(j.result, Verdict):
            named_arches = {i.arch.baseline.value for i in _tag_infos(j.filename)}
            named_libcs = {i.libc.value for i in _tag_infos(j.filename) if i.libc}
            arches[named_arches.pop() if len(named_arches) == 1 else "unknown"] += 1
            libcs[named_libcs.pop() if len(named_libcs) == 1 else "unknown"] += 1
    assert _counts(full.architectures) == arches
    assert _counts(full.libcs) == libcs
    assert _counts(full.findings) == Counter(
        k for v in verdicts for k in {f.kind for f in v.findings}
    )
    assert _counts(full.external_libraries) == Counter(
        lib for v in verdicts for lib in v.external_libraries
    )


def _tag_infos(filename: str) -> list[Any]:
    try:
        tags = parse_wheel_filename(filename)[3]
    except ValueError:
        return []
    return [platform_tag_info(t.platform) for t in tags]


def test_declared_policies_and_python_tags(judged: list[Judged], full: Statistics) -> None:
    declared: Counter[str] = Counter()
    python: Counter[str] = Counter()
    for j in judged:
        if not _tag_infos(j.filename):
            python["invalid-filename"] += 1
            continue
        # per libc and arch, the claim with the lowest glibc/musl version
        claims: dict[tuple[Any, Any], tuple[list[int], str]] = {}
        for info in _tag_infos(j.filename):
            version = [int(n) for n in re.findall(r"\d+", info.base_name or "")]
            name = f"{info.base_name or 'linux'}_{info.arch}"
            if (info.libc, info.arch) not in claims or version < claims[info.libc, info.arch][0]:
                claims[info.libc, info.arch] = (version, name)
        declared.update(name for _, name in claims.values())
        _, _, _, tags = parse_wheel_filename(j.filename)
        keys = {
            t.interpreter
            if t.abi == "none"
            else f"{t.interpreter}-{t.abi}"
            if t.abi in ("abi3", "abi3t")
            else t.abi
            for t in tags
        }
        python[".".join(sorted(keys))] += 1
    assert _counts(full.declared_policies) == declared
    assert _counts(full.python_tags) == python
    assert {"cp27mu", "cp312"} <= set(python)


def test_an_abi3t_python_tag_keeps_its_interpreter_as_abi3_does() -> None:
    from packaging.tags import parse_tag

    from wheelscan.report.claims import python_tag

    def label(tag: str) -> str:
        return python_tag(parse_tag(f"{tag}-manylinux_2_17_x86_64"))

    assert label("cp39-abi3") == "cp39-abi3"
    # PEP 803: abi3t says no more than abi3 of the oldest Python, so it keeps cpXY too
    assert label("cp315-abi3t") == "cp315-abi3t"
    assert label("cp315-abi3.abi3t") == "cp315-abi3.cp315-abi3t"


def _expected_blame(v: Verdict) -> tuple[set[str], set[str], set[str], set[str]]:
    """Cause kinds, versions, symbols and libraries blamed for one over-claiming verdict."""
    kinds: set[str] = set()
    versions: set[str] = set()
    symbols: set[str] = set()
    libraries: set[str] = set()
    checked = {c.policy: c.blockers for c in v.upgrades}
    for tag in v.over_claims:
        info = platform_tag_info(tag)
        if info.libc is None:
            continue  # linux_* always holds
        if info.libc.value != v.libc or info.arch.value != v.architecture:
            kinds.add("platform-mismatch")
            continue
        policies = load_policies().for_platform(Libc(v.libc), Architecture(v.architecture))
        try:
            blockers = checked[policies.get(tag).name]
        except LookupError:  # no policy of that name: the newest versions that block something
            blocking = {b.subject for bs in checked.values() for b in bs}
            blockers = tuple(
                dataclasses.replace(b, kind="symbol-version")
                for b in v.newest_versions
                if b.subject in blocking
            )
        for b in blockers:
            kinds.add(b.kind)
            if b.kind == "symbol-version":
                versions.add(b.subject)
                symbols.update(f"{s}@{b.subject}" for s in b.symbols)
            elif b.kind == "blacklisted-symbol":
                symbols.update(f"{s} ({b.subject})" for s in b.symbols)
            elif b.kind == "external-library":
                libraries.add(b.subject)
    return kinds, versions, symbols, libraries


def test_over_claims_and_their_causes(judged: list[Judged], full: Statistics) -> None:
    kinds: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    symbols: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for v in _verdicts(judged):
        if v.over_claims:
            for counter, found in zip(
                (kinds, versions, symbols, libraries), _expected_blame(v), strict=True
            ):
                counter.update(found)
            pairs.update({(_policy(t), v.overall_tag) for t in v.over_claims})
    assert _counts(full.over_claim_causes) == kinds
    assert _counts(full.offending_versions) == versions
    assert _counts(full.offending_symbols) == symbols
    assert _counts(full.offending_libraries) == libraries
    assert {(g.declared, g.computed): g.wheels for g in full.over_claim_pairs} == pairs
    # each built wheel's own cause is there
    assert {"exp@GLIBC_2.29", "zcalloc (libz.so.1)", "fmod@GLIBC_2.38"} <= set(symbols)
    assert "libfoo.so.1" in libraries and "platform-mismatch" in kinds
    assert ("manylinux_2_17_x86_64", "manylinux_2_31_x86_64") in pairs  # manylinux2014 resolved


def _policy(tag: str) -> str:
    info = platform_tag_info(tag)
    return f"{info.base_name}_{info.arch}"


def test_over_claiming_wheels_are_the_newest(
    judged: list[Judged], rows: list[dict[str, Any]], stats: Statistics
) -> None:
    over = [r for r in rows if r["verdict"] and r["verdict"]["over_claims"]]
    newest = sorted(over, key=lambda r: (r["upload_time"], r["filename"]), reverse=True)
    shown = stats.over_claim_wheels
    assert [o.filename for o in shown] == [r["filename"] for r in newest[:20]]
    symver = next(
        o
        for o in aggregate(rows, top=EVERYTHING).over_claim_wheels
        if o.filename.startswith("symver-")
    )
    assert symver.broken == ("manylinux2014_x86_64",) and "GLIBC_2.29" in symver.causes


def test_projects_errors_and_under_claims(judged: list[Judged], full: Statistics) -> None:
    per_project: dict[str, Counter[str]] = {}
    for j in judged:
        c = per_project.setdefault(canonicalize_name(j.project), Counter())
        c["wheels"] += 1
        c["errors"] += isinstance(j.result, AuditError)
        if isinstance(j.result, Verdict):
            c["judged"] += 1
            c["over"] += bool(j.result.over_claims)
            c["under"] += j.result.under_claim is not None
    got = {p.project: p for p in full.projects}
    assert set(got) == set(per_project)
    for name, c in per_project.items():
        p = got[name]
        assert (p.wheels, p.judged, p.over_claims, p.under_claims, p.errors) == (
            c["wheels"],
            c["judged"],
            c["over"],
            c["under"],
            c["errors"],
        )
    assert got["lightgbm"].worst_tag == "linux_x86_64"
    assert got["broken"].worst_tag is None
    ordered = [(-p.over_claims, -p.errors, -p.wheels, p.project) for p in full.projects]
    assert ordered == sorted(ordered)
    errors = Counter(j.result.code for j in judged if isinstance(j.result, AuditError))
    assert {e.code: e.wheels for e in full.errors} == errors
    under = Counter(
        ("manylinux_2_34_x86_64", v.under_claim)
        for v in _verdicts(judged)
        if v.wheel.startswith("weak-")
    )
    assert (
        under.items()
        <= {(g.declared, g.computed): g.wheels for g in full.under_claim_pairs}.items()
    )


def test_rankings_are_cut_honestly(rows: list[dict[str, Any]], full: Statistics) -> None:
    small = aggregate(rows, RUNS, top=3, now=NOW)
    for name in (
        "computed_policies",
        "declared_policies",
        "architectures",
        "python_tags",
        "offending_symbols",
        "offending_versions",
    ):
        cut, whole = getattr(small, name), getattr(full, name)
        assert len(cut.entries) == min(3, whole.distinct)
        assert cut.entries == whole.entries[:3]
        assert cut.distinct == whole.distinct
        assert sum(c.wheels for c in cut.entries) + cut.rest == sum(c.wheels for c in whole.entries)
    assert len(small.projects) == 3 and len(small.over_claim_wheels) == 3


def test_trend(stats: Statistics) -> None:
    assert [r.id for r in stats.runs] == ["1", "2", "3"]
    assert [r.wheels_per_second for r in stats.runs] == [2.5, 2.5, 0.0]
    assert stats.runs[2].finished is None


def test_json_matches_its_schema(stats: Statistics) -> None:
    document = json.loads(render_json(stats))
    jsonschema.Draft202012Validator(json_schema()).validate(document)
    assert document["version"] == 1
    assert document == json.loads(json.dumps(to_json(stats)))
    assert document["totals"]["wheels"] == stats.totals.wheels
    assert document["computed_policies"]["entries"][0] == {
        "key": stats.computed_policies.entries[0].key,
        "wheels": stats.computed_policies.entries[0].wheels,
    }
    empty = json.loads(render_json(aggregate([], now=NOW)))
    jsonschema.Draft202012Validator(json_schema()).validate(empty)
    assert empty["compliance"] is None


def _markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Section title -> rows (header first) of the table under it."""
    tables: dict[str, list[list[str]]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if not all(re.fullmatch(r"-+:?", c) for c in cells):
                tables.setdefault(title, []).append(cells)
    return tables


def test_markdown(stats: Statistics) -> None:
    tables = _markdown_tables(render_markdown(stats))
    for title, table in tables.items():
        assert len({len(row) for row in table}) == 1, f"ragged table under {title!r}"
    summary = {row[0]: row[1] for row in tables["Summary"][1:]}
    assert summary["Wheels"] == str(stats.totals.wheels)
    assert summary["Over-claim (a declared tag is broken)"] == str(stats.totals.over_claims)
    computed = tables["Computed policies"]
    assert computed[0] == ["Policy", "Wheels", "% of judged"]
    assert [(r[0], int(r[1])) for r in computed[1:]] == [
        (f"`{c.key}`", c.wheels) for c in stats.computed_policies.entries
    ]
    assert len(tables["Most recent over-claiming wheels"]) == len(stats.over_claim_wheels) + 1
    assert {r[0] for r in tables["Errors"][1:]} == {f"`{e.code}`" for e in stats.errors}
    assert [r[3] for r in tables["Runs"][1:]] == ["100", "150", "160"]


def test_terminal(stats: Statistics) -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    render_terminal(stats, console)
    text = console.export_text()
    assert f"{100 * stats.compliance:.1f}% of judged wheels" in text  # type: ignore[operator]
    assert stats.computed_policies.entries[0].key in text
    assert "exp@GLIBC_2.29" in text and "libfoo.so.1" in text


class _Dom(HTMLParser):
    """The marks the charts and KPI cards carry, by the id of the card they are in."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[str] = []
        self.depth: list[int] = []
        self.level = 0
        self.marks: dict[str, list[tuple[str, str]]] = {}
        self.kpis: dict[str, str] = {}
        self.tags: Counter[str] = Counter()
        self._kpi: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] += 1
        if tag == "div":
            self.level += 1
            if "card" in a.get("class", "").split() and "id" in a:
                self.cards.append(a["id"])
                self.depth.append(self.level)
            self._kpi = a.get("data-kpi", self._kpi)
        if "data-value" in a and "data-key" in a and self.cards:
            self.marks.setdefault(self.cards[-1], []).append((a["data-key"], a["data-value"]))
        if tag == "span" and a.get("class") == "value" and self._kpi:
            self.kpis[self._kpi] = ""

    def handle_data(self, data: str) -> None:
        if self._kpi and self.kpis.get(self._kpi) == "":
            self.kpis[self._kpi] = data
            self._kpi = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.depth and self.depth[-1] == self.level:
                self.cards.pop()
                self.depth.pop()
            self.level -= 1


def _chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    browser = ensure_chromium()
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


@pytest.mark.browser
def test_html_renders_in_a_browser(stats: Statistics, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    text = render_html(stats)
    page.write_text(text, encoding="utf-8")
    # self-contained: nothing fetched, nothing run
    assert not re.search(r"<script|<link|<img|<iframe|\ssrc=|\shref=|url\(|@import", text)

    dom = _Dom()
    dom.feed(_chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path).stdout)
    t = stats.totals
    assert dom.kpis["wheels"] == f"{t.wheels:,}" and dom.kpis["errors"] == f"{t.errors:,}"
    assert dom.kpis["over_claims"] == f"{t.over_claims:,}"
    assert dom.kpis["compliant"] == f"{t.compliant:,}"
    for card, ranking in [
        ("computed-policies", stats.computed_policies),
        ("architectures", stats.architectures),
        ("over-claims-by-cause", stats.over_claim_causes),
    ]:
        assert [(k, int(v)) for k, v in dom.marks[card]] == [
            (c.key, c.wheels) for c in ranking.entries
        ], card
    assert [(k, int(v)) for k, v in dom.marks["errors-by-code"]] == [
        (e.code, e.wheels) for e in stats.errors
    ]
    days = ["2025-06-01", "2025-06-02", "2025-06-03"]
    assert dom.marks["trend"] == list(zip(days * 2, ["100", "50", "0", "2", "4", "0"], strict=True))
    assert [v for _, v in dom.marks["throughput"]] == ["2.5", "2.5", "0"]
    assert dom.tags["svg"] >= 8 and dom.tags["rect"] >= len(stats.computed_policies.entries)
    assert dom.tags["polyline"] == 3  # audited, errors, wheels per second

    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), tmp_path=tmp_path)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1280, 2000)
    assert len(png) > 50_000  # a blank page compresses to a few kilobytes


def test_empty_store_renders_everywhere() -> None:
    empty = aggregate([], [], now=NOW)
    assert empty.totals.wheels == 0 and empty.compliance is None
    assert "None." in render_markdown(empty)
    assert "No data for" in render_html(empty)
    render_terminal(empty, Console(file=io.StringIO()))


# --- issue #13: determinism, wheels behind the counts, unknown sizes


def test_the_order_of_the_rows_changes_nothing(rows: list[dict[str, Any]]) -> None:
    """Ties (two architectures meeting policies of one priority, two wheels with one error
    code) are broken by name, never by which row came first."""
    forward = to_json(aggregate(rows, RUNS, top=EVERYTHING, now=NOW, listed=3))
    backward = to_json(aggregate(rows[::-1], RUNS[::-1], top=EVERYTHING, now=NOW, listed=3))
    assert json.dumps(forward) == json.dumps(backward)
    small = [to_json(aggregate(r, RUNS, top=2, now=NOW, listed=1)) for r in (rows, rows[::-1])]
    assert json.dumps(small[0]) == json.dumps(small[1])


def test_worst_tag_ties_go_to_the_name(judged: list[Judged], full: Statistics) -> None:
    by_project: dict[str, list[Verdict]] = {}
    for j in judged:
        if isinstance(j.result, Verdict):
            by_project.setdefault(canonicalize_name(j.project), []).append(j.result)
    policies = load_policies()
    tied = 0
    for p in full.projects:
        verdicts = by_project.get(p.project, [])
        if not verdicts:
            continue
        ranked = []
        for v in verdicts:
            try:
                found = policies.for_platform(Libc(v.libc), Architecture(v.architecture))
                priority = found.get(v.overall_tag).priority
            except (LookupError, ValueError):
                priority = 0 if v.overall_tag.startswith("linux_") else 1
            ranked.append((priority, v.overall_tag))
        assert p.worst_tag == min(ranked)[1]
        tied += len({t for pr, t in ranked if pr == min(ranked)[0]}) > 1
    assert tied, "no project has a tie to break: the test proves nothing"


def test_every_count_names_its_wheels(judged: list[Judged], rows: list[dict[str, Any]]) -> None:
    stats = aggregate(rows, RUNS, top=EVERYTHING, now=NOW, listed=2)
    verdicts = _verdicts(judged)
    expected: dict[str, dict[str, list[str]]] = {"over": {}, "errors": {}, "findings": {}}
    for v in verdicts:
        for pair in sorted({(_policy(t), v.overall_tag) for t in v.over_claims}):
            expected["over"].setdefault(" → ".join(pair), []).append(v.wheel)
        for kind in sorted({f.kind for f in v.findings}):
            expected["findings"].setdefault(kind, []).append(v.wheel)
    for j in judged:
        if isinstance(j.result, AuditError):
            expected["errors"].setdefault(j.result.code, []).append(j.filename)
    lists = stats.wheel_lists
    for kind, got in (
        ("over", lists.over_claims),
        ("errors", lists.errors),
        ("findings", lists.findings),
    ):
        assert {e.key: e.wheels for e in got} == {k: len(v) for k, v in expected[kind].items()}
        for entry in got:
            assert entry.filenames == tuple(sorted(expected[kind][entry.key])[:2])
    assert sum(e.wheels for e in lists.under_claims) >= stats.totals.under_claims > 0
    markdown, page = render_markdown(stats), render_html(stats)
    for entry in (*lists.over_claims, *lists.under_claims, *lists.errors, *lists.findings):
        folded = f"… and {entry.wheels - 2} more" if entry.wheels > 2 else None
        block = re.search(
            rf"<summary><code>{re.escape(html_escape(entry.key))}</code>: {entry.wheels} "
            r"wheels</summary>(.*?)</details>",
            markdown,
            re.S,
        )
        assert block, entry.key
        assert re.findall(r"^- `([^`]+)`$", block.group(1), re.M) == list(entry.filenames)
        assert (folded in block.group(1)) if folded else "more" not in block.group(1)
        card = re.search(
            rf'<details data-key="{re.escape(html_escape(entry.key))}" '
            rf'data-wheels="{entry.wheels}">(.*?)</details>',
            page,
            re.S,
        )
        assert card, entry.key
        assert re.findall(r"<li><code>([^<]+)</code></li>", card.group(1)) == [
            html_escape(f) for f in entry.filenames
        ]
        assert (folded in card.group(1)) if folded else "more" not in card.group(1)


def test_unknown_sizes_are_not_zero(rows: list[dict[str, Any]]) -> None:
    unsized = [dict(r, size=None) for r in rows]
    stats = aggregate(unsized, now=NOW)
    assert stats.totals.unsized == len(rows) and stats.totals.bytes == 0
    for text in (render_markdown(stats), render_html(stats), _terminal_text(stats)):
        assert "size unknown" in text and "0 B" not in text
    mixed = aggregate([*rows[:3], *unsized[3:]], now=NOW)
    assert mixed.totals.bytes == sum(r["size"] for r in rows[:3])
    assert f"(+ {len(rows) - 3} of unknown size)" in render_markdown(mixed)
    document = json.loads(render_json(mixed))
    jsonschema.Draft202012Validator(json_schema()).validate(document)
    assert document["totals"]["unsized"] == len(rows) - 3


def _terminal_text(stats: Statistics) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    render_terminal(stats, console)
    return console.export_text()


def test_a_run_without_an_end_renders_everywhere() -> None:
    running = dict(RUNS[1], id=4, status="running", finished=None, seconds=None)
    running["updated"] = "2025-06-01T02:00:30+00:00"
    stats = aggregate([], [running], now=NOW)
    (point,) = stats.runs
    assert point.seconds == 30.0 and point.wheels_per_second == pytest.approx(100 / 30)
    line = "run 4 is in progress or was stopped without finishing: 100 wheels stored so far"
    for text in (render_markdown(stats), render_html(stats), _terminal_text(stats)):
        assert line in " ".join(text.split())
    jsonschema.Draft202012Validator(json_schema()).validate(json.loads(render_json(stats)))


def test_ties_in_a_ranking_read_in_version_order() -> None:
    """A reviewer found rankings tied by count listed as text (CXXABI_1.3.11 before 1.3.3,
    manylinux_2_5 after manylinux_2_28): ties now go in the order a reader expects."""
    from collections import Counter

    from wheelscan.report.aggregate import Aggregator

    names = ["GLIBCXX_3.4.22", "GLIBCXX_3.4.9", "CXXABI_1.3.11", "CXXABI_1.3.3"]
    ranking = Aggregator(10, 10)._rank(Counter(dict.fromkeys(names, 2)))
    assert [c.key for c in ranking.entries] == [
        "CXXABI_1.3.3",
        "CXXABI_1.3.11",
        "GLIBCXX_3.4.9",
        "GLIBCXX_3.4.22",
    ]
