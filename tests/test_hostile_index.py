"""A hostile index on 127.0.0.1, met by real ``wheelscan`` processes (issue #15).

Each test is a way an index or a file server can lie or stall: a terabyte announced, a byte a
second, a page in an encoding nobody asked for, a link to the auditor's own disk, one sha256
for two files, a token in the URL. Each must cost at most the wheels it concerns, each as
an error record with a stable code, or fail the run loudly: never a traceback, never a hang,
never a run that says "finished" while it is short.
"""

from __future__ import annotations

import hashlib
import html
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from wheelscan.cli.report import FORMATS

from elfwriter import build_elf, sample_spec
from hostile.faultserver import FaultServer
from wheelbuilder import build_wheel

DEMO = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
TWIN = "twin-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
PAGE = "/simple/demo/"
# a bound on each process, not a measurement: on the main branch these runs never end
BOUND = 120


def wheel(name: str = "demo") -> bytes:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    return build_wheel({f"{name}/_mod.cpython-312-x86_64-linux-gnu.so": elf}, name=name)


def page(*links: tuple[str, str]) -> bytes:
    anchors = "".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>\n' for h, t in links)
    return f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n".encode()


def wheelscan(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )


@pytest.fixture
def server() -> Iterator[FaultServer]:
    data = wheel()
    files = {
        f"/packages/{DEMO}": data,
        "/simple/": page(("demo/", "demo")),
        PAGE: page((f"/packages/{DEMO}#sha256={hashlib.sha256(data).hexdigest()}", DEMO)),
    }
    types = {"/simple/": "text/html", PAGE: "text/html"}
    with FaultServer(files, types=types, trickle_interval=1.0) as running:
        yield running


def audit(server: FaultServer, tmp_path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "store.sqlite"
    return wheelscan("audit", server.url("/simple/"), "--db", str(db), "--workers", "1",
                     *more, cwd=tmp_path)  # fmt: skip


def store_rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        return db.execute(query).fetchall()


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("wheelscan")]
    assert any(line.startswith(f"wheelscan {command}: ") for line in lines), result.stderr


# --- Content-Length: 1 TB


