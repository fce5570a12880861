"""The public configuration a banner needs: locale negotiation, the localised texts, and the
configuration baked into the served script.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from consent_service.models import (
    Site,
)
from consent_service.sites.forms import form_config, forms_of
from consent_service.sites.registry import BUILTIN_LOCALES
from consent_service.sites.snippet import strings_for
from consent_service.sites.versions import banner_document, current_policy, policy_summary


def site_locales(site: Site) -> list[str]:
    locales = set(site.texts) | set(BUILTIN_LOCALES) | {site.default_locale}
    for category in site.categories:
        locales |= set(category.texts)
    return sorted(locales)


def negotiate_locale(available: Sequence[str], requested: str | None, accept: Sequence[str]) -> str:
    """Pick the best of `available`: an explicit request first, then the Accept-Language list.

    Matches exactly, then by primary language (`zh` matches `zh-CN`); falls back to the first
    available locale, which callers order with the site's default first.
    """
    lowered = {locale.lower(): locale for locale in available}
    candidates = ([requested] if requested else []) + list(accept)
    for candidate in candidates:
        candidate = candidate.strip().replace("_", "-").lower()
        if candidate in lowered:
            return lowered[candidate]
        primary = candidate.split("-")[0]
        for lower, locale in lowered.items():
            if lower.split("-")[0] == primary:
                return locale
    return available[0]


def localised(texts: dict[str, Any], locale: str, default_locale: str) -> dict[str, Any]:
    value = texts.get(locale) or texts.get(default_locale) or texts.get("en") or {}
    return dict(value)


def site_config(site: Site, locale: str) -> dict[str, Any]:
    """What a banner needs, in one locale: the body of GET .../config."""
    policy = current_policy(site)
    document = banner_document(site)
    default = site.default_locale
    return {
        "site_key": site.site_key,
        "name": site.name,
        "locale": locale,
        "default_locale": default,
        "locales": site_locales(site),
        "texts": localised(site.texts, locale, default),
        "categories": [
            {
                "slug": category["slug"],
                "necessary": category["necessary"],
                "order": category["order"],
                "gpc_opt_out": category["gpc_opt_out"],
                "consent_mode": category["consent_mode"],
                **localised(category["texts"], locale, default),
            }
            for category in document["categories"]
        ],
        "services": [
            {
                **{key: value for key, value in service.items() if key != "texts"},
                **localised(service["texts"], locale, default),
            }
            for service in document["services"]
        ],
        "policy_version": policy_summary(policy),
        "banner_version": site.banner_version_hash,
        "lifetime_days": site.lifetime_days,
        "jurisdiction": site.jurisdiction,
        "cookie_name": site.cookie_name,
        "gpc": {"honour": site.honour_gpc},
        "consent_mode": site.consent_mode,
        "ga4": (
            {"measurement_id": site.ga4_measurement_id, "mode": site.ga4_mode}
            if site.ga4_measurement_id
            else None
        ),
        "forms": [form_config(form, locale, default) for form in forms_of(site.id)],
    }


def snippet_config(site: Site, api_base: str, ga4_script_url: str | None) -> dict[str, Any]:
    """The configuration embedded in the banner script: every locale, so the browser can pick
    the visitor's language without another request."""
    document = banner_document(site)
    ga4 = None
    if site.ga4_measurement_id:
        ga4 = {
            "measurement_id": site.ga4_measurement_id,
            "mode": site.ga4_mode,
            "script_url": ga4_script_url
            or f"https://www.googletagmanager.com/gtag/js?id={site.ga4_measurement_id}",
        }
    return {
        "site_key": site.site_key,
        "api_base": api_base.rstrip("/"),
        "default_locale": site.default_locale,
        "cookie_name": site.cookie_name,
        "lifetime_days": site.lifetime_days,
        "jurisdiction": site.jurisdiction,
        "policy_version": policy_summary(current_policy(site)),
        "banner_version": site.banner_version_hash,
        "texts": document["texts"],
        "strings": strings_for(list(document["texts"])),
        "categories": document["categories"],
        "services": document["services"],
        "gpc": {"honour": site.honour_gpc},
        "consent_mode": site.consent_mode,
        "ga4": ga4,
        "forms": [form_config(form, None, site.default_locale) for form in forms_of(site.id)],
    }


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
