"""Sending marketing mail to confirmed subscribers, with unsubscribe headers, and the worker
that runs the mail outbox.
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template
from sqlalchemy import select

from consent_service.consents.request_mail import forget_unconfirmed
from consent_service.encryption import decrypt_text
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.mail import outbox
from consent_service.integrations.mail.links import list_unsubscribe_headers, unsubscribe_url
from consent_service.integrations.mail.opt_in import forget_stale
from consent_service.integrations.mail.subscribers import (
    address_hash,
    find_suppression,
    mail_locale,
    subscriptions_of,
)
from consent_service.models import (
    Subscription,
    Suppression,
)
from consent_service.sites.snapshot import SiteSnapshot

#: The background job that sends mail in the web processes (`MAIL_AUTOSEND`).
MAIL_WORKER = "mail-sender"


def _sendable(site: SiteSnapshot, hashed: str) -> Subscription | None:
    """The active subscription of an address the site may mail, if any."""
    if find_suppression(site.site_id, hashed) is not None:
        return None
    return next(
        (item for item in subscriptions_of(site.site_id, hashed) if item.status == "active"),
        None,
    )


def unsubscribe_headers(site: SiteSnapshot, email: str, base_url: str) -> dict[str, str]:
    """The List-Unsubscribe headers for a message the site sends itself; 404 unless the
    address is subscribed (so the site learns not to send)."""
    subscription = _sendable(site, address_hash(site.site_key, email))
    if subscription is None:
        raise ApiError(404, "This address is not subscribed.", error="not_subscribed")
    return list_unsubscribe_headers(unsubscribe_url(base_url, site.site_key, subscription))


def send_marketing(site: SiteSnapshot, subject: str, text: str, base_url: str) -> int:
    """Queue one message per active, unsuppressed subscriber, each with its own one-click
    unsubscribe link in the headers and in the text; returns how many. One transaction."""
    suppressed = select(Suppression.address_hash).where(Suppression.site_id == site.site_id)
    subscribers = db.session.scalars(
        select(Subscription)
        .where(
            Subscription.site_id == site.site_id,
            Subscription.status == "active",
            Subscription.address_hash.is_not(None),
            Subscription.address_hash.not_in(suppressed),
        )
        .order_by(Subscription.id)
    ).all()
    queued = 0
    seen: set[str] = set()
    for subscription in subscribers:
        if subscription.email_encrypted is None or subscription.address_hash in seen:
            continue
        seen.add(subscription.address_hash or "")
        url = unsubscribe_url(base_url, site.site_key, subscription)
        body = render_template(
            f"mail/marketing.{mail_locale(subscription.locale)}.txt",
            text=text,
            site_name=site.name,
            unsubscribe_url=url,
        )
        outbox.queue_message(
            site.site_id,
            subscription,
            decrypt_text(subscription.email_encrypted),
            "marketing",
            subject=subject,
            text=body,
            headers=list_unsubscribe_headers(url),
        )
        queued += 1
    db.session.commit()
    return queued


def run_mail_worker(now: datetime | None = None) -> outbox.SendReport:
    """One pass of the mail sender: send what is due, then forget what is stale (unconfirmed
    subscriptions and data subject requests)."""
    report = outbox.deliver_due(now)
    forget_stale(now)
    forget_unconfirmed(now)
    return report
