"""An interpreter as a user's own environment gives it: the same Python and the same
installed packages, without the start-up hooks of this machine's site-packages.

This sandbox's site-packages holds a ``.pth`` file that runs code at every interpreter
start (``_sandboxing_egress_ca.pth``: it imports certifi, and with it importlib.resources,
pathlib, tempfile...): 30-40 ms of every process, wheelscan's and auditwheel's alike, that a
user's ``pipx install`` or virtual environment does not pay (a bare ``python -c pass``: 41 ms
here, 11 ms in a venv, best of 10). A ratio of two whole processes that both pay it is
moved towards 1 by it: most for the fastest, ``show`` on onnxruntime.

So the largest ML wheels are also measured with a virtual environment's interpreter made
for the run (``python -m venv --without-pip``) whose one ``.pth`` file lists the directories
the benchmark's interpreter imports wheelscan, auditwheel and their dependencies from. A
directory named in a ``.pth`` file joins ``sys.path``, but the ``.pth`` files inside it are
not run (``site.addpackage`` appends it; only site directories are scanned for them): the
packages are the very ones measured beside, their hooks are not.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path


def package_parents() -> list[str]:
    """The directories this interpreter imports the measured packages from: wheelscan's own
    first (an editable install or a source checkout), then its site-packages (auditwheel and
    every dependency). Not the rest of ``sys.path``: the benchmark's own folders."""
    import wheelscan

    found = [str(Path(wheelscan.__file__).resolve().parent.parent)]
    # in the order site gives them: the user's own packages before the system's, if on
    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    for entry in [*user, *site.getsitepackages()]:
        if entry not in found and Path(entry).is_dir():
            found.append(entry)
    return found


def venv(directory: Path) -> Path:
    """A bare virtual environment (no pip, no packages); its interpreter's path."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(directory)],
        check=True,
        capture_output=True,
    )
    return directory / "bin" / "python"


def make(directory: Path) -> Path:
    """A virtual environment in ``directory`` whose packages are this interpreter's, and
    whose site runs no hook; its interpreter's path."""
    python = venv(directory)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "benchmark-packages.pth").write_text("\n".join(package_parents()) + "\n")
    return python


def started_modules(python: Path | str) -> set[str]:
    """The modules a bare start of ``python`` has imported: with its site hooks' own."""
    probe = "import sys; print(' '.join(sys.modules))"
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.split())
