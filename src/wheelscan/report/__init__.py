"""Statistics of an audited index, and the renderers that show them.

``aggregate`` makes one streaming pass over the store's rows and run records; each renderer
turns the resulting :class:`Statistics` into one format. The CI formats (``render_sarif``,
``render_junit``) take the verdicts themselves: one result per broken tag, one case per wheel.

Names are imported on first use (PEP 562): a report loads only its own format's renderer
(JUnit's XML escaping alone pulled in urllib and http.client, 17 ms of a report's start-up).
"""

from __future__ import annotations

import importlib
from typing import Any

# imported now: every report aggregates, and the function ``aggregate`` must shadow its
# module's name here (a lazy name would be the module once anything imported it)
from wheelscan.report.aggregate import Aggregator, aggregate, policy_info
from wheelscan.report.statistics import REPORT_VERSION, Statistics

_EXPORTS = {
    "json_schema": "wheelscan.report.json_report",
    "render_html": "wheelscan.report.html_page",
    "render_json": "wheelscan.report.json_report",
    "render_junit": "wheelscan.report.junit",
    "render_markdown": "wheelscan.report.markdown",
    "render_sarif": "wheelscan.report.sarif",
    "render_terminal": "wheelscan.report.terminal",
    "to_json": "wheelscan.report.json_report",
}
__all__ = [
    "REPORT_VERSION",
    "Aggregator",
    "Statistics",
    "aggregate",
    "json_schema",
    "policy_info",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_sarif",
    "render_terminal",
    "to_json",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
