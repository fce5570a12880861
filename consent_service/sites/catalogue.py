"""The service catalogue: what the common third-party services on a site are, who runs them,
what they collect, which cookies they set and how they take a consent signal.

The data is `catalogue.json`, shipped in the package and read once. A site's settings name an
entry (`catalogue: google-analytics-4`) and override what differs on that site; this module
only answers what the catalogue says. Cookie names and lifetimes were checked against each
vendor's documentation (the entry's `source`) and the Open Cookie Database (Apache-2.0, see
`NOTICE` beside the data file).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).resolve().parent / "catalogue.json"

#: How a service takes the visitor's choice beyond being loaded or not: Google Consent Mode
#: (gtag), Microsoft UET's consent command, Clarity's ConsentV2 API, Meta's `fbq('consent')`,
#: or nothing, when the banner gates it by markup (inert script or iframe until granted).
PLATFORM_SIGNALS = (
    "google_consent_mode",
    "microsoft_uet",
    "clarity_consentv2",
    "meta_fbq",
    "none",
)
#: Google Consent Mode v2 consent types.
CONSENT_MODE_SIGNALS = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
#: The categories entries default to; a site maps them to its own slugs when they differ.
DEFAULT_CATEGORIES = ("necessary", "functional", "analytics", "marketing", "media", "crm")


@cache
def catalogue_document() -> dict[str, Any]:
    """The whole data file (version, review date, attribution, entries), read once."""
    document: dict[str, Any] = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    return document


@cache
def _entries() -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in catalogue_document()["entries"]}


def catalogue_ids() -> list[str]:
    """Every entry's id, sorted."""
    return sorted(_entries())


def catalogue_entry(entry_id: str) -> dict[str, Any] | None:
    """One entry as a fresh copy (callers merge a site's overrides into it), or None."""
    entry = _entries().get(entry_id)
    return copy.deepcopy(entry) if entry is not None else None


def text_in(value: Any, locale: str, fallback: str = "en") -> str:
    """A translatable value (a string, or {locale: string}) in one locale, falling back."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not value:
        return ""
    found = value.get(locale) or value.get(fallback) or next(iter(value.values()))
    return str(found)
