"""What a command imports before its work starts (issue #15: ``show`` on one wheel is a
whole process, start-up included; the tests spawn hundreds of CLI processes too).

``wheelscan --version`` ends in the argument parser: no logging, no ELF records. The
records of ``wheelscan.model`` name the sources and the verdicts only in annotations:
reading a wheel loads neither packaging's tags nor the policy code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wheelscan.cli.main import COMMANDS

from elfwriter import build_elf, sample_spec
from importtime import imported
from wheelbuilder import build_wheel


def test_version_imports_no_logging_nor_records() -> None:
    names = imported("-m", "wheelscan", "--version")
    assert "wheelscan.cli.main" in names
    # the ELF records (dataclasses, and with them inspect) come with the backend's parser
    assert not {"logging", "dataclasses", "wheelscan.elf"} & names


def test_reading_a_wheel_loads_neither_packaging_nor_the_policies() -> None:
    names = imported("-c", "import wheelscan.wheel.contents")
    assert "wheelscan.model" in names
    assert not {n for n in names if n.startswith(("packaging", "wheelscan.policy"))}
    assert "wheelscan.sources.base" not in names
    # nor a strict reading's checks, nor a batch's cache of facts
    assert not {"wheelscan.wheel.integrity", "wheelscan.wheel.dedupe"} & names


def test_help_lists_every_command_and_imports_none() -> None:
    names = imported("-m", "wheelscan", "--help")
    # each command's module pulls in its stack (the store, the engine, rich): the list of
    # commands is a table of their one-line summaries
    assert not {n for n in names if n.startswith("wheelscan.cli.") and n[14:] in COMMANDS}
    assert not {"wheelscan.store", "wheelscan.engine", "rich"} & names
    listing = subprocess.run(
        [sys.executable, "-m", "wheelscan", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # "    show      judge ...": a command's line (a long summary wraps deeper)
    listed = re.findall(r"^    (\S+)", listing, re.MULTILINE)
    assert listed == list(COMMANDS)
    assert "    show      judge wheels and explain the verdict" in listing


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    wheel = build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))})
    (directory / "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(wheel)
    return directory


def test_an_audit_without_a_terminal_does_not_import_rich(wheels: Path, tmp_path: Path) -> None:
    # stderr is a pipe here, as under a test or cron: no progress line to draw
    store = str(tmp_path / "s.db")
    names = imported("-m", "wheelscan", "audit", str(wheels), "--fail-on", "none", "--db", store)
    assert "wheelscan.cli.progress" in names
    assert "rich" not in names


def test_a_report_reads_no_wheel_and_judges_in_no_process(wheels: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    imported("-m", "wheelscan", "audit", str(wheels), "--fail-on", "none", "--db", store)
    names = imported("-m", "wheelscan", "report", "--db", store, "--format", "json")
    assert "wheelscan.report.json_report" in names
    # neither the zip reader (its options are the audit's) nor the code that judges (a
    # report reads stored verdicts) nor a pool of processes to judge in nor rich (the
    # terminal's renderer)
    assert not {n for n in names if n.startswith("wheelscan.wheel.archive")}
    judging = {"wheelscan.store.rejudge", "wheelscan.policy.evaluate", "wheelscan.policy.abi3"}
    assert not (judging | {"multiprocessing", "rich"}) & names


def test_show_judges_without_packaging(tmp_path: Path) -> None:
    # its tags module detects the host (platform, subprocess, sysconfig): 8 ms of a show,
    # where a plain file name is split by policy/wheeltags.py
    wheel = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"  # a tag that holds
    wheel.write_bytes(build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))}))
    names = imported("-m", "wheelscan", "show", str(wheel))
    assert "wheelscan.policy.evaluate" in names
    assert not {n for n in names if n.startswith("packaging")}


def test_show_imports_the_abi3_audit_only_for_a_stable_abi_promise(tmp_path: Path) -> None:
    module = build_elf(sample_spec("x86_64", interpreter=None))
    plain = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    plain.write_bytes(build_wheel({"mod.so": module}))
    assert "wheelscan.policy.abi3" not in imported("-m", "wheelscan", "show", str(plain))
    # a member named *.abi3.so promises it, whatever the tags say
    promising = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    promising.write_bytes(build_wheel({"mod.abi3.so": module}))
    names = imported("-m", "wheelscan", "show", "--format", "json", str(promising))
    assert "wheelscan.policy.abi3" in names


def demo_wheel(tmp_path: Path) -> Path:
    """A one-module manylinux wheel a probe's ``show`` judges."""
    wheel = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(build_wheel({"mod.so": build_elf(sample_spec("x86_64", interpreter=None))}))
    return wheel


