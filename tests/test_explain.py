"""Explanations that give the answer first (issue #13): versions in version order, every
blocker with its files, "why not" for the next better policy, 80 columns, named numbers.

Real processes of ``python -m wheelscan`` over wheels built by ``wheelbuilder`` from ELF files
built by ``elfwriter``; ``package`` asks a real index server on loopback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import Verdict

from elfwriter import Sym, build_elf, sample_spec
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"
LIBC = "libc.so.6"
# lxml 6.1.3's versions: text order puts GLIBC_2.14 first and GLIBC_2.7 last
LXML_LIKE = [
    Sym("__isoc99_sscanf", version="GLIBC_2.7", version_file=LIBC),
    Sym("clock_gettime", version="GLIBC_2.17", version_file=LIBC),
]  # with sample_spec's memcpy@GLIBC_2.14 and getrandom@GLIBC_2.25


def wheelscan(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "wheelscan", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def ext(extra: list[Sym] = (), **overrides: object) -> bytes:
    spec = sample_spec("x86_64", interpreter=None, **overrides)
    return build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *extra]))


def wheel_file(directory: Path, files: dict[str, bytes], tag: str) -> Path:
    path = directory / f"demo-1.0-cp312-cp312-{tag}.whl"
    path.write_bytes(build_wheel(files))
    return path


def judge(files: dict[str, bytes], tag: str = "manylinux_2_17_x86_64") -> Verdict:
    result = audit(build_wheel(files), f"demo-1.0-cp312-cp312-{tag}.whl")
    assert isinstance(result, Verdict), result
    return result


def flat(text: str) -> str:
    """Text with its lines joined: what it says, however it was wrapped."""
    return " ".join(text.split())


def too_long(text: str, wheels: list[Path]) -> list[str]:
    """Lines over 80 columns, but for a wheel's own name or a file name alone on its line
    (a name is never cut)."""
    names = {p.name for p in wheels}
    return [
        line
        for line in text.splitlines()
        if len(line) > 80 and line not in names and " " in line.strip()
    ]


# --- versions as versions -----------------------------------------------------------------


def test_versions_are_listed_in_version_order(tmp_path: Path) -> None:
    path = wheel_file(tmp_path, {EXT: ext(LXML_LIKE)}, "manylinux_2_28_x86_64")
    document = json.loads(wheelscan("show", "--json", str(path)).stdout)
    (verdict,) = document["results"]
    glibc = [v for v in verdict["versioned_symbols"][LIBC] if v.startswith("GLIBC_")]
    assert glibc == ["GLIBC_2.2.5", "GLIBC_2.7", "GLIBC_2.14", "GLIBC_2.17", "GLIBC_2.25"]
    why_not_2_5 = next(u for u in verdict["upgrades"] if u["policy"] == "manylinux_2_5_x86_64")
    subjects = [b["subject"] for b in why_not_2_5["blockers"] if b["subject"].startswith("GLIBC_")]
    assert subjects == ["GLIBC_2.7", "GLIBC_2.14", "GLIBC_2.17", "GLIBC_2.25"]


# --- every blocker names its files --------------------------------------------------------


def test_an_external_library_names_the_file_that_links_it() -> None:
    vendored = build_elf(
        dataclasses.replace(
            sample_spec("x86_64", interpreter=None),
            soname="libfoo.so.1",
            needed=["libbar.so.2", LIBC],
            runpath=None,
            symbols=[],
        )
    )
    v = judge(
        {
            EXT: ext(needed=["libfoo.so.1", "libzzz.so.3", LIBC], runpath="$ORIGIN/demo.libs"),
            "demo.libs/libfoo.so.1": vendored,
        }
    )
    assert v.overall_tag == "linux_x86_64"
    blame = {
        b.subject: b.files for c in v.upgrades for b in c.blockers if b.kind == "external-library"
    }
    assert blame == {"libbar.so.2": ("demo.libs/libfoo.so.1",), "libzzz.so.3": (EXT,)}


def test_blacklisted_and_pyfpe_blockers_name_their_files() -> None:
    v = judge({EXT: ext([Sym("zcalloc"), Sym("PyFPE_jbuf")], needed=["libz.so.1", LIBC])})
    kinds = {b.kind: b for check in v.upgrades for b in check.blockers}
    assert kinds["blacklisted-symbol"].files == (EXT,)
    assert kinds["blacklisted-symbol"].symbols == ("zcalloc",)
    assert kinds["pyfpe"].files == (EXT,)


# --- the next better policy, and only it by default ---------------------------------------

LONG_NAMES = [
    f"demo/a_rather_long_module_name_number_{n}.cpython-312-x86_64-linux-gnu.so" for n in range(8)
]


@pytest.fixture()
def index(tmp_path: Path) -> tuple[str, list[Path]]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = [
        wheel_file(wheels, {EXT: ext(LXML_LIKE)}, "manylinux_2_26_x86_64.manylinux_2_28_x86_64"),
        wheel_file(wheels, {EXT: ext(needed=["libodbc.so.2", LIBC])}, "manylinux_2_24_x86_64"),
    ]
    return str(tmp_path / "mirror"), built


# --- the odd arguments --------------------------------------------------------------------


def test_show_a_directory_says_it_is_one(tmp_path: Path) -> None:
    run = wheelscan("show", str(tmp_path))
    assert run.returncode == 2
    assert "ERROR is-a-directory" in run.stdout
    assert "no such file" not in run.stdout
    assert f"is a directory, not a wheel: `wheelscan audit {tmp_path}`" in flat(run.stdout)


# --- help ---------------------------------------------------------------------------------


def _command_parser(name: str) -> argparse.ArgumentParser:
    from wheelscan.cli.main import build_parser

    commands = next(
        a for a in build_parser([name])._actions if isinstance(a, argparse._SubParsersAction)
    )
    return commands.choices[name]  # type: ignore[no-any-return]


# options defined by the command itself (--policy-file and the engine's are shared)
OWN_OPTIONS = {
    "show": {"--verbose", "--json", "--policy-file", "--musl-policy"},
    "package": {"--index-url", "--version", "--arch", "--json"},
    "elf": {"--json"},
}
