"""The reports: JSON for machines (documented in docs/scanner.md) and one self-contained HTML
page for people (summary first, a table per state, the captures as thumbnails)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from consent_service.scanner.crawl import Shot
from consent_service.scanner.observe import STATES

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "scanner"
STATE_TITLES = {
    "no_choice": "Before any choice",
    "reject_all": "After “Reject all”",
    "accept_all": "After “Accept all”",
}


def json_report(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def html_report(report: dict[str, Any], shots: list[Shot]) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
    )
    by_state = {state: [f for f in report["findings"] if f["state"] == state] for state in STATES}
    flagged: dict[int, list[str]] = {}
    for violation in report["violations"]:
        if violation.get("finding") is not None:
            flagged.setdefault(violation["finding"], []).append(violation["rule"])
    thumbnails = [
        {
            "title": f"{shot.kind.replace('_', ' ')}, {shot.locale}, {shot.width}px",
            "src": "data:image/png;base64," + base64.b64encode(shot.png).decode("ascii"),
            "banner_version": shot.banner_version,
            "captured_at": shot.captured_at.isoformat(timespec="seconds"),
        }
        for shot in shots
    ]
    return environment.get_template("report.html").render(
        report=report,
        states=[(state, STATE_TITLES[state], by_state[state]) for state in STATES],
        flagged=flagged,
        thumbnails=thumbnails,
    )
