"""The commands as users run them: a real process, real files, a real HTTP server on loopback."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"


def wheelscan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def make_wheel(directory: Path, tag: str, extra: list[Sym] = ()) -> Path:
    spec = sample_spec("x86_64", interpreter=None)
    elf = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))
    path = directory / f"demo-1.0-cp312-cp312-{tag}.whl"
    path.write_bytes(build_wheel({EXT: elf}))
    return path


@pytest.fixture()
def wheels(tmp_path: Path) -> dict[str, Path]:
    return {
        "good": make_wheel(tmp_path, "manylinux_2_28_x86_64"),
        "over": make_wheel(
            tmp_path,
            "manylinux2014_x86_64",
            [Sym("exp", version="GLIBC_2.29", version_file="libc.so.6")],
        ),
    }


def test_show_text_names_the_symbol_to_blame(wheels: dict[str, Path]) -> None:
    run = wheelscan("show", str(wheels["over"]))
    assert run.returncode == 1, run.stderr
    assert "declared manylinux2014_x86_64: BROKEN" in run.stdout
    assert "consistent with: manylinux_2_29_x86_64" not in run.stdout  # no 2_29 policy
    assert "consistent with: manylinux_2_31_x86_64" in run.stdout
    assert "needs GLIBC_2.29 (exp) in " + EXT in run.stdout


def test_show_exit_zero_when_every_tag_holds(wheels: dict[str, Path]) -> None:
    run = wheelscan("show", str(wheels["good"]))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "under-claim: the content meets manylinux_2_26_x86_64" in run.stdout


def test_show_json_matches_its_schema(wheels: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    broken.write_bytes(wheels["good"].read_bytes()[:-30])
    run = wheelscan("show", "--json", str(wheels["good"]), str(wheels["over"]), str(broken))
    assert run.returncode == 2  # one wheel could not be judged
    document = json.loads(run.stdout)
    schema = json.loads(wheelscan("show", "--json-schema").stdout)
    jsonschema.validate(document, schema)
    good, over, error = document["results"]
    assert good["overall_tag"] == "manylinux_2_26_x86_64" and good["over_claims"] == []
    assert over["over_claims"] == ["manylinux2014_x86_64"]
    assert error["code"] in {"not-zip", "truncated"}


def test_show_keeps_the_order_of_its_wheels_whatever_they_hold(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """Each wheel is read ahead in another thread: records still come in the given order."""
    broken = tmp_path / "broken-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    broken.write_bytes(b"PK not a zip")
    missing = tmp_path / "nope-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    order = [broken, wheels["good"], missing, wheels["over"], broken]
    run = wheelscan("show", "--json", *map(str, order))
    assert run.returncode == 2
    results = json.loads(run.stdout)["results"]
    assert [r.get("code") or r["overall_tag"] for r in results] == [
        "not-zip",
        "manylinux_2_26_x86_64",
        "not-found",
        "manylinux_2_31_x86_64",
        "not-zip",
    ]


def test_missing_file_is_an_error_record(tmp_path: Path) -> None:
    run = wheelscan("show", str(tmp_path / "nope-1.0-py3-none-any.whl"))
    assert run.returncode == 2
    assert "ERROR not-found" in run.stdout


@pytest.fixture()
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_show_a_url(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    path = make_wheel(root, "manylinux_2_17_x86_64")
    run = wheelscan("show", "--json", f"{base}/{path.name}")
    result = json.loads(run.stdout)["results"][0]
    assert result["wheel"] == path.name
    assert result["overall_tag"] == "manylinux_2_26_x86_64"
    assert run.returncode == 1  # declares 2_17, needs GLIBC_2.25
    run = wheelscan("show", f"{base}/missing-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert run.returncode == 2 and "download-failed" in run.stdout


def test_elf_command(tmp_path: Path) -> None:
    path = tmp_path / "mod.so"
    path.write_bytes(build_elf(sample_spec("s390x")))
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"not an elf file")
    run = wheelscan("elf", "--json", str(path), str(junk))
    assert run.returncode == 2
    good, bad = json.loads(run.stdout)["results"]
    assert good["facts"]["machine"] == "S390" and good["facts"]["endianness"] == "BIG"
    assert "libstdc++.so.6" in good["facts"]["needed"]
    assert bad["error"]["code"] == "not-elf"
    text = wheelscan("elf", str(path)).stdout
    assert "S390 ELF64 big-endian" in text


def test_elf_says_what_a_file_it_cannot_read_is(tmp_path: Path, wheels: dict[str, Path]) -> None:
    """A wheel given to ``elf`` was "no ELF magic", and a directory "Is a directory" without
    the code the JSON gives it: a wheel is named as one, with the command that judges it."""
    run = wheelscan("elf", str(wheels["good"]), str(tmp_path))
    assert run.returncode == 2
    lines = run.stdout.splitlines()
    at = lines.index(str(tmp_path))
    assert "error: not-elf: a zip archive (a wheel?), not ELF: `wheelscan show" in " ".join(
        " ".join(lines[:at]).split()
    )
    assert lines[at + 1].strip().startswith("error: io-error: ")


@pytest.mark.parametrize("backend", ["native", "reference"])
def test_version_reports_the_backend(backend: str) -> None:
    import os

    run = wheelscan("--version", env={**os.environ, "WHEELSCAN_ELF_BACKEND": backend})
    assert f"ELF backend: {backend}" in run.stdout


def test_unknown_backend_is_an_error(wheels: dict[str, Path]) -> None:
    import os

    run = wheelscan(
        "show", str(wheels["good"]), env={**os.environ, "WHEELSCAN_ELF_BACKEND": "fast"}
    )
    assert run.returncode != 0 and "choose one of native, reference" in run.stderr


IMPORTED_BY_A_RUN = """
import sys
from wheelscan.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
used = [m for m in ("rich", "urllib.request", "wheelscan.wheel.http") if m in sys.modules]
print("imported:", *used)
"""


def test_a_directory_audit_without_progress_imports_no_terminal_or_http_code(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """Start-up counts for one-off runs: what a run does not use is not imported."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    (directory / wheels["good"].name).write_bytes(wheels["good"].read_bytes())
    args = ["audit", str(directory), "--db", str(tmp_path / "s.db"), "--no-progress"]
    run = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_A_RUN, *args], check=True, capture_output=True, text=True
    )
    assert "0 errors" in run.stdout + run.stderr, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "imported:"