def test_show_refuses_a_body_announcing_a_terabyte(server: FaultServer, tmp_path: Path) -> None:
    """http.client allocated the declared length: MemoryError, a traceback, exit 1."""
    server.always[f"/packages/{DEMO}"] = "huge-length"
    result = wheelscan("show", "--json", server.url(f"/packages/{DEMO}"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert '"download-failed"' in result.stdout
    assert "more than the" in result.stdout


def test_the_index_listing_refuses_a_page_announcing_a_terabyte(
    server: FaultServer, tmp_path: Path
) -> None:
    server.always[PAGE] = "huge-length"
    result = audit(server, tmp_path)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "more than the" in result.stderr
    assert store_rows(tmp_path, "SELECT status FROM runs") == [("failed",)]


def test_a_page_that_fails_costs_only_its_project(server: FaultServer, tmp_path: Path) -> None:
    """One unreadable project page failed the whole listing: no other project audited."""
    twin = wheel("twin")
    sha256 = hashlib.sha256(twin).hexdigest()
    list_demo_and_twin(server, twin, f"/packages/{TWIN}#sha256={sha256}")
    server.always[PAGE] = "huge-length"
    assert_only_demo_failed(audit(server, tmp_path), tmp_path)


def test_the_one_project_asked_for_failing_is_not_said_to_have_others(
    server: FaultServer, tmp_path: Path
) -> None:
    """``--project demo`` whose page failed said "every other project was listed and
    audited": there was none; the error names the page, and says no more."""
    list_demo_and_twin(server, wheel("twin"), f"/packages/{TWIN}")
    server.always[PAGE] = "huge-length"
    result = audit(server, tmp_path, "--project", "demo")
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "/simple/demo/" in result.stderr and "every other project" not in result.stderr


@pytest.mark.parametrize("url", ["http://[::1/simple/", "http://u:secret@host:99999/simple/"])
def test_an_index_url_that_does_not_parse_is_refused_before_a_store_is_made(
    url: str, tmp_path: Path
) -> None:
    """``audit http://[::1`` opened the store, recorded a run, and only then failed its
    first request: refused at once, in one line, with nothing written and no secret shown."""
    db = tmp_path / "store.sqlite"
    result = wheelscan("audit", url, "--db", str(db), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "not a valid URL" in result.stderr and "secret" not in result.stderr
    assert not db.exists()


def list_demo_and_twin(server: FaultServer, twin: bytes, link: str) -> None:
    """An index of two projects: demo (its page the test's to break) and twin."""
    server.files[f"/packages/{TWIN}"] = twin
    server.files["/simple/"] = page(("demo/", "demo"), ("twin/", "twin"))
    server.files["/simple/twin/"] = page((link, TWIN))
    server.types["/simple/twin/"] = "text/html"


def assert_only_demo_failed(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    """demo's page cost only its project: twin audited, the run failed naming the page."""
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "/simple/demo/" in result.stderr and "every other project was listed" in result.stderr
    assert store_rows(tmp_path, "SELECT filename, facts IS NOT NULL FROM wheels") == [(TWIN, 1)]
    assert store_rows(tmp_path, "SELECT status, audited FROM runs") == [("failed", 1)]


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/", "http://[::1/"])
def test_a_redirect_to_what_is_no_url_costs_only_its_project(
    location: str, server: FaultServer, tmp_path: Path
) -> None:
    """The client's ValueError (a port past 65535, a bracket left open) was no HttpError:
    the listing stopped at the page, and no other project was audited."""
    list_demo_and_twin(server, wheel("twin"), f"/packages/{TWIN}")
    server.redirects[PAGE] = location
    assert_only_demo_failed(audit(server, tmp_path), tmp_path)


def test_a_page_that_fails_before_the_limit_fails_the_run(
    server: FaultServer, tmp_path: Path
) -> None:
    """With --limit the listing stops early, before its end where a failed page is said:
    the run ended "finished" without the failed project's wheels."""
    server.files["/simple/"] = page(("demo/", "demo"), ("twin/", "twin"), ("zed/", "zed"))
    for name in ("twin", "zed"):
        data = wheel(name)
        filename = f"{name}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        server.files[f"/packages/{filename}"] = data
        server.files[f"/simple/{name}/"] = page((f"/packages/{filename}", filename))
        server.types[f"/simple/{name}/"] = "text/html"
    server.always[PAGE] = "huge-length"
    result = audit(server, tmp_path, "--limit", "1")
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "/simple/demo/" in result.stderr
    assert store_rows(tmp_path, "SELECT status, audited FROM runs") == [("failed", 1)]


# --- a byte a second


@pytest.mark.parametrize("fault", ["trickle", "trickle-headers"])
def test_show_gives_up_on_a_trickling_server(
    fault: str, server: FaultServer, tmp_path: Path
) -> None:
    """A timeout per socket read never fires while a byte comes each second."""
    server.always[f"/packages/{DEMO}"] = fault
    url = server.url(f"/packages/{DEMO}")
    result = wheelscan("show", "--json", "--timeout", "2", url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert '"download-failed"' in result.stdout
    assert "no complete answer" in result.stdout


@pytest.mark.parametrize("path", ["/simple/", PAGE])
def test_the_index_listing_gives_up_on_a_trickling_page(
    path: str, server: FaultServer, tmp_path: Path
) -> None:
    server.always[path] = "trickle"
    result = audit(server, tmp_path, "--timeout", "2")
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "no complete answer" in result.stderr
    assert store_rows(tmp_path, "SELECT status FROM runs") == [("failed",)]


# --- encodings


def test_a_gzip_encoded_page_is_decoded(server: FaultServer, tmp_path: Path) -> None:
    """The page's bytes were parsed as HTML while gzip: 0 wheels, and "finished"."""
    server.always[PAGE] = "gzip"
    result = audit(server, tmp_path)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert store_rows(tmp_path, "SELECT filename, facts IS NOT NULL FROM wheels") == [(DEMO, 1)]
    assert store_rows(tmp_path, "SELECT status, audited FROM runs") == [("finished", 1)]


def test_a_page_in_an_encoding_not_understood_fails_the_run(
    server: FaultServer, tmp_path: Path
) -> None:
    server.always[PAGE] = "brotli"
    result = audit(server, tmp_path)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "audit")
    assert "Content-Encoding 'br'" in result.stderr
    assert store_rows(tmp_path, "SELECT status FROM runs") == [("failed",)]


# --- links off the index


def test_a_file_link_is_refused_not_opened(server: FaultServer, tmp_path: Path) -> None:
    """A ``file:`` link was opened as a path on the auditor's own disk, and judged."""
    local = tmp_path / "secret" / TWIN
    local.parent.mkdir()
    local.write_bytes(wheel("twin"))
    server.files[PAGE] = page(
        (f"/packages/{DEMO}", DEMO), (local.as_uri(), TWIN), (f"file:secret/{TWIN}", TWIN)
    )
    result = audit(server, tmp_path)
    assert store_rows(tmp_path, "SELECT filename FROM wheels") == [(DEMO,)]
    failures = store_rows(tmp_path, "SELECT location, error_code FROM run_failures")
    assert sorted(failures) == [
        (local.as_uri(), "refused-link"),
        (f"file:secret/{TWIN}", "refused-link"),
    ]
    assert result.returncode == 1, result.stderr  # the run's errors gate CI


def test_a_link_urllib_cannot_parse_is_the_wheel_s_error_not_a_traceback(
    server: FaultServer, tmp_path: Path
) -> None:
    """``http://[::1/...`` (a bracket never closed) or a port out of range ended the listing
    in a ValueError traceback: the run and every other wheel with it."""
    unclosed, far_port = "http://[::1/twin-1.0-py3-none-any.whl", f"http://127.0.0.1:99999/{TWIN}"
    server.files[PAGE] = page((f"/packages/{DEMO}", DEMO), (unclosed, TWIN), (far_port, TWIN))
    result = audit(server, tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert store_rows(tmp_path, "SELECT filename FROM wheels") == [(DEMO,)]
    failures = store_rows(tmp_path, "SELECT location, error_code FROM run_failures")
    assert sorted(failures) == [(far_port, "refused-link"), (unclosed, "refused-link")]
    assert result.returncode == 1, result.stderr  # the run's errors gate CI


# --- a page that gives no size


def test_a_wheel_its_page_gives_no_size_is_stored_with_the_size_read(
    server: FaultServer, tmp_path: Path
) -> None:
    """A PEP 503 page gives no size: the wheel's row held none, though its bytes were all
    fetched (no hash on the page to key it by), and reports counted it of unknown size."""
    server.files[PAGE] = page((f"/packages/{DEMO}", DEMO))
    audit(server, tmp_path)
    size = len(server.files[f"/packages/{DEMO}"])
    assert store_rows(tmp_path, "SELECT filename, size FROM wheels") == [(DEMO, size)]


def test_package_counts_the_size_the_server_named(server: FaultServer, tmp_path: Path) -> None:
    """``package`` over a PEP 503 index (a hash, no size) said "size unknown" of it all."""
    index = server.url("/simple/")
    result = wheelscan("package", "demo", "--index-url", index, "--json", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    totals = json.loads(result.stdout)["statistics"]["totals"]
    assert (totals["bytes"], totals["unsized"]) == (len(server.files[f"/packages/{DEMO}"]), 0)


# --- the index's sha256


def test_one_sha256_for_two_files_is_a_conflict(server: FaultServer, tmp_path: Path) -> None:
    """The second file was counted "known" and never audited nor shown."""
    twin = wheel("twin")
    server.files[f"/packages/{TWIN}"] = twin
    claimed = hashlib.sha256(server.files[f"/packages/{DEMO}"]).hexdigest()
    server.files[PAGE] = page(
        (f"/packages/{DEMO}#sha256={claimed}", DEMO), (f"/packages/{TWIN}#sha256={claimed}", TWIN)
    )
    audit(server, tmp_path)
    assert store_rows(tmp_path, "SELECT filename, sha256 FROM wheels") == [(DEMO, claimed)]
    failures = store_rows(tmp_path, "SELECT filename, error_code, error_reason FROM run_failures")
    assert [(f, c) for f, c, _ in failures] == [(TWIN, "sha256-conflict")]
    assert DEMO in str(failures[0][2])
    # a later run meets the same lie: reported again, and the first file's verdict untouched
    audit(server, tmp_path)
    failures = store_rows(tmp_path, "SELECT run_id, error_code FROM run_failures")
    assert sorted(failures) == [(1, "sha256-conflict"), (2, "sha256-conflict")]
    assert store_rows(tmp_path, "SELECT filename FROM wheels") == [(DEMO,)]


def test_bytes_read_whole_are_checked_against_the_index_sha256(
    server: FaultServer, tmp_path: Path
) -> None:
    """A small wheel comes whole with its tail: its bytes must be the ones the page names."""
    wrong = hashlib.sha256(b"another file").hexdigest()
    server.files[PAGE] = page((f"/packages/{DEMO}#sha256={wrong}", DEMO))
    audit(server, tmp_path)
    assert store_rows(tmp_path, "SELECT count(*) FROM wheels") == [(0,)]  # nothing keyed by it
    failures = store_rows(tmp_path, "SELECT filename, error_code FROM run_failures")
    assert failures == [(DEMO, "sha256-mismatch")]


# --- credentials


def test_no_report_nor_message_shows_the_token(server: FaultServer, tmp_path: Path) -> None:
    """One wheel judged, one that never arrives: the token must appear in no output at all."""
    secret = "s3cr3t-t0ken"
    server.credentials = f"user:{secret}"
    server.always[f"/packages/{TWIN}"] = "reset"
    server.files[f"/packages/{TWIN}"] = wheel("twin")
    server.files[PAGE] = page((f"/packages/{DEMO}", DEMO), (f"/packages/{TWIN}", TWIN))
    index = server.url("/simple/").replace("http://", f"http://user:{secret}@")
    db = tmp_path / "store.sqlite"
    outputs = [wheelscan("audit", index, "--db", str(db), "--workers", "1", cwd=tmp_path)]
    shown = wheelscan("show", index.replace("/simple/", f"/packages/{TWIN}"), cwd=tmp_path)
    outputs.append(shown)
    assert shown.returncode == 2, shown.stderr
    texts = [o.stdout + o.stderr for o in outputs]
    for format in FORMATS:
        out = tmp_path / f"report.{format}"
        result = wheelscan("report", "--db", str(db), "--format", format, "--output", str(out),
                           cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        data = out.read_bytes()
        if format == "jsonl.zst":
            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        texts += [result.stdout + result.stderr, data.decode()]
    assert any(TWIN in text for text in texts[2:])  # the reports do show the failed wheel
    for text in texts:
        assert secret not in text
    assert secret.encode() not in db.read_bytes()
