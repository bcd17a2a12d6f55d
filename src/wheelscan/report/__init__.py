"""Statistics of an audited index, and the renderers that show them.

``aggregate`` makes one streaming pass over the store's rows and run records; each renderer
turns the resulting :class:`Statistics` into one format. The CI formats (``render_sarif``,
``render_junit``) take the verdicts themselves: one result per broken tag, one case per wheel.
"""

from wheelscan.report.aggregate import Aggregator, aggregate, policy_info
from wheelscan.report.html_page import render_html
from wheelscan.report.json_report import json_schema, render_json, to_json
from wheelscan.report.junit import render_junit
from wheelscan.report.markdown import render_markdown
from wheelscan.report.sarif import render_sarif
from wheelscan.report.statistics import REPORT_VERSION, Statistics
from wheelscan.report.terminal import render_terminal

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
