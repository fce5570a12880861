"""Each linter rule with a file that passes and one that fails, through `sites lint` (which
needs no database) and the operation itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from consent_service.sites import settings
from tests.settings_support import document

Change = Callable[[dict[str, Any]], None]


def noop(_: dict[str, Any]) -> None:
    return None


def set_key(*path: Any, value: Any) -> Change:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def third_party_form(wording: dict[str, str]) -> Change:
    def change(doc: dict[str, Any]) -> None:
        doc["services"][1]["third_party"] = True
        doc["forms"][0]["separate_consent"] = wording

    return change


def ga4_without_analytics(doc: dict[str, Any]) -> None:
    doc["categories"][0]["consent_mode"] = []
    doc["ga4"] = {"measurement_id": "G-ABCDEF1234"}


def drop_services(doc: dict[str, Any]) -> None:
    doc["forms"] = []
    doc["services"] = [doc["services"][0]]


#: rule id, severity, pointer, a change that breaks the rule, a change that keeps it
RULES: list[tuple[str, str, str, Change, Change]] = [
    ("reject-all-missing", "error", "/texts/zh-CN/reject_all",
     set_key("texts", value={"zh-CN": {"reject_all": " "}}),
     set_key("texts", value={"zh-CN": {"reject_all": "拒绝全部"}})),
    ("reject-all-missing", "error", "/texts/de/reject_all",
     set_key("locales", value=["en", "zh-CN", "de"]),
     lambda d: (set_key("locales", value=["en", "zh-CN", "de"])(d),
                set_key("texts", value={"de": {"reject_all": "Alle ablehnen"}})(d))),
    ("ga4-without-analytics-category", "error", "/ga4/measurement_id",
     lambda d: ga4_without_analytics(d),
     set_key("ga4", value={"measurement_id": "G-ABCDEF1234"})),
    ("unknown-category", "error", "/services/1/category",
     set_key("services", 1, "category", value="sales"), noop),
    ("separate-consent-missing", "error", "/forms/0/separate_consent",
     third_party_form({"en": "I agree that Shop passes my details to its CRM."}),
     third_party_form({"en": "I agree.", "zh-CN": "我同意。"})),
    ("lifetime-too-long", "error", "/lifetime_days",
     set_key("lifetime_days", value=400), set_key("lifetime_days", value=395)),
    ("lifetime-long", "warning", "/lifetime_days",
     set_key("lifetime_days", value=200), set_key("lifetime_days", value=183)),
    ("privacy-link-missing", "warning", "/services/1/privacy_links",
     set_key("services", 1, "privacy_links", value=[]), noop),
    ("category-without-services", "warning", "/categories/1", drop_services, noop),
    ("missing-translation", "warning", "/categories/0/texts/zh-CN",
     lambda d: set_key("categories", 0, "texts", value={"en": {"name": "A"}})(d), noop),
    ("region-separate-consent-missing", "error", "/texts/zh-CN/separate_consent",
     lambda d: (set_key("services", 1, "cross_border", value=True)(d),
                set_key("texts", value={"zh-CN": {"separate_consent": " "}})(d)),
     lambda d: (set_key("services", 1, "cross_border", value=True)(d),
                set_key("texts", value={"zh-CN": {"separate_consent": " "}})(d),
                set_key("regions", value={"rules": {"CN": "opt_in"}})(d))),
    ("reask-too-soon", "warning", "/reask_after_reject_days",
     set_key("reask_after_reject_days", value=30),
     set_key("reask_after_reject_days", value=182)),
    ("insecure-origin", "error", "/origins/1",
     set_key("origins", value=["https://shop.example", "http://shop.example"]),
     set_key("origins", value=["https://shop.example", "http://localhost:8080"])),
]  # fmt: skip


def lint_file(tmp_path: Any, doc: dict[str, Any]) -> tuple[int, list[dict[str, str]]]:
    from consent_service.cli.sites import sites_lint

    path = tmp_path / "site.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(sites_lint, [str(path), "--json"])
    return result.exit_code, [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize("rule,severity,pointer,breaks,keeps", RULES, ids=[r[0] for r in RULES])
def test_rule_fails_and_passes(tmp_path, rule, severity, pointer, breaks, keeps):
    failing = document()
    breaks(failing)
    code, findings = lint_file(tmp_path, failing)
    found = [item for item in findings if item["rule"] == rule]
    assert found and found[0]["severity"] == severity and found[0]["pointer"] == pointer
    assert found[0]["source"] and found[0]["message"]
    assert code == (1 if severity == "error" else 0)
    passing = document()
    keeps(passing)
    code, findings = lint_file(tmp_path, passing)
    assert rule not in {item["rule"] for item in findings}, findings


def test_the_base_document_is_clean(tmp_path):
    code, findings = lint_file(tmp_path, document())
    assert code == 0 and findings == []


def test_schema_errors_are_findings_with_pointers(tmp_path):
    bad = document(jurisdiction="sometimes")
    bad["services"][1]["storage_locations"][0]["country"] = "Germany"
    code, findings = lint_file(tmp_path, bad)
    assert code == 1
    assert {item["pointer"] for item in findings} == {
        "/jurisdiction",
        "/services/1/storage_locations/0/country",
    }


def test_warnings_are_printed_with_the_plan_and_do_not_block(app):
    applied = settings.apply_settings(document(lifetime_days=200))
    assert applied.applied
    assert [item["rule"] for item in applied.findings] == ["lifetime-long"]


def test_missing_translation_falls_back_to_the_default_locale(app):
    doc = document()
    doc["categories"][0]["texts"].pop("zh-CN")
    site = settings.create_site(document=doc)
    analytics = next(category for category in site.categories if category.slug == "analytics")
    assert analytics.texts["zh-CN"] == {"name": "Analytics", "description": "Counts visits."}


def test_a_locale_without_built_in_words_falls_back_to_english_and_warns(app):
    doc = document(default_locale="de", locales=["de", "en"])
    doc["texts"] = {"de": {"title": "Ihre Wahl", "reject_all": "Alle ablehnen"}}
    site = settings.create_site(document=doc)
    assert site.texts["de"]["title"] == "Ihre Wahl"
    assert site.texts["de"]["accept_all"] == "Accept all"  # never empty
    assert site.texts["en"]["title"] == "Your privacy choices"
    findings = settings.prepare(doc).findings
    german = [item for item in findings if item.pointer == "/texts/de"]
    assert german and german[0].rule == "missing-translation" and "accept_all" in german[0].message
    assert "/texts/en/title" not in {item.pointer for item in findings}  # built in


def test_unreadable_files_exit_1_with_a_message(tmp_path):
    from consent_service.cli.sites import sites_lint

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(sites_lint, [str(broken)])
    assert result.exit_code == 1 and "Not YAML or JSON" in result.output
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    result = CliRunner().invoke(sites_lint, [str(binary)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    result = CliRunner().invoke(sites_lint, [str(listed)])
    assert result.exit_code == 1 and "is an object" in result.output


def test_form_fields_come_from_the_field_catalogue(tmp_path):
    bad = document()
    bad["forms"][0]["fields"] = ["name*", "email", {"name": "email"}, "shoe_size"]
    code, findings = lint_file(tmp_path, bad)
    assert code == 1
    assert {item["pointer"] for item in findings} == {"/forms/0/fields/2", "/forms/0/fields/3"}
