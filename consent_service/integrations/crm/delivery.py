"""Delivering leads to NeoCRM exactly once.

The CRM id is stored with the lead in the commit that marks it delivered, and a create that
timed out after it was sent is never blindly repeated. With the `lead_id` field mapped to a
NeoCRM custom field the worker looks the lead up first; without it, such a lead waits, dead,
for an admin to check NeoCRM and retry it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from consent_service.encryption import (
    DecryptionFailed,
    decrypt_json,
)
from consent_service.extensions import db
from consent_service.integrations.crm.connection import LEAD_ID_SOURCE, connection_of, settings_of
from consent_service.integrations.crm.disclosures import record_disclosure
from consent_service.integrations.crm.leads import erase_fields, recipient_of
from consent_service.integrations.crm.neocrm import (
    CrmOutcomeUnknown,
    CrmRejected,
    CrmUnavailable,
    NeoCrmClient,
    Transport,
    http_transport,
)
from consent_service.integrations.outbox import backoff, claim
from consent_service.models import (
    CrmConnection,
    Lead,
)
from consent_service.models.types import utcnow
from consent_service.redact import redact

DUE_STATUSES = ("pending", "deleting")


BATCH = 50


#: The background job in web processes that delivers leads; woken when a lead is accepted.
CRM_WORKER = "crm-worker"


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
    record_disclosure(lead, "disclosed", recipient_of(lead.site_id, lead.service), sent)
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
    erase_fields(lead, lead.erased_at or now)
    if ids:
        record_disclosure(
            lead, "deleted_at_recipient", recipient_of(lead.site_id, lead.service), []
        )
    report.deleted += 1


def lead_error(lead: Lead, error: str) -> str:
    """The error without personal data: a CRM may quote the lead it refused."""
    known: list[str] = []
    if lead.fields_encrypted:
        with suppress(DecryptionFailed):  # unreadable: the patterns alone must do
            known = [str(value) for value in decrypt_json(lead.fields_encrypted).values()]
    return redact(error, known)


def _failed(lead: Lead, error: str, now: datetime, report: CrmReport) -> None:
    lead.last_error = lead_error(lead, error)
    if lead.attempts >= int(current_app.config["CRM_MAX_ATTEMPTS"]):
        lead.status = "dead"
        report.dead += 1
    else:
        lead.next_attempt_at = now + backoff(lead.attempts)
        report.failed += 1


def _dead(lead: Lead, error: str, report: CrmReport) -> None:
    lead.last_error = lead_error(lead, error)
    lead.status = "dead"
    report.dead += 1
