"""A visitor's request for erasure: everything personal held about them goes, the proof stays.

What goes: the evidence of every consent event of theirs (page URL, user agent, address
prefix, client time, country, and the salt of the sealed commitment to them), their leads
(fields erased here, the CRM lead deleted through NeoCRM by the delivery worker), their
subscriptions (address, messages, rate counters; found by their visitor id or by the address
the site's backend names), and the counters keyed by their address prefixes. What stays: every
Merkle leaf (pseudonymous fields and the commitment), so checkpoints and proofs still verify;
lead and subscription rows without their personal fields, as the trace that they existed; the
salted hash of an erased address on the suppression list, so it is never mailed again.

A tombstone records what was erased, how much, when and under which request, and the
activity log notes it; all of it is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from consent_service.consents import tombstones
from consent_service.console import activity
from consent_service.extensions import db
from consent_service.integrations.crm import leads as crm_leads
from consent_service.models import Site, Subscription


@dataclass(frozen=True)
class ErasureReport:
    """`leads` and `subscriptions` are the API's answer; the rest is for the caller."""

    leads: int
    subscriptions: int
    events: int = 0
    tombstone_id: int | None = None


def request_erasure(
    site_id: int,
    visitor_id: str | None,
    email: str | None = None,
    *,
    request_id: int | None = None,
) -> ErasureReport:
    """Erase what we hold of a visitor (and/or an address) on one site; one transaction.

    Callers prove identity first: the visitor's own token for their visitor id; an address
    only from the site's backend (admin token) or a data subject request whose address was
    confirmed. `request_id` names that request in the tombstone.
    """
    from consent_service.integrations.mail.opt_out import erase_subscriptions
    from consent_service.integrations.mail.subscribers import address_hash, subscriptions_of

    site = db.session.get(Site, site_id)
    assert site is not None, "callers resolve the site first"
    leads = crm_leads.erase_visitor_leads(site_id, visitor_id) if visitor_id else 0
    subjects: set[str] = {visitor_id} if visitor_id else set()
    linked: list[Subscription] = []
    if visitor_id:
        linked = list(
            db.session.scalars(
                select(Subscription).where(
                    Subscription.site_id == site_id,
                    Subscription.visitor_id == visitor_id,
                    Subscription.status != "erased",
                )
            )
        )
        subjects |= erase_subscriptions(site, linked)
    by_address: list[Subscription] = []
    if email:
        by_address = [
            item
            for item in subscriptions_of(site_id, address_hash(site.site_key, email))
            if item not in linked
        ]
        subjects |= erase_subscriptions(site, by_address)
    tombstone = tombstones.new_tombstone(
        site_id, "request", request_id=request_id, subject=visitor_id
    )
    events = tombstones.erase_subject_events(site_id, site.site_key, subjects, tombstone.id)
    subscriptions = len({item.id for item in (*linked, *by_address)})
    tombstone.counts = {"events": events, "leads": leads, "subscriptions": subscriptions}
    activity.log(
        "erasure",
        site_id=site_id,
        tombstone=tombstone.id,
        request_id=request_id,
        events=events,
        leads=leads,
        subscriptions=subscriptions,
    )
    db.session.commit()
    return ErasureReport(
        leads=leads, subscriptions=subscriptions, events=events, tombstone_id=tombstone.id
    )
