"""Marketing e-mail: subscriptions, the suppression list, the mail outbox and rate counters.

Addresses are kept encrypted (for sending) beside a SHA-256 of the normalised address salted
with the site key (for finding). The suppression list keeps only that hash, so it survives the
erasure of everything else and an address once unsubscribed, bounced or complained about is
never mailed again unless its owner confirms a new subscription.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

SUBSCRIPTION_STATUSES = ("pending", "active", "unsubscribed", "erased")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complaint", "erased")
MESSAGE_KINDS = ("confirmation", "marketing", "request_confirm")
MESSAGE_STATUSES = ("pending", "sent", "dead", "cancelled")
RATE_SCOPES = ("address", "client")


class Subscription(db.Model):  # type: ignore[name-defined]
    """One address on one subscription form of a site.

    `pending` until its owner follows the confirmation link (double opt-in), then `active`
    with the ledger event it rests on; `unsubscribed` after a withdrawal. `subject_id` is the
    pseudonymous visitor id of every ledger event about this subscription. Erasure empties the
    address and keeps the row as the trace that the ledger's subject existed.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("site_id", "form", "address_hash"),
        Index("ix_subscriptions_address", "site_id", "address_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    form: Mapped[str] = mapped_column(String(64))
    # The category the confirmation grants (the form's, e.g. "marketing_email").
    category: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    subject_id: Mapped[str] = mapped_column(String(32))
    # None once erased.
    address_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    email_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    locale: Mapped[str] = mapped_column(String(16))
    # The wording the subscriber agreed to (a BannerVersion of this site).
    wording_hash: Mapped[str] = mapped_column(String(64))
    # Set while a confirmation link may be used; confirming consumes it (links work once).
    confirm_nonce: Mapped[str | None] = mapped_column(String(32), default=None)
    # The banner visitor who asked, when the page sent its visitor token.
    visitor_id: Mapped[str | None] = mapped_column(String(32), default=None)
    consent_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    withdrawal_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Imported subscribers: where and when they consented ({"source", "consented_at", ...}).
    proof: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, default=None)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Suppression(db.Model):  # type: ignore[name-defined]
    """An address (as its salted hash) the site must not send marketing mail to."""

    __tablename__ = "mail_suppressions"
    __table_args__ = (UniqueConstraint("site_id", "address_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    address_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MailMessage(db.Model):  # type: ignore[name-defined]
    """One message to one subscriber, written in the transaction that decided to send it.

    Recipient and content are encrypted at rest; a sender claims, sends, backs off and, after
    the last attempt, leaves it dead for an admin to retry, as webhook deliveries do.
    """

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # None for a message about a data subject request (`request_id`) rather than a subscription.
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id"), index=True, default=None
    )
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject_requests.id"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(16))
    # The left part of the Message-ID header: the same on every attempt.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    recipient_encrypted: Mapped[str] = mapped_column(Text)
    # {"subject", "text", "headers"} as encrypted JSON.
    content_encrypted: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MailRateEvent(db.Model):  # type: ignore[name-defined]
    """One counted subscription request (scope "client") or confirmation (scope "address").

    Counted in the database, not in a process, so the limits hold across workers and hosts.
    `key_hash` is a salted hash of the address or of the client's truncated network address.
    """

    __tablename__ = "mail_rate_events"
    __table_args__ = (
        Index("ix_mail_rate_events_key", "site_id", "scope", "key_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    scope: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
