"""docs/examples/: the SUNMI-like B2B settings file is consistent on its own terms and with the
service catalogue (the settings schema itself checks it again where settings are applied)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from consent_service.schemas.catalogue import CatalogueEntrySchema
from consent_service.sites.catalogue import catalogue_entry
from consent_service.sites.forms import FIELD_CATALOGUE, parse_field_list

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "sunmi-north-america.yaml"
TOP_LEVEL = [
    "name",
    "origins",
    "default_locale",
    "locales",
    "lifetime_days",
    "cookie",
    "jurisdiction",
    "gpc",
    "consent_mode",
    "ga4",
    "texts",
    "categories",
    "services",
    "forms",
]


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return loaded


def merged_service(service: dict[str, Any]) -> dict[str, Any]:
    """The service as the catalogue entry with the site's overrides, in the entry's shape."""
    base = catalogue_entry(service["catalogue"]) if "catalogue" in service else None
    if "catalogue" in service:
        assert base is not None, f"no catalogue entry {service['catalogue']!r}"
    entry = base or {"id": service["slug"], "source": "https://www.sunmi.us/"}
    entry.update({k: v for k, v in service.items() if k not in {"slug", "catalogue", "category"}})
    entry["default_category"] = "necessary"  # the site's own category is checked below
    return entry


def test_the_document_has_the_settings_keys(settings):
    assert list(settings) == TOP_LEVEL
    assert settings["locales"] == ["en", "zh-CN"] and settings["default_locale"] == "en"
    assert all(origin.startswith("https://") for origin in settings["origins"])
    assert settings["lifetime_days"] <= 183  # under the linter's 6-month warning
    for locale in settings["locales"]:
        texts = settings["texts"][locale]
        assert texts["title"].strip() and texts["description"].strip()


def test_every_service_is_a_valid_catalogue_shaped_entry(settings):
    for service in settings["services"]:
        CatalogueEntrySchema().load(merged_service(service))


def test_categories_services_and_forms_agree(settings):
    categories = {category["slug"]: category for category in settings["categories"]}
    services = {service["slug"]: merged_service(service) for service in settings["services"]}
    for category in categories.values():
        assert set(category["texts"]) == set(settings["locales"])
    used = {service["category"] for service in settings["services"]}
    assert used == set(categories), "every category has a service, every service a category"
    analytics = [c for c in categories.values() if "analytics_storage" in c["consent_mode"]]
    assert analytics, "GA4 is set, so a category grants analytics_storage"
    for form in settings["forms"]:
        recipient = services[form["service"]]
        assert (
            next(s for s in settings["services"] if s["slug"] == form["service"])["category"]
            == form["category"]
        )
        parse_field_list(form["fields"])
        assert {field["name"] for field in form["fields"]} <= set(FIELD_CATALOGUE)
        sensitive = recipient["third_party"] or recipient["cross_border"]
        if sensitive or form["purpose"] == "subscription":
            assert set(form["separate_consent"]) == set(settings["locales"])
        for text in form["separate_consent"].values():
            assert "\n" not in text and "  " not in text


def test_neocrm_is_the_cross_border_recipient_in_china(settings):
    neocrm = merged_service(next(s for s in settings["services"] if s["slug"] == "neocrm"))
    assert neocrm["cross_border"] and neocrm["third_party"]
    assert [place["country"] for place in neocrm["storage_locations"]] == ["CN"]
    lead = next(form for form in settings["forms"] if form["purpose"] == "lead")
    assert "China" in lead["separate_consent"]["en"]
    assert "中国境内" in lead["separate_consent"]["zh-CN"]
