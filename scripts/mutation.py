"""Mutation testing of the verdict engine: mutmut 3's mutants, each judged in a fresh process.

    python scripts/mutation.py                      # policy/evaluate.py, resolve.py, elfplatform.py
    python scripts/mutation.py policy/resolve.py    # one module
    python scripts/mutation.py --show-survivors     # and the diff of every survivor

Why not ``mutmut run``: it runs the whole suite once in its parent to learn which tests reach
which function, then forks each mutant from that parent and runs only those tests. Here the
session fixtures (the real wheels' verdicts) and the policy cache are filled in that parent, so
a mutant's child reuses state computed by the unmutated code, and its test selection misses
the tests that reach the engine through the cache (issue #18, item 8). So this script takes
mutmut's mutants (its operators and its trampolines, ``MUTANT_UNDER_TEST`` picks one), and
runs each in a child forked from a parent that has only imported the code: no test has run,
no cache is filled. The child runs whole test files:

1. the unit tests of the engine (``--fast``), stopping at the first failure;
2. for a mutant that survives them, the differential tests on real wheels (``--slow``).

A mutant is killed when a test fails or a child outlives ``--timeout`` (a loop that no longer
ends). Survivors are printed with their diff; those in ``EQUIVALENT`` are named as
equivalent (no input can tell them from the original) and counted apart.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = ["tests/test_verdict_mutants.py", "tests/test_evaluate.py"]
SLOW = ["tests/test_verdicts_vs_auditwheel.py", "tests/test_corpus.py"]
# elfplatform.py holds the libc of an ELF file (elf_libc), evaluate.py's until the Android work
MODULES = ["policy/evaluate.py", "policy/resolve.py", "policy/elfplatform.py"]

# Mutants no input can tell from the original, each with the reason (named in the report).
# mutmut numbers a function's mutants in source order: a change to a function renumbers its
# own mutants, so re-check these names after one (``--show-survivors`` prints each diff).
EQUIVALENT: dict[str, str] = {
    # elfplatform.py, _libc_by_name (once evaluate.py's elf_libc): the SOABI is the
    # second-to-last dot-separated part however the name is split, and the fallback only has
    # to differ from "cpython"
    "x__libc_by_name__mutmut_25": "rsplit without maxsplit: the same second-to-last part",
    "x__libc_by_name__mutmut_28": "rsplit(3) for rsplit(2): the same second-to-last part",
    "x__libc_by_name__mutmut_36": '["XXXX"] for [""]: neither is "cpython"',
    # a name ending in "-linux-gnu.so" gives a SOABI of at least three "-" parts
    "x__libc_by_name__mutmut_43": "len(soabi) >= 1 for > 1: the SOABI has 3 parts or more",
    "x__libc_by_name__mutmut_44": "len(soabi) > 2 for > 1: the SOABI has 3 parts or more",
    "x_python_extension_version__mutmut_5": "split without maxsplit: the same first part",
    "x_python_extension_version__mutmut_9": "split(2) for split(1): the same first part",
    "x_python_extension_version__mutmut_13": "PyInit_ as 4 for 3: only == 2 is ever asked",
    # the one caller passes libpython_allowed: its default is never used
    "x__required_external__mutmut_1": "default True for False: never used",
    # policies iterate most compatible first and linux_* (priority 0, checked) comes last
    "xǁ_ExternalRefsǁadd__mutmut_5": "break for continue at linux_*: it is the last policy",
    # linux_* is in no whitelist group and skipped by the blacklist: it is never blocked,
    # so max() over the unblocked policies always has it and never needs its default
    "x_evaluate__mutmut_163": "default=None for linux_*: never used",
    "x_evaluate__mutmut_165": "no default for linux_*: never used",
    "x_evaluate__mutmut_169": "default=None for linux_*: never used",
    "x_evaluate__mutmut_171": "no default for linux_*: never used",
    # with no version reported, every file is skipped by the test at the top of the loop
    "xǁ_Blockersǁ__init____mutmut_24": "the loop run with nothing reported: skips every file",
    "xǁ_Blockersǁ__init____mutmut_48": "loader.get(None): a cache miss every time, same answer",
    "xǁ_Blockersǁ__init____mutmut_53": 'is_loader("XXXX") for is_loader(""): both False',
    # only symbols bound to a reported version (never None) reach the line
    "xǁ_Blockersǁ__init____mutmut_57": 'version or "XXXX": the version is never None there',
    # the musl set kept by musl_policy holds the overall tag found on it, as the whole does
    "x_evaluate__mutmut_232": "get() on the whole musl set: the same Policy object",
    # the smallest declared version is the same whether ties replace it or not
    "x__claims__mutmut_65": "declared <= best_declared for <: the same minimum",
    # base names come from the policies or PEP 600's regex: both parts are always digits
    "x__libc_version__mutmut_11": "parts[2].isdigit() twice: parts[1] is always digits too",
    # a tag with a base name (not linux_*) always has a libc
    "x__claims__mutmut_42": "overall_for(info.libc) always: info.libc is never None there",
    "xǁ_Blockersǁ__init____mutmut_47": "skip = None: a cache miss every time, same answer",
    # "any" has no architecture suffix: the general path marks it missed just the same
    "x__filename_platform__mutmut_10": '"XXanyXX" for "any": any is then missed below',
    "x__filename_platform__mutmut_11": '"ANY" for "any": any is then missed below',
    # PolicySet.libc and .arch only name the set in get()'s LookupError, and evaluate asks
    # the set for the overall tag of a verdict judged on that very set
    "x__policy_set__mutmut_14": "PolicySet(None, ...): the libc is only named in an error",
    "x__policy_set__mutmut_15": "PolicySet(..., None, ...): the arch is only named in an error",
    # resolve.py: Library.soname is never read (the libraries are keyed by soname), and
    # while a library is walked its entry is only tested for membership, then replaced
    "xǁResolverǁ_walk__mutmut_14": "Library(None, ...): Library.soname is never read",
    "xǁResolverǁ_walk__mutmut_26": "Library(None, ...): Library.soname is never read",
    "xǁResolverǁ_walk__mutmut_43": "Library(None, ...): Library.soname is never read",
    "xǁResolverǁ_walk__mutmut_27": "Library(soname, None) while walking: replaced after it",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", default=MODULES, help="under src/wheelscan/")
    parser.add_argument("--fast", nargs="+", default=FAST, help="unit test files, run first")
    parser.add_argument("--slow", nargs="*", default=SLOW, help="run for the fast survivors")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per mutant and stage")
    parser.add_argument("--jobs", type=int, default=1, help="mutants judged at once")
    parser.add_argument("--only", help="run the mutants whose name contains this")
    parser.add_argument("--range", help="START:STOP, a slice of the mutants (to split a run)")
    parser.add_argument("--from-log", type=Path, help="only the survivors of an earlier run's log")
    parser.add_argument("--show-survivors", action="store_true", help="print their diffs")
    args = parser.parse_args()

    from mutmut.mutation.file_mutation import mutate_file_contents  # the operators of mutmut 3

    work = Path(tempfile.mkdtemp(prefix="wheelscan-mutation-"))
    try:
        tree = work / "src" / "wheelscan"
        shutil.copytree(
            ROOT / "src" / "wheelscan", tree, ignore=shutil.ignore_patterns("__pycache__")
        )
        names: list[tuple[str, str]] = []  # (module, mutant function)
        sources: dict[str, str] = {}
        for relative in args.modules:
            code = (ROOT / "src" / "wheelscan" / relative).read_text()
            mutated = mutate_file_contents(relative, code)
            (tree / relative).write_text(mutated.code)
            module = "wheelscan." + relative.removesuffix(".py").replace("/", ".")
            sources[module] = mutated.code
            names += [(module, n) for n in mutated.mutant_names if not args.only or args.only in n]
        if args.range:
            start, _, stop = args.range.partition(":")
            names = names[int(start or 0) : int(stop) if stop else None]
        if args.from_log:
            survivors = set(re.findall(r"survived: (\S+)", args.from_log.read_text()))
            names = [(m, n) for m, n in names if f"{m}.{n}" in survivors]
        sys.path.insert(0, str(work / "src"))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(work / "src"), str(ROOT / "tests")])
        os.chdir(ROOT)
        sys.path.insert(1, str(ROOT / "tests"))
        # imported once, in the parent: nothing is called, so no cache is filled
        for module in [*sources, "pytest", "elfwriter", "wheelbuilder", "wheelscan.engine.worker"]:
            __import__(module)

        if _run("", args.fast + args.slow, args.timeout, stop_early=False) != "survived":
            print("the tests fail without a mutant: fix them first", file=sys.stderr)
            return 2
        return _report(names, sources, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _start(mutant: str, files: list[str], timeout: int, stop_early: bool = True) -> int:
    """Fork a child that runs ``files`` under ``mutant``; its pid."""
    pid = os.fork()
    if pid == 0:  # the child: a process no test has run in yet
        import pytest

        os.environ["MUTANT_UNDER_TEST"] = mutant
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # these files need no plugin
        signal.alarm(timeout)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        # xdist named: pyproject's addopts hold its --dist, unknown without the plugin
        options = ["-q", "-p", "no:cacheprovider", "-p", "xdist.plugin"]
        code = pytest.main([*options, *(["-x"] if stop_early else []), *files])
        os._exit(int(code))
    return pid


def _result(status: int) -> str:
    """'killed', 'timeout' or 'survived', from a child's wait status."""
    if os.WIFSIGNALED(status):
        return "timeout" if os.WTERMSIG(status) == signal.SIGALRM else "killed"
    return "survived" if os.WEXITSTATUS(status) == 0 else "killed"


