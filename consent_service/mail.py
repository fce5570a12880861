"""Sending e-mail: the outbox of messages, the message format, and the SMTP transport.

A message is written to the outbox (recipient and content encrypted) in the transaction that
decided to send it, and sent later by a sender in the web processes or by
`consent-service mail worker`, with claims, exponential backoff and dead letters as for
webhooks. SMTP being down, or not configured yet, therefore never loses a message: it waits.
The message itself (Date, Message-ID, From) is built at send time from the stored parts.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import delete, or_, select

from consent_service.encryption import decrypt_json, decrypt_text, encrypt_json, encrypt_text
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import MailMessage, Subscription, Suppression
from consent_service.models.types import utcnow
from consent_service.outbox import backoff, claim

log = logging.getLogger(__name__)

BATCH = 100
SECURITY_MODES = ("none", "starttls", "tls")
#: Headers that mail clients read as they are: never folded or encoded (RFC 2369, RFC 8058).
VERBATIM_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class MailPolicy(EmailPolicy):
    """The SMTP policy (CRLF, RFC 2047 for non-ASCII), except that List-Unsubscribe stays one
    line: folded into encoded-words, clients would no longer recognise its URL."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in VERBATIM_HEADERS:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in VERBATIM_HEADERS:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


class SendFailed(Exception):
    """The message was not accepted; `permanent` when trying again cannot help (5xx)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    mail_from: str
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0
    ca_file: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings | None:
        """None while no SMTP host is configured (messages then wait in the outbox)."""
        if not config.get("SMTP_HOST"):
            return None
        security = str(config.get("SMTP_SECURITY") or "starttls")
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}")
        return cls(
            host=str(config["SMTP_HOST"]),
            port=int(config["SMTP_PORT"]),
            security=security,
            mail_from=str(config.get("MAIL_FROM") or f"consent-service@{config['SMTP_HOST']}"),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            timeout=float(config.get("SMTP_TIMEOUT") or 20.0),
            ca_file=config.get("SMTP_CA_FILE") or None,
        )

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.mail_from)[1].rpartition("@")[2] or "consent-service.invalid"


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """One SMTP session per sender run, opened on the first message and reopened after an
    error. TLS certificates are verified (SMTP_CA_FILE adds a private CA)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=self._tls_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendFailed(_describe(exc), permanent=all(code >= 500 for code in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendFailed(_describe(exc), permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendFailed(_describe(exc)) from exc
        if refused:
            raise SendFailed(f"refused: {refused}")

    def close(self) -> None:
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def build_message(
    settings: SmtpSettings,
    recipient: str,
    content: Mapping[str, Any],
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """A text/plain UTF-8 message. The policy refuses header values with line breaks, so a
    stored field can never add a header (the API layer rejects such input before)."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}@{settings.sender_domain}>"
    message["From"] = settings.mail_from
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = content["subject"]
    for name, value in content.get("headers", {}).items():
        message[name] = value
    message.set_content(content["text"], charset="utf-8", cte="quoted-printable")
    return message


def queue_message(
    site_id: int,
    subscription: Subscription,
    recipient: str,
    kind: str,
    subject: str,
    text: str,
    headers: Mapping[str, str] | None = None,
) -> MailMessage:
    """Put a message in the outbox (no commit: it lands with the caller's transaction)."""
    row = MailMessage(
        site_id=site_id,
        subscription_id=subscription.id,
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
        row.last_error = str(exc)[:500]
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


def forget_messages_to(subscription_ids: Sequence[int]) -> int:
    """Delete every message to these subscriptions, whatever its state (no commit): each one
    holds the address. Used by erasure."""
    if not subscription_ids:
        return 0
    result: Any = db.session.execute(
        delete(MailMessage).where(MailMessage.subscription_id.in_(subscription_ids))
    )
    return int(result.rowcount or 0)
