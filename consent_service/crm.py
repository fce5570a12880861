"""Lead capture into NeoCRM: accept a form only on consent, deliver it once, take it back.

A lead is accepted only when the visitor's current consent grants the form's category and,
when the recipient is a third party or abroad (PIPL Art. 23 and 39), when the form carried a
separate consent to a recorded wording. Accepted leads wait in an outbox, their personal
fields encrypted, until a worker (`consent-service crm worker`, or the web processes) sends
them. Each delivery, erasure and deletion writes a `Disclosure` record.

Exactly one CRM lead per accepted lead: the CRM id is stored with the lead in the commit that
marks it delivered, and a create that timed out after it was sent is never blindly repeated.
With the `lead_id` field mapped to a NeoCRM custom field the worker looks the lead up first;
without it, such a lead waits, dead, for an admin to check NeoCRM and retry it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, or_, select

from consent_service.consents import latest_event, state_of, visitor_from_token
from consent_service.encryption import (
    DecryptionFailed,
    decrypt_json,
    decrypt_text,
    encrypt_json,
    encrypt_text,
)
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.forms import (
    FIELD_CATALOGUE,
    find_form,
    find_wording,
    forms_of,
    validate_submission,
)
from consent_service.ledger_records import utc_timestamp
from consent_service.models import (
    ConsentEvent,
    CrmConnection,
    Disclosure,
    Lead,
    Service,
    Site,
    SiteForm,
)
from consent_service.models.types import utcnow
from consent_service.neocrm import (
    CrmOutcomeUnknown,
    CrmRejected,
    CrmUnavailable,
    NeoCrmClient,
    NeoCrmSettings,
    Transport,
    http_transport,
)
from consent_service.outbox import backoff, claim
from consent_service.sites import SiteSnapshot

#: Form field -> NeoCRM lead field, unless a site maps them otherwise.
DEFAULT_FIELD_MAP = {"name": "name", "company": "companyName", "email": "email", "phone": "phone"}
#: Not a form field: our lead id, sent so that a lead whose creation timed out can be found.
LEAD_ID_SOURCE = "lead_id"
CRM_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
ACTIVE_STATUSES = ("pending", "dead", "delivered", "deleting")
DUE_STATUSES = ("pending", "deleting")
BATCH = 50
#: The background job in web processes that delivers leads; woken when a lead is accepted.
CRM_WORKER = "crm-worker"
BASIS_CONSENT = "consent (GDPR Art. 6(1)(a); PIPL Art. 13(1)(1))"
BASIS_SEPARATE = "; separate consent to provision to a third party and cross-border transfer"
BASIS_SEPARATE += " (PIPL Art. 23, 39)"


# --- configuration ---------------------------------------------------------------------------


def _check_url(url: str, option: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise ValueError(f"{option} must be an http(s) URL without credentials")
    return url.strip().rstrip("/")


def merged_field_map(given: Mapping[str, str | None] | None) -> dict[str, str]:
    """The defaults with the site's own mapping on top; a null value unmaps a field."""
    merged: dict[str, str | None] = {**DEFAULT_FIELD_MAP, **(given or {})}
    result: dict[str, str] = {}
    for source, target in merged.items():
        if source not in FIELD_CATALOGUE and source != LEAD_ID_SOURCE:
            known = ", ".join([*FIELD_CATALOGUE, LEAD_ID_SOURCE])
            raise ValueError(f"--field-map: unknown form field {source!r} (known: {known})")
        if target is None:
            continue
        if not isinstance(target, str) or not CRM_FIELD_NAME.match(target):
            raise ValueError(f"--field-map: {target!r} is not a NeoCRM field name")
        result[source] = target
    return result


