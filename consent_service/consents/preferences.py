"""The preference center (`/p/SITE_KEY`): what a visitor sees of their own consent, and the
changes they make there.

The visitor is known by their visitor token only (the caller reads it); these operations
take the visitor id it names. A change made here is an ordinary consent event with source
`preference_center`, resting on the site's current banner document (under the rules the
visitor was last shown) and current policy version, since that is what the page shows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_service.consents import decisions
from consent_service.consents.portability import Seal, receipt_of, seals, visitor_events
from consent_service.extensions import db
from consent_service.models import BannerVersion, ConsentEvent, Site
from consent_service.sites.public_config import site_config
from consent_service.sites.snapshot import SiteSnapshot
from consent_service.sites.versions import banner_document, rule_banner_hash

SOURCE = "preference_center"

#: The first layer's text under each rule set: what the visitor read when they chose.
RULE_DESCRIPTION = {
    "opt_out": "opt_out_description",
    "notice_only": "notice_description",
}


@dataclass(frozen=True)
class CategoryChoice:
    slug: str
    name: str
    description: str
    necessary: bool
    allowed: bool


@dataclass(frozen=True)
class HistoryEntry:
    event: ConsentEvent
    allowed: list[str]  # names of the optional categories allowed
    banner_title: str
    banner_text: str
    seal: Seal
    receipt: str  # the signed receipt, as indented JSON


@dataclass(frozen=True)
class Center:
    categories: list[CategoryChoice]
    history: list[HistoryEntry]


def center(site: Site, visitor_id: str, locale: str) -> Center:
    """The visitor's current choice per category and their full history, newest first."""
    config = site_config(site, locale)
    names = {
        category["slug"]: category.get("name") or category["slug"]
        for category in config["categories"]
    }
    events = visitor_events(site.id, visitor_id)
    current = dict(events[0].choices) if events else {}
    categories = [
        CategoryChoice(
            slug=category["slug"],
            name=names[category["slug"]],
            description=category.get("description") or "",
            necessary=category["necessary"],
            allowed=category["necessary"] or bool(current.get(category["slug"])),
        )
        for category in config["categories"]
    ]
    necessary = {category.slug for category in categories if category.necessary}
    texts = banner_texts(site.id, {event.banner_version for event in events}, locale)
    sealed = seals(site.id, events)
    history = []
    for event in events:
        words = texts.get(event.banner_version, {})
        description = RULE_DESCRIPTION.get(event.rule_set or "", "description")
        history.append(
            HistoryEntry(
                event=event,
                allowed=[
                    names.get(slug, slug)
                    for slug, value in event.choices.items()
                    if value and slug not in necessary
                ],
                banner_title=words.get("title", ""),
                banner_text=words.get(description) or words.get("description", ""),
                seal=sealed[event.id],
                receipt=json.dumps(receipt_of(event, site.site_key), indent=2),
            )
        )
    return Center(categories=categories, history=history)


def banner_texts(site_id: int, digests: set[str], locale: str) -> dict[str, dict[str, str]]:
    """The first-layer words of each banner version, in `locale` (else its default locale)."""
    if not digests:
        return {}
    rows = db.session.execute(
        select(BannerVersion.sha256, BannerVersion.canonical_json).where(
            BannerVersion.site_id == site_id, BannerVersion.sha256.in_(digests)
        )
    ).all()
    found = {}
    for digest, canonical in rows:
        document: dict[str, Any] = json.loads(canonical)
        texts = document.get("texts") or {}
        default = document.get("default_locale", "en")
        found[digest] = dict(texts.get(locale) or texts.get(default) or {})
    return found


def record_change(
    site: Site,
    snapshot: SiteSnapshot,
    visitor_token: str,
    visitor_id: str,
    *,
    action: str,
    allowed: set[str],
    event_id: uuid.UUID,
    locale: str,
    context: decisions.RequestContext,
) -> decisions.RecordedDecision:
    """Record the visitor's change (`custom`) or withdrawal (`withdraw`) from this page.

    Idempotent on `event_id` like every decision: the page puts a fresh id in each form it
    draws, so a resubmitted form (a reload) records nothing twice.
    """
    config = site_config(site, locale)
    optional = [category["slug"] for category in config["categories"] if not category["necessary"]]
    choices = {} if action == "withdraw" else {slug: slug in allowed for slug in optional}
    policy = config["policy_version"]
    decision = {
        "event_id": event_id,
        "visitor_token": visitor_token,
        "action": action,
        "choices": choices,
        "policy_version": policy["label"] if policy else "none",
        "banner_version": shown_banner(site, visitor_id),
        "language": locale,
        "source": SOURCE,
        "gpc": False,
        "url": None,
        "client_time": None,
    }
    return decisions.record_decision(snapshot, decision, context)


def shown_banner(site: Site, visitor_id: str) -> str:
    """The banner version this page shows the visitor: the site's current banner under the
    rules the visitor was last shown (the plain banner when no rule set is known)."""
    latest = decisions.latest_event(site.id, visitor_id)
    if latest is not None and latest.rule_set:
        return rule_banner_hash(banner_document(site), latest.rule_set)
    return site.banner_version_hash or ""
