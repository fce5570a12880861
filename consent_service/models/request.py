"""Data subject requests (access, correction, erasure, portability, objection) and the
append-only log of every step taken on them.

A request concerns a pseudonymous visitor id (proved with the visitor's token) or an e-mail
address (proved by a confirmation link), and holds no more: the address is kept encrypted for
the reply beside a salted hash for finding, and forgotten when an erasure request closes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.types import UtcDateTime, utcnow

REQUEST_KINDS = ("access", "correction", "erasure", "portability", "objection")
#: awaiting_confirmation (an address not proved yet: not received, never overdue) -> open
#: (received, the due date runs) -> in_progress (someone handles it) -> closed (with an
#: outcome) or rejected (with a reason). closed and rejected are final.
REQUEST_STATUSES = ("awaiting_confirmation", "open", "in_progress", "closed", "rejected")
#: Statuses whose due date counts: a request in them past its due date is overdue.
PENDING_STATUSES = ("open", "in_progress")
#: How the requester proved who they are.
REQUEST_CHANNELS = ("visitor_token", "email", "site_backend")
CLOSE_OUTCOMES = ("fulfilled", "partly_fulfilled", "nothing_held")


class SubjectRequest(db.Model):  # type: ignore[name-defined]
    """One request of one person to one site; its status moves only forward."""

    __tablename__ = "subject_requests"
    __table_args__ = (
        Index("ix_subject_requests_due", "site_id", "status", "due_at"),
        Index("ix_subject_requests_address", "site_id", "address_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    visitor_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Salted with the site key, as subscriptions' (subscribers.address_hash).
    address_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    email_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    # What the requester asked in their own words (may be personal: encrypted).
    details_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    # Set while the confirmation link may be used; confirming consumes it.
    confirm_nonce: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When the request counts as received: at once with a visitor token, at confirmation for
    # an address. Unconfirmed requests have neither date.
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class SubjectRequestStep(db.Model):  # type: ignore[name-defined]
    """One thing done on a request: who, when, what, and a note. Never updated or deleted."""

    __tablename__ = "subject_request_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # "visitor", "site_backend:<token label>", "console:<account id>", "cli".
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
