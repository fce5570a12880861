"""CRM lead capture: a site's NeoCRM connection, the lead outbox, and disclosure records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid, event
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.site import ImmutableRowError
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

LEAD_STATUSES = ("pending", "delivered", "dead", "deleting", "deleted", "withdrawn")
DISCLOSURE_ACTIONS = ("disclosed", "erased", "deleted_at_recipient")


class CrmConnection(db.Model):  # type: ignore[name-defined]
    """How a site reaches its NeoCRM tenant. The client secret and password are encrypted."""

    __tablename__ = "crm_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), unique=True)
    auth_url: Mapped[str] = mapped_column(String(2048))
    instance_url: Mapped[str] = mapped_column(String(2048))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(200))
    password_encrypted: Mapped[str] = mapped_column(Text)
    # Form field -> NeoCRM field, e.g. {"company": "companyName", "lead_id": "customItem9__c"}
    field_map: Mapped[dict[str, str]] = mapped_column(JsonDocument, default=dict)
    # Sent with every lead as is, e.g. {"entityType": 1001}
    fixed: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Lead(db.Model):  # type: ignore[name-defined]
    """One accepted form submission on its way to (or back from) the CRM.

    The personal fields are encrypted and erased (set to None) once the lead is withdrawn or
    deleted; the row itself stays, with the field names, as the record that it existed.
    """

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_due", "status", "next_attempt_at"),
        Index("ix_leads_visitor", "site_id", "visitor_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    form: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(64), default=None)
    visitor_id: Mapped[str] = mapped_column(String(32))
    # The ledger event whose grant of `category` this lead rests on.
    consent_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    separate_consent_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    field_names: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    fields_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # The last create timed out after it was sent: the CRM may hold the lead already.
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    crm_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Disclosure(db.Model):  # type: ignore[name-defined]
    """What was handed to (or taken back from) a recipient, when, why and on which consent.

    Append-only, like consent events: auditors export these beside the ledger.
    """

    __tablename__ = "disclosures"
    __table_args__ = (Index("ix_disclosures_site", "site_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(300))
    recipient_location: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[str] = mapped_column(String(500))
    # Names only: what kinds of data went, never the values.
    fields: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    legal_basis: Mapped[str] = mapped_column(String(300))
    consent_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    separate_consent_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    crm_id: Mapped[str | None] = mapped_column(String(64), default=None)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


@event.listens_for(Disclosure, "before_update")
@event.listens_for(Disclosure, "before_delete")
def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError("disclosure records are append-only")
