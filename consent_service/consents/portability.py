"""What the service holds about one person, as one JSON document: the answer to an access or
portability request (GDPR Art. 15 and 20, PIPL Art. 45).

The person is a visitor id (their consent events, leads, subscriptions asked from the banner)
and/or an address (its subscriptions). Everything decrypted is theirs; nothing of anyone else
is included, and no operator detail (request hashes, claim times, errors).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from consent_service.encryption import DecryptionFailed, decrypt_json, decrypt_text
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import address_hash
from consent_service.models import ConsentEvent, Lead, Site, Subscription
from consent_service.models.types import utcnow

FORMAT = "consent-service.visitor-export.v1"


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def visitor_export(
    site_id: int, visitor_id: str | None, email: str | None = None
) -> dict[str, Any]:
    """The document (JSON-ready); empty lists when nothing is held."""
    site = db.session.get(Site, site_id)
    assert site is not None
    events: list[dict[str, Any]] = []
    leads: list[dict[str, Any]] = []
    if visitor_id:
        for event in db.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.site_id == site_id, ConsentEvent.visitor_id == visitor_id)
            .order_by(ConsentEvent.recorded_at, ConsentEvent.id)
        ):
            events.append(
                {
                    "event_id": str(event.event_id),
                    "recorded_at": when(event.recorded_at),
                    "action": event.action,
                    "choices": event.choices,
                    "source": event.source,
                    "policy_version": event.policy_version,
                    "banner_version": event.banner_version,
                    "language": event.language,
                    "gpc": event.gpc,
                    "page_url": event.page_url,
                    "user_agent": event.user_agent,
                    "ip_prefix": event.ip_prefix,
                    "country": event.country,
                }
            )
        for lead in db.session.scalars(
            select(Lead)
            .where(Lead.site_id == site_id, Lead.visitor_id == visitor_id)
            .order_by(Lead.id)
        ):
            leads.append(
                {
                    "lead_id": str(lead.lead_id),
                    "form": lead.form,
                    "status": lead.status,
                    "created_at": when(lead.created_at),
                    "fields": readable_json(lead.fields_encrypted),
                }
            )
    matches = []
    if visitor_id:
        matches.append(Subscription.visitor_id == visitor_id)
    if email:
        matches.append(Subscription.address_hash == address_hash(site.site_key, email))
    subscriptions = (
        [
            {
                "form": subscription.form,
                "category": subscription.category,
                "status": subscription.status,
                "email": readable_text(subscription.email_encrypted),
                "requested_at": when(subscription.requested_at),
                "confirmed_at": when(subscription.confirmed_at),
                "unsubscribed_at": when(subscription.unsubscribed_at),
            }
            for subscription in db.session.scalars(
                select(Subscription)
                .where(Subscription.site_id == site_id, or_(*matches))
                .order_by(Subscription.id)
            )
        ]
        if matches
        else []
    )
    return {
        "format": FORMAT,
        "site": {"key": site.site_key, "name": site.name},
        "exported_at": when(utcnow()),
        "visitor_id": visitor_id,
        "consent_events": events,
        "leads": leads,
        "subscriptions": subscriptions,
    }


def readable_text(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return decrypt_text(token)
    except DecryptionFailed:
        return None


def readable_json(token: str | None) -> Any:
    if token is None:
        return None
    try:
        return decrypt_json(token)
    except DecryptionFailed:
        return None
