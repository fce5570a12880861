"""The links in marketing mail: confirmation and unsubscribe URLs, the RFC 8058
`List-Unsubscribe` headers, and what a visited link turned out to be.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from consent_service.models import (
    Subscription,
)
from consent_service.tokens import (
    issue_unsubscribe_token,
)

ONE_CLICK = "List-Unsubscribe=One-Click"


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
