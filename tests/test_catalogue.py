"""The service catalogue: its data file holds what the issue names, in the shape the site
settings use, and the CLI shows it. No database: the catalogue is package data."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from marshmallow import ValidationError

from consent_service.cli import main
from consent_service.schemas.catalogue import CatalogueEntrySchema, CatalogueSchema
from consent_service.sites.catalogue import (
    CATALOGUE_PATH,
    catalogue_document,
    catalogue_entry,
    catalogue_ids,
    text_in,
)

REQUIRED = {
    "google-analytics-4",
    "google-ads",
    "google-tag-manager",
    "youtube",
    "vimeo",
    "microsoft-clarity",
    "microsoft-advertising-uet",
    "meta-pixel",
    "linkedin-insight-tag",
    "hubspot",
    "neocrm",
    "baidu-tongji",
    "hotjar",
    "matomo",
    "intercom",
    "google-recaptcha",
}


def test_the_data_file_matches_its_schema():
    CatalogueSchema().load(catalogue_document())


def test_every_named_service_is_there_once():
    ids = catalogue_ids()
    assert set(ids) >= REQUIRED
    assert len(ids) == len(set(ids)) == len(catalogue_document()["entries"])
    assert ids == sorted(ids)


@pytest.mark.parametrize("entry_id", sorted(REQUIRED))
def test_an_entry_is_translated_and_sourced(entry_id):
    entry = catalogue_entry(entry_id)
    assert entry is not None and entry["id"] == entry_id
    for value in [entry["name"], *entry["purposes"], *entry["data_collected"]]:
        assert isinstance(value, dict) and value["en"].strip() and value["zh-CN"].strip()
    assert entry["source"].startswith("https://")
    assert all(link["url"].startswith("https://") for link in entry["privacy_links"])
    for cookie in entry["cookies"]:
        if cookie["pattern"]:
            re.compile(cookie["name"])
        if cookie["lifetime"] != "session":
            assert cookie["lifetime_days"] is not None


def test_what_regulators_ask_about_is_right_where_we_know_it():
    ga4 = catalogue_entry("google-analytics-4")
    assert ga4 is not None
    assert ga4["consent_mode"] == ["analytics_storage"]
    assert ga4["platform_signal"] == "google_consent_mode"
    assert {cookie["name"] for cookie in ga4["cookies"] if not cookie["pattern"]} == {"_ga"}
    ga_pattern = next(cookie["name"] for cookie in ga4["cookies"] if cookie["pattern"])
    assert re.match(ga_pattern, "_ga_ABC123XYZ") and not re.match(ga_pattern, "_gat")
    neocrm = catalogue_entry("neocrm")
    assert neocrm is not None
    assert [place["country"] for place in neocrm["storage_locations"]] == ["CN"]
    assert neocrm["cross_border"] and neocrm["third_party"]
    assert "Renkehudong" in neocrm["provider"]["legal_name"]["en"]
    uet = catalogue_entry("microsoft-advertising-uet")
    assert uet is not None and uet["platform_signal"] == "microsoft_uet"
    assert {c["name"]: c["lifetime_days"] for c in uet["cookies"]}["_uetvid"] == 390
    assert catalogue_entry("microsoft-clarity")["platform_signal"] == "clarity_consentv2"  # type: ignore[index]
    assert catalogue_entry("meta-pixel")["platform_signal"] == "meta_fbq"  # type: ignore[index]
    assert catalogue_entry("google-ads")["consent_mode"] == [  # type: ignore[index]
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
    ]


def test_an_entry_is_a_copy_and_an_unknown_id_is_none():
    entry = catalogue_entry("youtube")
    assert entry is not None
    entry["cookies"].clear()
    entry["name"]["en"] = "changed"
    again = catalogue_entry("youtube")
    assert again is not None and again["cookies"] and again["name"]["en"] != "changed"
    assert catalogue_entry("no-such-service") is None


def test_the_schema_refuses_a_bad_entry():
    entry = catalogue_entry("hotjar")
    assert entry is not None
    entry["privacy_links"][0]["url"] = "http://www.hotjar.com/privacy"
    entry["storage_locations"][0]["country"] = "Ireland"
    entry["platform_signal"] = "hotjar_magic"
    entry["cookies"][0]["name"] = "_hj(["
    entry["extra"] = True
    with pytest.raises(ValidationError) as caught:
        CatalogueEntrySchema().load(entry)
    errors = caught.value.messages
    assert set(errors) >= {"privacy_links", "storage_locations", "platform_signal", "cookies"}
    assert "extra" in errors


def test_text_in_falls_back_to_english_then_any():
    assert text_in({"en": "Hello", "zh-CN": "你好"}, "zh-CN") == "你好"
    assert text_in({"en": "Hello"}, "zh-CN") == "Hello"
    assert text_in({"fr": "Bonjour"}, "zh-CN") == "Bonjour"
    assert text_in("Plain", "zh-CN") == "Plain"


def test_the_data_file_and_its_notice_are_package_data():
    setup = configparser.ConfigParser()
    setup.read(Path(__file__).resolve().parent.parent / "setup.cfg")
    declared = setup["options.package_data"]["consent_service.sites"]
    assert "*.json" in declared and "NOTICE" in declared
    notice = (CATALOGUE_PATH.parent / "NOTICE").read_text(encoding="utf-8")
    assert "Open Cookie Database" in notice and "Apache License" in notice


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["catalogue", *args])
    return result.exit_code, result.output


def test_cli_list_and_show():
    code, output = run("list")
    assert code == 0
    assert all(entry_id in output for entry_id in REQUIRED)
    code, output = run("list", "--json")
    assert code == 0
    rows = json.loads(output)
    assert {row["id"] for row in rows} == set(catalogue_ids())
    assert next(row for row in rows if row["id"] == "neocrm")["storage"] == ["CN"]
    code, output = run("show", "neocrm", "--locale", "zh-CN")
    assert code == 0
    assert "北京仁科互动网络技术有限公司" in output and "中国 (CN)" in output
    code, output = run("show", "google-analytics-4", "--json")
    assert code == 0 and json.loads(output) == catalogue_entry("google-analytics-4")


def test_cli_show_unknown_suggests_close_ids():
    code, output = run("show", "googel-ads")
    assert code == 1
    assert "no catalogue entry 'googel-ads'" in output and "google-ads" in output
