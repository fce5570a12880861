"""The links in mail: confirmation and unsubscribe URLs, the RFC 8058 `List-Unsubscribe`
headers, and what a visited link turned out to be. Subscriptions and data subject requests
made with an address share the confirmation link's rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import (
    Subscription,
)
from consent_service.sites.snapshot import SiteSnapshot, load_snapshot
from consent_service.tokens import (
    issue_unsubscribe_token,
)

ONE_CLICK = "List-Unsubscribe=One-Click"
# How long a confirmation link works; what it confirms is forgotten a day later.
CONFIRMATION_LIFETIME = timedelta(days=7)

Confirmed = TypeVar("Confirmed", bound=db.Model)  # type: ignore[name-defined]


@dataclass(frozen=True)
class LinkOutcome:
    """What a confirmation or unsubscribe link leads to, for the page that shows it.

    status: "valid" (may be confirmed), "confirmed", "expired", "used", "invalid" for
    confirmation links; "valid", "unsubscribed", "invalid" for unsubscribe links.
    """

    status: str
    site_name: str | None = None
    locale: str = "en"
    event_id: str | None = None


def ascii_url(url: str) -> str:
    """Links go into headers that must stay ASCII."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def confirmation_url(base_url: str, token: str) -> str:
    return ascii_url(f"{base_url.rstrip('/')}/confirm/{token}")


def unsubscribe_url(base_url: str, site_key: str, subscription: Subscription) -> str:
    token = issue_unsubscribe_token(site_key, subscription.id, subscription.subject_id)
    return ascii_url(f"{base_url.rstrip('/')}/u/{token}")


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058: the one-click unsubscribe every marketing message carries."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


def one_line(value: str) -> str:
    return " ".join(value.split())


def confirmation_target(
    read: tuple[str, int, str, datetime] | None, model: type[Confirmed]
) -> tuple[SiteSnapshot, Confirmed, str, datetime] | None:
    """The site and the row a read confirmation token names (`site_key, row id, nonce,
    issued_at`), or None when the token is bad or names a row of another site."""
    if read is None:
        return None
    site_key, row_id, nonce, issued_at = read
    try:
        site = load_snapshot(site_key, time.monotonic())
    except ApiError:
        return None
    row = db.session.get(model, row_id)
    if row is None or row.site_id != site.site_id:
        return None
    return site, row, nonce, issued_at


def confirmation_state(
    waiting: bool, stored_nonce: str | None, nonce: str, issued_at: datetime, now: datetime
) -> str:
    """ "used" once the row no longer waits or its nonce changed (a link works once),
    "expired" after the lifetime, else "valid"."""
    if not waiting or stored_nonce != nonce:
        return "used"
    if now - issued_at > CONFIRMATION_LIFETIME:
        return "expired"
    return "valid"
