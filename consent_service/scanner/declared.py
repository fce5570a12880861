"""What a site says it uses, in the shape of the site settings document's `services`.

`declared_services` is the one place that reads a site's services for the scanner; the rest of
the scanner sees only its output. It reads the site's settings document with catalogue entries
merged in, each text in the site's default locale.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from consent_service.models import Site
from consent_service.scanner.cookie_db import cookie_database
from consent_service.sites.resolve import resolve
from consent_service.sites.settings import current_document

_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week|month|year)s?\b", re.I)
SESSION_WORDS = ("session", "browser close", "end of session")


def lifetime_seconds(text: str | None) -> float | None:
    """Seconds a stated lifetime allows: 0 for a session cookie, None when it cannot be read.

    Reads what people write in cookie tables: "2 years", "13 months", "30 minutes", "session".
    """
    if not text:
        return None
    lowered = text.strip().lower()
    if any(word in lowered for word in SESSION_WORDS):
        return 0.0
    match = _AMOUNT.search(lowered)
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def lifetime_days(text: str | None) -> int | None:
    seconds = lifetime_seconds(text)
    if seconds is None:
        return None
    return math.ceil(seconds / 86400)


def in_locale(text: Any, locale: str) -> str:
    """A resolved text ({locale: string}) in one locale; a plain string as it is."""
    if isinstance(text, dict):
        return str(text.get(locale) or next(iter(text.values()), ""))
    return str(text or "")


def _cookie(cookie: dict[str, Any], locale: str) -> dict[str, Any]:
    lifetime = in_locale(cookie.get("lifetime"), locale)
    days = cookie.get("lifetime_days")
    return {
        "name": str(cookie["name"]),
        "pattern": bool(cookie.get("pattern")),
        "domain": cookie.get("domain") or None,
        "lifetime": lifetime,
        "lifetime_days": days if days is not None else lifetime_days(lifetime),
        "description": in_locale(cookie.get("description"), locale),
    }


GTAG_HOST = "www.googletagmanager.com"  # where the banner loads gtag.js from for GA4
_LITERAL = re.compile(r"\^?([A-Za-z0-9_.-]+)")


def _hosts(cookies: list[dict[str, Any]], ga4: bool) -> list[str]:
    """Hosts the service's tags load from or send to, beyond those the settings declare: a
    cookie's own domain, and the hosts the cookie database knows the cookie's platform
    by (a declared `_ga` brings google-analytics.com; with GA4 on, gtag.js's host too). A
    privacy link's host is not used: it says where the policy lives, not where tags load."""
    database = cookie_database()
    hosts = {c["domain"].lstrip(".").lower() for c in cookies if c["domain"]}
    for cookie in cookies:
        literal = _LITERAL.match(cookie["name"]) if cookie["pattern"] else None
        known = database.cookie(literal.group(1) if literal else cookie["name"])
        if known is not None:
            hosts.update(database.hosts_of(known.platform))
            if ga4 and known.platform == "Google Analytics":
                hosts.add(GTAG_HOST)
    return sorted(hosts)


def declared_services(site: Site) -> list[dict[str, Any]]:
    """The site's services as its settings document declares them (slug, category, name,
    provider, privacy_links, cookies, hosts), catalogue entries merged in."""
    resolved, _ = resolve(current_document(site))
    locale = str(resolved.get("default_locale") or site.default_locale)
    ga4 = bool(site.ga4_measurement_id)
    services = []
    for service in resolved["services"]:
        cookies = [_cookie(cookie, locale) for cookie in service["cookies"]]
        hosts = set(service["hosts"]) | set(_hosts(cookies, ga4))
        services.append(
            {
                "slug": service["slug"],
                "category": service["category"],
                "name": in_locale(service["name"], locale),
                "provider": in_locale(service["provider"]["legal_name"], locale),
                "privacy_links": service["privacy_links"],
                "cookies": cookies,
                "hosts": sorted(host.lower() for host in hosts),
            }
        )
    return services


def necessary_categories(site: Site) -> set[str]:
    return {category.slug for category in site.categories if category.necessary}


def own_service(site: Site, service_host: str | None) -> dict[str, Any]:
    """consent-service itself, in the same shape: the consent cookie, the decision queue in
    localStorage and the requests to the service. Always necessary; never a violation."""
    necessary = sorted(necessary_categories(site)) or ["necessary"]
    # After a reject-all the choice is kept until the banner may ask again (issue 16's rule).
    days = max(site.lifetime_days, site.reask_after_reject_days or 0)
    return {
        "slug": "consent-service",
        "category": necessary[0],
        "name": "consent-service",
        "provider": site.name,
        "privacy_links": [],
        "cookies": [
            {
                "name": site.cookie_name,
                "pattern": False,
                "domain": None,
                "lifetime": f"{days} days",
                "lifetime_days": days,
                "description": "The visitor's consent choice.",
            },
            {
                "name": f"cs_q_{site.site_key}",
                "pattern": False,
                "domain": None,
                "lifetime": "until sent",
                "lifetime_days": None,
                "description": "Decisions waiting to reach the consent ledger.",
            },
        ],
        "hosts": [service_host] if service_host else [],
    }


def origin_hosts(origins: list[str]) -> set[str]:
    """`netloc`s of a site's origins: a request elsewhere is a request to another host."""
    return {urlsplit(origin).netloc.lower() for origin in origins}
