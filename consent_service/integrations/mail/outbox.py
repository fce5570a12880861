"""The mail outbox: queued messages, their delivery with backoff, dead letters and retries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from consent_service.encryption import decrypt_json, decrypt_text, encrypt_json, encrypt_text
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.mail.transport import (
    SendFailed,
    SmtpSettings,
    SmtpTransport,
    Transport,
    build_message,
)
from consent_service.integrations.outbox import backoff, claim
from consent_service.models import MailMessage, Subscription, Suppression
from consent_service.models.types import utcnow
from consent_service.redact import get_logger, redact

log = get_logger(__name__)


BATCH = 100


def queue_message(
    site_id: int,
    subscription: Subscription | None,
    recipient: str,
    kind: str,
    subject: str,
    text: str,
    headers: Mapping[str, str] | None = None,
    request_id: int | None = None,
) -> MailMessage:
    """Put a message in the outbox (no commit: it lands with the caller's transaction).

    A message is about a subscription, or (`request_id`) about a data subject request."""
    row = MailMessage(
        site_id=site_id,
        subscription_id=subscription.id if subscription is not None else None,
        request_id=request_id,
        kind=kind,
        message_id=uuid.uuid4().hex,
        recipient_encrypted=encrypt_text(recipient),
        content_encrypted=encrypt_json(
            {"subject": subject, "text": text, "headers": dict(headers or {})}
        ),
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    return row


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


def _claim(message_id: int, now: datetime) -> bool:
    """Take a due message for CLAIM; False when another sender took it first."""
    return claim(MailMessage, [message_id], now, ("pending",)) == [message_id]


def may_still_send(message: MailMessage) -> bool:
    """Marketing goes only to an active, unsuppressed subscription at the moment of sending:
    an unsubscribe between queueing and sending wins. Confirmations were asked for."""
    if message.subscription_id is None:
        return message.request_id is not None  # a request's confirmation was asked for
    subscription = db.session.get(Subscription, message.subscription_id)
    if subscription is None or subscription.address_hash is None:
        return False
    if message.kind != "marketing":
        return True
    suppressed = db.session.scalar(
        select(Suppression.id).where(
            Suppression.site_id == subscription.site_id,
            Suppression.address_hash == subscription.address_hash,
        )
    )
    return subscription.status == "active" and suppressed is None


def deliver_due(
    now: datetime | None = None,
    transport: Transport | None = None,
    config: Mapping[str, Any] | None = None,
) -> SendReport:
    """Send what is due, one committed transaction per message; safe with several senders.

    Without an SMTP host nothing is attempted (no attempt is spent): the messages wait.
    """
    from flask import current_app

    config = config if config is not None else current_app.config
    now = now or utcnow()
    report = SendReport()
    settings = SmtpSettings.from_config(config)
    if settings is None:
        return report
    max_attempts = int(config["MAIL_MAX_ATTEMPTS"])
    due = db.session.scalars(
        select(MailMessage.id)
        .where(
            MailMessage.status == "pending",
            MailMessage.next_attempt_at <= now,
            or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
        )
        .order_by(MailMessage.id)
        .limit(BATCH)
    ).all()
    if not due:
        return report
    own = transport is None
    sender: Any = transport if transport is not None else SmtpTransport(settings)
    try:
        for message_id in due:
            if _claim(message_id, now):
                _send_one(message_id, sender, settings, now, max_attempts, report)
    finally:
        if own:
            sender.close()
    return report


def _send_one(
    message_id: int,
    sender: Transport,
    settings: SmtpSettings,
    now: datetime,
    max_attempts: int,
    report: SendReport,
) -> None:
    row = db.session.get(MailMessage, message_id)
    if row is None:
        return
    row.claimed_until = None
    if not may_still_send(row):
        row.status = "cancelled"
        report.cancelled += 1
        db.session.commit()
        return
    row.attempts += 1
    try:
        message = build_message(
            settings,
            decrypt_text(row.recipient_encrypted),
            decrypt_json(row.content_encrypted),
            row.message_id,
            now,
        )
        sender.send(message)
        row.status = "sent"
        row.sent_at = now
        row.last_error = None
        report.sent += 1
    except SendFailed as exc:
        row.last_error = redact(str(exc))
        if exc.permanent or row.attempts >= max_attempts:
            row.status = "dead"
            report.dead += 1
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            report.failed += 1
    db.session.commit()


def dead_messages(site_id: int) -> Sequence[MailMessage]:
    return db.session.scalars(
        select(MailMessage)
        .where(MailMessage.site_id == site_id, MailMessage.status == "dead")
        .order_by(MailMessage.id)
    ).all()


def retry_message(site_id: int, message_id: int) -> MailMessage:
    """Send a dead message again, from the first attempt."""
    row = db.session.get(MailMessage, message_id)
    if row is None or row.site_id != site_id:
        raise ApiError(404, "No such message.", error="not_found")
    if row.status != "dead":
        raise ApiError(409, "Only a dead message can be retried.", error="not_dead")
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.last_error = None
    db.session.commit()
    return row


def forget_request_messages(request_id: int) -> int:
    """Delete every message about a data subject request (no commit): each holds the address."""
    result: Any = db.session.execute(
        delete(MailMessage).where(MailMessage.request_id == request_id)
    )
    return int(result.rowcount or 0)


def forget_messages_to(subscription_ids: Sequence[int]) -> int:
    """Delete every message to these subscriptions, whatever its state (no commit): each one
    holds the address. Used by erasure."""
    if not subscription_ids:
        return 0
    result: Any = db.session.execute(
        delete(MailMessage).where(MailMessage.subscription_id.in_(subscription_ids))
    )
    return int(result.rowcount or 0)
