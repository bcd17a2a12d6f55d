"""Which ELF backend is active: its switch, read without importing the backends or the ELF
records (``wheelscan --version`` names it; ``wheelscan.elf`` re-exports both)."""

from __future__ import annotations

import os

BACKEND_ENV = "WHEELSCAN_ELF_BACKEND"


def backend_chosen() -> bool:
    """Whether the variable chooses the backend: set and not empty (an empty value is
    unset, as the shell's ``VAR= command`` and most programs' variables read)."""
    return bool(os.environ.get(BACKEND_ENV))


def backend_name() -> str:
    return os.environ.get(BACKEND_ENV) or "native"
