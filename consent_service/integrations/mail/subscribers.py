"""Subscribers: normalised and hashed addresses, the subscription and suppression rows, the
consent events a subscription records, and what an admin may learn of one address.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_service.canonical import sha256_hex
from consent_service.consents.decisions import (
    RequestContext,
    decision_recorded,
    insert_event,
    request_fingerprint,
)
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.models import (
    ConsentEvent,
    Site,
    SiteForm,
    Subscription,
    Suppression,
)
from consent_service.sites.forms import forms_of
from consent_service.sites.snapshot import SiteSnapshot
from consent_service.sites.versions import current_policy

MAIL_LOCALES = ("en", "zh-CN")


@dataclass(frozen=True)
class SubscriberStatus:
    email: str
    may_send: bool
    status: str
    consent_event: dict[str, Any] | None
    form: str | None = None
    suppression: dict[str, Any] | None = None
    withdrawal_event: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def normalise_address(email: str) -> str:
    """Case and surrounding space never make two addresses different for us."""
    return email.strip().lower()


def address_hash(site_key: str, email: str) -> str:
    """What the suppression list and lookups keep: salted with the site key, so a list leaked
    from one site cannot be matched against another's."""
    return sha256_hex(f"{site_key}\n{normalise_address(email)}")


def client_hash(site_key: str, ip_prefix: str | None) -> str:
    return sha256_hex(f"{site_key}\nclient\n{ip_prefix or 'unknown'}")


def mail_locale(locale: str | None) -> str:
    """The message language: en or zh-CN, by exact tag, then by primary language; else en."""
    if not locale:
        return "en"
    lowered = locale.replace("_", "-").lower()
    for candidate in MAIL_LOCALES:
        if candidate.lower() == lowered:
            return candidate
    primary = lowered.split("-")[0]
    for candidate in MAIL_LOCALES:
        if candidate.lower().split("-")[0] == primary:
            return candidate
    return "en"


def subscription_form(site_id: int, slug: str | None) -> SiteForm:
    """The named subscription form, or the site's first one."""
    candidates = forms_of(site_id, "subscription")
    if slug is not None:
        candidates = [form for form in candidates if form.slug == slug]
    if not candidates:
        message = "No such subscription form." if slug else "This site has no subscription form."
        raise ValidationFailed({"form": [message]})
    return candidates[0]


def policy_label(site_id: int, now: datetime) -> str:
    site = db.session.get(Site, site_id)
    policy = current_policy(site, now) if site is not None else None
    if policy is None:
        raise ApiError(
            409,
            "This site has not published a privacy policy yet.",
            error="no_policy",
        )
    return policy.label


def necessary_slug(site: SiteSnapshot) -> str:
    return next((rule.slug for rule in site.categories if rule.necessary), "necessary")


def find_suppression(site_id: int, hashed: str) -> Suppression | None:
    return db.session.scalar(
        select(Suppression).where(
            Suppression.site_id == site_id, Suppression.address_hash == hashed
        )
    )


def suppress(site_id: int, hashed: str, reason: str, now: datetime) -> Suppression:
    """Add an address to the list, or give its entry the newer reason (no commit)."""
    entry = find_suppression(site_id, hashed)
    if entry is None:
        entry = Suppression(site_id=site_id, address_hash=hashed, reason=reason, created_at=now)
        db.session.add(entry)
    elif entry.reason != reason:
        entry.reason = reason
        entry.created_at = now
    return entry


def subscriptions_of(site_id: int, hashed: str) -> Sequence[Subscription]:
    return db.session.scalars(
        select(Subscription)
        .where(Subscription.site_id == site_id, Subscription.address_hash == hashed)
        .order_by(Subscription.id)
    ).all()


def find_subscription(site_id: int, form: str, hashed: str) -> Subscription | None:
    return db.session.scalar(
        select(Subscription).where(
            Subscription.site_id == site_id,
            Subscription.form == form,
            Subscription.address_hash == hashed,
        )
    )


def record_event(
    site: SiteSnapshot,
    subscription: Subscription,
    *,
    action: str,
    granted: bool,
    source: str,
    policy: str,
    banner_version: str,
    context: RequestContext | None,
    now: datetime,
    fingerprint: dict[str, Any],
    client_time: datetime | None = None,
) -> ConsentEvent:
    """A ledger event about this subscription's subject (no commit); webhooks and other
    `decision_recorded` receivers hear of it in the same transaction."""
    context = context or RequestContext()
    event = ConsentEvent(
        site_id=site.site_id,
        event_id=uuid.uuid4(),
        visitor_id=subscription.subject_id,
        action=action,
        choices={necessary_slug(site): True, subscription.category: granted},
        policy_version=policy,
        banner_version=banner_version,
        language=subscription.locale,
        source=source,
        gpc=False,
        recorded_at=now,
        client_time=client_time,
        page_url=None,
        ip_prefix=context.ip_prefix,
        user_agent=(context.user_agent or "")[:512] or None,
        country=context.country,
        request_hash=request_fingerprint({"kind": "subscription", **fingerprint}),
    )
    db.session.flush()
    webhooks = insert_event(event)
    if decision_recorded.receivers:
        decision_recorded.send(
            site, event=event, new_visitor=False, webhooks=webhooks, transaction=db.session
        )
    return event


def _event_summary(site_id: int, event_id: uuid.UUID | None) -> dict[str, Any] | None:
    if event_id is None:
        return None
    event = db.session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.site_id == site_id, ConsentEvent.event_id == event_id
        )
    )
    if event is None:
        return None
    return {
        "event_id": str(event.event_id),
        "recorded_at": event.recorded_at,
        "source": event.source,
        "wording_hash": event.banner_version,
        "action": event.action,
    }


def subscriber_status(site: SiteSnapshot, email: str) -> SubscriberStatus:
    """May the site e-mail this address, and on which consent event does that rest?"""
    hashed = address_hash(site.site_key, email)
    entry = find_suppression(site.site_id, hashed)
    subscriptions = subscriptions_of(site.site_id, hashed)
    active = next((item for item in subscriptions if item.status == "active"), None)
    pending = next((item for item in subscriptions if item.status == "pending"), None)
    ended = next((item for item in subscriptions if item.status == "unsubscribed"), None)
    suppression = {"reason": entry.reason, "since": entry.created_at} if entry is not None else None
    chosen: Subscription | None
    if active is not None and entry is None:
        status, chosen = "active", active
    elif entry is not None and entry.reason not in ("unsubscribed",):
        status, chosen = "suppressed", active or pending or ended
    elif pending is not None:
        status, chosen = "pending", pending
    elif ended is not None or entry is not None:
        status, chosen = "unsubscribed", ended
    else:
        status, chosen = "unknown", None
    return SubscriberStatus(
        email=email,
        may_send=status == "active",
        status=status,
        consent_event=_event_summary(site.site_id, chosen.consent_event_id) if chosen else None,
        form=chosen.form if chosen else None,
        suppression=suppression,
        withdrawal_event=(
            _event_summary(site.site_id, chosen.withdrawal_event_id) if chosen else None
        ),
    )
