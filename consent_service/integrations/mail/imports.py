"""Importing existing subscribers, only with proof of their consent (the wording and when it
was given); suppressed addresses are never re-imported.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_service.encryption import encrypt_text
from consent_service.errors import ValidationFailed
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import (
    address_hash,
    find_subscription,
    find_suppression,
    policy_label,
    record_event,
    subscription_form,
)
from consent_service.models import (
    BannerVersion,
    Subscription,
)
from consent_service.models.types import utcnow
from consent_service.sites.forms import wording_hash
from consent_service.sites.snapshot import SiteSnapshot


@dataclass
class ImportReport:
    imported: int = 0
    skipped_suppressed: int = 0
    skipped_active: int = 0


def import_subscribers(
    site: SiteSnapshot,
    items: Sequence[Mapping[str, Any]],
    form_slug: str | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Add subscribers who consented elsewhere, each with the proof of it; one transaction.

    Each becomes active with a ledger event (source "api", client_time = when they
    consented, banner version = the hash of the exact wording, kept as a `BannerVersion`
    of kind `import:<form>`). Suppressed addresses are skipped and counted: an import never
    lifts the suppression list; active ones are left as they are.
    """
    now = now or utcnow()
    form = subscription_form(site.site_id, form_slug)
    errors: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        hashed = address_hash(site.site_key, item["email"])
        if hashed in seen:
            errors[str(index)] = {"email": [f"Also given at index {seen[hashed]}."]}
        seen.setdefault(hashed, index)
    if errors:
        raise ValidationFailed(errors, "The batch is refused; nothing was imported.")
    label = policy_label(site.site_id, now)
    report = ImportReport()
    for item in items:
        email = str(item["email"]).strip()
        hashed = address_hash(site.site_key, email)
        if find_suppression(site.site_id, hashed) is not None:
            report.skipped_suppressed += 1
            continue
        subscription = find_subscription(site.site_id, form.slug, hashed)
        if subscription is not None and subscription.status == "active":
            report.skipped_active += 1
            continue
        digest = keep_imported_wording(site.site_id, form.slug, item["wording"])
        if subscription is None:
            subscription = Subscription(
                site_id=site.site_id,
                form=form.slug,
                subject_id=secrets.token_hex(16),
                address_hash=hashed,
                requested_at=now,
                created_at=now,
            )
            db.session.add(subscription)
        consented_at: datetime = item["consented_at"]
        subscription.category = form.category
        subscription.email_encrypted = encrypt_text(email)
        subscription.locale = str(item["locale"])
        subscription.wording_hash = digest
        subscription.confirm_nonce = None
        subscription.proof = {
            "source": item["source"],
            "consented_at": consented_at.isoformat(),
            "wording_hash": digest,
            "imported_at": now.isoformat(),
        }
        db.session.flush()
        event = record_event(
            site,
            subscription,
            action="custom",
            granted=True,
            source="api",
            policy=label,
            banner_version=digest,
            context=None,
            now=now,
            client_time=consented_at,
            fingerprint={"import": subscription.id, "consented_at": consented_at.isoformat()},
        )
        subscription.status = "active"
        subscription.consent_event_id = event.event_id
        subscription.confirmed_at = now
        report.imported += 1
    db.session.commit()
    return report


def keep_imported_wording(site_id: int, form_slug: str, text: str) -> str:
    """The wording an imported subscriber agreed to, kept immutable like any wording shown.

    Its own kind, so that a public request cannot cite a text only an import brought in.
    """
    digest = wording_hash(text)
    exists = db.session.scalar(
        select(BannerVersion.id).where(
            BannerVersion.site_id == site_id, BannerVersion.sha256 == digest
        )
    )
    if exists is None:
        db.session.add(
            BannerVersion(
                site_id=site_id, sha256=digest, canonical_json=text, kind=f"import:{form_slug}"
            )
        )
    return digest
