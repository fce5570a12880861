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
from consent_service.sites.defaults import BUILTIN_LOCALES, builtin_texts
from consent_service.sites.forms import form_config, forms_of
from consent_service.sites.versions import (
    banner_document,
    current_policy,
    policy_summary,
    rule_banner_hash,
)

#: The banner script's short names for the words of its controls (they ship on every page).
SCRIPT_KEYS = {
    "accept_all": "accept",
    "reject_all": "reject",
    "preferences": "prefs",
    "always_on": "on",
    "data_collected": "data",
    "stored_in": "where",
    "cross_border": "cross",
    "privacy_policy": "policy",
    "gpc_note": "gpc",
    "opt_out_description": "optout",
    "do_not_sell": "dns",
    "notice_description": "notice",
    "separate_consent": "sep",
    "withdraw": "wd",
    "preference_center": "pc",
}


def site_locales(site: Site) -> list[str]:
    """The locales a site's banner is offered in (all of them, for sites made before settings
    documents: its texts', its categories' and the built-in ones)."""
    if site.locales:
        return sorted(site.locales)
    locales = set(site.texts) | set(BUILTIN_LOCALES) | {site.default_locale}
    for category in site.categories:
        locales |= set(category.texts)
    return sorted(locales)


def script_texts(
    texts: dict[str, dict[str, str]], locales: list[str], site_name: str
) -> dict[str, dict[str, str]]:
    """Every word the script shows, per locale, under the names its controls use.

    The script has no words of its own: the site's texts come first, then the built-in words
    of the locale, then English ones (a site made before settings documents may lack some).
    """
    english = builtin_texts("en", site_name)
    return {
        locale: {
            SCRIPT_KEYS.get(key, key): value
            for key, value in {
                **english,
                **builtin_texts(locale, site_name),
                **{key: value for key, value in texts.get(locale, {}).items() if value},
            }.items()
        }
        for locale in sorted(set(texts) | set(locales))
    }


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


#: Service fields the script does not draw (the config endpoint has them for custom UIs).
SCRIPT_UNUSED = {"address", "contact", "retention", "cookie_texts", "countries"}


