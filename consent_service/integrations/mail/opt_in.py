"""Double opt-in. The consent to marketing e-mail is recorded in the ledger only when the owner of
the address follows the confirmation link, as a `ConsentEvent` with source "email" naming the
exact wording shown. The public request answers the same whatever the address's state, so it
cannot be used to learn who is subscribed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, render_template
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from consent_service.consents.decisions import (
    RequestContext,
)
from consent_service.encryption import encrypt_text
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.integrations.mail import outbox
from consent_service.integrations.mail.limits import (
    address_allowance_left,
    check_client_limit,
    count_rate_event,
)
from consent_service.integrations.mail.links import (
    CONFIRMATION_LIFETIME,
    LinkOutcome,
    confirmation_state,
    confirmation_target,
    confirmation_url,
    one_line,
)
from consent_service.integrations.mail.subscribers import (
    address_hash,
    client_hash,
    find_subscription,
    mail_locale,
    policy_label,
    record_event,
    subscription_form,
)
from consent_service.models import (
    MailMessage,
    MailRateEvent,
    Subscription,
    Suppression,
)
from consent_service.models.types import utcnow
from consent_service.sites.forms import find_wording
from consent_service.sites.snapshot import SiteSnapshot
from consent_service.tokens import (
    issue_confirmation_token,
    read_confirmation_token,
    read_visitor_token,
)

#: Unconfirmed requests are forgotten (address and all) a day after their link expired.
FORGET_UNCONFIRMED_AFTER = CONFIRMATION_LIFETIME + timedelta(days=1)


SUBJECTS = {
    "en": {
        "confirmation": "Please confirm your subscription to {site}",
    },
    "zh-CN": {
        "confirmation": "请确认订阅 {site} 的邮件",
    },
}


def request_subscription(
    site: SiteSnapshot,
    body: Mapping[str, Any],
    context: RequestContext,
    base_url: str,
    now: datetime | None = None,
) -> None:
    """A visitor asks to subscribe; a confirmation message is queued if it should be.

    Returns nothing on purpose: the caller answers the same whether the address is new,
    pending, active, unsubscribed or suppressed, and whether a message was sent at all.
    Over the per-client limit it raises 429 (nothing stored); over the per-address limit it
    quietly sends nothing more. Suppressed addresses do get a confirmation: confirming a new
    subscription is the one way off the list, and the per-address limit bounds it.
    """
    now = now or utcnow()
    client = client_hash(site.site_key, context.ip_prefix)
    check_client_limit(site, client, now)

    form = subscription_form(site.site_id, body.get("form"))
    digest = str(body["wording_hash"]).lower()
    wording = find_wording(site.site_id, form.slug, digest)
    if wording is None:
        raise ValidationFailed(
            {"wording_hash": ["This form never showed a wording with this hash."]}
        )
    visitor_id = None
    if body.get("visitor_token"):
        visitor_id = read_visitor_token(body["visitor_token"], site.site_key)
        if visitor_id is None:
            raise ValidationFailed({"visitor_token": ["Not a valid visitor token for this site."]})
    policy_label(site.site_id, now)  # 409 now rather than a confirmation that cannot work

    count_rate_event(site.site_id, "client", client, now)
    email = str(body["email"]).strip()
    hashed = address_hash(site.site_key, email)
    subscription = find_subscription(site.site_id, form.slug, hashed)
    if subscription is not None and subscription.status == "active":
        db.session.commit()  # already subscribed: nothing to confirm, nothing to say
        return
    if subscription is None:
        subscription = Subscription(
            site_id=site.site_id,
            form=form.slug,
            category=form.category,
            status="pending",
            subject_id=secrets.token_hex(16),
            address_hash=hashed,
            requested_at=now,
            created_at=now,
        )
        db.session.add(subscription)
    if subscription.status != "pending" or subscription.confirm_nonce is None:
        subscription.confirm_nonce = secrets.token_hex(16)
    subscription.status = "pending"
    subscription.category = form.category
    subscription.email_encrypted = encrypt_text(email)
    subscription.locale = str(body["locale"])
    subscription.wording_hash = digest
    subscription.visitor_id = visitor_id or subscription.visitor_id
    subscription.requested_at = now
    try:
        db.session.flush()
    except IntegrityError:  # the same address, asked a moment ago by a concurrent request
        db.session.rollback()
        return

    if address_allowance_left(site.site_id, hashed, now):
        count_rate_event(site.site_id, "address", hashed, now)
        queue_confirmation(site, subscription, email, wording.canonical_json, base_url)
    db.session.commit()


def queue_confirmation(
    site: SiteSnapshot, subscription: Subscription, email: str, wording: str, base_url: str
) -> MailMessage:
    locale = mail_locale(subscription.locale)
    assert subscription.confirm_nonce is not None
    token = issue_confirmation_token(site.site_key, subscription.id, subscription.confirm_nonce)
    text = render_template(
        f"mail/confirm.{locale}.txt",
        site_name=site.name,
        wording=wording,
        confirm_url=confirmation_url(base_url, token),
    )
    return outbox.queue_message(
        site.site_id,
        subscription,
        email,
        "confirmation",
        subject=SUBJECTS[locale]["confirmation"].format(site=one_line(site.name)),
        text=text,
        headers={"Auto-Submitted": "auto-generated"},
    )


def _from_confirmation_token(
    token: str,
) -> tuple[SiteSnapshot, Subscription, str, datetime] | None:
    return confirmation_target(read_confirmation_token(token), Subscription)


def _link_state(subscription: Subscription, nonce: str, issued_at: datetime, now: datetime) -> str:
    waiting = subscription.status == "pending"
    return confirmation_state(waiting, subscription.confirm_nonce, nonce, issued_at, now)


def check_confirmation(token: str, now: datetime | None = None) -> LinkOutcome:
    """What following a confirmation link would do, without doing it (the GET page: mail
    scanners fetch links, so only the button's POST confirms)."""
    found = _from_confirmation_token(token)
    if found is None:
        return LinkOutcome("invalid")
    site, subscription, nonce, issued_at = found
    state = _link_state(subscription, nonce, issued_at, now or utcnow())
    return LinkOutcome(state, site.name, mail_locale(subscription.locale))


def confirm_subscription(
    token: str, context: RequestContext, now: datetime | None = None
) -> LinkOutcome:
    """Confirm a subscription: the link's nonce is consumed, the consent is recorded in the
    ledger (source "email", the wording's hash as banner version), the address leaves the
    suppression list, the subscription is active. One transaction; the link works once."""
    now = now or utcnow()
    found = _from_confirmation_token(token)
    if found is None:
        return LinkOutcome("invalid")
    site, subscription, nonce, issued_at = found
    locale = mail_locale(subscription.locale)
    state = _link_state(subscription, nonce, issued_at, now)
    if state != "valid":
        return LinkOutcome(state, site.name, locale)
    try:
        label = policy_label(site.site_id, now)
    except ApiError:
        return LinkOutcome("invalid", site.name, locale)
    consumed: Any = db.session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.status == "pending",
            Subscription.confirm_nonce == nonce,
        )
        .values(confirm_nonce=None, status="active")
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # another request confirmed it a moment ago
        db.session.rollback()
        return LinkOutcome("used", site.name, locale)
    event = record_event(
        site,
        subscription,
        action="custom",
        granted=True,
        source="email",
        policy=label,
        banner_version=subscription.wording_hash,
        context=context,
        now=now,
        fingerprint={"confirm": subscription.id, "nonce": nonce},
    )
    subscription.status = "active"
    subscription.confirm_nonce = None
    subscription.consent_event_id = event.event_id
    subscription.confirmed_at = now
    subscription.unsubscribed_at = None
    subscription.withdrawal_event_id = None
    if subscription.address_hash is not None:
        db.session.execute(
            delete(Suppression).where(
                Suppression.site_id == site.site_id,
                Suppression.address_hash == subscription.address_hash,
            )
        )
    db.session.commit()
    return LinkOutcome("confirmed", site.name, locale, str(event.event_id))


def forget_stale(now: datetime | None = None) -> int:
    """Delete what is only kept for a while: rate counters past every window, and requests
    never confirmed whose link expired (their address with them). Commits; returns how many
    requests were forgotten."""
    now = now or utcnow()
    config = current_app.config
    longest = max(int(config["MAIL_ADDRESS_WINDOW"]), int(config["MAIL_CLIENT_WINDOW"]))
    db.session.execute(
        delete(MailRateEvent).where(MailRateEvent.created_at < now - timedelta(seconds=longest))
    )
    stale = db.session.scalars(
        select(Subscription.id).where(
            Subscription.status == "pending",
            Subscription.consent_event_id.is_(None),
            Subscription.requested_at < now - FORGET_UNCONFIRMED_AFTER,
        )
    ).all()
    if stale:
        outbox.forget_messages_to(stale)
        db.session.execute(delete(Subscription).where(Subscription.id.in_(stale)))
    db.session.commit()
    return len(stale)
