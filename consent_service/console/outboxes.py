"""The outboxes as the console shows them: CRM leads, marketing mail and webhook deliveries
per status, the dead ones with their last error and a retry, and the mail suppression list
(address hashes only). Retrying uses each integration's own operation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from consent_service.console import activity
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.integrations import webhooks
from consent_service.integrations.crm import leads
from consent_service.integrations.crm.connection import connection_of
from consent_service.integrations.mail import outbox as mail_outbox
from consent_service.models import (
    ConsoleAccount,
    MailMessage,
    Site,
    Suppression,
    Webhook,
    WebhookDelivery,
)

KINDS = ("lead", "mail", "webhook")
LISTED = 100


def overview(site: Site, mail_configured: bool = True) -> dict[str, Any]:
    """Counts per status, dead items, and what is missing for pending items ever to leave
    (no NeoCRM connection for the site, no SMTP host for the service)."""
    mail_counts = dict(
        db.session.execute(
            select(MailMessage.status, func.count())
            .where(MailMessage.site_id == site.id)
            .group_by(MailMessage.status)
        ).all()
    )
    webhook_counts = dict(
        db.session.execute(
            select(WebhookDelivery.status, func.count())
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(Webhook.site_id == site.id)
            .group_by(WebhookDelivery.status)
        ).all()
    )
    suppressed = db.session.scalars(
        select(Suppression)
        .where(Suppression.site_id == site.id)
        .order_by(Suppression.id.desc())
        .limit(LISTED)
    ).all()
    return {
        "crm": {
            "counts": leads.outbox_counts(site.id),
            "dead": leads.dead_leads(site.id),
            "waiting_for": None
            if connection_of(site.id)
            else "NeoCRM is not configured for this site: consent-service crm configure",
        },
        "mail": {
            "counts": mail_counts,
            "dead": mail_outbox.dead_messages(site.id),
            "waiting_for": None
            if mail_configured
            else "No SMTP server is configured (SMTP_HOST): messages wait here",
        },
        "webhooks": {"counts": webhook_counts, "dead": webhooks.dead_deliveries(site.id)},
        "suppressed": suppressed,
    }


def retry(site: Site, kind: str, item_id: str, account: ConsoleAccount) -> None:
    """Send one dead item again from its first attempt; logged in the activity log."""
    try:
        if kind == "lead":
            leads.retry_lead(site.id, item_id)
        elif kind == "mail":
            mail_outbox.retry_message(site.id, int(item_id))
        elif kind == "webhook":
            webhooks.retry_delivery(site.id, int(item_id))
        else:
            raise ApiError(422, "Unknown outbox.", error="validation_failed")
    except ValueError as exc:
        raise ApiError(404, "No such item.", error="not_found") from exc
    activity.record("outbox.retried", account=account, site_id=site.id, kind=kind, item=item_id)
