"""Requests made from the browser, and the proof of control of an address.

With a visitor token the request is open at once and the requester gets its reference. With
an address, a confirmation link is mailed through the mail outbox, exactly as a subscription's
is (`integrations.mail.opt_in`): the answer is the same whatever the address, the link's GET
shows a button and only its POST confirms (mail scanners fetch links), and it works once.
The reference is given on the confirmed page only, to whoever holds the mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import render_template
from sqlalchemy import delete, select, update

from consent_service.consents import requests
from consent_service.consents.decisions import RequestContext
from consent_service.errors import ValidationFailed
from consent_service.extensions import db
from consent_service.integrations.mail import outbox
from consent_service.integrations.mail.limits import (
    address_allowance_left,
    check_client_limit,
    count_rate_event,
)
from consent_service.integrations.mail.links import (
    CONFIRMATION_LIFETIME,
    ascii_url,
    confirmation_state,
    confirmation_target,
    one_line,
)
from consent_service.integrations.mail.subscribers import address_hash, client_hash, mail_locale
from consent_service.models import MailMessage, Site, SubjectRequest, SubjectRequestStep
from consent_service.models.types import utcnow
from consent_service.sites.snapshot import SiteSnapshot
from consent_service.tokens import (
    issue_request_confirmation,
    issue_request_reference,
    read_request_confirmation,
    read_request_reference,
    read_visitor_token,
)

#: A request never confirmed is forgotten (address and all) a day after its link expired: it
#: was never received, so there is nothing to keep.
FORGET_UNCONFIRMED_AFTER = CONFIRMATION_LIFETIME + timedelta(days=1)
SUBJECTS = {
    "en": "Please confirm your request to {site}",
    "zh-CN": "请确认您向 {site} 提出的请求",
}
KIND_WORDS = {
    "en": {
        "access": "access",
        "correction": "correction",
        "erasure": "erasure",
        "portability": "portability",
        "objection": "objection",
    },
    "zh-CN": {
        "access": "查阅",
        "correction": "更正",
        "erasure": "删除",
        "portability": "转移（导出）",
        "objection": "反对处理",
    },
}


@dataclass(frozen=True)
class Submitted:
    """What the browser is told: a reference only when the request is open (visitor token)."""

    status: str
    reference: str | None = None
    due_at: datetime | None = None


def submit(
    snapshot: SiteSnapshot,
    body: Mapping[str, Any],
    context: RequestContext,
    base_url: str,
    now: datetime | None = None,
) -> Submitted:
    """A request from the browser (the visitor's token, or an address to prove); commits."""
    now = now or utcnow()
    site = db.session.get(Site, snapshot.site_id)
    assert site is not None
    client = client_hash(snapshot.site_key, context.ip_prefix)
    check_client_limit(snapshot, client, now)  # the subscription limits, both ways of asking
    count_rate_event(site.id, "client", client, now)
    visitor_id = None
    if body.get("visitor_token"):
        visitor_id = read_visitor_token(body["visitor_token"], snapshot.site_key)
        if visitor_id is None:
            raise ValidationFailed({"visitor_token": ["Not a valid visitor token for this site."]})
    email = body.get("email")
    locale = mail_locale(body.get("locale"))
    given: dict[str, Any] = {
        "visitor_id": visitor_id,
        "details": body.get("details"),
        "locale": locale,
    }
    if not email:
        opened = requests.new_request(
            site, body["type"], channel="visitor_token", actor="visitor", now=now, **given
        )
        db.session.commit()
        return Submitted("open", issue_request_reference(site.site_key, opened.id), opened.due_at)
    hashed = address_hash(site.site_key, email)
    request = db.session.scalar(
        select(SubjectRequest).where(
            SubjectRequest.site_id == site.id,
            SubjectRequest.address_hash == hashed,
            SubjectRequest.kind == body["type"],
            SubjectRequest.status == "awaiting_confirmation",
        )
    )
    if request is None:
        request = requests.new_request(
            site, body["type"], channel="email", actor="visitor", email=email, now=now, **given
        )
    if address_allowance_left(site.id, hashed, now):
        count_rate_event(site.id, "address", hashed, now)
        queue_confirmation(site, request, email, base_url)
    db.session.commit()
    return Submitted("accepted")


def queue_confirmation(site: Site, request: SubjectRequest, email: str, base_url: str) -> None:
    locale = mail_locale(request.locale)
    assert request.confirm_nonce is not None
    token = issue_request_confirmation(site.site_key, request.id, request.confirm_nonce)
    text = render_template(
        f"mail/request_confirm.{locale}.txt",
        site_name=site.name,
        kind=KIND_WORDS[locale][request.kind],
        confirm_url=ascii_url(f"{base_url.rstrip('/')}/rights/confirm/{token}"),
    )
    outbox.queue_message(
        site.id,
        None,
        email,
        "request_confirm",
        subject=SUBJECTS[locale].format(site=one_line(site.name)),
        text=text,
        headers={"Auto-Submitted": "auto-generated"},
        request_id=request.id,
    )


@dataclass(frozen=True)
class Link:
    """What a confirmation link leads to: "valid", "confirmed", "expired", "used", "invalid"."""

    status: str
    site_name: str | None = None
    locale: str = "en"
    reference: str | None = None


def _from_token(token: str) -> tuple[SiteSnapshot, SubjectRequest, str, datetime] | None:
    return confirmation_target(read_request_confirmation(token), SubjectRequest)


def _state(request: SubjectRequest, nonce: str, issued_at: datetime, now: datetime) -> str:
    waiting = request.status == "awaiting_confirmation"
    return confirmation_state(waiting, request.confirm_nonce, nonce, issued_at, now)


def check_confirmation(token: str, now: datetime | None = None) -> Link:
    """What the link would do, without doing it (the GET page)."""
    found = _from_token(token)
    if found is None:
        return Link("invalid")
    site, request, nonce, issued_at = found
    return Link(_state(request, nonce, issued_at, now or utcnow()), site.name, request.locale)


def confirm(token: str, now: datetime | None = None) -> Link:
    """The owner of the address confirms: the request is received now and its due date runs.
    The nonce is consumed by one conditional UPDATE, so two clicks confirm once."""
    now = now or utcnow()
    found = _from_token(token)
    if found is None:
        return Link("invalid")
    snapshot, request, nonce, issued_at = found
    state = _state(request, nonce, issued_at, now)
    if state != "valid":
        return Link(state, snapshot.name, request.locale)
    consumed: Any = db.session.execute(
        update(SubjectRequest)
        .where(
            SubjectRequest.id == request.id,
            SubjectRequest.status == "awaiting_confirmation",
            SubjectRequest.confirm_nonce == nonce,
        )
        .values(confirm_nonce=None, status="open")
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:
        db.session.rollback()
        return Link("used", snapshot.name, request.locale)
    site = db.session.get(Site, snapshot.site_id)
    assert site is not None
    request.status, request.confirm_nonce = "open", None
    requests.start_clock(request, site, now)
    requests.add_step(request, "visitor", "confirmed", None, now)
    db.session.commit()
    reference = issue_request_reference(site.site_key, request.id)
    return Link("confirmed", snapshot.name, request.locale, reference)


def from_reference(reference: str) -> tuple[Site, SubjectRequest] | None:
    """The request a status page reference names, or None for anything not genuine."""
    read = read_request_reference(reference)
    if read is None:
        return None
    site_key, request_id = read
    request = db.session.get(SubjectRequest, request_id)
    if request is None:
        return None
    site = db.session.get(Site, request.site_id)
    if site is None or site.site_key != site_key:
        return None
    return site, request


def forget_unconfirmed(now: datetime | None = None) -> int:
    """Delete requests never confirmed whose link expired, with their steps and messages
    (run with the mail worker's pass). Commits; returns how many were forgotten."""
    now = now or utcnow()
    stale = db.session.scalars(
        select(SubjectRequest.id).where(
            SubjectRequest.status == "awaiting_confirmation",
            SubjectRequest.created_at < now - FORGET_UNCONFIRMED_AFTER,
        )
    ).all()
    if stale:
        db.session.execute(delete(MailMessage).where(MailMessage.request_id.in_(stale)))
        db.session.execute(
            delete(SubjectRequestStep).where(SubjectRequestStep.request_id.in_(stale))
        )
        db.session.execute(delete(SubjectRequest).where(SubjectRequest.id.in_(stale)))
    db.session.commit()
    return len(stale)
