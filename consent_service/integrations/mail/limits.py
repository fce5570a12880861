"""Rate limits on subscription requests: per client network (answered 429) and per address
(silent: no further mail), counted in the database so every worker sees them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import (
    MailRateEvent,
)
from consent_service.sites.snapshot import SiteSnapshot


def _recent(site_id: int, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many counted events since `since`, and the oldest of them."""
    count, oldest = db.session.execute(
        select(func.count(MailRateEvent.id), func.min(MailRateEvent.created_at)).where(
            MailRateEvent.site_id == site_id,
            MailRateEvent.scope == scope,
            MailRateEvent.key_hash == key,
            MailRateEvent.created_at > since,
        )
    ).one()
    return int(count or 0), oldest


def check_client_limit(site: SiteSnapshot, key: str, now: datetime) -> None:
    """429 with Retry-After once a client made its allowance of requests in the window."""
    config = current_app.config
    limit = int(config["MAIL_REQUESTS_PER_CLIENT"])
    window = timedelta(seconds=int(config["MAIL_CLIENT_WINDOW"]))
    count, oldest = _recent(site.site_id, "client", key, now - window)
    if count < limit:
        return
    wait = (oldest + window - now).total_seconds() if oldest else window.total_seconds()
    retry_after = str(max(1, math.ceil(wait)))
    raise ApiError(
        429,
        "Too many subscription requests from this network; try again later.",
        error="rate_limited",
        headers={"Retry-After": retry_after},
    )


def address_allowance_left(site_id: int, key: str, now: datetime) -> bool:
    config = current_app.config
    limit = int(config["MAIL_CONFIRMATIONS_PER_ADDRESS"])
    window = timedelta(seconds=int(config["MAIL_ADDRESS_WINDOW"]))
    count, _ = _recent(site_id, "address", key, now - window)
    return count < limit


def count_rate_event(site_id: int, scope: str, key: str, now: datetime) -> None:
    db.session.add(MailRateEvent(site_id=site_id, scope=scope, key_hash=key, created_at=now))
