"""Data subject requests: access, correction of a subscription address, erasure, portability
and objection, each with its due date and the log of every step taken.

The life of a request (statuses in `models.request`): opened with a visitor token or by a
site's backend it is `open` at once and its due date runs from then; opened with an e-mail
address it waits (`awaiting_confirmation`) until the owner of the address follows the link
(`consents.request_mail`), and counts as received from that moment. Someone handles it
(`in_progress`: an erasure is carried out then, an access or portability request gets its
export), then closes it with an outcome or rejects it with a reason. Every operation writes a
step and commits once; a transition a request's status does not allow is a 409.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from consent_service.encryption import decrypt_text, encrypt_text
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import address_hash
from consent_service.models import Site, SubjectRequest, SubjectRequestStep
from consent_service.models.request import (
    CLOSE_OUTCOMES,
    PENDING_STATUSES,
    REQUEST_KINDS,
)
from consent_service.models.types import utcnow

DEFAULT_DUE_DAYS = 15
#: The statuses each operation may start from.
ALLOWED_FROM = {
    "confirm": ("awaiting_confirmation",),
    "handle": ("open",),
    "export": ("open", "in_progress"),
    "correct": ("open", "in_progress"),
    "note": ("awaiting_confirmation", "open", "in_progress"),
    "close": ("open", "in_progress"),
    "reject": ("awaiting_confirmation", "open", "in_progress"),
}
EXPORT_KINDS = ("access", "portability")
LISTED = 500


def due_days(site: Site) -> int:
    """The site's `rights.due_days` (a site whose document predates it: the default)."""
    from consent_service.sites.settings import current_document

    rights = current_document(site).get("rights") or {}
    return int(rights.get("due_days") or DEFAULT_DUE_DAYS)


def is_overdue(request: SubjectRequest, now: datetime | None = None) -> bool:
    return (
        request.status in PENDING_STATUSES
        and request.due_at is not None
        and request.due_at < (now or utcnow())
    )


def add_step(request: SubjectRequest, actor: str, action: str, note: str | None, now: datetime):
    """Append a step (no commit)."""
    step = SubjectRequestStep(
        request_id=request.id, at=now, actor=actor[:100], action=action, note=note
    )
    db.session.add(step)
    return step


def start_clock(request: SubjectRequest, site: Site, now: datetime) -> None:
    request.received_at = now
    request.due_at = now + timedelta(days=due_days(site))


def new_request(
    site: Site,
    kind: str,
    *,
    channel: str,
    actor: str,
    visitor_id: str | None = None,
    email: str | None = None,
    details: str | None = None,
    locale: str = "en",
    now: datetime | None = None,
) -> SubjectRequest:
    """A request written but not committed, so a caller can act on it in the same transaction.

    By e-mail (`channel` "email") it awaits confirmation and gets a nonce; otherwise the
    caller has proved who asks and the request is open.
    """
    now = now or utcnow()
    if kind not in REQUEST_KINDS:
        raise ValidationFailed({"type": [f"One of: {', '.join(REQUEST_KINDS)}."]})
    if not visitor_id and not email:
        raise ValidationFailed({"email": ["Give a visitor token (or visitor id) or an email."]})
    if kind == "correction" and not email:
        raise ValidationFailed({"email": ["A correction names the subscription address."]})
    request = SubjectRequest(
        site_id=site.id,
        kind=kind,
        channel=channel,
        locale=locale,
        visitor_id=visitor_id,
        address_hash=address_hash(site.site_key, email) if email else None,
        email_encrypted=encrypt_text(email.strip()) if email else None,
        details_encrypted=encrypt_text(details) if details else None,
        created_at=now,
    )
    if channel == "email":
        request.status = "awaiting_confirmation"
        request.confirm_nonce = secrets.token_hex(16)
    else:
        request.status = "open"
        start_clock(request, site, now)
    db.session.add(request)
    db.session.flush()
    add_step(request, actor, "opened", None, now)
    return request


def open_request(site: Site, kind: str, **given: Any) -> SubjectRequest:
    """Open a request whose requester is proved already (visitor token, site's backend)."""
    request = new_request(site, kind, **given)
    db.session.commit()
    return request


def find_request(site_id: int, request_id: int) -> SubjectRequest:
    request = db.session.get(SubjectRequest, request_id)
    if request is None or request.site_id != site_id:
        raise ApiError(404, "No such request.", error="not_found")
    return request


def check_transition(request: SubjectRequest, operation: str) -> None:
    if request.status not in ALLOWED_FROM[operation]:
        raise ApiError(
            409,
            f"A request that is {request.status} does not allow '{operation}'.",
            error="bad_transition",
        )


def steps_of(request_id: int) -> Sequence[SubjectRequestStep]:
    return db.session.scalars(
        select(SubjectRequestStep)
        .where(SubjectRequestStep.request_id == request_id)
        .order_by(SubjectRequestStep.id)
    ).all()