def run_probe(probe: str) -> subprocess.CompletedProcess[str]:
    """``probe``'s Python code in a process of its own."""
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )


def test_the_collector_skips_start_up_and_runs_for_the_command() -> None:
    # entry() keeps it off while start-up imports, then freezes what start-up made: the
    # command itself (a batch of thousands of wheels) runs with it on
    probe = (
        "import gc, sys\n"
        "from wheelscan.cli import main\n"
        "main.run = lambda *args: print(gc.isenabled(), gc.get_freeze_count() > 1000) or 0\n"
        "sys.argv = ['wheelscan', 'show', 'x.whl']\n"
        "main.entry()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout == "True True\n"


def test_show_freezes_the_policies_where_the_entry_froze_start_up(tmp_path: Path) -> None:
    # made with the collector off, they live as long as the process: a collection on the
    # serial end of a one-wheel show walked them all, where they were left young
    wheel = demo_wheel(tmp_path)
    probe = (
        "import gc, sys\n"
        "from wheelscan.cli import show\n"
        "judge = show.judge\n"
        "def judging(target, facts, database, args):\n"
        "    # the collector sees no frozen object: the database is among them\n"
        "    print(any(o is database for o in gc.get_objects()))\n"
        "    return judge(target, facts, database, args)\n"
        "show.judge = judging\n"
        f"sys.argv = ['wheelscan', 'show', '--json', {str(wheel)!r}]\n"
        "from wheelscan.launch import entry\n"
        "entry()\n"
    )
    run = run_probe(probe)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("False\n")


def test_show_imports_the_verdict_text_only_to_print_text(tmp_path: Path) -> None:
    # and only after the first wheel is being read: its inflation runs meanwhile
    wheel = demo_wheel(tmp_path)
    as_json = imported("-m", "wheelscan", "show", "--json", str(wheel))
    assert "wheelscan.policy.verdict" in as_json
    assert "wheelscan.cli.verdict_text" not in as_json
    assert "wheelscan.cli.verdict_text" in imported("-m", "wheelscan", "show", str(wheel))


def test_main_in_a_host_that_froze_its_own_objects_freezes_none(tmp_path: Path) -> None:
    """A host that froze what it had made (a forking server does) and then calls ``main``:
    its garbage made since stays collectable. show froze whatever the collector had not
    taken yet wherever anything had ever been frozen: a cycle per call, leaked for good."""
    wheel = demo_wheel(tmp_path)
    probe = (
        "import gc, weakref\n"
        "from wheelscan.cli.main import main\n"
        "gc.freeze()\n"
        "class Cycle: pass\n"
        "refs = []\n"
        "for _ in range(3):\n"
        "    c = Cycle(); c.me = c; refs.append(weakref.ref(c)); del c\n"
        f"    main(['show', '--json', {str(wheel)!r}])\n"
        "gc.collect()\n"
        "print(sum(r() is not None for r in refs))\n"
    )
    run = run_probe(probe)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "0"


def test_a_remote_show_without_a_netrc_imports_no_netrc_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # netrc (and shlex with it) is imported only where there is a file to read
    # (wheel/http_settings.py): two modules of every remote reading's start-up otherwise
    from indexserver import IndexServer

    (tmp_path / "packages").mkdir()
    wheel = demo_wheel(tmp_path / "packages")  # where the server serves files from
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc there
    monkeypatch.delenv("NETRC", raising=False)
    with IndexServer(tmp_path) as server:
        names = imported("-m", "wheelscan", "show", server.file_url(wheel))
    assert "wheelscan.wheel.httpclient" in names
    assert "netrc" not in names
