"""``--strict``: the gate that reads every byte. What the fast path trusts unread, strict
checks; what an installer refuses, strict refuses; what an installer lets through, strict
reports beside the verdict. The commands run in this process through the CLI's own ``main``
(``tests/inprocess.py``), as real ``python -m wheelscan`` processes where they read a real
index on loopback; wheels the tests build, real SQLite files, and ``zipfile`` as the oracle.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from wheelscan.wheel.archive import WheelArchive
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.integrity import check_wheel

from elfwriter import Sym, build_elf, sample_spec
from hostile.cases import CASES
from indexserver import IndexServer
from inprocess import wheelscan as in_process
from mirror import build_mirror

EXT = "demo/_mod.cpython-312-x86_64-linux-gnu.so"
TAG = "cp312-cp312-manylinux_2_28_x86_64"
FILENAME = f"demo-1.0-{TAG}.whl"


def elf(glibc: str | None = None) -> bytes:
    spec = sample_spec("x86_64", interpreter=None)
    extra = [Sym("fresh", version=f"GLIBC_{glibc}", version_file="libc.so.6")] if glibc else []
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))


def record_row(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def strict_wheel(
    files: dict[str, bytes],
    *,
    dist_info: str = "demo-1.0.dist-info",
    tags: tuple[str, ...] = (TAG,),
    unlisted: tuple[str, ...] = (),
    lie: dict[str, bytes] | None = None,
) -> bytes:
    """A wheel as a build backend writes it (WHEEL with its Tag lines, RECORD hashing every
    member), but for ``unlisted`` members left out of RECORD and ``lie``'s members
    recorded with other bytes than they hold."""
    contents = dict(files)
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n"
        + "".join(f"Tag: {t}\n" for t in tags)
    ).encode()
    rows = [
        record_row(path, (lie or {}).get(path, data))
        for path, data in contents.items()
        if path not in unlisted
    ]
    rows.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return out.getvalue()


# never the pip configuration of whoever runs the tests
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull}


def wheelscan(*args: str) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args``, run in this process."""
    return in_process(*args, env=NO_PIP_CONFIG)


