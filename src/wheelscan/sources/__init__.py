"""Where wheels come from: one small interface (``Source``), one adapter per kind of source.

Names are imported on first use (PEP 562), so that importing ``wheelscan.sources.base`` — as
every worker does — does not load the HTTP client and every adapter.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BandersnatchSource": "wheelscan.sources.bandersnatch",
    "DirectorySource": "wheelscan.sources.directory",
    "FilteredSource": "wheelscan.sources.filters",
    "SimpleIndexSource": "wheelscan.sources.simple_index",
    "Source": "wheelscan.sources.base",
    "SourceError": "wheelscan.sources.base",
    "WheelFilter": "wheelscan.sources.filters",
    "WheelRef": "wheelscan.sources.base",
    "make_source": "wheelscan.sources.factory",
}
__all__ = [
    "BandersnatchSource",
    "DirectorySource",
    "FilteredSource",
    "SimpleIndexSource",
    "Source",
    "SourceError",
    "WheelFilter",
    "WheelRef",
    "make_source",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
