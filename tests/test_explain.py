"""Explanations that give the answer first (issue #13): versions in version order, every
blocker with its files, "why not" for the next better policy, 80 columns, named numbers.

The commands run in this process through the CLI's own ``main`` (``tests/inprocess.py``),
whose stdout is a pipe as a subprocess's is, over wheels built by ``wheelbuilder`` from ELF
files built by ``elfwriter``; ``package`` asks a real index server on loopback, from a real
process of ``python -m wheelscan`` (one HTTP session per process).
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
from indexserver import IndexServer
from inprocess import wheelscan as in_process
from mirror import build_mirror
from wheelbuilder import build_wheel

EXT = "mod.cpython-312-x86_64-linux-gnu.so"
LIBC = "libc.so.6"
# lxml 6.1.3's versions: text order puts GLIBC_2.14 first and GLIBC_2.7 last
LXML_LIKE = [
    Sym("__isoc99_sscanf", version="GLIBC_2.7", version_file=LIBC),
    Sym("clock_gettime", version="GLIBC_2.17", version_file=LIBC),
]  # with sample_spec's memcpy@GLIBC_2.14 and getrandom@GLIBC_2.25


def wheelscan(*args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """A run in this process, its stdout a pipe; a wide COLUMNS, which a pipe's output must
    not follow."""
    return in_process(*args, env={"PIP_CONFIG_FILE": os.devnull, "COLUMNS": str(columns)})


def wheelscan_process(*args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """As ``wheelscan``, in a subprocess: for a command that asks an index over HTTP."""
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "COLUMNS": str(columns)}
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


def test_text_lists_versions_oldest_first(tmp_path: Path) -> None:
    # in each "why not", as the JSON's blockers and the README say (GLIBC_2.7 before 2.14)
    path = wheel_file(tmp_path, {EXT: ext(LXML_LIKE)}, "manylinux_2_28_x86_64")
    text = wheelscan("show", "--verbose", str(path)).stdout
    section = text.split("why not manylinux_2_12_x86_64")[1].split("why not")[0]
    assert section.index("needs GLIBC_2.14 ") < section.index("needs GLIBC_2.17 "), text


def test_reasons_put_libraries_first_then_the_newest_version_of_each_bucket() -> None:
    from wheelscan.policy.explain import most_telling_first
    from wheelscan.policy.verdict import Blocker

    versions = ["GLIBC_2.2", "GLIBC_2.2.5", "GLIBC_2.14", "CXXABI_1.3.8", "GLIBC_2.7"]
    blockers = [Blocker("symbol-version", v) for v in versions]
    blockers.append(Blocker("external-library", "libz.so.1"))
    assert [b.subject for b in most_telling_first(blockers)] == [
        "libz.so.1",
        "CXXABI_1.3.8",
        "GLIBC_2.14",
        "GLIBC_2.7",
        "GLIBC_2.2.5",
        "GLIBC_2.2",
    ]


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


def test_show_names_the_file_of_an_external_library(tmp_path: Path) -> None:
    path = wheel_file(tmp_path, {EXT: ext(needed=["libodbc.so.2", LIBC])}, "manylinux_2_28_x86_64")
    text = wheelscan("show", str(path)).stdout
    assert f"links libodbc.so.2 (neither whitelisted nor in the wheel) in {EXT}" in flat(text)


# --- the next better policy, and only it by default ---------------------------------------

LONG_NAMES = [
    f"demo/a_rather_long_module_name_number_{n}.cpython-312-x86_64-linux-gnu.so" for n in range(8)
]


def test_a_compliant_wheel_is_explained_by_the_next_better_policy(tmp_path: Path) -> None:
    """pyarrow's defect: every better policy explained, cumulatively, on lines of 797 chars."""
    files = {name: ext(LXML_LIKE) for name in LONG_NAMES}
    path = wheel_file(tmp_path, files, "manylinux_2_26_x86_64")
    run = wheelscan("show", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    why = [line for line in run.stdout.splitlines() if "why not" in line]
    assert why == ["  why not manylinux_2_24_x86_64 (the next better policy):"]
    assert "needs GLIBC_2.25 (getrandom)" in run.stdout
    assert "and 7 more" in run.stdout  # the files, folded to a count
    assert too_long(run.stdout, [path]) == []
    assert len(run.stdout.splitlines()) <= 12


def test_verbose_explains_every_better_policy_each_reason_once(tmp_path: Path) -> None:
    files = {name: ext(LXML_LIKE) for name in LONG_NAMES}
    path = wheel_file(tmp_path, files, "manylinux_2_26_x86_64")
    run = wheelscan("show", "--verbose", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    why = [line.split()[2].rstrip(":") for line in run.stdout.splitlines() if "why not" in line]
    assert why == [f"manylinux_{v}_x86_64" for v in ("2_24", "2_17", "2_12", "2_5")]
    reasons = run.stdout.split("newest symbol versions needed")[0]
    for version in ("GLIBC_2.25", "GLIBC_2.17", "GLIBC_2.14", "GLIBC_2.7"):
        assert reasons.count(f"needs {version} ") == 1, version
    assert all(name in run.stdout for name in LONG_NAMES)  # nothing folded
    assert too_long(run.stdout, [path]) == []


def test_an_over_claim_is_explained_by_the_declared_policy_too(tmp_path: Path) -> None:
    glibc_2_29 = Sym("exp", version="GLIBC_2.29", version_file=LIBC)
    path = wheel_file(tmp_path, {EXT: ext([glibc_2_29])}, "manylinux2014_x86_64")
    run = wheelscan("show", str(path))
    assert run.returncode == 1
    assert "why not manylinux_2_28_x86_64 (the next better policy):" in run.stdout
    assert "why not manylinux_2_17_x86_64 (manylinux2014_x86_64): as above, and" in run.stdout
    assert f"needs GLIBC_2.29 (exp) in {EXT}" in run.stdout


@pytest.fixture()
def index(tmp_path: Path) -> tuple[str, list[Path]]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = [
        wheel_file(wheels, {EXT: ext(LXML_LIKE)}, "manylinux_2_26_x86_64.manylinux_2_28_x86_64"),
        wheel_file(wheels, {EXT: ext(needed=["libodbc.so.2", LIBC])}, "manylinux_2_24_x86_64"),
    ]
    return str(tmp_path / "mirror"), built


def test_package_gives_the_reason_of_the_next_better_policy(
    index: tuple[str, list[Path]],
) -> None:
    root, wheels = index
    mirror = build_mirror(Path(root), wheels)
    with IndexServer(mirror.web) as server:
        run = wheelscan_process(
            "package", "demo", "--index-url", server.index_url, "--workers", "0"
        )
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    lxml_like = lines.index(wheels[0].name)  # the whole name on its own line, never cut
    assert lines[lxml_like + 1 : lxml_like + 3] == [
        "  manylinux_2_26_x86_64; declared tags hold",
        "  not manylinux_2_24_x86_64: needs GLIBC_2.25 (getrandom)",
    ]
    odbc = lines.index(wheels[1].name)
    assert lines[odbc + 1 : odbc + 3] == [
        "  linux_x86_64; BROKEN manylinux_2_24_x86_64",
        "  not manylinux_2_41_x86_64: links libodbc.so.2",
    ]
    assert "…" not in "\n".join(lines[: odbc + 3])


# --- the odd arguments --------------------------------------------------------------------


def test_show_a_directory_says_it_is_one(tmp_path: Path) -> None:
    run = wheelscan("show", str(tmp_path))
    assert run.returncode == 2
    assert "ERROR is-a-directory" in run.stdout
    assert "no such file" not in run.stdout
    assert f"is a directory, not a wheel: `wheelscan audit {tmp_path}`" in flat(run.stdout)


def test_elf_names_its_numbers(tmp_path: Path) -> None:
    arm = tmp_path / "arm.so"
    arm.write_bytes(build_elf(sample_spec("armv7l", interpreter=None, stack_flags=7)))
    exe = tmp_path / "tool"
    exe.write_bytes(build_elf(sample_spec("x86_64", x86_isa_needed=0x1 | 0x4)))
    run = wheelscan("elf", str(arm), str(exe))
    assert run.returncode == 0, run.stderr
    assert "type 3" not in run.stdout
    arm_text, exe_text = flat(run.stdout).split(str(exe))
    assert "shared object (ET_DYN)" in arm_text
    assert "flags 0x5000400 (EABI version 5, hard-float)" in arm_text
    assert "stack: executable (PT_GNU_STACK RWX)" in arm_text
    assert "dynamic flags: BIND_NOW, NOW" in arm_text
    assert "position-independent executable (ET_DYN)" in exe_text
    assert "x86 ISA needed: x86-64-baseline, x86-64-v3" in exe_text
    assert "GLIBC_2.2.5, GLIBC_2.14, GLIBC_2.25" in exe_text  # versions in order
    assert too_long(run.stdout, []) == []


def test_elf_json_names_its_numbers_as_the_text_does(tmp_path: Path) -> None:
    arm = tmp_path / "arm.so"
    arm.write_bytes(build_elf(sample_spec("armv7l", interpreter=None, stack_flags=7)))
    exe = tmp_path / "tool"
    exe.write_bytes(build_elf(sample_spec("x86_64", x86_isa_needed=0x1 | 0x4)))
    run = wheelscan("elf", "--json", str(arm), str(exe))
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["version"] == 2
    arm_facts, exe_facts = (result["facts"] for result in document["results"])
    assert arm_facts["elf_type"] == 3 and arm_facts["stack_flags"] == 7  # the numbers stay
    assert arm_facts["named"] == {
        "elf_type": "shared object (ET_DYN)",
        "osabi": "System V",
        "machine_flags": "EABI version 5, hard-float",
        "dynamic_flags": ["BIND_NOW", "NOW"],
        "stack": "executable (PT_GNU_STACK RWX)",
        "x86_isa_needed": [],
    }
    assert exe_facts["named"]["elf_type"] == "position-independent executable (ET_DYN)"
    assert exe_facts["named"]["x86_isa_needed"] == ["x86-64-baseline", "x86-64-v3"]
    assert exe_facts["named"]["machine_flags"] is None


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


@pytest.mark.parametrize("name", sorted(OWN_OPTIONS))
def test_every_option_is_explained_with_its_default(name: str) -> None:
    parser = _command_parser(name)
    assert parser.description
    for action in parser._actions:
        assert action.help, action.dest
        own = OWN_OPTIONS[name].intersection(action.option_strings)
        if own:
            assert "default" in action.help, (name, action.option_strings)


def test_show_help_gives_the_exit_statuses() -> None:
    run = wheelscan("show", "--help", columns=80)  # argparse wraps to COLUMNS
    assert run.returncode == 0
    assert "--verbose" in run.stdout
    assert "0  every declared tag of every wheel holds" in run.stdout
    assert "1  a declared tag of some wheel is broken" in run.stdout
    assert "2  some wheel could not be judged" in run.stdout
    assert too_long(run.stdout, []) == []