def wheelscan_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``wheelscan *args`` in a subprocess: for a command that reads an index over HTTP (the
    HTTP client keeps one session per process)."""
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **NO_PIP_CONFIG},
        timeout=300,
    )


@functools.cache
def show_schema() -> dict[str, Any]:
    return json.loads(wheelscan("show", "--json-schema").stdout)  # type: ignore[no-any-return]


def show(path: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    run = wheelscan("show", "--json", *flags, str(path))
    assert run.returncode in (0, 1, 2), run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, show_schema())  # strict's findings are the schema's too
    return run.returncode, document


def findings(result: dict[str, Any]) -> dict[str, str]:
    return {f["kind"]: f["file"] for f in result.get("findings", [])}


def write(tmp_path: Path, data: bytes, name: str = FILENAME) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_sound_wheel_gets_the_same_verdict_and_no_finding(tmp_path: Path) -> None:
    path = write(tmp_path, strict_wheel({EXT: elf()}))
    fast_status, fast = show(path)
    strict_status, strict = show(path, "--strict")
    assert strict["strict"] is True
    assert (strict_status, strict["results"]) == (fast_status, fast["results"])
    assert findings(strict["results"][0]) == findings(fast["results"][0])
    with WheelArchive.open(path) as archive:
        assert check_wheel(archive, FILENAME) == ()


@pytest.mark.parametrize(
    ("build", "kind", "member"),
    [
        (
            lambda: strict_wheel({EXT: elf(), "demo/data.txt": b"x"}, lie={EXT: b"other"}),
            "record-hash-mismatch",
            EXT,
        ),
        (
            lambda: strict_wheel({EXT: elf(), "demo/extra.so": elf()}, unlisted=("demo/extra.so",)),
            "unrecorded-member",
            "demo/extra.so",
        ),
        (
            lambda: strict_wheel({EXT: elf()}, tags=("cp312-cp312-manylinux_2_5_x86_64",)),
            "wheel-tag-mismatch",
            "demo-1.0.dist-info/WHEEL",
        ),
    ],
    ids=["record-hash", "unrecorded", "wheel-tag"],
)
def test_what_an_installer_lets_through_is_a_finding(
    tmp_path: Path, build: Any, kind: str, member: str
) -> None:
    data = build()
    path = write(tmp_path, data)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # an installer extracts it without a complaint
    _, fast = show(path)
    assert kind not in findings(fast["results"][0])
    _, strict = show(path, "--strict")
    assert findings(strict["results"][0]).get(kind) == member
    assert "overall_tag" in strict["results"][0]  # still judged


def test_a_dist_info_of_another_project_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, strict_wheel({EXT: elf()}, dist_info="other-1.0.dist-info"))
    status, strict = show(path, "--strict")
    assert status == 2
    assert strict["results"][0]["code"] == "dist-info-mismatch"
    # a version that differs only in spelling (1.0 and 1.0.0 are one version) passes
    same = write(tmp_path, strict_wheel({EXT: elf()}, dist_info="Demo-1.0.0.dist-info"), "x.whl")
    with WheelArchive.open(same) as archive:
        check_wheel(archive, FILENAME)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("crc-mismatch-unread-tail", "crc-mismatch"),
        ("size-shorter-unread-tail", "size-mismatch"),
        ("size-longer-unread-tail", "size-mismatch"),
    ],
)
def test_damage_the_fast_path_leaves_unread_is_refused(
    tmp_path: Path, case: str, code: str
) -> None:
    # the catalogue's wheels hold demo-1.0.dist-info: named so that only the damage differs
    path = write(tmp_path, CASES[case].build())
    status, fast = show(path)
    assert "overall_tag" in fast["results"][0]  # the fast path judges it (documented)
    status, strict = show(path, "--strict")
    assert status == 2
    assert strict["results"][0]["code"] == code


def test_an_elf_file_named_like_python_source_is_judged(tmp_path: Path) -> None:
    """An installed ELF file can be loaded whatever its name (ctypes.CDLL): strict
    examines every member. This one needs GLIBC_2.38, in a wheel tagged manylinux_2_28."""
    hidden = "demo/helper.py"
    path = write(tmp_path, strict_wheel({EXT: elf(), hidden: elf("2.38")}))
    status, fast = show(path)
    assert status == 0
    assert hidden not in fast["results"][0]["elf_files"]
    status, strict = show(path, "--strict")
    assert status == 1
    assert hidden in strict["results"][0]["elf_files"]
    assert strict["results"][0]["overall_tag"] == "manylinux_2_38_x86_64"


def test_strict_digests_equal_what_zipfile_extracts(real_wheels: list[Path]) -> None:
    """On the real wheels, strict reads every member and finds what RECORD says, as
    ``zipfile`` extracts it: no record-hash or size problem on any wheel a backend built."""
    for path in real_wheels[::3]:
        with WheelArchive.open(path) as archive:
            problems = check_wheel(archive, path.name)
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
        assert not [p for p in problems if p.code.startswith("record-")], path.name


def test_facts_are_marked_strict_and_strict_runs_read_fast_facts_again(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write(wheels, strict_wheel({EXT: elf()}))
    db = tmp_path / "s.db"

    def audit(*flags: str) -> str:
        run = wheelscan("audit", str(wheels), "--db", str(db), "--workers", "0", *flags)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    def strict_column() -> list[int]:
        with sqlite3.connect(db) as connection:
            return [row[0] for row in connection.execute("SELECT strict FROM wheels")]

    assert "1 audited" in audit()
    assert strict_column() == [0]
    assert "1 audited" in audit("--strict")  # a fast reading does not satisfy a gate
    assert strict_column() == [1]
    assert "1 known skipped" in audit("--strict")
    assert "1 known skipped" in audit()  # and a strict reading serves a fast run
    with WheelArchive.open(next(wheels.iterdir())) as archive:
        assert read_wheel_facts(archive, FILENAME, strict=True).strict


def test_a_finding_of_strict_fails_a_gate_that_asks(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write(wheels, strict_wheel({EXT: elf()}, lie={EXT: b"other"}))
    db = str(tmp_path / "s.db")
    args = ("audit", str(wheels), "--db", db, "--workers", "0", "--strict")
    assert wheelscan(*args).returncode == 0
    assert wheelscan(*args, "--fail-on", "finding").returncode == 1


def test_a_file_that_is_not_the_index_s_is_refused(tmp_path: Path) -> None:
    """The index lists a sha256; the file served has other bytes (a mirror tampered with
    after it was indexed). pip refuses it; the fast path takes the index at its word."""
    source = tmp_path / "src"
    source.mkdir()
    path = write(source, strict_wheel({EXT: elf()}))
    mirror = build_mirror(tmp_path / "mirror", [path])
    served = next((mirror.web / "packages").rglob(FILENAME))
    served.write_bytes(strict_wheel({EXT: elf("2.38")}))
    with IndexServer(mirror.web) as index:
        fast = wheelscan_process(
            "audit", index.index_url, "--db", str(tmp_path / "f.db"), "--workers", "0"
        )
        db = tmp_path / "s.db"
        strict = wheelscan_process(
            "audit", index.index_url, "--db", str(db), "--workers", "0", "--strict"
        )
    assert fast.returncode == 1  # judged from the other bytes, GLIBC_2.38 over-claims
    assert strict.returncode == 1, strict.stdout + strict.stderr  # an error fails the gate
    with sqlite3.connect(db) as connection:
        # a record of the run, not of the index's hash: those bytes are not the hash's, and an
        # honest file under it later must be read, not inherit this error
        assert connection.execute("SELECT count(*) FROM wheels").fetchone() == (0,)
        codes = [row[0] for row in connection.execute("SELECT error_code FROM run_failures")]
    assert codes == ["sha256-mismatch"]


def test_a_version_1_store_is_migrated(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write(wheels, strict_wheel({EXT: elf()}))
    db = tmp_path / "old.db"
    assert wheelscan("audit", str(wheels), "--db", str(db), "--workers", "0").returncode == 0
    with sqlite3.connect(db) as connection:  # as the store was before the strict column
        connection.execute("ALTER TABLE wheels DROP COLUMN strict")
        connection.execute("ALTER TABLE verdicts DROP COLUMN abi3")  # schema 3's, issue #17
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    report = wheelscan("report", "--db", str(db), "--format", "json")  # reads, converts nothing
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["wheels"] == 1
    with sqlite3.connect(db) as connection:
        assert connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() == ("1",)
    run = wheelscan("audit", str(wheels), "--db", str(db), "--workers", "0", "--strict")
    assert run.returncode == 0, run.stderr
    assert "1 audited" in run.stdout
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT strict FROM wheels").fetchall() == [(1,)]
        assert connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone() == ("3",)
