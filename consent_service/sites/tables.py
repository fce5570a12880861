"""A site's tables written from its settings document: categories, services and forms, so
that the hot paths keep reading plain rows (`settings.write` calls these in its transaction;
nothing here commits).
"""

from __future__ import annotations

from typing import Any

from consent_service.extensions import db
from consent_service.models import Category, Service, Site, SiteForm
from consent_service.sites import forms


def sync_categories(site: Site, wanted: list[dict[str, Any]]) -> dict[str, Category]:
    existing = {category.slug: category for category in site.categories}
    by_slug: dict[str, Category] = {}
    for entry in wanted:
        category = existing.get(entry["slug"]) or Category(slug=entry["slug"])
        if category.slug not in existing:
            site.categories.append(category)
        category.necessary = entry["necessary"]
        category.position = entry["order"]
        category.texts = entry["texts"]
        category.gpc_opt_out = entry["gpc_opt_out"]
        category.consent_mode_signals = list(entry["consent_mode"])
        by_slug[entry["slug"]] = category
    return by_slug


def sync_services(
    site: Site,
    resolved: list[dict[str, Any]],
    shown_services: list[dict[str, Any]],
    categories: dict[str, Category],
) -> None:
    """Services as resolved (catalogue entries merged) and as the banner shows them; services
    and categories no longer in the document are removed."""
    existing = {service.slug: service for service in site.services}
    shown = {entry["slug"]: entry for entry in shown_services}
    keep = set()
    for position, entry in enumerate(resolved):
        view = shown[entry["slug"]]
        service = existing.get(entry["slug"]) or Service(slug=entry["slug"])
        if service.slug not in existing:
            site.services.append(service)
        service.position = position
        service.category = categories[entry["category"]]
        service.name = view["name"][:200]
        service.provider = view["provider"][:300]
        service.privacy_policy_url = view["privacy_policy_url"]
        service.storage_location = view["storage_location"][:200]
        service.cross_border = entry["cross_border"]
        service.third_party = entry["third_party"]
        service.cookies = view["cookies"]
        service.texts = view["texts"]
        service.details = entry
        keep.add(entry["slug"])
    for slug, service in existing.items():
        if slug not in keep:
            site.services.remove(service)
    wanted = set(categories)
    for category in list(site.categories):
        if category.slug not in wanted:
            site.categories.remove(category)


def sync_forms(site: Site, wanted: list[dict[str, Any]]) -> None:
    existing = {form.slug: form for form in forms.forms_of(site.id)}
    for entry in wanted:
        form = existing.pop(entry["slug"], None) or SiteForm(site_id=site.id, slug=entry["slug"])
        db.session.add(form)
        form.purpose = entry["purpose"]
        form.category = entry["category"]
        form.service = entry["service"]
        form.fields = forms.parse_field_list(entry["fields"])
        form.wording = {locale: text.strip() for locale, text in entry["separate_consent"].items()}
        for text in form.wording.values():
            forms.record_wording(site.id, form.slug, text)
    for form in existing.values():
        db.session.delete(form)
