"""The compliance linter: rules a site's settings should meet, each with an id, a severity,
the field it points at and the rule of law or guidance it comes from.

Errors block an apply; warnings are printed with the plan. Run by `sites apply`, `sites lint`
and the admin API, on the document as written and as resolved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from consent_service.sites.defaults import TEXT_KEYS, builtin_texts
from consent_service.sites.regions import codes_with, rule_sets_used
from consent_service.sites.resolve import pointer

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
THIRTEEN_MONTHS = 395
SIX_MONTHS = 183
ONE_MONTH = 30

SOURCES = {
    "reject-all-missing": "EDPB Cookie Banner Taskforce report (2023), reject on the first layer",
    "ga4-without-analytics-category": "GDPR Art. 6(1)(a) and ePrivacy Art. 5(3); Consent Mode",
    "unknown-category": "consent-service: a purpose must be one the visitor can choose",
    "unknown-service": "consent-service: a form's recipient must be a declared service",
    "separate-consent-missing": "PIPL Art. 23 and 39 (separate consent to provide or transfer)",
    "lifetime-too-long": "CNIL guidelines on cookies (2020), consent kept at most 13 months",
    "lifetime-long": "CNIL recommendation (2020): renew consent every 6 months",
    "privacy-link-missing": "GDPR Art. 13(1)(e) and PIPL Art. 17: who receives the data",
    "category-without-services": "GDPR Art. 5(1)(a): no purpose without processing",
    "missing-translation": "GDPR Art. 12(1) and PIPL Art. 17: information in plain language",
    "insecure-origin": "GDPR Art. 32: consent only over a secure channel",
    "region-separate-consent-missing": (
        "PIPL Art. 23, 29 and 39; GB/T 42574-2023: separate consent to provide or transfer"
    ),
    "rights-due-late": "GDPR Art. 12(3): a data subject request answered within one month",
    "reask-too-soon": "EDPB guidelines 05/2020 and COM(2025) 837 Art. 88a: a refusal stands",
    "retention-below-floor": "PRC Cybersecurity Law Art. 21(3): network logs kept 6 months",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error" or "warning"
    message: str
    pointer: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def finding(rule: str, severity: str, message: str, at: str) -> Finding:
    return Finding(rule, severity, message, at, SOURCES[rule])


def lint(document: dict[str, Any], resolved: dict[str, Any]) -> list[Finding]:
    """Every finding for a loaded document and its resolution, errors first."""
    findings = [
        *check_origins(document),
        *check_reject_label(document, resolved),
        *check_ga4(resolved),
        *check_categories_named(document, resolved),
        *check_separate_consent(document, resolved),
        *check_lifetime(document),
        *check_regions(document, resolved),
        *check_retention(document),
        *check_privacy_links(document, resolved),
        *check_empty_categories(document, resolved),
        *check_translations(document),
        *check_rights(document),
    ]
    return sorted(findings, key=lambda item: (item.severity != "error", item.pointer))


def check_origins(document: dict[str, Any]) -> Iterator[Finding]:
    for index, origin in enumerate(document["origins"]):
        parts = urlsplit(origin.strip())
        if parts.scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
            yield finding(
                "insecure-origin",
                "error",
                f"{origin} is served over http://; only localhost may be.",
                pointer("origins", index),
            )


def check_reject_label(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    """Every locale needs a reject-all label in its own language (a built-in one counts): a
    button borrowed from another language is not as easy to find as "accept"."""
    for locale, words in resolved["texts"].items():
        own = document["texts"].get(locale, {}).get("reject_all")
        builtin = builtin_texts(locale, document["name"]).get("reject_all")
        if not words.get("reject_all", "").strip() or not (own or builtin):
            yield finding(
                "reject-all-missing",
                "error",
                f"No reject-all label in {locale}: refusing must be as easy as accepting.",
                pointer("texts", locale, "reject_all"),
            )


def check_ga4(resolved: dict[str, Any]) -> Iterator[Finding]:
    if resolved["ga4"]["measurement_id"] and not any(
        "analytics_storage" in category["consent_mode"] for category in resolved["categories"]
    ):
        yield finding(
            "ga4-without-analytics-category",
            "error",
            "GA4 is set but no category grants analytics_storage, so it could never be allowed.",
            pointer("ga4", "measurement_id"),
        )


def check_categories_named(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    slugs = {category["slug"] for category in resolved["categories"]}
    services = {service["slug"]: service for service in resolved["services"]}
    for index, service in enumerate(document["services"]):
        category = services.get(service["slug"], {}).get("category")
        if category and category not in slugs:
            yield finding(
                "unknown-category",
                "error",
                f"Service {service['slug']!r} names category {category!r}, which does not exist.",
                pointer("services", index, "category"),
            )
    for index, form in enumerate(document["forms"]):
        if form["category"] not in slugs:
            yield finding(
                "unknown-category",
                "error",
                f"Form {form['slug']!r} names category {form['category']!r}, which does not exist.",
                pointer("forms", index, "category"),
            )
        recipient = services.get(form["service"]) if form["service"] else None
        if form["service"] and (recipient is None or recipient["category"] != form["category"]):
            yield finding(
                "unknown-service",
                "error",
                f"Form {form['slug']!r} sends to {form['service']!r}, which is not a service "
                f"of category {form['category']!r}.",
                pointer("forms", index, "service"),
            )


def check_separate_consent(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    services = {service["slug"]: service for service in resolved["services"]}
    for index, form in enumerate(document["forms"]):
        recipient = services.get(form["service"] or "")
        needs = form["purpose"] == "subscription" or bool(
            recipient and (recipient["cross_border"] or recipient["third_party"])
        )
        wording = form["separate_consent"]
        missing = [locale for locale in document["locales"] if not wording.get(locale, "").strip()]
        if needs and missing:
            yield finding(
                "separate-consent-missing",
                "error",
                f"Form {form['slug']!r} needs its separate-consent wording in "
                f"{', '.join(missing)}.",
                pointer("forms", index, "separate_consent"),
            )


def check_regions(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    """Visitors under `opt_in_separate` rules (China by default) are asked, in the first layer,
    for a separate consent for each category with a cross-border or third-party service: a
    cross-border service needs that wording in every locale (a site's own, else the built-in
    words; blanking it is an error). A refusal stands for some months."""
    regions = document["regions"]
    shown_to = codes_with(regions, "opt_in_separate")
    if regions["fallback"] == "opt_in_separate":
        shown_to.append("the rest of the world")
    abroad = [service["slug"] for service in resolved["services"] if service["cross_border"]]
    if shown_to and abroad:
        for locale in document["locales"]:
            wording = resolved["texts"].get(locale, {}).get("separate_consent", "")
            if not wording.strip():
                yield finding(
                    "region-separate-consent-missing",
                    "error",
                    f"Visitors from {', '.join(shown_to[:5])} are asked for a separate consent "
                    f"to the cross-border transfer of {', '.join(abroad[:5])}; it has no "
                    f"wording in {locale}.",
                    pointer("texts", locale, "separate_consent"),
                )
    if document["reask_after_reject_days"] < SIX_MONTHS - 1:
        yield finding(
            "reask-too-soon",
            "warning",
            f"A refusal is asked again after {document['reask_after_reject_days']} days; "
            "6 months (182) is advised.",
            pointer("reask_after_reject_days"),
        )


def check_retention(document: dict[str, Any]) -> Iterator[Finding]:
    """Under Chinese law (visitors with `opt_in_separate` rules) records of processing are
    kept at least 6 months; the retention runner keeps them that long whatever is set."""
    from consent_service.consents.retention_rules import LOG_PERIODS, under_chinese_law

    if not under_chinese_law(document.get("regions")):
        return
    retention = document.get("retention") or {}
    for name in LOG_PERIODS:
        days = retention.get(name)
        if isinstance(days, int) and days < SIX_MONTHS:
            yield finding(
                "retention-below-floor",
                "warning",
                f"Records are kept {days} days, but at least 6 months ({SIX_MONTHS}) where "
                "Chinese law applies; retention keeps them that long anyway.",
                pointer("retention", name),
            )


def check_lifetime(document: dict[str, Any]) -> Iterator[Finding]:
    days = document["lifetime_days"]
    if document["jurisdiction"] != "opt_in" and "opt_in" not in rule_sets_used(document["regions"]):
        return
    if days > THIRTEEN_MONTHS:
        yield finding(
            "lifetime-too-long",
            "error",
            f"A choice kept {days} days under opt_in; at most 13 months ({THIRTEEN_MONTHS}).",
            pointer("lifetime_days"),
        )
    elif days > SIX_MONTHS:
        yield finding(
            "lifetime-long",
            "warning",
            f"A choice kept {days} days; renewing after 6 months ({SIX_MONTHS}) is advised.",
            pointer("lifetime_days"),
        )


def check_rights(document: dict[str, Any]) -> Iterator[Finding]:
    days = document["rights"]["due_days"]
    if days > ONE_MONTH:
        yield finding(
            "rights-due-late",
            "warning",
            f"Requests due after {days} days; GDPR allows one month ({ONE_MONTH} days) at most.",
            pointer("rights", "due_days"),
        )


def check_privacy_links(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    indexes = {service["slug"]: index for index, service in enumerate(document["services"])}
    for service in resolved["services"]:
        if not service["privacy_links"]:
            yield finding(
                "privacy-link-missing",
                "warning",
                f"Service {service['slug']!r} has no privacy link.",
                pointer("services", indexes[service["slug"]], "privacy_links"),
            )


def check_empty_categories(document: dict[str, Any], resolved: dict[str, Any]) -> Iterator[Finding]:
    used = {service["category"] for service in resolved["services"]}
    for index, category in enumerate(document["categories"]):
        if not category["necessary"] and category["slug"] not in used:
            yield finding(
                "category-without-services",
                "warning",
                f"Category {category['slug']!r} has no services.",
                pointer("categories", index),
            )


def check_translations(document: dict[str, Any]) -> Iterator[Finding]:
    """Translations a locale lacks (shown from the default locale instead)."""
    locales = document["locales"]
    default = document["default_locale"]
    own = document["texts"]
    keys = set(own.get(default, {}))
    for locale in locales:
        builtin = builtin_texts(locale, document["name"])
        if locale != default:
            for key in sorted(keys - set(own.get(locale, {})) - set(builtin)):
                yield missing(locale, pointer("texts", locale, key))
        if not builtin:
            given = set(own.get(locale, {})) | keys
            untranslated = [key for key in TEXT_KEYS if key not in given]
            if untranslated:
                yield finding(
                    "missing-translation",
                    "warning",
                    f"No built-in words for {locale}; shown in English: {', '.join(untranslated)}.",
                    pointer("texts", locale),
                )
    for index, category in enumerate(document["categories"]):
        if category["texts"]:
            for locale in locales:
                if locale not in category["texts"]:
                    yield missing(locale, pointer("categories", index, "texts", locale))
    for index, service in enumerate(document["services"]):
        for at, value in texts_in(service, ("services", index)):
            for locale in locales:
                if locale not in value:
                    yield missing(locale, pointer(*at, locale))
    for index, form in enumerate(document["forms"]):
        if form["separate_consent"]:
            for locale in locales:
                if locale not in form["separate_consent"]:
                    yield missing(locale, pointer("forms", index, "separate_consent", locale))


def missing(locale: str, at: str) -> Finding:
    return finding(
        "missing-translation", "warning", f"No {locale} translation; the default is shown.", at
    )


def texts_in(value: Any, at: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], dict]]:
    """Every translated Text (an object keyed by locale) inside a service, with its path."""
    if isinstance(value, dict):
        is_text = at[-1] in TEXTS or (len(at) > 1 and at[-2] in LIST_TEXTS)
        if value and all(isinstance(item, str) for item in value.values()) and is_text:
            yield at, value
            return
        for key, item in value.items():
            yield from texts_in(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from texts_in(item, (*at, index))


#: The keys whose values are Text in a service (and its provider, locations, cookies).
TEXTS = {
    "name",
    "legal_name",
    "address",
    "retention",
    "lifetime",
    "description",
}
LIST_TEXTS = {"purposes", "data_collected"}