def checked_fixed(fixed: Mapping[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (fixed or {}).items():
        if not CRM_FIELD_NAME.match(name):
            raise ValueError(f"--fixed: {name!r} is not a NeoCRM field name")
        if not isinstance(value, (str, int, float, bool)) or value is None:
            raise ValueError(f"--fixed: {name} must be a string, number or boolean")
        result[name] = value
    return result


def configure(
    site: Site,
    *,
    auth_url: str,
    instance_url: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    field_map: Mapping[str, str | None] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> CrmConnection:
    """Create or replace the site's NeoCRM connection (secrets encrypted); commits."""
    for value, option in ((client_id, "--client-id"), (username, "--username")):
        if not value.strip() or len(value) > 200:
            raise ValueError(f"{option} must be 1 to 200 characters")
    if not client_secret or not password:
        raise ValueError("--client-secret and --password must not be empty")
    connection = db.session.scalar(select(CrmConnection).where(CrmConnection.site_id == site.id))
    if connection is None:
        connection = CrmConnection(site_id=site.id)
        db.session.add(connection)
    connection.auth_url = _check_url(auth_url, "--auth-url")
    connection.instance_url = _check_url(instance_url, "--instance-url")
    connection.client_id = client_id.strip()
    connection.client_secret_encrypted = encrypt_text(client_secret)
    connection.username = username.strip()
    connection.password_encrypted = encrypt_text(password)
    connection.field_map = merged_field_map(field_map)
    connection.fixed = checked_fixed(fixed)
    db.session.commit()
    return connection


def connection_of(site_id: int) -> CrmConnection | None:
    return db.session.scalar(select(CrmConnection).where(CrmConnection.site_id == site_id))


def unmapped_fields(site_id: int, connection: CrmConnection) -> list[str]:
    """Fields the site's lead forms collect that the mapping does not send (kept, not sent)."""
    collected = {field["name"] for form in forms_of(site_id, "lead") for field in form.fields}
    return sorted(collected - set(connection.field_map))


def settings_of(connection: CrmConnection) -> NeoCrmSettings:
    return NeoCrmSettings(
        auth_url=connection.auth_url,
        instance_url=connection.instance_url,
        client_id=connection.client_id,
        client_secret=decrypt_text(connection.client_secret_encrypted),
        username=connection.username,
        password=decrypt_text(connection.password_encrypted),
        timeout=float(current_app.config["CRM_TIMEOUT"]),
    )


# --- accepting a lead ------------------------------------------------------------------------


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


# --- withdrawal and erasure ------------------------------------------------------------------


def _record(lead: Lead, action: str, recipient: Service | None, fields: Sequence[str]) -> None:
    db.session.add(
        Disclosure(
            site_id=lead.site_id,
            lead_id=lead.id,
            action=action,
            recipient=(
                f"{recipient.name} ({recipient.provider})" if recipient else lead.service or "site"
            ),
            recipient_location=recipient.storage_location if recipient else "",
            purpose=_purpose(lead, recipient),
            fields=list(fields),
            legal_basis=BASIS_CONSENT + (BASIS_SEPARATE if lead.separate_consent_hash else ""),
            consent_event_id=lead.consent_event_id,
            separate_consent_hash=lead.separate_consent_hash,
            crm_id=lead.crm_id,
            occurred_at=utcnow(),
        )
    )


def _purpose(lead: Lead, recipient: Service | None) -> str:
    """The recipient's stated purpose (English text of the service), else the form's."""
    texts: dict[str, Any] = recipient.texts if recipient else {}
    localised = texts.get("en") or next(iter(texts.values()), None) or {}
    return str(localised.get("purpose") or f"{lead.category} form: {lead.form}")[:500]


def _erase(lead: Lead, now: datetime) -> None:
    lead.fields_encrypted = None
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
        _erase(lead, now)
        _record(lead, "erased", recipient, lead.field_names)
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


def stop_on_withdrawal(site: SiteSnapshot, event: ConsentEvent) -> None:
    """A `decision_recorded` receiver: a refused category stops that visitor's leads under it.

    Runs in the consent's transaction, so the withdrawal and the erasure land together.
    """
    refused = {slug for slug, granted in event.choices.items() if not granted}
    if not refused & site.lead_categories:
        return
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


# --- delivering ------------------------------------------------------------------------------


@dataclass
class CrmReport:
    delivered: int = 0
    deleted: int = 0
    failed: int = 0
    dead: int = 0
    due: int = 0

    @property
    def done(self) -> int:
        return self.delivered + self.deleted + self.failed + self.dead


def _claim(lead_id: int, now: datetime) -> bool:
    """Take one due lead for CLAIM; False when another worker took it first."""
    return claim(Lead, [lead_id], now, DUE_STATUSES) == [lead_id]


def due_leads(now: datetime, limit: int = BATCH) -> Sequence[int]:
    """Leads due now of sites that have a CRM connection (others wait until configured)."""
    return db.session.scalars(
        select(Lead.id)
        .join(CrmConnection, CrmConnection.site_id == Lead.site_id)
        .where(
            Lead.status.in_(DUE_STATUSES),
            Lead.next_attempt_at <= now,
            or_(Lead.claimed_until.is_(None), Lead.claimed_until < now),
        )
        .order_by(Lead.id)
        .limit(limit)
    ).all()


def deliver_due(now: datetime | None = None, transport: Transport = http_transport) -> CrmReport:
    """Create or delete what is due, one committed transaction per lead."""
    now = now or utcnow()
    report = CrmReport()
    clients: dict[int, NeoCrmClient] = {}
    due = due_leads(now)
    report.due = len(due)
    for lead_id in claim(Lead, due, now, DUE_STATUSES):
        lead = db.session.get(Lead, lead_id)
        connection = connection_of(lead.site_id) if lead else None
        if lead is None or connection is None:
            continue
        try:
            client = clients.get(connection.id)
            if client is None:
                client = clients[connection.id] = NeoCrmClient(settings_of(connection), transport)
            if lead.status == "pending":
                _create(lead, connection, client, now, report)
            else:
                _delete(lead, connection, client, now, report)
        except (CrmUnavailable, CrmOutcomeUnknown) as exc:
            if isinstance(exc, CrmOutcomeUnknown) and lead.status == "pending":
                lead.outcome_unknown = True
            _failed(lead, str(exc), now, report)
        except (CrmRejected, DecryptionFailed) as exc:
            _dead(lead, str(exc), report)
        lead.claimed_until = None
        db.session.commit()
    return report


def deliver_until_idle(
    now: Callable[[], datetime] = utcnow, transport: Transport = http_transport
) -> CrmReport:
    """Deliver batch after batch until nothing is due (what is left waits on back-off)."""
    total = CrmReport()
    while True:
        report = deliver_due(now(), transport)
        for name in ("delivered", "deleted", "failed", "dead", "due"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        if report.due == 0 or report.done == 0:
            return total


def crm_payload(lead: Lead, connection: CrmConnection, fields: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        target: fields[source]
        for source, target in connection.field_map.items()
        if source in fields
    }
    if LEAD_ID_SOURCE in connection.field_map:
        data[connection.field_map[LEAD_ID_SOURCE]] = str(lead.lead_id)
    data.update(connection.fixed)
    return data


def _create(
    lead: Lead, connection: CrmConnection, client: NeoCrmClient, now: datetime, report: CrmReport
) -> None:
    lead.attempts += 1
    lookup_field = connection.field_map.get(LEAD_ID_SOURCE)
    crm_id: str | None = None
    if lead.outcome_unknown:
        if lookup_field is None:
            _dead(
                lead,
                "The last create timed out after it was sent, so NeoCRM may hold this lead. "
                "Check NeoCRM, then retry it (it is created again) if it is not there. Map "
                f"{LEAD_ID_SOURCE} to a custom field to have this resolved automatically.",
                report,
            )
            return
        found = client.find_leads(lookup_field, str(lead.lead_id))
        crm_id = found[0] if found else None
    if lead.fields_encrypted is None:  # erased meanwhile; nothing to send
        lead.status = "withdrawn"
        return
    fields = decrypt_json(lead.fields_encrypted)
    if crm_id is None:
        crm_id = client.create_lead(crm_payload(lead, connection, fields))
    lead.crm_id = crm_id
    lead.status = "delivered"
    lead.outcome_unknown = False
    lead.delivered_at = now
    lead.last_error = None
    sent = [name for name in lead.field_names if name in connection.field_map]
    _record(lead, "disclosed", recipient_of(lead.site_id, lead.service), sent)
    report.delivered += 1


def _delete(
    lead: Lead, connection: CrmConnection, client: NeoCrmClient, now: datetime, report: CrmReport
) -> None:
    lead.attempts += 1
    ids = [lead.crm_id] if lead.crm_id else []
    if not ids:  # a create that may have landed: find it by our id, if NeoCRM can tell
        lookup_field = connection.field_map.get(LEAD_ID_SOURCE)
        if lookup_field is None:
            _dead(
                lead,
                "This lead's creation timed out, so NeoCRM may hold it; delete it there by hand.",
                report,
            )
            return
        ids = client.find_leads(lookup_field, str(lead.lead_id))
    for crm_id in ids:
        client.delete_lead(crm_id)
        lead.crm_id = crm_id
    lead.status = "deleted"
    lead.deleted_at = now
    lead.last_error = None
    _erase(lead, lead.erased_at or now)
    if ids:
        _record(lead, "deleted_at_recipient", recipient_of(lead.site_id, lead.service), [])
    report.deleted += 1


def _failed(lead: Lead, error: str, now: datetime, report: CrmReport) -> None:
    lead.last_error = error[:500]
    if lead.attempts >= int(current_app.config["CRM_MAX_ATTEMPTS"]):
        lead.status = "dead"
        report.dead += 1
    else:
        lead.next_attempt_at = now + backoff(lead.attempts)
        report.failed += 1


def _dead(lead: Lead, error: str, report: CrmReport) -> None:
    lead.last_error = error[:500]
    lead.status = "dead"
    report.dead += 1


# --- admin -----------------------------------------------------------------------------------


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


DISCLOSURE_FIELDS = (
    "id",
    "lead_id",
    "action",
    "recipient",
    "recipient_location",
    "purpose",
    "fields",
    "legal_basis",
    "consent_event_id",
    "separate_consent_hash",
    "crm_id",
    "occurred_at",
)


def disclosure_records(site_id: int, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every disclosure record of a site, oldest first, as plain values (streamed)."""
    query = (
        select(Disclosure, Lead.lead_id)
        .join(Lead, Lead.id == Disclosure.lead_id)
        .where(Disclosure.site_id == site_id)
        .order_by(Disclosure.id)
        .execution_options(yield_per=batch)
    )
    for disclosure, lead_uuid in db.session.execute(query):
        yield {
            "id": disclosure.id,
            "lead_id": str(lead_uuid),
            "action": disclosure.action,
            "recipient": disclosure.recipient,
            "recipient_location": disclosure.recipient_location,
            "purpose": disclosure.purpose,
            "fields": list(disclosure.fields),
            "legal_basis": disclosure.legal_basis,
            "consent_event_id": str(disclosure.consent_event_id),
            "separate_consent_hash": disclosure.separate_consent_hash,
            "crm_id": disclosure.crm_id,
            "occurred_at": utc_timestamp(disclosure.occurred_at),
        }
