"""Disclosure records: the append-only account of what personal data went to which recipient,
when, why and on which consent (written on delivery, erasure and deletion), as auditors read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select

from consent_service.extensions import db
from consent_service.ledger.records import utc_timestamp
from consent_service.models import (
    Disclosure,
    Lead,
    Service,
)
from consent_service.models.types import utcnow

BASIS_CONSENT = "consent (GDPR Art. 6(1)(a); PIPL Art. 13(1)(1))"


BASIS_SEPARATE = "; separate consent to provision to a third party and cross-border transfer"
BASIS_SEPARATE += " (PIPL Art. 23, 39)"


def record_disclosure(
    lead: Lead, action: str, recipient: Service | None, fields: Sequence[str]
) -> None:
    db.session.add(
        Disclosure(
            site_id=lead.site_id,
            lead_id=lead.id,
            action=action,
            recipient=(
                f"{recipient.name} ({recipient.provider})" if recipient else lead.service or "site"
            ),
            recipient_location=recipient.storage_location if recipient else "",
            purpose=_purpose(lead, recipient),
            fields=list(fields),
            legal_basis=BASIS_CONSENT + (BASIS_SEPARATE if lead.separate_consent_hash else ""),
            consent_event_id=lead.consent_event_id,
            separate_consent_hash=lead.separate_consent_hash,
            crm_id=lead.crm_id,
            occurred_at=utcnow(),
        )
    )


def _purpose(lead: Lead, recipient: Service | None) -> str:
    """The recipient's stated purpose (English text of the service), else the form's."""
    texts: dict[str, Any] = recipient.texts if recipient else {}
    localised = texts.get("en") or next(iter(texts.values()), None) or {}
    return str(localised.get("purpose") or f"{lead.category} form: {lead.form}")[:500]


DISCLOSURE_FIELDS = (
    "id",
    "lead_id",
    "action",
    "recipient",
    "recipient_location",
    "purpose",
    "fields",
    "legal_basis",
    "consent_event_id",
    "separate_consent_hash",
    "crm_id",
    "occurred_at",
)


def disclosure_records(site_id: int, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every disclosure record of a site, oldest first, as plain values (streamed)."""
    query = (
        select(Disclosure, Lead.lead_id)
        .join(Lead, Lead.id == Disclosure.lead_id)
        .where(Disclosure.site_id == site_id)
        .order_by(Disclosure.id)
        .execution_options(yield_per=batch)
    )
    for disclosure, lead_uuid in db.session.execute(query):
        yield {
            "id": disclosure.id,
            "lead_id": str(lead_uuid),
            "action": disclosure.action,
            "recipient": disclosure.recipient,
            "recipient_location": disclosure.recipient_location,
            "purpose": disclosure.purpose,
            "fields": list(disclosure.fields),
            "legal_basis": disclosure.legal_basis,
            "consent_event_id": str(disclosure.consent_event_id),
            "separate_consent_hash": disclosure.separate_consent_hash,
            "crm_id": disclosure.crm_id,
            "occurred_at": utc_timestamp(disclosure.occurred_at),
        }
