"""Webhooks for site backends: every consent change, signed, delivered at least once.

A delivery is written in the transaction that records the consent (through the
`decision_recorded` signal), so a backend never hears of a change that did not happen and never
misses one that did. A sender (in the web processes, or `consent-service webhooks worker`)
POSTs the JSON message with

    X-Consent-Signature: t=TIMESTAMP,v1=HEX

where HEX is HMAC-SHA256, keyed with the webhook's secret, over `TIMESTAMP.BODY` (the raw
bytes). Failures are retried with exponential backoff; after the last attempt a delivery is
dead, and an admin can send it again. Messages carry an `id`: a receiver that sees one twice
ignores the second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import bindparam, or_, select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.outbox import backoff, claim
from consent_service.ledger.records import event_record
from consent_service.models import ConsentEvent, Site, Webhook, WebhookDelivery
from consent_service.models.types import utcnow
from consent_service.outbound import UrlRefused, check_endpoint, open_checked
from consent_service.prepared import Prepared
from consent_service.redact import redact

if TYPE_CHECKING:
    from consent_service.sites.snapshot import SiteSnapshot

SIGNATURE_HEADER = "X-Consent-Signature"
SIGNATURE_TOLERANCE = timedelta(minutes=5)
BATCH = 50


class DeliveryFailed(Exception):
    """The endpoint could not be reached or did not answer 2xx."""


def validate_url(url: str, allow_http: bool = False) -> str:
    """https to a public address; `allow_http` (WEBHOOK_ALLOW_HTTP, development) also takes
    http and a receiver on loopback or a private network."""
    try:
        return check_endpoint(url, allow_local=allow_http)
    except UrlRefused as exc:
        raise ApiError(
            422,
            "A webhook URL must be https:// to a public host, without credentials.",
            error="validation_failed",
            errors={"url": [str(exc)]},
        ) from exc


def add_webhook(site: Site, url: str, allow_http: bool = False) -> tuple[Webhook, str]:
    """Register an endpoint; returns it with its secret (only here is the secret shown)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(site_id=site.id, url=validate_url(url, allow_http), secret=secret)
    db.session.add(webhook)
    db.session.commit()
    return webhook, secret


def list_webhooks(site_id: int) -> Sequence[Webhook]:
    return db.session.scalars(
        select(Webhook).where(Webhook.site_id == site_id, Webhook.active).order_by(Webhook.id)
    ).all()


def remove_webhook(site_id: int, webhook_id: int) -> None:
    """Stop announcing to an endpoint; what was not yet delivered is dropped (dead)."""
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or webhook.site_id != site_id or not webhook.active:
        raise ApiError(404, "No such webhook.", error="not_found")
    webhook.active = False
    db.session.commit()


def message_for(site_key: str, event: ConsentEvent) -> dict[str, Any]:
    """The event exactly as the ledger hashes it (so a backend can match it to a receipt)."""
    return {
        "id": str(uuid.uuid4()),
        "type": "consent.changed",
        "site": site_key,
        "created_at": utcnow().isoformat(),
        "data": event_record(event, site_key),
    }


WEBHOOKS = Webhook.__table__
#: Compiled once and run on the driver's cursor (prepared.py): SQLAlchemy's query machinery
#: would cost more than the consent's own INSERT on every write, for a site that most often
#: has no endpoint at all.
ACTIVE_ENDPOINTS = Prepared(
    select(WEBHOOKS.c.id).where(WEBHOOKS.c.site_id == bindparam("site_id"), WEBHOOKS.c.active)
)


