"""The statistics as a versioned JSON document (``schemas/report.schema.json``).

Dashboards and other tools read this rather than the HTML: the ``version`` field changes
whenever a field changes meaning or goes away, never when one is added.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources
from typing import Any

from wheelscan import __version__
from wheelscan.report.statistics import REPORT_VERSION, Statistics


def to_json(stats: Statistics) -> dict[str, Any]:
    """The document as plain data: ``{"version": 1, "wheelscan": ..., ...}``."""
    return {
        "version": REPORT_VERSION,
        "wheelscan": __version__,
        "compliance": stats.compliance,
        **asdict(stats),
    }


def render_json(stats: Statistics) -> str:
    return json.dumps(to_json(stats), indent=2, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    text = resources.files("wheelscan").joinpath("schemas/report.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]
