"""Editing a site's settings document from the console: the same `check` and
`apply_settings` the API and the CLI use, so the console shows exactly the plan and the
linter findings an apply would produce, and errors block the save."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import yaml

from consent_service.console import activity
from consent_service.errors import ApiError
from consent_service.models import ConsoleAccount, Site
from consent_service.sites import catalogue, history, plan, settings


@dataclass
class Review:
    """What the editor shows next to a document: the plan (None when it cannot be applied),
    the findings by JSON Pointer, and whether saving is allowed."""

    text: str
    plan: plan.Plan | None = None
    findings: list[dict[str, str]] = field(default_factory=list)
    saved: bool = False

    @property
    def blocked(self) -> bool:
        return self.plan is None or any(f["severity"] == "error" for f in self.findings)


def document_text(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


def current_text(site: Site) -> str:
    return document_text(settings.export_document(site))


def review(site: Site, text: str) -> Review:
    """A dry run: the plan and every finding, nothing written."""
    try:
        raw = settings.parse_text(text)
    except settings.SettingsRejected as exc:
        return Review(text, None, [item.as_dict() for item in exc.findings])
    return review_document(site, raw, text)


def review_document(site: Site, raw: Any, text: str | None = None) -> Review:
    """The dry run of a document already parsed (the section forms build one)."""
    text = document_text(raw) if text is None else text
    planned, findings = settings.review_plan(raw, site)
    return Review(text, planned, [item.as_dict() for item in findings])


def save(site: Site, text: str, read_hash: str, account: ConsoleAccount) -> Review:
    """Apply the document unless it has errors or the settings changed since `read_hash`."""
    checked = review(site, text)
    if checked.blocked:
        return checked
    return save_document(site, settings.parse_text(text), read_hash, account, checked)


def save_document(
    site: Site,
    raw: Any,
    read_hash: str,
    account: ConsoleAccount,
    checked: Review | None = None,
) -> Review:
    """Apply a parsed document the way PUT .../settings does (If-Match on the hash read, a
    history entry naming the account), unless its dry run has errors."""
    checked = checked or review_document(site, raw)
    if checked.blocked:
        return checked
    who = f"console:{account.id}:{account.email}"[:100]
    result = settings.apply_settings(raw, site=site, actor=who, if_match=[read_hash])
    activity.record(
        "settings.applied",
        account=account,
        site_id=site.id,
        settings_hash=result.settings_hash_after,
        banner_version=result.banner_version_after,
    )
    return Review(current_text(site), result, list(result.findings), saved=True)


def with_catalogue_service(site: Site, entry_id: str) -> str:
    """The current document with one more service taken from the catalogue, for review."""
    document = settings.export_document(site)
    return document_text(add_catalogue_service(document, entry_id))


def add_catalogue_service(document: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """`document` with the catalogue's service `entry_id` (and its category when missing)."""
    entry = catalogue.catalogue_entry(entry_id)
    if entry is None:
        raise ApiError(404, "No such catalogue entry.", error="not_found")
    services = document.setdefault("services", [])
    if not any(item.get("catalogue") == entry_id for item in services):
        services.append({"slug": entry_id, "catalogue": entry_id})
    # Its category too, when the site has none of that name: the linter then points at the
    # texts the owner still has to write, next to the category.
    category = entry["default_category"]
    categories = document.setdefault("categories", [])
    if category != "necessary" and not any(c.get("slug") == category for c in categories):
        categories.append({"slug": category})
    return document


def catalogue_choices() -> list[tuple[str, str]]:
    """The catalogue as (id, label) for a select."""
    listed = []
    for entry in catalogue.catalogue_document()["entries"]:
        name = entry["name"] if isinstance(entry["name"], str) else entry["name"].get("en", "")
        listed.append((entry["id"], f"{name} ({entry['default_category']})"))
    return listed


def changes(site: Site) -> list[dict[str, Any]]:
    """The settings history, newest first, each with what it changed from the one before."""
    entries = list(history.history(site))
    documents = {change.id: settings_document(change.document) for change in entries}
    listed = []
    for index, change in enumerate(entries):
        before = documents[entries[index + 1].id] if index + 1 < len(entries) else None
        listed.append(
            {
                "change": change,
                "diff": plan.diff(before, documents[change.id]),
            }
        )
    return listed


def settings_document(text: str) -> dict[str, Any]:
    import json

    return dict(json.loads(text))


def date_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The dashboard's range: the given days (ISO), else the last 30; at most 3 years."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=29)
    except ValueError as exc:
        raise ApiError(422, "Dates are YYYY-MM-DD.", error="validation_failed") from exc
    if first > last or (last - first).days > 3 * 366:
        raise ApiError(422, "Not a valid range (at most three years).", error="validation_failed")
    return first, last
