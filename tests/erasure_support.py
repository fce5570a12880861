"""Seeding a ledger for the erasure and retention tests: events with distinctive personal
values (so that a search of the whole database finds any left behind), leads, subscriptions,
mail and counters linked to them."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consent_service.encryption import decrypt_text, encrypt_json, encrypt_text
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import address_hash, client_hash
from consent_service.ledger.evidence import commitment, evidence_document
from consent_service.models import (
    ConsentEvent,
    ConsentWriteCounter,
    Lead,
    MailMessage,
    MailRateEvent,
    Subscription,
)
from consent_service.models.types import utcnow
from consent_service.sites.versions import current_policy


def event_row(site: Any, visitor: str, at: datetime, values: dict[str, Any], v1: bool = False):
    salt = None if v1 else secrets.token_hex(32)
    row = {
        "site_id": site.id,
        "event_id": uuid.uuid4(),
        "visitor_id": visitor,
        "action": "accept_all",
        "choices": {"necessary": True, "analytics": True},
        "policy_version": current_policy(site).label,
        "banner_version": site.banner_version_hash,
        "language": "en",
        "source": "banner",
        "gpc": False,
        "recorded_at": at,
        "request_hash": secrets.token_hex(32),
        "evidence_salt": salt,
        "evidence_commitment": None,
        **values,
    }
    if salt is not None:
        row["evidence_commitment"] = commitment(
            evidence_document(
                salt, row["page_url"], row["user_agent"], row["ip_prefix"], row["client_time"]
            )
        )
    return row


def values_of(tag: str, index: int, at: datetime) -> dict[str, Any]:
    """Personal values no other row shares: a search for them finds only this visitor's."""
    return {
        "page_url": f"https://www.example.com/{tag}-page-{index}",
        "user_agent": f"Agent{tag.title()}/{index}.0",
        "ip_prefix": f"2001:db8:{tag[:1]}{index:03x}::/48",
        "client_time": at - timedelta(seconds=3),
        "country": "DE",
    }


def seed_visitors(
    site: Any, tag: str, visitors: int, events_each: int, at: datetime, v1_every: int = 0
) -> list[str]:
    ids = [secrets.token_hex(16) for _ in range(visitors)]
    rows = []
    for index, visitor in enumerate(ids):
        for number in range(events_each):
            when = at + timedelta(seconds=index * 10 + number)
            rows.append(
                event_row(
                    site,
                    visitor,
                    when,
                    values_of(tag, index, when),
                    v1=bool(v1_every) and index % v1_every == 0 and number == 0,
                )
            )
    db.session.execute(sa.insert(ConsentEvent), rows)
    db.session.commit()
    return ids


def add_personal_links(site: Any, visitors: list[str], tag: str) -> dict[str, list[str]]:
    """A lead for each of the first visitors, a subscription (with its message and rate
    counters) for some, a write counter per address prefix; returns the values to search."""
    leads, emails = [], []
    now = utcnow()
    for index, visitor in enumerate(visitors[:30]):
        fields = {"email": f"lead-{tag}-{index}@example.com", "name": f"Leadname{tag}{index}"}
        leads += list(fields.values())
        delivered = index % 3 == 0
        db.session.add(
            Lead(
                site_id=site.id,
                form="contact",
                category="crm",
                visitor_id=visitor,
                consent_event_id=uuid.uuid4(),
                field_names=sorted(fields),
                fields_encrypted=encrypt_json(fields),
                status="delivered" if delivered else "pending",
                crm_id=f"crm-{tag}-{index}" if delivered else None,
            )
        )
    for index, visitor in enumerate(visitors[:20]):
        email = f"sub-{tag}-{index}@example.com"
        emails.append(email)
        subscription = Subscription(
            site_id=site.id,
            form="newsletter",
            category="marketing_email",
            status="pending",
            subject_id=secrets.token_hex(16),
            address_hash=address_hash(site.site_key, email),
            email_encrypted=encrypt_text(email),
            locale="en",
            wording_hash="0" * 64,
            visitor_id=visitor if index % 2 == 0 else None,
        )
        db.session.add(subscription)
        db.session.flush()
        db.session.add(
            MailMessage(
                site_id=site.id,
                subscription_id=subscription.id,
                kind="confirmation",
                message_id=secrets.token_hex(16),
                recipient_encrypted=encrypt_text(email),
                content_encrypted=encrypt_json({"subject": "Confirm", "text": email}),
            )
        )
        db.session.add(
            MailRateEvent(
                site_id=site.id, scope="address", key_hash=address_hash(site.site_key, email)
            )
        )
    for index in range(len(visitors)):
        prefix = values_of(tag, index, now)["ip_prefix"]
        db.session.add(ConsentWriteCounter(site_id=site.id, client=prefix, window_start=0, count=1))
        db.session.add(
            MailRateEvent(
                site_id=site.id, scope="client", key_hash=client_hash(site.site_key, prefix)
            )
        )
    db.session.commit()
    return {"lead_fields": leads, "emails": emails}


def database_text() -> list[tuple[str, str, str]]:
    """(table, column, text) of every value in every table, encrypted columns decrypted."""
    metadata = sa.MetaData()
    metadata.reflect(bind=db.engine)
    found = []
    with db.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = str(value)
                    if column.endswith("_encrypted"):
                        text = decrypt_text(text)
                    found.append((table.name, column, text))
    return found
