"""Audit wheels under a Python audit hook (PEP 578) that records every forbidden act.

Run as ``python sandbox.py [--canary] WHEEL...`` (the tests do it in a fresh process, in an
empty working directory): every wheel is audited twice, by ``wheelscan.engine.worker.audit`` and by
``wheelscan show``, after a warm-up audit has done the imports. Prints one JSON document:
``{"violations": [...], "codes": {filename: code or "verdict"}}``.

Forbidden: opening anything for writing; reading a file that is neither one of the wheels
nor the program itself (its modules and data, under the interpreter's or wheelscan's
directories), which would be following a path taken from an archive; creating, linking,
renaming or removing files; running or loading programs; opening sockets; mapping a file
writable. A hook sees what Python code does; the native core calls no such function at all
(``test_the_native_core_imports_no_file_or_process_function``). ``--canary`` also does two
forbidden things after the audits, to show that the hook sees them.
"""

from __future__ import annotations

import contextlib
import io
import json
import mmap
import os
import sys
from pathlib import Path
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
FORBIDDEN = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "ctypes.dlopen", "os.symlink", "os.link", "os.rename", "os.remove",
    "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
    "shutil.copyfile", "shutil.copymode", "shutil.move", "shutil.rmtree", "shutil.unpack_archive",
    "socket.connect", "socket.bind", "socket.sendto", "glob.glob",
    "tempfile.mkstemp", "tempfile.mkdtemp",
}  # fmt: skip


def main(paths: list[str], canary: bool = False) -> None:
    import wheelscan
    from wheelscan.cli.main import main as wheelscan_main
    from wheelscan.engine.worker import audit
    from wheelscan.policy.verdict import AuditError

    wheels = {os.path.realpath(p) for p in paths}
    package = os.path.realpath(Path(wheelscan.__file__).parent) + os.sep
    program = (
        *(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}),
        package,
    )
    audit(Path(paths[0]), Path(paths[0]).name)  # the imports happen here, before the hook
    violations: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*args, None, None)[:3]
            if isinstance(path, int):
                return
            writing = bool(
                (isinstance(mode, str) and set(mode) & set("wax+"))
                or (isinstance(flags, int) and flags & WRITE_FLAGS)
            )
            real = os.path.realpath(os.fsdecode(path))
            if writing or not (real in wheels or real.startswith(program)):
                violations.append(f"open {real!r} mode={mode!r} flags={flags!r}")
        elif event == "mmap.__new__" and args[2] != mmap.ACCESS_READ:
            if args[0] != -1:  # an anonymous mapping holds inflated bytes: not a file
                violations.append(f"mmap {args!r}")
        elif event in ("os.listdir", "os.scandir"):
            listed = os.path.realpath(os.fsdecode(args[0] if args[0] is not None else "."))
            # importing lists the installation's own directories (importlib's path finder
            # caches them), as it may open its files: neither is the wheel's doing
            if not (listed + os.sep).startswith(program):
                violations.append(f"{event} {args!r}")
        elif event in FORBIDDEN:
            violations.append(f"{event} {args!r}")

    sys.addaudithook(hook)
    codes = {}
    for path in paths:
        result = audit(Path(path), Path(path).name)
        codes[Path(path).name] = result.code if isinstance(result, AuditError) else "verdict"
    with contextlib.redirect_stdout(io.StringIO()):
        status = wheelscan_main(["show", *paths])
    if canary:
        with open(os.devnull, "w"), open("/etc/hostname", "rb"):
            pass
    print(json.dumps({"violations": violations, "codes": codes, "show_status": status}))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main([a for a in arguments if a != "--canary"], canary="--canary" in arguments)
