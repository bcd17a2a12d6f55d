"""Which ELF backend is active: its switch, read without importing the backends or the ELF
records (``wheelscan --version`` names it; ``wheelscan.elf`` re-exports both)."""

from __future__ import annotations

import os

BACKEND_ENV = "WHEELSCAN_ELF_BACKEND"


def backend_name() -> str:
    return os.environ.get(BACKEND_ENV, "native")
