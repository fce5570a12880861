"""The history of a site's settings: every applied document, who applied it, when, and the
banner version it produced. Append-only, so that an auditor can answer what the banner said
on any day: the change in effect then names its document and its banner version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import SettingsChange, Site


def latest_change(site: Site) -> SettingsChange | None:
    return db.session.scalar(
        select(SettingsChange)
        .where(SettingsChange.site_id == site.id)
        .order_by(SettingsChange.id.desc())
        .limit(1)
    )


def history(site: Site, at: datetime | None = None) -> Sequence[SettingsChange]:
    """The applied changes, newest first; with `at`, those made by then, so that the first
    is the one in effect at that moment ("what did the banner say on 12 March?")."""
    query = select(SettingsChange).where(SettingsChange.site_id == site.id)
    if at is not None:
        query = query.where(SettingsChange.created_at <= at)
    return db.session.scalars(query.order_by(SettingsChange.id.desc())).all()


def change_document(site: Site, change_id: int) -> dict[str, Any]:
    change = db.session.scalar(
        select(SettingsChange).where(
            SettingsChange.site_id == site.id, SettingsChange.id == change_id
        )
    )
    if change is None:
        raise ApiError(404, "No such settings change.", error="not_found")
    return dict(json.loads(change.document))


def change_summary(change: SettingsChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "actor": change.actor,
        "applied_at": change.created_at.isoformat(),
        "hash_before": change.hash_before,
        "hash_after": change.hash_after,
        "banner_version": change.banner_version,
        "banner_changed": change.banner_changed,
    }