def add_note(
    site_id: int, request_id: int, actor: str, note: str, now: datetime | None = None
) -> SubjectRequest:
    request = find_request(site_id, request_id)
    check_transition(request, "note")
    add_step(request, actor, "noted", note, now or utcnow())
    db.session.commit()
    return request


def close(
    site_id: int,
    request_id: int,
    actor: str,
    outcome: str,
    note: str | None = None,
    now: datetime | None = None,
) -> SubjectRequest:
    """Close with an outcome; the note is shown to the requester on the status page."""
    if outcome not in CLOSE_OUTCOMES:
        raise ValidationFailed({"outcome": [f"One of: {', '.join(CLOSE_OUTCOMES)}."]})
    return finish(site_id, request_id, actor, "close", outcome, note, now)


def reject(
    site_id: int, request_id: int, actor: str, reason: str, now: datetime | None = None
) -> SubjectRequest:
    """Reject with a reason, shown to the requester (GDPR Art. 12(4))."""
    if not reason.strip():
        raise ValidationFailed({"reason": ["Say why the request is rejected."]})
    return finish(site_id, request_id, actor, "reject", None, reason, now)


def finish(
    site_id: int,
    request_id: int,
    actor: str,
    operation: str,
    outcome: str | None,
    note: str | None,
    now: datetime | None,
) -> SubjectRequest:
    """The last step: the address of an erasure request is forgotten with its messages (the
    salted hash stays, to find the request), and so are messages of any finished request."""
    from consent_service.integrations.mail.outbox import forget_request_messages

    now = now or utcnow()
    request = find_request(site_id, request_id)
    check_transition(request, operation)
    request.status = "closed" if operation == "close" else "rejected"
    request.outcome = outcome
    request.closed_at = now
    request.confirm_nonce = None
    if request.kind == "erasure":
        request.email_encrypted = None
        request.details_encrypted = None
    forget_request_messages(request.id)
    add_step(request, actor, "closed" if operation == "close" else "rejected", note, now)
    db.session.commit()
    return request


@dataclass(frozen=True)
class Listed:
    """A request as lists show it: no visitor id, no address."""

    id: int
    site_id: int
    kind: str
    status: str
    channel: str
    created_at: datetime
    received_at: datetime | None
    due_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    overdue: bool


def listed(request: SubjectRequest, now: datetime) -> Listed:
    return Listed(
        id=request.id,
        site_id=request.site_id,
        kind=request.kind,
        status=request.status,
        channel=request.channel,
        created_at=request.created_at,
        received_at=request.received_at,
        due_at=request.due_at,
        closed_at=request.closed_at,
        outcome=request.outcome,
        overdue=is_overdue(request, now),
    )


def list_requests(
    site_id: int | None,
    status: str | None = None,
    overdue: bool | None = None,
    now: datetime | None = None,
) -> list[Listed]:
    """The newest requests first (at most LISTED), by status; `overdue` True keeps only the
    overdue ones, False only the others."""
    now = now or utcnow()
    query = select(SubjectRequest).order_by(SubjectRequest.id.desc()).limit(LISTED)
    if site_id is not None:
        query = query.where(SubjectRequest.site_id == site_id)
    if status is not None:
        query = query.where(SubjectRequest.status == status)
    if overdue is True:
        query = query.where(
            SubjectRequest.status.in_(PENDING_STATUSES), SubjectRequest.due_at < now
        )
    rows = [listed(request, now) for request in db.session.scalars(query)]
    if overdue is False:
        rows = [row for row in rows if not row.overdue]
    return rows


def overdue_requests(site_id: int | None = None, now: datetime | None = None) -> list[Listed]:
    """Requests received, not finished, past their due date; the oldest due first."""
    now = now or utcnow()
    query = (
        select(SubjectRequest)
        .where(SubjectRequest.status.in_(PENDING_STATUSES), SubjectRequest.due_at < now)
        .order_by(SubjectRequest.due_at, SubjectRequest.id)
    )
    if site_id is not None:
        query = query.where(SubjectRequest.site_id == site_id)
    return [listed(request, now) for request in db.session.scalars(query)]


def detail(request: SubjectRequest, personal: bool, now: datetime | None = None) -> dict[str, Any]:
    """One request with its steps; the visitor id, address and details only when `personal`
    (the site's admins, who answer the requester; auditors see the rest)."""
    body: dict[str, Any] = vars(listed(request, now or utcnow())).copy()
    body["steps"] = list(steps_of(request.id))
    body["visitor_id"] = request.visitor_id if personal else None
    body["email"] = (
        decrypt_text(request.email_encrypted) if personal and request.email_encrypted else None
    )
    body["details"] = (
        decrypt_text(request.details_encrypted) if personal and request.details_encrypted else None
    )
    return body