def script_services(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Services as the script needs them: per-locale words only where they differ from the
    default ones, and nothing it does not draw (they ship on every page view)."""
    slim = []
    for service in services:
        top = {key: value for key, value in service.items() if key not in SCRIPT_UNUSED}
        top["texts"] = {
            locale: {
                key: value
                for key, value in words.items()
                if key not in SCRIPT_UNUSED and value != service.get(key)
            }
            for locale, words in service["texts"].items()
        }
        slim.append(top)
    return slim


def site_config(site: Site, locale: str, rule_set: str | None = None) -> dict[str, Any]:
    """What a banner needs, in one locale, for a visitor under `rule_set` (the rules of their
    region, chosen as for the served script): the body of GET .../config. Without a rule set
    (the preference center's own use) the two rule set keys are left out."""
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
        **(
            {"rule_set": rule_set, "rule_set_banner_version": rule_banner_hash(document, rule_set)}
            if rule_set
            else {}
        ),
        "cookie_name": site.cookie_name,
        "cookie_domain": site.cookie_domain,
        "gpc": {"honour": site.honour_gpc},
        "consent_mode": site.consent_mode,
        "ga4": (
            {"measurement_id": site.ga4_measurement_id, "mode": site.ga4_mode}
            if site.ga4_measurement_id
            else None
        ),
        "forms": [form_config(form, locale, default) for form in forms_of(site.id)],
    }


def platform_categories(site: Site) -> dict[str, list[str]]:
    """Per ad or analytics platform with a consent API that the site's services use, the
    categories its tag needs (Google Consent Mode is always told; "none": markup alone)."""
    needed: dict[str, set[str]] = {}
    for service in site.services:
        signal = (service.details or {}).get("platform_signal")
        if signal in PLATFORM_ADAPTERS:
            needed.setdefault(PLATFORM_ADAPTERS[signal], set()).add(service.category.slug)
    return {name: sorted(slugs) for name, slugs in sorted(needed.items())}


#: Words only some rule sets show; a script carries only its own rule set's.
RULE_WORDS = {
    "opt_in": (),
    "opt_in_separate": ("sep",),
    "opt_out": ("optout", "dns"),
    "notice_only": ("notice",),
}


def rule_texts(texts: dict[str, dict[str, str]], rule_set: str) -> dict[str, dict[str, str]]:
    """The script's words without those of other rule sets (they ship on every page view)."""
    others = {word for words in RULE_WORDS.values() for word in words} - set(RULE_WORDS[rule_set])
    return {
        locale: {key: value for key, value in words.items() if key not in others}
        for locale, words in texts.items()
    }


#: The catalogue's platform signals that have an adapter in `platforms.js`, by its short name.
PLATFORM_ADAPTERS = {"microsoft_uet": "uet", "clarity_consentv2": "clarity", "meta_fbq": "meta"}


def snippet_config(
    site: Site, api_base: str, ga4_script_url: str | None, rule_set: str = "opt_in"
) -> dict[str, Any]:
    """The configuration embedded in the banner script: every locale, so the browser can pick
    the visitor's language without another request, and the rules of the visitor's region
    only (the banner version names them)."""
    facts = {
        "site_key": site.site_key,
        "name": site.name,
        "default_locale": site.default_locale,
        "locales": site_locales(site),
        "cookie_name": site.cookie_name,
        "cookie_domain": site.cookie_domain,
        "lifetime_days": site.lifetime_days,
        "reask_days": site.reask_after_reject_days,
        "honour_gpc": site.honour_gpc,
        "consent_mode": site.consent_mode,
        "ga4_measurement_id": site.ga4_measurement_id,
        "ga4_mode": site.ga4_mode,
    }
    policy = policy_summary(current_policy(site))
    return script_config(facts, banner_document(site), policy, api_base, ga4_script_url, rule_set)


def draft_facts(site_key: str, document: dict[str, Any]) -> dict[str, Any]:
    """What `script_config` needs of a site, read from a settings document not yet applied
    (the console's preview of a draft): the same values `settings.write` would store."""
    return {
        "site_key": site_key,
        "name": document["name"],
        "default_locale": document["default_locale"],
        "locales": sorted(document["locales"]),
        "cookie_name": document["cookie"]["name"],
        "cookie_domain": document["cookie"]["domain"],
        "lifetime_days": document["lifetime_days"],
        "reask_days": document["reask_after_reject_days"],
        "honour_gpc": document["gpc"],
        "consent_mode": document["consent_mode"],
        "ga4_measurement_id": document["ga4"]["measurement_id"],
        "ga4_mode": document["ga4"]["mode"],
    }


def script_config(
    facts: dict[str, Any],
    document: dict[str, Any],
    policy: dict[str, Any] | None,
    api_base: str,
    ga4_script_url: str | None,
    rule_set: str,
) -> dict[str, Any]:
    """The script's configuration from a site's facts and its banner document, whether both
    come from the tables (the served script) or from a draft (the console's preview)."""
    ga4 = None
    if facts["ga4_measurement_id"]:
        ga4 = {
            "measurement_id": facts["ga4_measurement_id"],
            "mode": facts["ga4_mode"],
            "script_url": ga4_script_url
            or f"https://www.googletagmanager.com/gtag/js?id={facts['ga4_measurement_id']}",
        }
    return {
        "site_key": facts["site_key"],
        "api_base": api_base.rstrip("/"),
        "default_locale": facts["default_locale"],
        "cookie_name": facts["cookie_name"],
        "cookie_domain": facts["cookie_domain"],
        "lifetime_days": facts["lifetime_days"],
        "rules": rule_set,
        "reask_days": facts["reask_days"],
        "policy_version": policy,
        "banner_version": rule_banner_hash(document, rule_set),
        "texts": rule_texts(
            script_texts(document["texts"], facts["locales"], facts["name"]), rule_set
        ),
        "categories": document["categories"],
        "services": script_services(document["services"]),
        "gpc": {"honour": facts["honour_gpc"]},
        "consent_mode": facts["consent_mode"],
        "ga4": ga4,
    }


def forms_script_config(site: Site, api_base: str) -> dict[str, Any] | None:
    """What the forms script needs (every locale: the page's language picks), or None for a
    site without forms. Category names let it say which consent a refused form waits for."""
    forms = forms_of(site.id)
    if not forms:
        return None
    needed = {form.category for form in forms}
    return {
        "site_key": site.site_key,
        "api_base": api_base.rstrip("/"),
        "default_locale": site.default_locale,
        "locales": site_locales(site),
        "cookie_name": site.cookie_name,
        "categories": {
            category.slug: {
                locale: texts["name"]
                for locale, texts in category.texts.items()
                if isinstance(texts, dict) and texts.get("name")
            }
            for category in site.categories
            if category.slug in needed
        },
        "forms": [form_config(form, None, site.default_locale) for form in forms],
    }


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