def _run(mutant: str, files: list[str], timeout: int, stop_early: bool = True) -> str:
    _, status = os.waitpid(_start(mutant, files, timeout, stop_early), 0)
    return _result(status)


def _report(names: list[tuple[str, str]], sources: dict[str, str], args: argparse.Namespace) -> int:
    started = time.monotonic()
    outcome: dict[tuple[str, str], str] = {}
    running: dict[int, tuple[tuple[str, str], bool]] = {}  # pid -> (mutant, in the slow stage)
    queue = list(names)
    while queue or running:
        while queue and len(running) < args.jobs:
            key = queue.pop(0)
            running[_start(".".join(key), args.fast, args.timeout)] = (key, False)
        pid, status = os.wait()
        key, slow = running.pop(pid)
        result = _result(status)
        if result == "survived" and args.slow and not slow:
            running[_start(".".join(key), args.slow, args.timeout)] = (key, True)
            continue
        outcome[key] = result
        if result == "survived":
            print(f"[{len(outcome)}/{len(names)}] survived: {'.'.join(key)}", flush=True)
        elif len(outcome) % 50 == 0:
            print(f"[{len(outcome)}/{len(names)}]", flush=True)
    elapsed = time.monotonic() - started
    for module, code in sources.items():
        mine = {n: r for (m, n), r in outcome.items() if m == module}
        if not mine:
            continue
        killed = sum(r != "survived" for r in mine.values())
        equivalent = [n for n, r in mine.items() if r == "survived" and n in EQUIVALENT]
        scored = len(mine) - len(equivalent)
        print(
            f"{module}: {killed}/{len(mine)} killed ({100 * killed / len(mine):.1f}%), "
            f"{len(equivalent)} equivalent, {100 * killed / max(scored, 1):.1f}% of the rest"
        )
        for name, result in sorted(mine.items()):
            if result != "survived":
                continue
            why = EQUIVALENT.get(name)
            print(f"  {'equivalent' if why else 'SURVIVED'}: {name}" + (f" ({why})" if why else ""))
            if args.show_survivors:
                print(_diff(code, name))
    print(f"{len(outcome)} mutants in {elapsed:.0f} s")
    return 0


def _diff(code: str, name: str) -> str:
    """The mutant's function against the original, from mutmut's trampolined source."""
    original = name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    lines = code.splitlines()
    spans = {
        node.name: (node.lineno - 1 - len(node.decorator_list), node.end_lineno or node.lineno)
        for node in ast.walk(_parsed(code))
        if isinstance(node, ast.FunctionDef) and node.name in (original, name)
    }

    def function(fname: str) -> list[str]:
        first, last = spans[fname]
        return [line.replace(fname, "f") for line in lines[first:last]]

    diff = difflib.unified_diff(
        function(original), function(name), lineterm="", n=int(os.environ.get("CONTEXT", "0"))
    )
    return "\n".join("    " + line for line in list(diff)[2:])


@functools.cache
def _parsed(code: str) -> ast.Module:
    return ast.parse(code)


if __name__ == "__main__":
    sys.exit(main())
