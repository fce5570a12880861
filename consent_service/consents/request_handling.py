"""What handling a data subject request does, by its type: an erasure is carried out (leads,
deleted in the CRM too, and the address's subscriptions, through `consents.erasure`), an
access or portability request gets its export (`consents.portability`), a correction moves
the subscriptions of the old address to the corrected one. Each writes its steps through
`consents.requests` and commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_service.consents import erasure
from consent_service.consents.portability import visitor_export
from consent_service.consents.requests import (
    EXPORT_KINDS,
    add_step,
    check_transition,
    find_request,
    finish,
    new_request,
)
from consent_service.encryption import decrypt_text, encrypt_text
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import (
    address_hash,
    find_subscription,
    subscriptions_of,
)
from consent_service.models import Site, SubjectRequest
from consent_service.models.types import utcnow


def handle(
    site_id: int, request_id: int, actor: str, note: str | None = None, now: datetime | None = None
) -> SubjectRequest:
    """Someone takes the request on (open -> in_progress). An erasure is carried out now:
    leads (deleted in the CRM too) and the address's subscriptions, in this transaction."""
    now = now or utcnow()
    request = find_request(site_id, request_id)
    check_transition(request, "handle")
    request.status = "in_progress"
    add_step(request, actor, "started", note, now)
    if request.kind == "erasure":
        carry_out_erasure(request, actor, now)
    db.session.commit()
    return request


def carry_out_erasure(request: SubjectRequest, actor: str, now: datetime) -> None:
    """Erase what is held beyond the ledger (`consents.erasure`, which commits) and log it."""
    email = decrypt_text(request.email_encrypted) if request.email_encrypted else None
    db.session.flush()
    report = erasure.request_erasure(
        request.site_id, request.visitor_id, email, request_id=request.id
    )
    add_step(
        request,
        actor,
        "erased",
        erased_note(report),
        now,
    )


def export(
    site_id: int, request_id: int, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """What the service holds about the requester, as JSON (access and portability)."""
    now = now or utcnow()
    request = find_request(site_id, request_id)
    if request.kind not in EXPORT_KINDS:
        raise ApiError(409, "Only access and portability requests export.", error="wrong_kind")
    check_transition(request, "export")
    email = decrypt_text(request.email_encrypted) if request.email_encrypted else None
    document = visitor_export(site_id, request.visitor_id, email)
    if request.status == "open":
        request.status = "in_progress"
        add_step(request, actor, "started", None, now)
    add_step(request, actor, "exported", None, now)
    db.session.commit()
    return document


def correct_address(
    site_id: int, request_id: int, new_email: str, actor: str, now: datetime | None = None
) -> SubjectRequest:
    """A correction: every subscription of the request's address moves to the new address
    (the consent it rests on is unchanged). 409 when the new address is subscribed already
    on one of the same forms."""
    now = now or utcnow()
    request = find_request(site_id, request_id)
    if request.kind != "correction" or request.address_hash is None:
        raise ApiError(409, "Only a correction request corrects an address.", error="wrong_kind")
    check_transition(request, "correct")
    site = db.session.get(Site, site_id)
    assert site is not None
    new_hash = address_hash(site.site_key, new_email)
    moved = subscriptions_of(site_id, request.address_hash)
    for subscription in moved:
        if find_subscription(site_id, subscription.form, new_hash) is not None:
            raise ApiError(409, "The new address is subscribed already.", error="conflict")
    for subscription in moved:
        subscription.address_hash = new_hash
        subscription.email_encrypted = encrypt_text(new_email.strip())
    request.address_hash = new_hash
    request.email_encrypted = encrypt_text(new_email.strip())
    if request.status == "open":
        request.status = "in_progress"
        add_step(request, actor, "started", None, now)
    add_step(request, actor, "corrected", f"subscriptions: {len(moved)}", now)
    db.session.commit()
    return request


def erase_now(
    site_id: int,
    visitor_id: str | None,
    email: str | None,
    *,
    channel: str,
    actor: str,
    now: datetime | None = None,
) -> tuple[Any, SubjectRequest]:
    """An erasure asked and carried out at once (`POST .../erasure` with the visitor's token,
    the site's backend's erasure request): recorded as a request opened, erased and closed.

    Returns (the erasure report, the request). The erasure commits with the request opened;
    the steps after it land in a second commit."""
    now = now or utcnow()
    site = db.session.get(Site, site_id)
    assert site is not None
    request = new_request(
        site, "erasure", channel=channel, actor=actor, visitor_id=visitor_id, email=email, now=now
    )
    request.status = "in_progress"
    add_step(request, "service", "started", None, now)
    db.session.flush()
    report = erasure.request_erasure(site_id, visitor_id, email, request_id=request.id)
    add_step(
        request,
        "service",
        "erased",
        erased_note(report),
        now,
    )
    finish(site_id, request.id, "service", "close", "fulfilled", None, now)
    return report, request


def erased_note(report: erasure.ErasureReport) -> str:
    """The step's note: counts and the tombstone that says what was erased, no values."""
    note = f"events: {report.events}, leads: {report.leads}, subscriptions: {report.subscriptions}"
    return f"{note}, tombstone: {report.tombstone_id}" if report.tombstone_id else note
