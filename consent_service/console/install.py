"""Is the banner's tag on a page of the site? The service fetches the page itself, only from
one of the site's own origins, through `outbound.py` (public addresses only, no redirects;
WEBHOOK_ALLOW_HTTP, the development setting, lets it reach a page on this machine)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from consent_service.errors import ValidationFailed
from consent_service.models import Site
from consent_service.outbound import AddressRefused, UrlRefused, open_checked
from consent_service.sites.registry import normalise_origin

MAX_PAGE_BYTES = 2 * 1024 * 1024


@dataclass
class TagCheck:
    url: str
    found: bool
    message: str


def check_page(site: Site, url: str, script_src: str, *, allow_local: bool) -> TagCheck:
    """Fetch `url` (one of the site's origins) and look for the site's script URL in it."""
    url = url.strip()
    try:
        origin = normalise_origin(f"{urlsplit(url).scheme}://{urlsplit(url).netloc}")
    except ValueError as exc:
        raise ValidationFailed({"url": ["Not a page URL."]}) from exc
    if origin not in site.allowed_origins:
        raise ValidationFailed({"url": ["Only pages on the site's own origins are checked."]})
    request = urllib.request.Request(url, headers={"User-Agent": "consent-service tag check"})
    try:
        with open_checked(request, timeout=10.0, allow_local=allow_local) as answer:
            body = answer.read(MAX_PAGE_BYTES).decode("utf-8", "replace")
    except (UrlRefused, AddressRefused) as exc:
        return TagCheck(url, False, f"Not fetched: {exc}")
    except urllib.error.HTTPError as exc:
        return TagCheck(url, False, f"The page answered {exc.code}.")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return TagCheck(url, False, f"The page could not be fetched ({reason}).")
    path = urlsplit(script_src).path
    if path and path in body:
        return TagCheck(url, True, "The banner's tag is on this page.")
    return TagCheck(url, False, "The banner's tag is not on this page.")
