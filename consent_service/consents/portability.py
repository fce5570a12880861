"""All the service holds about one person on one site, as one JSON document: the visitor's
own download (portability) and the answer to an access or portability request (GDPR Art. 15
and 20, PIPL Art. 45).

The person is a visitor id (their consent events with the evidence kept beside each, each
event's signed receipt and seal status, their leads and subscriptions) and/or an address (its
subscriptions). The visitor's self-service download, which needs only the visitor token,
names lead fields and addresses without decrypting them; a request handled by the site's
staff, who checked who is asking, carries their content (`with_content`). Nothing of anyone
else is included, and no operator detail (request hashes, claim times, errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from consent_service.encryption import DecryptionFailed, decrypt_json, decrypt_text
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import address_hash
from consent_service.ledger.records import event_record, issue_receipt, utc_timestamp
from consent_service.ledger.sealing import latest_checkpoint
from consent_service.ledger.signing import current_key
from consent_service.models import ConsentEvent, Lead, LedgerEntry, Site, Subscription
from consent_service.models.types import utcnow

FORMAT = "consent-service.visitor-data.v1"


@dataclass(frozen=True)
class Seal:
    """Where an event stands in the ledger: `sealed` once a signed checkpoint covers it."""

    status: str  # "sealed" or "waiting"
    seq: int | None
    tree_size: int | None


def visitor_events(site_id: int, visitor_id: str) -> Sequence[ConsentEvent]:
    """The visitor's events, newest first (the visitor index serves this read)."""
    return db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.visitor_id == visitor_id)
        .order_by(ConsentEvent.id.desc())
    ).all()


def seals(site_id: int, events: Sequence[ConsentEvent]) -> dict[int, Seal]:
    """Each event's seal by its row id: one query for the entries, one for the checkpoint."""
    if not events:
        return {}
    numbered = dict(
        db.session.execute(
            select(LedgerEntry.consent_event_id, LedgerEntry.seq).where(
                LedgerEntry.consent_event_id.in_([event.id for event in events])
            )
        ).all()
    )
    checkpoint = latest_checkpoint(site_id)
    size = checkpoint.tree_size if checkpoint is not None else 0
    found = {}
    for event in events:
        seq = numbered.get(event.id)
        sealed = seq is not None and seq < size
        found[event.id] = Seal("sealed" if sealed else "waiting", seq, size if sealed else None)
    return found


def receipt_of(event: ConsentEvent, site_key: str) -> dict[str, Any]:
    """The signed receipt of an event, as the visitor got it when it was recorded."""
    return issue_receipt(event_record(event, site_key), current_key())


def timestamp(value: datetime | None) -> str | None:
    return utc_timestamp(value) if value is not None else None


def event_entry(event: ConsentEvent, site_key: str, seal: Seal) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "action": event.action,
        "choices": dict(event.choices),
        "policy_version": event.policy_version,
        "banner_version": event.banner_version,
        "rule_set": event.rule_set,
        "language": event.language,
        "source": event.source,
        "gpc": bool(event.gpc),
        "recorded_at": timestamp(event.recorded_at),
        "client_time": timestamp(event.client_time),
        "page_url": event.page_url,
        "ip_prefix": event.ip_prefix,
        "user_agent": event.user_agent,
        "country": event.country,
        "seal": {"status": seal.status, "seq": seal.seq, "tree_size": seal.tree_size},
        "receipt": receipt_of(event, site_key),
    }


def lead_entry(lead: Lead, with_content: bool = False) -> dict[str, Any]:
    erased = lead.erased_at is not None
    entry = {
        "lead_id": str(lead.lead_id),
        "form": lead.form,
        "category": lead.category,
        "status": lead.status,
        "consent_event_id": str(lead.consent_event_id),
        "fields_held": [] if erased else list(lead.field_names or []),
        "created_at": timestamp(lead.created_at),
        "delivered_at": timestamp(lead.delivered_at),
        "deleted_at": timestamp(lead.deleted_at),
        "erased_at": timestamp(lead.erased_at),
    }
    if with_content:
        entry["fields"] = readable_json(lead.fields_encrypted)
    return entry


def subscription_entry(subscription: Subscription, with_content: bool = False) -> dict[str, Any]:
    entry = {
        "form": subscription.form,
        "category": subscription.category,
        "status": subscription.status,
        "address_held": subscription.email_encrypted is not None,
        "requested_at": timestamp(subscription.requested_at),
        "confirmed_at": timestamp(subscription.confirmed_at),
        "unsubscribed_at": timestamp(subscription.unsubscribed_at),
        "erased_at": timestamp(subscription.erased_at),
    }
    if with_content:
        entry["email"] = readable_text(subscription.email_encrypted)
    return entry


def visitor_document(
    site_id: int,
    site_key: str,
    visitor_id: str | None,
    *,
    email: str | None = None,
    with_content: bool = False,
) -> dict[str, Any]:
    """Everything held about the person on this site, in a stable, documented shape; empty
    lists when nothing is held."""
    events = visitor_events(site_id, visitor_id) if visitor_id else []
    sealed = seals(site_id, events)
    leads = (
        db.session.scalars(
            select(Lead)
            .where(Lead.site_id == site_id, Lead.visitor_id == visitor_id)
            .order_by(Lead.id)
        ).all()
        if visitor_id
        else []
    )
    matches = []
    if visitor_id:
        matches.append(Subscription.visitor_id == visitor_id)
    if email:
        matches.append(Subscription.address_hash == address_hash(site_key, email))
    subscriptions = (
        db.session.scalars(
            select(Subscription)
            .where(Subscription.site_id == site_id, or_(*matches))
            .order_by(Subscription.id)
        ).all()
        if matches
        else []
    )
    return {
        "format": FORMAT,
        "site": site_key,
        "visitor_id": visitor_id,
        "generated_at": utc_timestamp(utcnow()),
        "events": [event_entry(event, site_key, sealed[event.id]) for event in events],
        "leads": [lead_entry(lead, with_content) for lead in leads],
        "subscriptions": [subscription_entry(item, with_content) for item in subscriptions],
    }


def visitor_export(
    site_id: int, visitor_id: str | None, email: str | None = None
) -> dict[str, Any]:
    """The answer to an access or portability request: the document with its content."""
    site = db.session.get(Site, site_id)
    assert site is not None
    return visitor_document(site_id, site.site_key, visitor_id, email=email, with_content=True)


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
