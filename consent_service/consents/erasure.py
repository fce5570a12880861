"""A visitor's request for erasure: their leads (deleted in the CRM too) and, when they give
their address, their place on the marketing list.

The consent ledger itself is not erased: it holds pseudonymous ids only and is the proof the
site must keep that it asked. What the request erased is recorded (disclosure records for
leads; the marketing list keeps only a hash of the address, so it is never mailed again).
"""

from __future__ import annotations

from dataclasses import dataclass

from consent_service.extensions import db
from consent_service.integrations.crm import leads as crm_leads


@dataclass(frozen=True)
class ErasureReport:
    leads: int
    subscriptions: int


def request_erasure(
    site_id: int, visitor_id: str | None, email: str | None = None
) -> ErasureReport:
    """Erase what we hold of a visitor beyond the ledger; one transaction.

    Callers prove identity first: the visitor's own token for their leads; an address only
    from the site's backend (admin token), which can check that the person owns it.
    """
    leads = crm_leads.erase_visitor_leads(site_id, visitor_id) if visitor_id else 0
    subscriptions = 0
    if email:
        from consent_service.integrations.mail.opt_out import erase_subscriber

        subscriptions = erase_subscriber(site_id, email)
    db.session.commit()
    return ErasureReport(leads=leads, subscriptions=subscriptions)
