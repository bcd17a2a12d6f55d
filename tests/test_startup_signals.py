"""A Ctrl-C during start-up, however wheelscan was started (its script, ``python -m``), and
signal state left alone for programs calling ``main`` (launch.py, cli/main.py).

The Ctrl-C is sent by the process to itself at one chosen moment (an import hook, a
wrapped call): a real signal, handled by whatever handler is in force then, found without
timing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
STOPPED = (128 + signal.SIGINT, -signal.SIGINT)  # 130, or SIGINT's default action


def _default_stop_signals() -> None:
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_DFL)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_default_stop_signals,
    )


def script_text() -> str:
    """What the installed ``wheelscan`` script runs: pyproject.toml's entry point, called as
    the script pip writes calls it."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["wheelscan"].split(":")
    return f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"


# A Ctrl-C as the command line's module imports its first command table
CTRL_C_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "wheelscan.cli.commands":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv[0] = "wheelscan"
"""


def test_the_script_stops_quietly_on_a_ctrl_c_during_its_imports() -> None:
    """The script ran ``from wheelscan.cli.main import entry`` with nothing around it: a
    Ctrl-C during that import was a traceback (``python -m`` had a guard, the script none)."""
    as_module = "import runpy; runpy.run_module('wheelscan', run_name='__main__')"
    for start in (script_text(), as_module):
        run = run_python(CTRL_C_WHILE_IMPORTING + start, "show", "/nonexistent.whl")
        assert "Traceback" not in run.stderr, f"{start}\n{run.stderr}"
        assert run.returncode in STOPPED, f"{start}\n{run.returncode}: {run.stderr}"
