"""Opting out: one-click unsubscribe, withdrawal recorded in the ledger, the suppression list
(a salted hash of the address, lifted only by a new confirmed subscription), and erasure.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from consent_service.consents.decisions import (
    RequestContext,
)
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.mail import outbox
from consent_service.integrations.mail.links import LinkOutcome
from consent_service.integrations.mail.subscribers import (
    address_hash,
    find_suppression,
    mail_locale,
    policy_label,
    record_event,
    subscriptions_of,
    suppress,
)
from consent_service.models import (
    MailRateEvent,
    Site,
    Subscription,
    Suppression,
)
from consent_service.models.types import utcnow
from consent_service.sites.snapshot import SiteSnapshot, load_snapshot
from consent_service.tokens import (
    read_unsubscribe_token,
)


def _from_unsubscribe_token(token: str) -> tuple[SiteSnapshot, Subscription] | None:
    read = read_unsubscribe_token(token)
    if read is None:
        return None
    site_key, subscription_id, subject_id = read
    try:
        site = load_snapshot(site_key, time.monotonic())
    except ApiError:
        return None
    subscription = db.session.get(Subscription, subscription_id)
    if (
        subscription is None
        or subscription.site_id != site.site_id
        or subscription.subject_id != subject_id
    ):
        return None
    return site, subscription


def check_unsubscribe(token: str) -> LinkOutcome:
    """The GET page: is this a genuine unsubscribe link, and is the subscription still on?"""
    found = _from_unsubscribe_token(token)
    if found is None:
        return LinkOutcome("invalid")
    site, subscription = found
    state = "valid" if subscription.status in ("active", "pending") else "unsubscribed"
    return LinkOutcome(state, site.name, mail_locale(subscription.locale))


def unsubscribe(
    token: str, context: RequestContext | None = None, now: datetime | None = None
) -> LinkOutcome:
    """One-click unsubscribe (RFC 8058): at once, idempotent, no login.

    An active subscription records a withdrawal in the ledger (source "email", same subject);
    the address goes on the suppression list either way. "invalid" for a link we did not sign.
    """
    now = now or utcnow()
    found = _from_unsubscribe_token(token)
    if found is None:
        return LinkOutcome("invalid")
    site, subscription = found
    locale = mail_locale(subscription.locale)
    withdraw(site, subscription, "email", context, now)
    if subscription.address_hash is not None:
        suppress(site.site_id, subscription.address_hash, "unsubscribed", now)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent click put the address on the list first
        db.session.rollback()
    return LinkOutcome("unsubscribed", site.name, locale)


def withdraw(
    site: SiteSnapshot,
    subscription: Subscription,
    source: str,
    context: RequestContext | None,
    now: datetime,
) -> None:
    """End a subscription (no commit). Only an active one has a consent to withdraw, and
    only one of two concurrent requests withdraws it (a conditional UPDATE decides)."""
    ended: Any = db.session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, Subscription.status == "active")
        .values(status="unsubscribed", unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount == 1:
        event = record_event(
            site,
            subscription,
            action="withdraw",
            granted=False,
            source=source,
            policy=policy_label(site.site_id, now),
            banner_version=subscription.wording_hash,
            context=context,
            now=now,
            fingerprint={"withdraw": subscription.id, "at": now.isoformat()},
        )
        subscription.withdrawal_event_id = event.event_id
        subscription.status = "unsubscribed"
        subscription.unsubscribed_at = now
    elif subscription.status == "pending":
        subscription.status = "unsubscribed"
        subscription.unsubscribed_at = now
    subscription.confirm_nonce = None


def add_suppression(
    site: SiteSnapshot, email: str, reason: str, now: datetime | None = None
) -> Suppression:
    """A bounce or a complaint reported by the mail provider: never mail the address again
    (until its owner confirms a new subscription)."""
    now = now or utcnow()
    entry = suppress(site.site_id, address_hash(site.site_key, email), reason, now)
    db.session.commit()
    return entry


def erase_subscriber(site_id: int, email: str) -> int:
    """Erase what marketing e-mail holds of an address on this site; returns how many
    subscriptions were erased. Does NOT commit: the erasure operation that calls it commits,
    so the whole request lands at once or not at all.

    The address, every message to it (pending or sent) and its rate counters are deleted; an
    active subscription's consent is withdrawn in the ledger first (source "api"). The
    subscription rows stay without the address, as the trace that the ledger's subject
    existed. The salted hash on the suppression list stays, and is added if missing, so the
    address is never mailed again, nor re-imported from an old list.
    """
    site = db.session.get(Site, site_id)
    if site is None:
        return 0
    hashed = address_hash(site.site_key, email)
    subscriptions = list(subscriptions_of(site_id, hashed))
    erase_subscriptions(site, subscriptions)
    return len(subscriptions)


def erase_subscriptions(site: Site, subscriptions: list[Subscription]) -> set[str]:
    """Erase these subscriptions as `erase_subscriber` does (no commit); the ledger subjects
    (`subject_id`) they had, whose events the caller erases too."""
    if not subscriptions:
        return set()
    now = utcnow()
    snapshot = load_snapshot(site.site_key, time.monotonic())
    for subscription in subscriptions:
        withdraw(snapshot, subscription, "api", None, now)
    outbox.forget_messages_to([subscription.id for subscription in subscriptions])
    hashes = {item.address_hash for item in subscriptions if item.address_hash is not None}
    if hashes:
        db.session.execute(
            delete(MailRateEvent).where(
                MailRateEvent.site_id == site.id, MailRateEvent.key_hash.in_(sorted(hashes))
            )
        )
    for hashed in hashes:
        if find_suppression(site.id, hashed) is None:
            suppress(site.id, hashed, "erased", now)
    for subscription in subscriptions:
        subscription.status = "erased"
        subscription.address_hash = None
        subscription.email_encrypted = None
        subscription.visitor_id = None
        subscription.confirm_nonce = None
        subscription.erased_at = now
    return {subscription.subject_id for subscription in subscriptions}
