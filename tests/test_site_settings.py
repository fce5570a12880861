"""Settings documents applied with a plan: round trip, idempotence, the plan per kind of change,
and the banner version following exactly what the banner shows (field by field)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from consent_service.extensions import db
from consent_service.models import BannerVersion, Service, SettingsChange, Site, SiteForm
from consent_service.sites import settings
from consent_service.sites.catalogue import catalogue_entry
from consent_service.sites.history import history
from consent_service.sites.resolve import banner_document, resolve
from tests.conftest import count_rows
from tests.settings_support import document


def make_site(**overrides: Any) -> Any:
    return settings.create_site(document=document(**overrides))


def test_minimal_site_gets_built_in_texts_and_a_necessary_category(app):
    site = settings.create_site("Bare", ["https://bare.example"])
    assert site.locales == ["en", "zh-CN"]
    assert [category.slug for category in site.categories] == ["necessary"]
    shown = json.loads(
        db.session.scalar(
            sa.select(BannerVersion.canonical_json).where(
                BannerVersion.sha256 == site.banner_version_hash
            )
        )
    )
    for locale in ("en", "zh-CN"):
        words = shown["texts"][locale]
        assert all(value.strip() for value in words.values()), locale
        assert "undefined" not in json.dumps(words)
        assert "Bare" in words["description"]
    assert shown["categories"][0]["texts"]["zh-CN"]["name"] == "必要"


def test_catalogue_entry_gives_defaults_and_the_site_overrides_key_by_key(app):
    site = make_site()
    ga = next(service for service in site.services if service.slug == "ga")
    assert ga.provider.startswith("Google LLC") and ga.category.slug == "analytics"
    assert ga.details["hosts"] == catalogue_entry("google-analytics-4")["hosts"]
    changed = document()
    changed["services"][0]["provider"] = {"legal_name": {"en": "Google Ireland Limited"}}
    changed["services"][0]["retention"] = "2 months"
    settings.apply_settings(changed, site=site)
    ga = next(service for service in site.services if service.slug == "ga")
    assert ga.provider == "Google Ireland Limited"
    assert ga.details["provider"]["contact"].startswith("https://support.google.com")
    assert ga.texts["zh-CN"]["retention"] == "2 months"  # a plain string: default locale


def test_export_then_apply_changes_nothing(app, runner, tmp_path):
    site = make_site()
    for output in ("json", "yaml"):
        result = runner.invoke(
            args=["sites", "export", "--site", site.site_key, "--format", output]
        )
        assert result.exit_code == 0, result.output
        exported = json.loads(result.output) if output == "json" else yaml.safe_load(result.output)
        assert exported == settings.current_document(site)
        path = tmp_path / f"site.{output}"
        path.write_text(result.output, encoding="utf-8")
        applied = runner.invoke(args=["sites", "apply", str(path), "--site", site.site_key])
        assert applied.exit_code == 0, applied.output
        assert "no changes" in applied.output
        assert f"{site.banner_version_hash} (unchanged)" in applied.output
    assert count_rows(SettingsChange) == 1


def test_applying_a_file_twice_creates_then_says_no_changes(app, runner, tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document()), encoding="utf-8")
    first = runner.invoke(args=["sites", "apply", str(path)])
    assert first.exit_code == 0, first.output
    assert (
        "new site" in first.output and "(new)" in first.output and "applied to site" in first.output
    )
    assert "tokens create --site" in first.output  # the way to an admin token
    versions_before = count_rows(BannerVersion)
    second = runner.invoke(args=["sites", "apply", str(path)])
    assert second.exit_code == 0 and "no changes" in second.output, second.output
    assert "tokens create" not in second.output
    assert count_rows(BannerVersion) == versions_before and count_rows(SettingsChange) == 1


def test_dry_run_prints_the_plan_and_writes_nothing(app, runner, tmp_path):
    site = make_site()
    changed = document(lifetime_days=90)
    changed["texts"] = {"en": {"title": "Cookies at Shop"}}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(changed), encoding="utf-8")
    before = site.banner_version_hash
    result = runner.invoke(args=["sites", "apply", str(path), "--site", site.site_key, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "~ lifetime_days: 180 -> 90" in result.output
    assert "~ texts.en.title: None -> 'Cookies at Shop'" in result.output
    assert "(new)" in result.output and "dry run: nothing applied" in result.output
    assert "choices older than 90 days expire" in result.output
    db.session.expire_all()
    assert site.lifetime_days == 180 and site.banner_version_hash == before
    assert count_rows(SettingsChange) == 1


def add_category(doc: dict[str, Any]) -> None:
    doc["categories"].append({"slug": "media", "texts": {"en": {"name": "Media"}}})
    doc["services"].append(
        {"slug": "video", "category": "media", "name": "Video", "provider": {"legal_name": "V"}}
    )


def remove_service(doc: dict[str, Any]) -> None:
    doc["forms"] = []
    doc["services"].pop(1)
    doc["categories"].pop(1)


PLANS: list[tuple[str, Callable[[dict[str, Any]], None], list[str], bool]] = [
    ("new category", add_category,
     ["+ category media", "+ service video"], True),
    ("removed service", remove_service,
     ["- service own-crm", "- category crm", "- form contact"], False),
    ("changed service", lambda d: d["services"][1].update(retention="1 year"),
     ["~ service own-crm: retention"], False),
    ("reordered", lambda d: d["categories"].reverse(), ["~ categories: order"], False),
    ("cookie name", lambda d: d.update(cookie={"name": "consent"}),
     ["~ cookie.name: 'cs_consent' -> 'consent'"], True),
    ("form wording", lambda d: d["forms"][0].update(separate_consent={"en": "Yes", "zh-CN": "是"}),
     ["~ form contact: separate_consent"], False),
]  # fmt: skip


@pytest.mark.parametrize("label,change,expected,asks_again", PLANS, ids=[p[0] for p in PLANS])
def test_plan_names_each_kind_of_change(app, label, change, expected, asks_again):
    site = make_site()
    changed = document()
    change(changed)
    result = settings.apply_settings(changed, site=site)
    summaries = [item.summary for item in result.changes]
    for line in expected:
        assert line in summaries, summaries
    assert bool(result.asks_again) is asks_again
    assert result.applied and settings.current_document(site)["categories"] == [
        category for category in settings.prepare(changed).document["categories"]
    ]


@pytest.mark.parametrize(
    "before,after,expected",
    [
        # Stricter: a notice or an opt-out closed is no consent; the banner asks again.
        ({}, {"rules": {"US-AL": "opt_in"}}, ["visitors from US-AL now under opt_in (were "
                                              "notice_only)"]),
        ({}, {"rules": {"US-CA": "opt_in", "US-TX": "opt_in"}},
         ["visitors from US-CA, US-TX now under opt_in (were opt_out)"]),
        ({}, {"rules": {"DE": "opt_in_separate"}},
         ["visitors from DE now under opt_in_separate (were opt_in)"]),
        ({"rules": {"BR": "notice_only"}}, {},
         ["visitors from BR now under opt_in (were notice_only)"]),
        ({"fallback": "opt_out"}, {"fallback": "opt_in"},
         ["visitors from the rest of the world now under opt_in (were opt_out)"]),
        # The banner voids any choice made under other rules where consent is asked for.
        ({}, {"rules": {"CN": "opt_in"}}, ["visitors from CN now under opt_in (were "
                                           "opt_in_separate)"]),
        # Looser: the choices made stay; nobody is asked again.
        ({}, {"rules": {"DE": "opt_out", "US-CA": "notice_only"}}, []),
        ({}, {"fallback": "notice_only"}, []),
        ({}, {"rules": {"US-AL": "notice_only"}}, []),  # as before, only named
    ],
)  # fmt: skip
def test_a_region_put_under_consent_rules_is_asked_again(app, before, after, expected):
    site = make_site(regions=before)
    result = settings.apply_settings(document(regions=after), site=site)
    assert result.asks_again == expected
    assert result.as_dict()["visitors_asked_again"] is bool(expected)


def with_wording(_: None, doc: dict[str, Any]) -> None:
    doc["forms"][0]["separate_consent"] = {"en": "I agree.", "zh-CN": "我同意。"}


SHOWN: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("name", lambda d: d.update(name="Shop GmbH")),
    ("default_locale", lambda d: d.update(default_locale="zh-CN")),
    ("locales", lambda d: d.update(
        locales=["en", "zh-CN", "de"], texts={"de": {"reject_all": "Nein"}})),
    ("texts", lambda d: d.update(texts={"zh-CN": {"reject_all": "拒绝"}})),
    ("category texts", lambda d: d["categories"][0]["texts"]["en"].update(name="Stats")),
    ("category order", lambda d: d["categories"].reverse()),
    ("category gpc_opt_out", lambda d: d["categories"][1].update(gpc_opt_out=True)),
    ("category consent_mode", lambda d: d["categories"][1].update(consent_mode=["ad_storage"])),
    ("service name", lambda d: d["services"][1].update(name="CRM")),
    ("service provider", lambda d: d["services"][1]["provider"].update(legal_name="Shop AG")),
    ("service address", lambda d: d["services"][1]["provider"].update(address="1 Road")),
    ("service purposes", lambda d: d["services"][1].update(purposes=["Sell."])),
    ("service data", lambda d: d["services"][1].update(data_collected=["E-mail"])),
    ("service privacy link", lambda d: d["services"][1]["privacy_links"][0].update(
        url="https://shop.example/p")),
    ("service storage", lambda d: d["services"][1]["storage_locations"][0].update(country="FR")),
    ("service cross_border", lambda d: with_wording(d["services"][1].update(cross_border=True), d)),
    ("service third_party", lambda d: with_wording(d["services"][1].update(third_party=True), d)),
    ("service retention", lambda d: d["services"][1].update(retention="1 year")),
    ("service cookies", lambda d: d["services"][1].update(cookies=[{"name": "crm_id"}])),
    ("catalogue override", lambda d: d["services"][0].update(name="GA4")),
]  # fmt: skip
HIDDEN: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("origins", lambda d: d.update(origins=["https://shop.example", "https://www.shop.example"])),
    ("lifetime_days", lambda d: d.update(lifetime_days=30)),
    ("cookie name", lambda d: d.update(cookie={"name": "consent"})),
    ("cookie domain", lambda d: d.update(cookie={"name": "cs_consent", "domain": "shop.example"})),
    ("jurisdiction", lambda d: d.update(jurisdiction="opt_out")),
    ("gpc", lambda d: d.update(gpc=False)),
    ("consent_mode", lambda d: d.update(consent_mode={"wait_for_update": 800})),
    ("ga4", lambda d: d.update(ga4={"measurement_id": "G-ABCDEF1234"})),
    ("service hosts", lambda d: d["services"][1].update(hosts=["crm2.shop.example"])),
    ("service consent_mode", lambda d: d["services"][1].update(consent_mode=["ad_storage"])),
    ("forms", lambda d: d["forms"][0].update(fields=["name*", "email*", "phone"])),
]  # fmt: skip


@pytest.mark.parametrize("label,change", SHOWN, ids=[item[0] for item in SHOWN])
def test_a_change_to_what_the_banner_shows_is_a_new_banner_version(app, label, change):
    site = make_site()
    before = site.banner_version_hash
    changed = document()
    change(changed)
    result = settings.apply_settings(changed, site=site)
    assert result.applied and result.new_banner_version
    assert site.banner_version_hash == result.banner_version_after != before
    changes = history(site)
    assert changes[0].banner_version == site.banner_version_hash and changes[0].banner_changed
    old = db.session.scalar(sa.select(BannerVersion).where(BannerVersion.sha256 == before))
    assert old is not None  # past versions stay readable


@pytest.mark.parametrize("label,change", HIDDEN, ids=[item[0] for item in HIDDEN])
def test_a_change_to_anything_else_keeps_the_banner_version(app, label, change):
    site = make_site()
    before = site.banner_version_hash
    changed = document()
    change(changed)
    result = settings.apply_settings(changed, site=site)
    assert result.applied and result.changed and not result.new_banner_version
    assert site.banner_version_hash == before
    assert count_rows(SettingsChange) == 2 and not history(site)[0].banner_changed


def test_banner_version_is_the_hash_of_the_stored_canonical_document(app):
    site = make_site()
    prepared = settings.prepare(document())
    resolved, errors = resolve(prepared.document)
    assert not errors
    stored = db.session.scalar(
        sa.select(BannerVersion).where(BannerVersion.sha256 == site.banner_version_hash)
    )
    assert json.loads(stored.canonical_json) == banner_document(resolved)


def test_rows_follow_the_document(app):
    site = make_site()
    assert [service.slug for service in site.services] == ["ga", "own-crm"]
    assert db.session.scalar(sa.select(SiteForm.fields)) == [
        {"name": "name", "required": True},
        {"name": "email", "required": True},
    ]
    remove = document()
    remove_service(remove)
    settings.apply_settings(remove, site=site)
    assert db.session.scalars(sa.select(Service.slug)).all() == ["ga"]
    assert count_rows(SiteForm) == 0
    assert [category.slug for category in site.categories] == ["necessary", "analytics"]


def test_errors_block_the_apply_with_json_pointers(app, runner, tmp_path):
    site = make_site()
    bad = document()
    bad["services"][1]["privacy_links"][0]["url"] = "http://shop.example/privacy"
    bad["services"][1]["category"] = "nope"
    with pytest.raises(settings.SettingsRejected) as raised:
        settings.apply_settings(bad, site=site)
    assert "/services/1/privacy_links/0/url" in raised.value.errors
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = runner.invoke(args=["sites", "apply", str(path), "--site", site.site_key])
    assert result.exit_code == 1 and "/services/1/privacy_links/0/url" in result.output
    assert count_rows(SettingsChange) == 1


def test_unknown_catalogue_entry_is_an_error_at_its_pointer(app):
    bad = document()
    bad["services"][0]["catalogue"] = "no-such-thing"
    with pytest.raises(settings.SettingsRejected) as raised:
        settings.create_site(document=bad)
    assert list(raised.value.errors) == ["/services/0/catalogue"]


def test_create_from_file_and_from_name_alone(app, runner, tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document()), encoding="utf-8")
    result = runner.invoke(
        args=["sites", "create", "--from", str(path), "--name", "Shop EU", "--json"]
    )
    assert result.exit_code == 0, result.output
    created = settings.site_by_key(json.loads(result.output)["site_key"])
    assert created.name == "Shop EU" and len(created.services) == 2
    bare = runner.invoke(args=["sites", "create", "--name", "B", "--origin", "https://b.example"])
    assert bare.exit_code == 0 and "site key:" in bare.output
    neither = runner.invoke(args=["sites", "create", "--name", "C"])
    assert neither.exit_code == 2


def test_ga4_command_is_a_settings_change(app, runner):
    site = make_site()
    result = runner.invoke(
        args=["sites", "ga4", "--site", site.site_key, "--measurement-id", "G-ABCDEF1234"]
    )
    assert result.exit_code == 0, result.output
    assert settings.current_document(site)["ga4"]["measurement_id"] == "G-ABCDEF1234"
    assert history(site)[0].actor == "cli"


def test_demo_applies_its_settings_file(app, runner):
    from consent_service.sites import demo

    result = runner.invoke(args=["demo", "--no-serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    site = demo.find_demo_site()
    expected = settings.prepare(demo.demo_document("http://127.0.0.1:8123")).document
    assert settings.current_document(site) == expected
    assert site.allowed_origins == ["http://127.0.0.1:8123", "http://localhost:8123"]
    again = runner.invoke(args=["demo", "--no-serve", "--port", "8123"])
    assert again.exit_code == 0 and count_rows(SettingsChange) == 1
    edited = {**settings.export_document(site), "lifetime_days": 90}
    settings.apply_settings(edited, site=site, actor="console:1:owner@demo.example")
    moved = runner.invoke(args=["demo", "--no-serve", "--port", "8124"])
    assert moved.exit_code == 0, moved.output
    kept = settings.current_document(site)
    assert kept["lifetime_days"] == 90  # the owner's edit survives a restart of the demo
    assert site.allowed_origins == ["http://127.0.0.1:8124", "http://localhost:8124"]


def test_a_site_made_before_settings_documents_exports_and_applies(app):
    site = make_site()
    db.session.execute(sa.delete(SettingsChange))
    site.settings_hash = None
    db.session.commit()
    derived = settings.current_document(site)
    assert [service["slug"] for service in derived["services"]] == ["ga", "own-crm"]
    assert derived["forms"][0]["slug"] == "contact"
    result = settings.apply_settings(derived, site=site)
    assert result.applied and settings.current_document(site) == derived


def test_a_schema_reference_for_editors_is_not_a_setting(app):
    site = make_site()
    pointed = {"$schema": "https://consent.example.com/api/site-settings.schema.json", **document()}
    assert not settings.apply_settings(pointed, site=site).changed
    assert "$schema" not in settings.current_document(site)


def test_a_second_site_with_a_name_already_taken_is_refused(app, runner, tmp_path, client):
    first = settings.create_site("Shop EU", ["https://shop.example"])
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document(name="Shop EU")), encoding="utf-8")
    from_file = runner.invoke(args=["sites", "create", "--from", str(path)])
    assert from_file.exit_code == 1
    assert "A site named 'Shop EU' exists already" in from_file.output
    assert first.site_key in from_file.output
    plain = runner.invoke(
        args=["sites", "create", "--name", "Shop EU", "--origin", "https://b.example"]
    )
    assert plain.exit_code == 1 and "exists already" in plain.output
    assert count_rows(Site) == 1
    applied = runner.invoke(args=["sites", "apply", str(path), "--dry-run"])
    assert applied.exit_code == 0, applied.output


def test_renaming_a_site_to_another_sites_name_is_refused(app):
    settings.create_site("Shop EU", ["https://shop.example"])
    second = settings.create_site("Shop US", ["https://us.shop.example"])
    before = settings.current_document(second)
    with pytest.raises(settings.SettingsRejected) as refused:
        settings.apply_settings({**before, "name": "Shop EU"}, site=second)
    assert (
        list(refused.value.errors) == ["/name"] and "name-taken" in refused.value.errors["/name"][0]
    )
    _, findings = settings.review_plan({**before, "name": "Shop EU"}, second)
    assert [(item.rule, item.pointer) for item in findings] == [("name-taken", "/name")]
    db.session.rollback()
    assert settings.current_document(second)["name"] == "Shop US"
    renamed = settings.apply_settings({**before, "name": "Shop US (new)"}, site=second)
    assert renamed.applied and second.name == "Shop US (new)"
