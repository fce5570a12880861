"""Marketing e-mail subscriptions: double opt-in, one-click unsubscribe, suppression, imports.

The consent to marketing e-mail is recorded in the ledger only when the owner of the address
follows the confirmation link (double opt-in), as a `ConsentEvent` with source "email" that
names the exact wording shown (a `BannerVersion` of kind `wording:<form>`). Unsubscribing
records the withdrawal the same way and puts a salted hash of the address on the site's
suppression list, which nothing but a new confirmed subscription lifts.

The public subscription request answers the same whatever the address's state, so it cannot
be used to learn who is subscribed; it is rate-limited per client (429) and per address
(silently: no further mail). All messages go through the outbox in `mail.py`.

Operations take values (a `SiteSnapshot`, a base URL for links, a `RequestContext`) and never
read the request; each commits once, except `erase_subscriber`, whose caller commits.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import current_app, render_template
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from consent_service import mail
from consent_service.canonical import sha256_hex
from consent_service.consents import (
    RequestContext,
    decision_recorded,
    insert_event,
    request_fingerprint,
)
from consent_service.encryption import decrypt_text, encrypt_text
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.forms import find_wording, forms_of, wording_hash
from consent_service.models import (
    BannerVersion,
    ConsentEvent,
    MailMessage,
    MailRateEvent,
    Site,
    SiteForm,
    Subscription,
    Suppression,
)
from consent_service.models.types import utcnow
from consent_service.sites import SiteSnapshot, current_policy, load_snapshot
from consent_service.tokens import (
    issue_confirmation_token,
    issue_unsubscribe_token,
    read_confirmation_token,
    read_unsubscribe_token,
    read_visitor_token,
)

#: The background job that sends mail in the web processes (`MAIL_AUTOSEND`).
MAIL_WORKER = "mail-sender"
CONFIRMATION_LIFETIME = timedelta(days=7)
#: Unconfirmed requests are forgotten (address and all) a day after their link expired.
FORGET_UNCONFIRMED_AFTER = CONFIRMATION_LIFETIME + timedelta(days=1)
MAIL_LOCALES = ("en", "zh-CN")
ONE_CLICK = "List-Unsubscribe=One-Click"

SUBJECTS = {
    "en": {
        "confirmation": "Please confirm your subscription to {site}",
    },
    "zh-CN": {
        "confirmation": "请确认订阅 {site} 的邮件",
    },
}


@dataclass(frozen=True)
class LinkOutcome:
    """What a confirmation or unsubscribe link leads to, for the page that shows it.

    status: "valid" (may be confirmed), "confirmed", "expired", "used", "invalid" for
    confirmation links; "valid", "unsubscribed", "invalid" for unsubscribe links.
    """

    status: str
    site_name: str | None = None
    locale: str = "en"
    event_id: str | None = None


@dataclass
class ImportReport:
    imported: int = 0
    skipped_suppressed: int = 0
    skipped_active: int = 0


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


# --- addresses, hashes, small lookups -----------------------------------------------------


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


def ascii_url(url: str) -> str:
    """Links go into headers that must stay ASCII."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def confirmation_url(base_url: str, token: str) -> str:
    return ascii_url(f"{base_url.rstrip('/')}/confirm/{token}")


def unsubscribe_url(base_url: str, site_key: str, subscription: Subscription) -> str:
    token = issue_unsubscribe_token(site_key, subscription.id, subscription.subject_id)
    return ascii_url(f"{base_url.rstrip('/')}/u/{token}")


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058: the one-click unsubscribe every marketing message carries."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


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


# --- rate limits ------------------------------------------------------------------------


