"""Accepting and taking back leads. A lead is accepted only when the visitor's current consent
grants the form's category and, when the recipient is a third party or abroad (PIPL Art. 23
and 39), when the form carried a separate consent to a recorded wording. Accepted leads wait
in the outbox, their personal fields encrypted, until `delivery` sends them; withdrawal or
erasure stops them and deletes them at the recipient.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from consent_service.consents.decisions import latest_event, state_of, visitor_from_token
from consent_service.encryption import (
    encrypt_json,
)
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations.crm.disclosures import record_disclosure
from consent_service.models import (
    ConsentEvent,
    Lead,
    Service,
    SiteForm,
)
from consent_service.models.types import utcnow
from consent_service.sites.forms import (
    find_form,
    find_wording,
    forms_of,
    validate_submission,
)
from consent_service.sites.snapshot import SiteSnapshot

ACTIVE_STATUSES = ("pending", "dead", "delivered", "deleting")


def lead_form(site_id: int, slug: str | None) -> SiteForm:
    if slug is not None:
        form = find_form(site_id, slug)
        if form is None or form.purpose != "lead":
            raise ApiError(
                422,
                "This site has no such lead form.",
                error="validation_failed",
                errors={"form": ["Unknown lead form."]},
            )
        return form
    candidates = forms_of(site_id, "lead")
    if not candidates:
        raise ApiError(404, "This site takes no leads.", error="no_lead_form")
    if len(candidates) > 1:
        raise ApiError(
            422,
            "This site has several lead forms: say which.",
            error="validation_failed",
            errors={"form": ["Missing data for required field."]},
        )
    return candidates[0]


def recipient_of(site_id: int, service: str | None) -> Service | None:
    """The service (recipient) a form or lead names, or None for the site itself."""
    if service is None:
        return None
    with db.session.no_autoflush:  # a lookup: the lead being changed goes in with its commit
        return db.session.scalar(
            select(Service).where(Service.site_id == site_id, Service.slug == service)
        )


def needs_separate_consent(recipient: Service | None) -> bool:
    return recipient is not None and (recipient.third_party or recipient.cross_border)


def accept_lead(site: SiteSnapshot, submission: dict[str, Any]) -> Lead:
    """Put a lead in the outbox, or refuse it without storing anything.

    422 for bad fields; 401 for a bad visitor token; 403 `<category>_consent_missing` when
    the visitor's current consent does not grant the form's category, 403
    `separate_consent_missing` when the transfer needs a separate consent that the form did
    not carry (or carried for a wording this form never showed). Commits once.
    """
    form = lead_form(site.site_id, submission.get("form"))
    cleaned, errors = validate_submission(form, submission["fields"])
    if errors:
        raise ApiError(422, "Invalid lead.", error="validation_failed", errors={"fields": errors})
    visitor_id = visitor_from_token(site, submission["visitor_token"])
    event = latest_event(site.site_id, visitor_id)
    if event is None or not event.choices.get(form.category) or state_of(site, event).needs_renewal:
        raise ApiError(
            403,
            f"The visitor's current consent does not grant {form.category!r}.",
            error=f"{form.category}_consent_missing",
            errors={"consent": [form.category]},
        )
    recipient = recipient_of(site.site_id, form.service)
    separate = submission.get("separate_consent") or {}
    separate_hash = None
    if needs_separate_consent(recipient):
        separate_hash = str(separate.get("wording_hash") or "").lower()
        if (
            separate.get("granted") is not True
            or not separate_hash
            or find_wording(site.site_id, form.slug, separate_hash) is None
        ):
            raise ApiError(
                403,
                "Passing these details to "
                f"{recipient.name if recipient else 'the recipient'} needs the visitor's separate "
                "consent to the wording this form shows.",
                error="separate_consent_missing",
                errors={"consent": ["separate_consent"]},
            )
    lead = Lead(
        lead_id=uuid.uuid4(),
        site_id=site.site_id,
        form=form.slug,
        category=form.category,
        service=form.service,
        visitor_id=visitor_id,
        consent_event_id=event.event_id,
        separate_consent_hash=separate_hash,
        field_names=sorted(cleaned),
        fields_encrypted=encrypt_json(cleaned),
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        outcome_unknown=False,
    )
    db.session.add(lead)
    db.session.commit()
    return lead


def erase_fields(lead: Lead, now: datetime) -> None:
    lead.fields_encrypted = None
    lead.last_error = None  # it may quote what the CRM echoed of the lead
    lead.erased_at = now


def stop_lead(lead: Lead, now: datetime) -> None:
    """Erase the outbox copy now and, when the CRM may hold the lead, queue its deletion.

    Adds rows, does not commit: runs inside the caller's transaction (a consent withdrawal, an
    erasure request).
    """
    if lead.status not in ACTIVE_STATUSES:
        return
    recipient = recipient_of(lead.site_id, lead.service)
    if lead.fields_encrypted is not None:
        erase_fields(lead, now)
        record_disclosure(lead, "erased", recipient, lead.field_names)
    if lead.crm_id is not None or lead.outcome_unknown:
        lead.status = "deleting"
        lead.attempts = 0
        lead.next_attempt_at = now
        lead.claimed_until = None
        lead.last_error = None
    else:
        lead.status = "withdrawn"


def visitor_leads(site_id: int, visitor_id: str) -> Sequence[Lead]:
    return db.session.scalars(
        select(Lead)
        .where(
            Lead.site_id == site_id,
            Lead.visitor_id == visitor_id,
            Lead.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Lead.id)
    ).all()


def stop_on_withdrawal(
    site: SiteSnapshot, event: ConsentEvent, new_visitor: bool = False, **_: object
) -> None:
    """A `decision_recorded` receiver: a refused category stops that visitor's leads under it.

    Runs in the consent's transaction, so the withdrawal and the erasure land together. A
    visitor first seen in this write has sent no lead, and a refusal of a category no lead form
    uses stops nothing: neither costs a query (most decisions are one or the other).
    """
    if not site.may_stop_leads(event.choices, new_visitor):
        return
    refused = {slug for slug, granted in event.choices.items() if not granted}
    now = utcnow()
    for lead in visitor_leads(site.site_id, event.visitor_id):
        if lead.category in refused:
            stop_lead(lead, now)


def erase_visitor_leads(site_id: int, visitor_id: str) -> int:
    """Stop every lead of a visitor (an erasure request); no commit. How many were stopped."""
    now = utcnow()
    leads = visitor_leads(site_id, visitor_id)
    for lead in leads:
        stop_lead(lead, now)
    return len(leads)


def dead_leads(site_id: int) -> Sequence[Lead]:
    return db.session.scalars(
        select(Lead).where(Lead.site_id == site_id, Lead.status == "dead").order_by(Lead.id)
    ).all()


def find_lead(site_id: int, lead_id: uuid.UUID | str) -> Lead:
    try:
        key = lead_id if isinstance(lead_id, uuid.UUID) else uuid.UUID(str(lead_id))
    except ValueError as exc:
        raise ApiError(404, "No such lead.", error="not_found") from exc
    lead = db.session.scalar(select(Lead).where(Lead.lead_id == key))
    if lead is None or lead.site_id != site_id:
        raise ApiError(404, "No such lead.", error="not_found")
    return lead


def retry_lead(site_id: int, lead_id: uuid.UUID | str) -> Lead:
    """Try a dead lead again from the first attempt; commits.

    A lead dead because its creation timed out is created again: the admin has checked that
    NeoCRM does not hold it. A lead dead while being deleted is deleted again.
    """
    lead = find_lead(site_id, lead_id)
    if lead.status != "dead":
        raise ApiError(409, "Only a dead lead can be retried.", error="not_dead")
    lead.status = "deleting" if lead.fields_encrypted is None else "pending"
    if lead.status == "pending":
        lead.outcome_unknown = False
    lead.attempts = 0
    lead.next_attempt_at = utcnow()
    lead.claimed_until = None
    db.session.commit()
    return lead


def outbox_counts(site_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Lead.status, func.count()).where(Lead.site_id == site_id).group_by(Lead.status)
    ).all()
    return {status: int(count) for status, count in rows}
