"""Where ``wheelscan report -o`` writes: a regular file replaced whole, anything else the
name stands for (a symbolic link, a FIFO) kept and written through, ``-o -`` standard output
for every format.

The store is written by the real ``wheelscan audit``; the reports are the real command's,
run in this process (``tests/inprocess.py``), or in a subprocess where the bytes on its
stdout are what is checked (jsonl.zst is binary).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from elfwriter import build_elf, sample_spec
from inprocess import wheelscan
from stores import audited_store, copy_store
from wheelbuilder import build_wheel


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of two wheels: one judged, one that is not a zip (copied per test)."""
    root = tmp_path_factory.mktemp("audited")
    wheels = root / "wheels"
    wheels.mkdir()
    so = build_elf(sample_spec("x86_64", interpreter=None))
    (wheels / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(
        build_wheel({"demo/mod.so": so})
    )
    (wheels / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"not a zip")
    return audited_store(wheels, root / "s.db")


@pytest.fixture
def db(audited: Path, tmp_path: Path) -> Path:
    return copy_store(audited, tmp_path / "store")


def export_lines(data: bytes) -> list[dict[str, object]]:
    text = zstandard.ZstdDecompressor().stream_reader(data).read().decode()
    return [json.loads(line) for line in text.splitlines()]


def export(db: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return wheelscan("report", "--db", db, "--format", "jsonl.zst", "-o", output)


def test_an_export_replaces_a_regular_file_whole(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl.zst"
    out.write_bytes(b"an older export")
    out.chmod(0o640)
    done = export(db, out)
    assert done.returncode == 0, done.stderr
    assert len(export_lines(out.read_bytes())) == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # the content replaced, not the mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl.zst", "store"]


def test_an_export_through_a_symlink_writes_its_target(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "exports" / "latest.jsonl.zst"
    target.parent.mkdir()
    target.write_bytes(b"")
    link = tmp_path / "out.jsonl.zst"
    link.symlink_to(target)
    done = export(db, link)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.readlink() == target
    assert len(export_lines(target.read_bytes())) == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["latest.jsonl.zst"]


def test_an_export_through_a_dangling_symlink_creates_its_target(db: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.jsonl.zst"
    link.symlink_to(tmp_path / "new.jsonl.zst")
    assert export(db, link).returncode == 0
    assert link.is_symlink()
    assert len(export_lines((tmp_path / "new.jsonl.zst").read_bytes())) == 2


def test_an_export_into_a_fifo_is_read_from_it(db: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # the reader at the other end, as `zstdcat out.fifo` would be: open before the export
    # (non-blocking: no writer yet), read after it (the export is far below a pipe's 64 KiB)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        done = export(db, fifo)
        received = b"".join(iter(lambda: os.read(reader, 65536), b""))
    finally:
        os.close(reader)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not a regular file
    assert len(export_lines(received)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo", "store"]


def test_an_export_to_dash_is_stdout(db: Path, tmp_path: Path) -> None:
    # a subprocess: the stream is binary, and the bytes on stdout are the point
    command = ["report", "--db", db, "--format", "jsonl.zst", "-o", "-"]
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", *command],
        check=False,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(export_lines(done.stdout)) == 2
    assert done.stderr.decode() == "wheelscan report: 2 results written to stdout\n"
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("form", ["json", "markdown", "sarif", "terminal"])
def test_dash_is_stdout_for_every_format(db: Path, tmp_path: Path, form: str) -> None:
    done = wheelscan("report", "--db", db, "--format", form, "-o", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plain = wheelscan("report", "--db", db, "--format", form).stdout
    # the terminal's "generated" time is to the second: two runs may straddle one
    assert _untimed(done.stdout) == _untimed(plain) != ""
    assert not (tmp_path / "-").exists()


def _untimed(report: str) -> str:
    return re.sub(r"generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ ]*", "generated TIME", report)


def test_a_planted_link_in_the_exports_directory_is_not_followed(db: Path, tmp_path: Path) -> None:
    """The export is written beside its file under a name made afresh: a fixed ``.partial``
    name followed a link someone planted there, wrote the file it named and renamed the
    link over the export."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "out.zst.partial").symlink_to(victim)
    done = export(db, tmp_path / "out.zst")
    assert done.returncode == 0, done.stderr
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "out.zst").is_symlink()
    assert len(export_lines((tmp_path / "out.zst").read_bytes())) == 2


@pytest.mark.parametrize("form", ["json", "html", "terminal"])
def test_every_format_replaces_its_file_never_writes_into_it(
    db: Path, tmp_path: Path, form: str
) -> None:
    """A report written into the old file truncated it first: a full disk left a torn one
    where the old stood. It replaces it whole, as jsonl.zst's: the old file's other name
    still holds the old report."""
    out, other_name = tmp_path / "report.out", tmp_path / "old"
    out.write_text("old report")
    os.link(out, other_name)
    done = wheelscan("report", "--db", db, "--format", form, "-o", out)
    assert done.returncode == 0, done.stderr
    assert other_name.read_text() == "old report"
    assert out.read_text() != "old report" and out.read_text().strip()


def test_an_output_naming_the_store_is_refused(db: Path) -> None:
    before = db.read_bytes()
    done = wheelscan("report", "--db", db, "--format", "jsonl.zst", "-o", db)
    assert done.returncode == 2
    assert "is the store itself" in done.stderr
    assert db.read_bytes() == before


def _as_a_user() -> list[str]:
    """What runs a command with a user's file permissions: as root, without the capability
    to override them (``setpriv``); as a user, nothing."""
    if os.geteuid() != 0:
        return []
    found = shutil.which("setpriv")
    if found is None:
        pytest.skip("root without setpriv: permissions cannot be made to hold")
    return [found, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_a_writable_report_in_a_read_only_directory_is_written_in_place(
    db: Path, tmp_path: Path
) -> None:
    # no new name beside it: written into, as a shell's ``>`` would (it was, before the
    # file was made beside its target; then the report failed)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    out = shelf / "report.json"
    out.write_text("old report")
    out.chmod(0o666)
    shelf.chmod(0o555)
    try:
        command = ["-m", "wheelscan", "report", "--db", str(db), "--format", "json", "-o"]
        done = subprocess.run(
            [*_as_a_user(), sys.executable, *command, str(out)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        shelf.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())
    assert sorted(p.name for p in shelf.iterdir()) == ["report.json"]


def test_a_replaced_report_keeps_its_owner(db: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root gives a file to another owner")
    out = tmp_path / "report.json"
    out.write_text("old report")
    os.chown(out, 65534, 65534)
    out.chmod(0o640)
    done = wheelscan("report", "--db", db, "--format", "json", "-o", out)
    assert done.returncode == 0, done.stderr
    found = out.stat()
    assert (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (65534, 65534, 0o640)


REPORT_FORMATS = ("terminal", "json", "markdown", "html", "sarif", "junit", "jsonl.zst")


@pytest.mark.parametrize("form", REPORT_FORMATS)
def test_an_output_that_cannot_be_written_is_said_alike_for_every_format(
    db: Path, tmp_path: Path, form: str
) -> None:
    # jsonl.zst's was a StoreError of its own (export-failed) with a hint the others lack:
    # one failure, one code (output-unwritable) and one line
    out = tmp_path / "no-such-directory" / "report.out"
    done = subprocess.run(
        [sys.executable, "-m", "wheelscan", "report", "--db", db, "--format", form, "-o", out],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"wheelscan report: cannot write the output: {out}: No such file or directory\n"
    )


def test_the_store_s_export_that_cannot_be_written_is_an_output_error(
    db: Path, tmp_path: Path
) -> None:
    from wheelscan.errors import CommandErrorCode, OutputError
    from wheelscan.store import Store, StoreError

    with Store.open(db, read_only=True) as store, pytest.raises(OutputError) as raised:
        store.export_jsonl_zst(tmp_path / "no-such-directory" / "export.jsonl.zst")
    assert raised.value.code is CommandErrorCode.OUTPUT_UNWRITABLE
    # a StoreError too, as before it was an OutputError: what a program caught, it catches
    assert isinstance(raised.value, StoreError)
    assert str(raised.value).endswith("export.jsonl.zst: No such file or directory")
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)