#: A new delivery, every column given (statements run on the driver do not run defaults).
DELIVERY_KEYS = (
    "webhook_id",
    "message_id",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
INSERT_DELIVERY = Prepared(WebhookDelivery.__table__.insert(), DELIVERY_KEYS)


def queue_deliveries(
    site: SiteSnapshot,
    event: ConsentEvent,
    webhooks: int | None = None,
    transaction: Any = None,
    **_: object,
) -> None:
    """A `decision_recorded` receiver: one delivery per active endpoint, in the event's
    `transaction` (the session if None; no commit here). The endpoints are read in it, not
    from the per-process site cache: an endpoint added a moment ago must not miss an event.
    `webhooks`: how many the event's INSERT found (None: unknown); none, no statement here."""
    if webhooks == 0:
        return
    cursor = ACTIVE_ENDPOINTS.execute(transaction, {"site_id": site.site_id})
    try:
        endpoints = [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
    now = utcnow()
    rows = []
    for webhook_id in endpoints:
        message = message_for(site.site_key, event)
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        rows.append(
            {
                "webhook_id": webhook_id,
                "message_id": message["id"],
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        INSERT_DELIVERY.executemany(transaction, rows)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: datetime) -> bool:
    """What a receiver does (the README shows the same in a few lines)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > SIGNATURE_TOLERANCE.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    allow_local = bool(current_app.config.get("WEBHOOK_ALLOW_HTTP"))
    try:
        with open_checked(request, timeout, allow_local) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError, UrlRefused) as exc:
        raise DeliveryFailed(str(getattr(exc, "reason", exc))) from exc


@dataclass
class SendReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take a due delivery for CLAIM; False when another sender took it first."""
    return claim(WebhookDelivery, [delivery_id], now, ("pending",)) == [delivery_id]


def deliver_due(
    now: datetime | None = None,
    post: Callable[[str, bytes, dict[str, str], float], int] = http_post,
) -> SendReport:
    """Send what is due, one committed transaction per delivery; safe with several senders."""
    now = now or utcnow()
    timeout = float(current_app.config["WEBHOOK_TIMEOUT"])
    max_attempts = int(current_app.config["WEBHOOK_MAX_ATTEMPTS"])
    report = SendReport()
    due = db.session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
        )
        .order_by(WebhookDelivery.id)
        .limit(BATCH)
    ).all()
    for delivery_id in due:
        if not _claim(delivery_id, now):
            continue
        delivery = db.session.get(WebhookDelivery, delivery_id)
        webhook = db.session.get(Webhook, delivery.webhook_id) if delivery else None
        if delivery is None or webhook is None:
            continue
        delivery.attempts += 1
        delivery.claimed_until = None
        try:
            if not webhook.active:
                raise DeliveryFailed("the webhook was removed")
            body = delivery.body.encode()
            status = post(
                webhook.url,
                body,
                {
                    "Content-Type": "application/json",
                    "User-Agent": "consent-service-webhooks",
                    "X-Consent-Message-Id": delivery.message_id,
                    SIGNATURE_HEADER: sign(webhook.secret, int(now.timestamp()), body),
                },
                timeout,
            )
            if not 200 <= status < 300:
                raise DeliveryFailed(f"HTTP {status}")
            delivery.status = "delivered"
            delivery.delivered_at = now
            delivery.last_error = None
            report.delivered += 1
        except DeliveryFailed as exc:
            delivery.last_error = redact(str(exc))
            if delivery.attempts >= max_attempts or not webhook.active:
                delivery.status = "dead"
                report.dead += 1
            else:
                delivery.next_attempt_at = now + backoff(delivery.attempts)
                report.failed += 1
        db.session.commit()
    return report


def dead_deliveries(site_id: int) -> Sequence[WebhookDelivery]:
    return db.session.scalars(
        select(WebhookDelivery)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(Webhook.site_id == site_id, WebhookDelivery.status == "dead")
        .order_by(WebhookDelivery.id)
    ).all()


def retry_delivery(site_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a dead delivery again, from the first attempt."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    webhook = db.session.get(Webhook, delivery.webhook_id) if delivery else None
    if delivery is None or webhook is None or webhook.site_id != site_id:
        raise ApiError(404, "No such delivery.", error="not_found")
    if delivery.status != "dead" or not webhook.active:
        raise ApiError(
            409, "Only a dead delivery to an active webhook can be retried.", error="not_dead"
        )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    db.session.commit()
    return delivery