def _recent(site_id: int, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many counted events since `since`, and the oldest of them."""
    count, oldest = db.session.execute(
        select(func.count(MailRateEvent.id), func.min(MailRateEvent.created_at)).where(
            MailRateEvent.site_id == site_id,
            MailRateEvent.scope == scope,
            MailRateEvent.key_hash == key,
            MailRateEvent.created_at > since,
        )
    ).one()
    return int(count or 0), oldest


def check_client_limit(site: SiteSnapshot, key: str, now: datetime) -> None:
    """429 with Retry-After once a client made its allowance of requests in the window."""
    config = current_app.config
    limit = int(config["MAIL_REQUESTS_PER_CLIENT"])
    window = timedelta(seconds=int(config["MAIL_CLIENT_WINDOW"]))
    count, oldest = _recent(site.site_id, "client", key, now - window)
    if count < limit:
        return
    wait = (oldest + window - now).total_seconds() if oldest else window.total_seconds()
    retry_after = str(max(1, math.ceil(wait)))
    raise ApiError(
        429,
        "Too many subscription requests from this network; try again later.",
        error="rate_limited",
        headers={"Retry-After": retry_after},
    )


def address_allowance_left(site_id: int, key: str, now: datetime) -> bool:
    config = current_app.config
    limit = int(config["MAIL_CONFIRMATIONS_PER_ADDRESS"])
    window = timedelta(seconds=int(config["MAIL_ADDRESS_WINDOW"]))
    count, _ = _recent(site_id, "address", key, now - window)
    return count < limit


def count_rate_event(site_id: int, scope: str, key: str, now: datetime) -> None:
    db.session.add(MailRateEvent(site_id=site_id, scope=scope, key_hash=key, created_at=now))


# --- the double opt-in --------------------------------------------------------------------


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
    return mail.queue_message(
        site.site_id,
        subscription,
        email,
        "confirmation",
        subject=SUBJECTS[locale]["confirmation"].format(site=one_line(site.name)),
        text=text,
        headers={"Auto-Submitted": "auto-generated"},
    )


def one_line(value: str) -> str:
    return " ".join(value.split())


def _from_confirmation_token(
    token: str,
) -> tuple[SiteSnapshot, Subscription, str, datetime] | None:
    read = read_confirmation_token(token)
    if read is None:
        return None
    site_key, subscription_id, nonce, issued_at = read
    try:
        site = load_snapshot(site_key, time.monotonic())
    except ApiError:
        return None
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.site_id != site.site_id:
        return None
    return site, subscription, nonce, issued_at


def _link_state(subscription: Subscription, nonce: str, issued_at: datetime, now: datetime) -> str:
    if subscription.status != "pending" or subscription.confirm_nonce != nonce:
        return "used"
    if now - issued_at > CONFIRMATION_LIFETIME:
        return "expired"
    return "valid"


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
    insert_event(event)
    if decision_recorded.receivers:
        decision_recorded.send(site, event=event)
    return event


# --- unsubscribing ------------------------------------------------------------------------


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


# --- what admins do -----------------------------------------------------------------------


def add_suppression(
    site: SiteSnapshot, email: str, reason: str, now: datetime | None = None
) -> Suppression:
    """A bounce or a complaint reported by the mail provider: never mail the address again
    (until its owner confirms a new subscription)."""
    now = now or utcnow()
    entry = suppress(site.site_id, address_hash(site.site_key, email), reason, now)
    db.session.commit()
    return entry


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
        mail.queue_message(
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


def import_subscribers(
    site: SiteSnapshot,
    items: Sequence[Mapping[str, Any]],
    form_slug: str | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Add subscribers who consented elsewhere, each with the proof of it; one transaction.

    Each becomes active with a ledger event (source "api", client_time = when they
    consented, banner version = the hash of the exact wording, kept as a `BannerVersion`
    of kind `import:<form>`). Suppressed addresses are skipped and counted: an import never
    lifts the suppression list; active ones are left as they are.
    """
    now = now or utcnow()
    form = subscription_form(site.site_id, form_slug)
    errors: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        hashed = address_hash(site.site_key, item["email"])
        if hashed in seen:
            errors[str(index)] = {"email": [f"Also given at index {seen[hashed]}."]}
        seen.setdefault(hashed, index)
    if errors:
        raise ValidationFailed(errors, "The batch is refused; nothing was imported.")
    label = policy_label(site.site_id, now)
    report = ImportReport()
    for item in items:
        email = str(item["email"]).strip()
        hashed = address_hash(site.site_key, email)
        if find_suppression(site.site_id, hashed) is not None:
            report.skipped_suppressed += 1
            continue
        subscription = find_subscription(site.site_id, form.slug, hashed)
        if subscription is not None and subscription.status == "active":
            report.skipped_active += 1
            continue
        digest = keep_imported_wording(site.site_id, form.slug, item["wording"])
        if subscription is None:
            subscription = Subscription(
                site_id=site.site_id,
                form=form.slug,
                subject_id=secrets.token_hex(16),
                address_hash=hashed,
                requested_at=now,
                created_at=now,
            )
            db.session.add(subscription)
        consented_at: datetime = item["consented_at"]
        subscription.category = form.category
        subscription.email_encrypted = encrypt_text(email)
        subscription.locale = str(item["locale"])
        subscription.wording_hash = digest
        subscription.confirm_nonce = None
        subscription.proof = {
            "source": item["source"],
            "consented_at": consented_at.isoformat(),
            "wording_hash": digest,
            "imported_at": now.isoformat(),
        }
        db.session.flush()
        event = record_event(
            site,
            subscription,
            action="custom",
            granted=True,
            source="api",
            policy=label,
            banner_version=digest,
            context=None,
            now=now,
            client_time=consented_at,
            fingerprint={"import": subscription.id, "consented_at": consented_at.isoformat()},
        )
        subscription.status = "active"
        subscription.consent_event_id = event.event_id
        subscription.confirmed_at = now
        report.imported += 1
    db.session.commit()
    return report


def keep_imported_wording(site_id: int, form_slug: str, text: str) -> str:
    """The wording an imported subscriber agreed to, kept immutable like any wording shown.

    Its own kind, so that a public request cannot cite a text only an import brought in.
    """
    digest = wording_hash(text)
    exists = db.session.scalar(
        select(BannerVersion.id).where(
            BannerVersion.site_id == site_id, BannerVersion.sha256 == digest
        )
    )
    if exists is None:
        db.session.add(
            BannerVersion(
                site_id=site_id, sha256=digest, canonical_json=text, kind=f"import:{form_slug}"
            )
        )
    return digest


# --- erasure and housekeeping -------------------------------------------------------------


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
    now = utcnow()
    hashed = address_hash(site.site_key, email)
    subscriptions = list(subscriptions_of(site_id, hashed))
    if not subscriptions:
        return 0
    snapshot = load_snapshot(site.site_key, time.monotonic())
    for subscription in subscriptions:
        withdraw(snapshot, subscription, "api", None, now)
    mail.forget_messages_to([subscription.id for subscription in subscriptions])
    db.session.execute(
        delete(MailRateEvent).where(
            MailRateEvent.site_id == site_id, MailRateEvent.key_hash == hashed
        )
    )
    if find_suppression(site_id, hashed) is None:
        suppress(site_id, hashed, "erased", now)
    for subscription in subscriptions:
        subscription.status = "erased"
        subscription.address_hash = None
        subscription.email_encrypted = None
        subscription.visitor_id = None
        subscription.erased_at = now
    return len(subscriptions)


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
        mail.forget_messages_to(stale)
        db.session.execute(delete(Subscription).where(Subscription.id.in_(stale)))
    db.session.commit()
    return len(stale)


def run_mail_worker(now: datetime | None = None) -> mail.SendReport:
    """One pass of the mail sender: send what is due, then forget what is stale."""
    report = mail.deliver_due(now)
    forget_stale(now)
    return report
