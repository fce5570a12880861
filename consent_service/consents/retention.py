"""Retention: what each site keeps only for a while goes when its time is up.

Per site, from the `retention` rules of its settings (`consents.retention_rules`):

- consent records: the evidence of every event of a visitor whose last event is older than
  N years is erased as an erasure request erases it (tombstone `retention`, leaf kept);
- subscription requests never confirmed: deleted with their messages;
- delivered outbox rows: a delivered lead's encrypted fields, delivered webhook deliveries and
  sent mail;
- dead letters: dead leads (stopped as a withdrawal stops them), dead webhook deliveries and
  dead mail.

Work goes in batches, each its own short transaction, so neither SQLite's write lock nor a
PostgreSQL row lock is held for long while requests and the sealer go on. A dry run counts
and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import aliased

from consent_service.consents import tombstones
from consent_service.consents.retention_rules import RetentionRules, rules_for
from consent_service.console import activity
from consent_service.extensions import db
from consent_service.models import (
    ConsentEvent,
    ErasureTombstone,
    Lead,
    MailMessage,
    Site,
    Subscription,
    Webhook,
    WebhookDelivery,
)
from consent_service.models.types import utcnow

BATCH = 1000
KINDS = (
    "consent_events",
    "unconfirmed_subscriptions",
    "delivered_leads",
    "delivered_webhooks",
    "sent_mail",
    "dead_leads",
    "dead_webhooks",
    "dead_mail",
)
Progress = Callable[[int], None]


@dataclass
class SiteReport:
    site_key: str
    rules: RetentionRules
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    tombstone_id: int | None = None
    transactions: int = 0
    longest_transaction: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site_key,
            "purged": self.counts,
            "floor_days": self.rules.floor_days,
            "tombstone": self.tombstone_id,
            "transactions": self.transactions,
            "longest_transaction_seconds": round(self.longest_transaction, 4),
        }


def _expired_events(site_id: int, cutoff: datetime) -> Any:
    """Events not yet erased of visitors with no event since `cutoff` (one statement: what a
    dry run counts)."""
    newer = aliased(ConsentEvent)
    return (
        ConsentEvent.site_id == site_id,
        ConsentEvent.erasure_id.is_(None),
        ConsentEvent.recorded_at < cutoff,
        ~exists().where(
            newer.site_id == site_id,
            newer.visitor_id == ConsentEvent.visitor_id,
            newer.recorded_at >= cutoff,
        ),
    )


def _expired_event_batches(site_id: int, cutoff: datetime, batch: int) -> Iterator[list[int]]:
    """The same events in batches, each read bounded: a window of `batch` ids of the primary
    key (the only index that leads with the id, so no plan can turn a window into a scan of
    the site), less the events of visitors seen since (looked up by the visitor index).
    A keyset query filtered on the site, or one with the anti-join, can rescan the site's
    events at every batch (PostgreSQL chose exactly that, on a million events)."""
    low, high = db.session.execute(
        select(func.min(ConsentEvent.id), func.max(ConsentEvent.id)).where(
            ConsentEvent.site_id == site_id,
            ConsentEvent.erasure_id.is_(None),
            ConsentEvent.recorded_at < cutoff,
        )
    ).one()
    db.session.rollback()
    if low is None:
        return
    start = low - 1
    while start < high:
        end = start + batch
        rows = [
            row
            for row in db.session.execute(
                select(ConsentEvent.id, ConsentEvent.site_id, ConsentEvent.visitor_id)
                .where(
                    ConsentEvent.id > start,
                    ConsentEvent.id <= end,
                    ConsentEvent.erasure_id.is_(None),
                    ConsentEvent.recorded_at < cutoff,
                )
                .order_by(ConsentEvent.id)
            )
            if row.site_id == site_id
        ]
        start = end
        if not rows:
            db.session.rollback()
            continue
        visitors = sorted({row.visitor_id for row in rows})
        active = set(
            db.session.scalars(
                select(ConsentEvent.visitor_id)
                .where(
                    ConsentEvent.site_id == site_id,
                    ConsentEvent.visitor_id.in_(visitors),
                    ConsentEvent.recorded_at >= cutoff,
                )
                .distinct()
            )
        )
        db.session.rollback()  # a read ends here: no transaction stays open between batches
        ids = [row.id for row in rows if row.visitor_id not in active]
        if ids:
            yield ids


def _webhook_deliveries(site_id: int, status: str, column: Any, cutoff: datetime) -> Any:
    return (
        WebhookDelivery.webhook_id.in_(select(Webhook.id).where(Webhook.site_id == site_id)),
        WebhookDelivery.status == status,
        column < cutoff,
    )


def _conditions(site_id: int, cutoffs: dict[str, datetime]) -> dict[str, tuple[Any, Any]]:
    """Per kind: the id column and the conditions of what goes."""
    delivered, dead = cutoffs["delivered_outbox"], cutoffs["dead_letters"]
    return {
        "consent_events": (ConsentEvent.id, _expired_events(site_id, cutoffs["consent_records"])),
        "unconfirmed_subscriptions": (
            Subscription.id,
            (
                Subscription.site_id == site_id,
                Subscription.status == "pending",
                Subscription.consent_event_id.is_(None),
                Subscription.requested_at < cutoffs["unconfirmed_subscriptions"],
            ),
        ),
        "delivered_leads": (
            Lead.id,
            (
                Lead.site_id == site_id,
                Lead.status == "delivered",
                Lead.fields_encrypted.is_not(None),
                Lead.delivered_at < delivered,
            ),
        ),
        "delivered_webhooks": (
            WebhookDelivery.id,
            _webhook_deliveries(site_id, "delivered", WebhookDelivery.delivered_at, delivered),
        ),
        "sent_mail": (
            MailMessage.id,
            (
                MailMessage.site_id == site_id,
                MailMessage.status == "sent",
                MailMessage.sent_at < delivered,
            ),
        ),
        "dead_leads": (
            Lead.id,
            (Lead.site_id == site_id, Lead.status == "dead", Lead.created_at < dead),
        ),
        "dead_webhooks": (
            WebhookDelivery.id,
            _webhook_deliveries(site_id, "dead", WebhookDelivery.created_at, dead),
        ),
        "dead_mail": (
            MailMessage.id,
            (
                MailMessage.site_id == site_id,
                MailMessage.status == "dead",
                MailMessage.created_at < dead,
            ),
        ),
    }


def _batches(column: Any, conditions: Any, batch: int) -> Iterator[list[int]]:
    """Ids in ascending batches (keyset: each read starts after the last id seen)."""
    last = None
    while True:
        query = select(column).where(*conditions).order_by(column).limit(batch)
        if last is not None:
            query = query.where(column > last)
        ids = list(db.session.scalars(query))
        db.session.rollback()  # a read ends here: no transaction stays open between batches
        if not ids:
            return
        yield ids
        last = ids[-1]
        if len(ids) < batch:
            return


def _purge(kind: str, ids: list[int], tombstone_id: int | None, now: datetime) -> int:
    """One batch of one kind (no commit)."""
    if kind == "consent_events":
        assert tombstone_id is not None
        return tombstones.erase_event_ids(ids, tombstone_id)
    if kind == "unconfirmed_subscriptions":
        from consent_service.integrations.mail.outbox import forget_messages_to

        forget_messages_to(ids)
        return _deleted(delete(Subscription).where(Subscription.id.in_(ids)))
    if kind == "delivered_leads":
        result: Any = db.session.execute(
            update(Lead)
            .where(Lead.id.in_(ids), Lead.fields_encrypted.is_not(None))
            .values(fields_encrypted=None, last_error=None, erased_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)
    if kind == "dead_leads":
        from consent_service.integrations.crm.leads import stop_lead

        leads = db.session.scalars(select(Lead).where(Lead.id.in_(ids))).all()
        for lead in leads:
            stop_lead(lead, now)
        return len(leads)
    if kind in ("delivered_webhooks", "dead_webhooks"):
        return _deleted(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return _deleted(delete(MailMessage).where(MailMessage.id.in_(ids)))


def _deleted(statement: Any) -> int:
    result: Any = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def site_rules(site: Site) -> RetentionRules:
    from consent_service.sites.settings import current_document

    return rules_for(current_document(site))


def run_site(
    site: Site,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> SiteReport:
    """Purge (or, dry, count) what the site's rules say is due at `now`."""
    now = now or utcnow()
    site_id, site_key = site.id, site.site_key
    report = SiteReport(site_key, site_rules(site))
    conditions = _conditions(site_id, report.rules.cutoffs(now))
    db.session.rollback()
    for kind in KINDS:
        column, where = conditions[kind]
        if dry_run:
            report.counts[kind] = int(
                db.session.scalar(select(func.count()).select_from(column.table).where(*where)) or 0
            )
            db.session.rollback()
            continue
        batches = (
            _expired_event_batches(site_id, report.rules.cutoffs(now)["consent_records"], batch)
            if kind == "consent_events"
            else _batches(column, where, batch)
        )
        for ids in batches:
            started = time.perf_counter()
            if kind == "consent_events" and report.tombstone_id is None:
                report.tombstone_id = tombstones.new_tombstone(site_id, "retention").id
            report.counts[kind] += _purge(kind, ids, report.tombstone_id, now)
            db.session.commit()
            report.transactions += 1
            report.longest_transaction = max(
                report.longest_transaction, time.perf_counter() - started
            )
            if progress is not None:
                progress(len(ids))
    if not dry_run and any(report.counts.values()):
        if report.tombstone_id is not None:
            tombstone = db.session.get(ErasureTombstone, report.tombstone_id)
            assert tombstone is not None
            tombstone.counts = {"events": report.counts["consent_events"]}
        activity.log(
            "retention", site_id=site_id, tombstone=report.tombstone_id, purged=dict(report.counts)
        )
        db.session.commit()
    return report


def due_sites(site_key: str | None = None) -> list[Site]:
    query = select(Site).order_by(Site.id)
    if site_key is not None:
        query = query.where(Site.site_key == site_key)
    return list(db.session.scalars(query))


def run_retention(
    site_key: str | None = None,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> list[SiteReport]:
    """Every site (or one) in turn; the in-process schedule calls this with no arguments."""
    return [
        run_site(site, now, dry_run=dry_run, batch=batch, progress=progress)
        for site in due_sites(site_key)
    ]
