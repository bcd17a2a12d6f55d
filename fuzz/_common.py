"""What the harnesses share: the path to the tests' builders, and running under atheris."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # elfwriter, wheelbuilder, hostile (make_seeds.py)


def exact(data: bytes) -> ctypes.Array[ctypes.c_ubyte]:
    """``data`` in a buffer of exactly its length. A bytes object ends with a NUL inside its
    allocation, which would hide a read one byte past the end from AddressSanitizer; a ctypes
    array (over 16 bytes) is allocated at its size, so under PYTHONMALLOC=malloc (as
    scripts/build_sanitized.sh runs) that byte is in ASan's redzone."""
    return (ctypes.c_ubyte * len(data)).from_buffer_copy(data)


def write(buffer: ctypes.Array[ctypes.c_ubyte], start: int, data: bytes) -> None:
    ctypes.memmove(ctypes.addressof(buffer) + start, data, len(data))


def fuzz(
    setup: Callable[[], Callable[[bytes], None]],
    instrument: tuple[str, ...] = ("wheelscan", "elftools"),
) -> None:
    """Run libFuzzer (through atheris) on the test ``setup()`` returns, with ``sys.argv``.

    The wheelscan modules are imported inside ``setup``, under atheris' instrumentation, so
    that the Python code (the zip reader, the stream, the reference reader, the Cython
    module's wrappers) guides the search. The compiled C of the native core is instrumented
    only when built with ``-fsanitize=fuzzer-no-link`` (scripts/build_sanitized.sh --fuzz).
    ``instrument`` names the packages instrumented (a differential harness adds its oracle).
    """
    import atheris

    with atheris.instrument_imports(include=list(instrument)):
        test = setup()
    atheris.Setup(sys.argv, test)
    atheris.Fuzz()
