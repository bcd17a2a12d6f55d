"""``wheelscan platform``: the tags must be exactly what packaging (so pip) accepts here."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging import _manylinux, tags

from wheelscan.cli.platform import configure_parser, run

SRC = Path(__file__).resolve().parents[1] / "src"
ON_GLIBC = _manylinux._get_glibc_version() >= (2, 17)


def _expected_tags() -> list[str]:
    return [t for t in tags.platform_tags() if t.startswith(("manylinux", "musllinux"))]


def _host_arch() -> str:
    """The interpreter's architecture: packaging's first linux_<arch> tag."""
    return next(t for t in tags.platform_tags() if t.startswith("linux_")).removeprefix("linux_")


def _run_json(capsys: pytest.CaptureFixture[str]) -> Any:
    assert run(argparse.Namespace(json=True)) == 0
    return json.loads(capsys.readouterr().out)


def test_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    document = _run_json(capsys)
    assert list(document) == ["version", "libc", "libc_version", "architecture", "platform_tags"]
    assert document["version"] == 1
    assert document["platform_tags"] == _expected_tags()
    if any(t.startswith("linux_") for t in tags.platform_tags()):
        assert document["architecture"] == _host_arch()


@pytest.mark.skipif(not ON_GLIBC, reason="needs a glibc host")
def test_glibc_host(capsys: pytest.CaptureFixture[str]) -> None:
    document = _run_json(capsys)
    major, minor = _manylinux._get_glibc_version()
    assert (document["libc"], document["libc_version"]) == ("glibc", f"{major}.{minor}")
    arch = document["architecture"]
    # preferred first: the running glibc's own tag; most compatible last
    assert document["platform_tags"][0] == f"manylinux_{major}_{minor}_{arch}"
    assert document["platform_tags"][-1].startswith(("manylinux1_", "manylinux2014_"))


def test_readable_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert "libc:" in out and "architecture:" in out
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert listed == _expected_tags()
    if listed:
        assert "most compatible last" in out


def test_configure_parser() -> None:
    parser = argparse.ArgumentParser(prog="wheelscan")
    configure_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["platform", "--json"])
    assert (args.command, args.json, args.func) == ("platform", True, run)
    assert parser.parse_args(["platform"]).json is False


def _json_in_subprocess(tmp_path: Path, manylinux_module: str) -> Any:
    """Run the command where a ``_manylinux`` module (PEP 600's override) is importable."""
    (tmp_path / "_manylinux.py").write_text(manylinux_module)
    code = (
        "import argparse, sys; from wheelscan.cli.platform import run;"
        " sys.exit(run(argparse.Namespace(json=True)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not ON_GLIBC, reason="needs a glibc host")
def test_manylinux_module_can_refuse_every_manylinux_tag(tmp_path: Path) -> None:
    document = _json_in_subprocess(tmp_path, "manylinux_compatible = lambda *a: False\n")
    assert document["libc"] == "glibc"
    assert document["platform_tags"] == []


@pytest.mark.skipif(not ON_GLIBC, reason="needs a glibc host")
def test_manylinux_module_can_refuse_one_glibc(tmp_path: Path) -> None:
    module = "def manylinux_compatible(major, minor, arch):\n    return (major, minor) != (2, 17)\n"
    found = _json_in_subprocess(tmp_path, module)["platform_tags"]
    arch = _host_arch()
    assert f"manylinux_2_17_{arch}" not in found and f"manylinux2014_{arch}" not in found
    assert [t for t in _expected_tags() if "_2_17_" not in t and "2014" not in t] == found


@pytest.mark.skipif(not ON_GLIBC, reason="needs a glibc host")
def test_legacy_manylinux1_compatible_attribute(tmp_path: Path) -> None:
    found = _json_in_subprocess(tmp_path, "manylinux1_compatible = False\n")["platform_tags"]
    arch = _host_arch()
    assert f"manylinux1_{arch}" not in found and f"manylinux_2_5_{arch}" not in found
    assert f"manylinux2014_{arch}" in found
