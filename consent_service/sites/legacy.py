"""The settings document of a site made before settings documents existed, read back from
its tables, so that its owner can export it, edit it and apply it like any other."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from consent_service.errors import ApiError
from consent_service.models import Site
from consent_service.schemas.settings import SiteSettingsSchema
from consent_service.sites.defaults import BUILTIN_LOCALES, TEXT_KEYS
from consent_service.sites.forms import forms_of


def document_from_site(site: Site) -> dict[str, Any]:
    default = site.default_locale
    locales = list(site.locales) or [default] + [
        locale for locale in BUILTIN_LOCALES if locale != default
    ]
    services = []
    for service in site.services:
        texts = service.texts or {}
        services.append(
            {
                "slug": service.slug,
                "category": service.category.slug,
                "name": service.name,
                "provider": {"legal_name": service.provider},
                "purposes": per_locale(texts, "purpose"),
                "data_collected": per_locale(texts, "data_collected"),
                "privacy_links": (
                    [{"url": service.privacy_policy_url, "locale": default}]
                    if service.privacy_policy_url
                    else []
                ),
                "cross_border": service.cross_border,
                "third_party": service.third_party,
                "cookies": [
                    {"name": cookie.get("pattern") or cookie["name"], "pattern": True}
                    for cookie in service.cookies
                ],
            }
        )
    raw = {
        "name": site.name,
        "origins": list(site.allowed_origins),
        "default_locale": default,
        "locales": locales,
        "lifetime_days": site.lifetime_days,
        "cookie": {"name": site.cookie_name, "domain": site.cookie_domain},
        "jurisdiction": site.jurisdiction,
        "gpc": site.honour_gpc,
        "regions": site.regions or {},
        "reask_after_reject_days": site.reask_after_reject_days or 182,
        "consent_mode": site.consent_mode or {},
        "ga4": {"measurement_id": site.ga4_measurement_id, "mode": site.ga4_mode},
        "texts": {
            locale: {key: value for key, value in words.items() if key in TEXT_KEYS and value}
            for locale, words in (site.texts or {}).items()
            if locale in locales
        },
        "categories": [
            {
                "slug": category.slug,
                "necessary": category.necessary,
                "order": category.position,
                "texts": category.texts,
                "gpc_opt_out": category.gpc_opt_out,
                "consent_mode": list(category.consent_mode_signals),
            }
            for category in site.categories
        ],
        "services": services,
        "forms": [
            {
                "slug": form.slug,
                "purpose": form.purpose,
                "category": form.category,
                "service": form.service,
                "fields": [dict(field) for field in form.fields],
                "separate_consent": dict(form.wording),
            }
            for form in forms_of(site.id)
        ],
    }
    try:
        return dict(SiteSettingsSchema().load(raw))
    except ValidationError as exc:
        raise ApiError(
            409,
            "This site predates settings documents and its tables do not make a valid one; "
            "apply a complete document to it.",
            error="no_settings_document",
            errors={"document": [str(exc.messages)]},
        ) from exc


def per_locale(texts: dict[str, Any], key: str) -> list[Any]:
    values = {locale: words[key] for locale, words in texts.items() if words.get(key)}
    return [values] if values else []
