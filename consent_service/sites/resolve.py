"""From a settings document to what a site shows: catalogue entries merged under the site's
overrides, every text in every locale (missing ones from the default locale or the built-in
words), and the banner document that is hashed into a banner version.

Pure functions of the document: no database, so a dry run computes the same banner version
hash that an apply stores.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from consent_service.sites.catalogue import catalogue_entry
from consent_service.sites.defaults import NECESSARY_TEXTS, TEXT_KEYS, builtin_texts

SERVICE_DEFAULTS: dict[str, Any] = {
    "purposes": [],
    "data_collected": [],
    "privacy_links": [],
    "storage_locations": [],
    "cross_border": False,
    "third_party": True,
    "retention": None,
    "cookies": [],
    "consent_mode": [],
    "platform_signal": "none",
    "hosts": [],
}
#: Fields a service must have once its catalogue entry is merged in.
SERVICE_REQUIRED = ("category", "name", "provider")


def pointer(*parts: Any) -> str:
    """A JSON Pointer (RFC 6901) to a field of the document."""
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "".join("/" + part for part in escaped)


def localise(text: Any, locales: list[str], default_locale: str) -> dict[str, str]:
    """A Text (a plain string or {locale: string}) in every locale, falling back to the
    default locale (then any given translation) where a translation is missing."""
    if text is None:
        return {}
    if isinstance(text, str):
        return {locale: text for locale in locales}
    fallback = text.get(default_locale) or next(iter(text.values()), "")
    return {locale: text.get(locale) or fallback for locale in locales}


def merge_service(service: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The service with its catalogue entry's fields as defaults (key by key), or an error."""
    merged: dict[str, Any] = {}
    reference = service.get("catalogue")
    if reference:
        entry = catalogue_entry(reference)
        if entry is None:
            return dict(service), f"No catalogue entry {reference!r}."
        entry.pop("id", None)
        entry.pop("source", None)
        default_category = entry.pop("default_category", None)
        merged.update(entry)
        if default_category:
            merged["category"] = default_category
    for key, value in service.items():
        if key == "provider" and isinstance(merged.get("provider"), dict):
            merged["provider"] = {**merged["provider"], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged, None


def resolve(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The resolved settings and the errors (JSON Pointer -> messages) found on the way."""
    errors: dict[str, list[str]] = {}
    locales = list(document["locales"])
    default = document["default_locale"]

    def text(value: Any) -> dict[str, str]:
        return localise(value, locales, default)

    texts = {}
    own = document["texts"]
    for locale in locales:
        # Last resorts first: English, then the default locale's words; never an empty title.
        words = {
            **builtin_texts("en", document["name"]),
            **builtin_texts(default, document["name"]),
        }
        words.update(own.get(default, {}))
        words.update(builtin_texts(locale, document["name"]))
        words.update(own.get(locale, {}))
        texts[locale] = {key: words.get(key, "") for key in TEXT_KEYS}

    categories = sorted(
        enumerate(document["categories"]),
        key=lambda item: (item[1]["order"] if item[1]["order"] is not None else item[0], item[0]),
    )
    resolved_categories = [
        {
            "slug": category["slug"],
            "necessary": category["necessary"],
            "gpc_opt_out": category["gpc_opt_out"],
            "consent_mode": list(category.get("consent_mode") or []),
            "texts": category_texts(category, locales, default),
        }
        for _, category in categories
    ]
    if not any(category["necessary"] for category in resolved_categories):
        resolved_categories.insert(
            0,
            {
                "slug": "necessary",
                "necessary": True,
                "gpc_opt_out": False,
                "consent_mode": ["security_storage", "functionality_storage"],
                "texts": category_texts({"texts": NECESSARY_TEXTS}, locales, default),
            },
        )
    for position, category in enumerate(resolved_categories):
        category["order"] = position

    services = []
    for index, written in enumerate(document["services"]):
        merged, problem = merge_service(written)
        if problem:
            errors.setdefault(pointer("services", index, "catalogue"), []).append(problem)
            continue
        missing = [key for key in SERVICE_REQUIRED if not merged.get(key)]
        for key in missing:
            errors.setdefault(pointer("services", index, key), []).append(
                "Missing data for required field (no catalogue entry gives it)."
            )
        if missing:
            continue
        service = {**copy.deepcopy(SERVICE_DEFAULTS), **merged}
        provider = service["provider"]
        services.append(
            {
                "slug": service["slug"],
                "category": service["category"],
                "name": text(service["name"]),
                "provider": {
                    "legal_name": text(provider.get("legal_name", "")),
                    "address": text(provider.get("address")),
                    "contact": provider.get("contact"),
                },
                "purposes": [text(item) for item in service["purposes"]],
                "data_collected": [text(item) for item in service["data_collected"]],
                "privacy_links": service["privacy_links"],
                "storage_locations": [
                    {
                        "country": place["country"],
                        "name": text(place.get("name") or place["country"]),
                    }
                    for place in service["storage_locations"]
                ],
                "cross_border": service["cross_border"],
                "third_party": service["third_party"],
                "retention": text(service["retention"]),
                "cookies": [
                    {
                        "name": cookie["name"],
                        "pattern": bool(cookie.get("pattern")),
                        "domain": cookie.get("domain"),
                        "lifetime": text(cookie.get("lifetime")),
                        "lifetime_days": cookie.get("lifetime_days"),
                        "description": text(cookie.get("description")),
                    }
                    for cookie in service["cookies"]
                ],
                "consent_mode": list(service["consent_mode"]),
                "platform_signal": service["platform_signal"],
                "hosts": list(service["hosts"]),
            }
        )
    resolved = {
        **{key: copy.deepcopy(value) for key, value in document.items()},
        "texts": texts,
        "categories": resolved_categories,
        "services": services,
    }
    return resolved, errors


def category_texts(
    category: dict[str, Any], locales: list[str], default: str
) -> dict[str, dict[str, str]]:
    own = category.get("texts") or {}
    fallback: dict[str, str] = own.get(default) or next(iter(own.values()), {})
    slug_name = str(category.get("slug", "")).replace("_", " ").replace("-", " ").capitalize()
    return {
        locale: {
            "name": (own.get(locale) or {}).get("name") or fallback.get("name") or slug_name,
            "description": (own.get(locale) or {}).get("description")
            or fallback.get("description", ""),
        }
        for locale in locales
    }


LIST_SEPARATORS = {"zh": ("；", "、")}


def joined(items: list[dict[str, str]], locale: str, second: bool = False) -> str:
    separators = LIST_SEPARATORS.get(locale.split("-")[0], ("; ", ", "))
    return separators[1 if second else 0].join(item.get(locale, "") for item in items)


def privacy_link(links: list[dict[str, str]], locale: str, default: str) -> str | None:
    for wanted in (locale, default):
        for link in links:
            if link["locale"] == wanted:
                return link["url"]
    return links[0]["url"] if links else None


def cookie_pattern(cookie: dict[str, Any]) -> str:
    return str(cookie["name"]) if cookie["pattern"] else f"^{re.escape(cookie['name'])}$"


def banner_document(resolved: dict[str, Any]) -> dict[str, Any]:
    """Everything a visitor can be shown, in every locale: what a banner version hashes.

    Nothing the banner does not show is in it (origins, lifetime, cookie, jurisdiction, GPC,
    regions, Consent Mode defaults, GA4, forms, a service's hosts and platform signal), so
    changing those keeps the version. The rule set a visitor is shown under is added per
    script (`versions.rule_banner`).
    """
    locales = resolved["locales"]
    default = resolved["default_locale"]
    services = []
    for service in resolved["services"]:
        per_locale = {
            locale: {
                "name": service["name"][locale],
                "provider": service["provider"]["legal_name"][locale],
                "address": service["provider"]["address"].get(locale, ""),
                "contact": service["provider"]["contact"] or "",
                "purpose": joined(service["purposes"], locale),
                "data_collected": joined(service["data_collected"], locale, second=True),
                "storage_location": joined(
                    [place["name"] for place in service["storage_locations"]], locale, True
                ),
                "privacy_policy_url": privacy_link(service["privacy_links"], locale, default),
                "retention": service["retention"].get(locale, ""),
                "cookie_texts": [
                    {
                        "lifetime": cookie["lifetime"].get(locale, ""),
                        "description": cookie["description"].get(locale, ""),
                    }
                    for cookie in service["cookies"]
                ],
            }
            for locale in locales
        }
        first = per_locale[default]
        services.append(
            {
                "slug": service["slug"],
                "category": service["category"],
                "name": first["name"],
                "provider": first["provider"],
                "privacy_policy_url": first["privacy_policy_url"],
                "storage_location": first["storage_location"],
                "countries": [place["country"] for place in service["storage_locations"]],
                "cross_border": service["cross_border"],
                "third_party": service["third_party"],
                "cookies": [
                    {
                        "name": cookie["name"],
                        "pattern": cookie_pattern(cookie),
                        "domain": cookie["domain"] or "",
                        "lifetime": cookie["lifetime"].get(default, ""),
                    }
                    for cookie in service["cookies"]
                ],
                "texts": per_locale,
            }
        )
    return {
        "site": {"name": resolved["name"], "default_locale": default, "locales": locales},
        "texts": resolved["texts"],
        "categories": resolved["categories"],
        "services": services,
    }
