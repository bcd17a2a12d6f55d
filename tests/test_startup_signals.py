"""A Ctrl-C during start-up, however wheelscan was started (its script, ``python -m``), and
signal state left alone for programs calling ``main`` (launch.py, cli/main.py).

The Ctrl-C is sent by the process to itself at one chosen moment (an import hook, a
wrapped call): a real signal, handled by whatever handler is in force then, found without
timing."""

from __future__ import annotations

import signal
import tomllib
from pathlib import Path

import pytest

from signalruns import run_python

ROOT = Path(__file__).resolve().parents[1]

STOPPED = (128 + signal.SIGINT, -signal.SIGINT)  # 130, or SIGINT's default action


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


# ``main`` called by a program, from a thread that is not the main one, and from the main
# thread with a handler of its own: signal handling stays the program's
MAIN_FROM_A_PROGRAM = """
import signal, sys, threading
from wheelscan.cli.main import main

outcomes = []
def call(argv):
    try:
        outcomes.append(main(argv))
    except SystemExit as e:
        outcomes.append(f"exit {e.code}")
    except BaseException as e:
        outcomes.append(repr(e))

for argv in (["--help"], ["show", "/nonexistent.whl"]):
    thread = threading.Thread(target=call, args=(argv,))
    thread.start()
    thread.join()
seen = []
def watch(frame, event, arg):  # the handler in force while main's parser runs
    if frame.f_code.co_name == "parse_known_args" and event == "call":
        seen.append(signal.getsignal(signal.SIGINT))
    return None
sys.setprofile(watch)
call(["show", "/nonexistent.whl"])
sys.setprofile(None)
print(outcomes, seen == [signal.default_int_handler] * len(seen) and bool(seen))
"""


def test_main_leaves_signal_handling_to_the_program_that_calls_it() -> None:
    """``parse`` put SIGINT's default action in force for whoever called it, and from a
    thread other than the main one every command was ``ValueError: signal only works in
    main thread`` (``--help``: exit 0 before)."""
    run = run_python(MAIN_FROM_A_PROGRAM)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "['exit 0', 2, 2] True", run.stdout + run.stderr


# A Ctrl-C right after the command line is parsed: as the start-up's objects are frozen out
# of the collector's sight, or as stdout is wrapped (the first lines of ``run``)
CTRL_C_AFTER_PARSING = """
import gc, os, signal, sys
import wheelscan.cli.output as output

def ctrl_c_then(call):
    def wrapper(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return call(*args)
    return wrapper

if sys.argv[1] == "freeze":
    gc.freeze = ctrl_c_then(gc.freeze)
else:
    output.guarded = ctrl_c_then(output.guarded)
sys.argv[0:2] = ["wheelscan"]
from wheelscan.cli.main import entry
entry()
"""


@pytest.mark.parametrize("moment", ["freeze", "guarded"])
def test_a_ctrl_c_between_the_parse_and_the_command_stops_quietly(moment: str) -> None:
    """Python's handler was back once the command line was parsed, but ``run`` handled a
    Ctrl-C only from its ``try`` on: one in between was a traceback (3 runs of 150). Called
    as ``cli.main:entry``, as a script installed before launch.py was does, with no guard
    around it."""
    run = run_python(CTRL_C_AFTER_PARSING, moment, "show", "/nonexistent.whl")
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in STOPPED, f"{run.returncode}: {run.stderr}"


# A Ctrl-C as a record class of the verdicts is made, during ``show``'s judging imports:
# Python 3.11 wraps what ``__set_name__`` raises in a RuntimeError ("Error calling
# __set_name__"), the KeyboardInterrupt its cause
CTRL_C_WHILE_A_CLASS_IS_MADE = """
import dataclasses, importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "wheelscan.policy.verdict":
            sys.meta_path.remove(self)
            original = dataclasses.Field.__set_name__
            def set_name(field, owner, name):
                dataclasses.Field.__set_name__ = original
                os.kill(os.getpid(), signal.SIGINT)
                return original(field, owner, name)
            dataclasses.Field.__set_name__ = set_name
        return None

sys.meta_path.insert(0, CtrlC())
# through ``main``, as a program calls it: Python's handler stays in force (the command
# line's entry point keeps SIGINT's default action through ``show``)
from wheelscan.cli.main import main
print("status", main(sys.argv[1:]))
"""


def test_a_ctrl_c_wrapped_by_python_in_another_error_is_still_an_interrupt(
    tmp_path: Path,
) -> None:
    """The RuntimeError around the KeyboardInterrupt was taken for a bug: a traceback and
    exit 1, which CI reads as a broken tag. It is the stop it was raised from: 130."""
    from wheelbuilder import build_wheel

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(build_wheel({"demo/__init__.py": b""}))
    run = run_python(CTRL_C_WHILE_A_CLASS_IS_MADE, "show", str(wheel))
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stdout.splitlines()[-1:] == ["status 130"], run.stdout + run.stderr


# A Ctrl-C that lands in one of importlib's callbacks (a module lock's weak reference) as
# ``show`` imports what judges the wheel, its reading begun: Python runs the handler there,
# and what it raises is printed as "Exception ignored" and lost
CTRL_C_IN_AN_IMPORT_CALLBACK = """
import os, signal, sys

def tracer(frame, event, arg):
    if (event == "call" and frame.f_code.co_name == "cb"
            and "importlib" in frame.f_code.co_filename
            and "wheelscan.cli.main" in sys.modules):
        sys.settrace(None)
        os.kill(os.getpid(), signal.SIGINT)
    return None

sys.argv[0] = "wheelscan"
sys.settrace(tracer)
from wheelscan.launch import entry
entry()
"""


def test_a_ctrl_c_in_show_s_import_callbacks_stops_it(tmp_path: Path) -> None:
    """``run`` gave Python's handler back before ``show`` imported its judging: a Ctrl-C in
    an import's callback was lost (the verdict printed, exit 0), or left importlib's lock
    taken while the reading thread imported, and the process hung. ``show`` stores nothing:
    SIGINT's default action stays in force through it."""
    from wheelbuilder import build_wheel

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(build_wheel({"demo/__init__.py": b""}))
    run = run_python(CTRL_C_IN_AN_IMPORT_CALLBACK, "show", str(wheel))
    assert "Exception ignored" not in run.stderr, run.stderr
    assert run.returncode in STOPPED, f"{run.returncode}: {run.stderr}"
    assert run.stdout == ""
