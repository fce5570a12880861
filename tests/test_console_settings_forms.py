"""The console's settings forms over HTTP: each section edits its part of the one settings
document, shows the plan and the linter's findings beside the fields they point at, errors
block the save, a save goes through the same If-Match and history as PUT .../settings; the
preview builds the real banner script from an unsaved draft and records nothing; auditors read
only and get 403 on every form's POST; a POST without its CSRF token is refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from consent_service.console import sections
from consent_service.extensions import db
from consent_service.models import ConsentEvent, SettingsChange
from consent_service.sites import settings
from tests.conftest import count_rows
from tests.console_support import csrf_token, make_account, post, sign_in

SECTIONS = ("general", "texts", "categories", "services", "forms")


@pytest.fixture(autouse=True)
def no_wait(app):
    app.config["CONSOLE_SIGNIN_DELAY"] = 0


@pytest.fixture
def owner(site):
    make_account("owner@example.com", "owner", site)
    return sign_in


def fields_of(html: str) -> dict[str, str]:
    """The form's text inputs and selected options by name, as a browser would post them."""
    from html import unescape

    found = {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input id="[^"]*" name="(/[^"]+)" value="([^"]*)"', html)
    }
    for name, body in re.findall(
        r'<textarea id="[^"]*" name="(/[^"]+)"[^>]*>([^<]*)</textarea>', html
    ):
        found[unescape(name)] = unescape(body)
    for name, options in re.findall(
        r'<select id="[^"]*" name="(/[^"]+)"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        found[unescape(name)] = unescape(chosen.group(1)) if chosen else ""
    for name in re.findall(
        r'<input type="checkbox" id="[^"]*" name="(/[^"]+)" value="on" checked', html
    ):
        found[unescape(name)] = "on"
    return found


def beside(html: str, field_id: str) -> str:
    """The findings listed beside one field (its aria-describedby list)."""
    match = re.search(
        rf'<ul id="{field_id}-findings" class="findings beside">(.*?)</ul>', html, re.S
    )
    return match.group(1) if match else ""


def test_every_section_is_a_labelled_form_over_the_saved_document(client, owner, site):
    owner(client, "owner@example.com")
    for slug in SECTIONS:
        page = client.get(f"/console/sites/{site.site_key}/settings/{slug}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, slug
        assert "<fieldset" in html and "<legend>" in html
        for field_id in re.findall(
            r'<(?:input|select|textarea) (?:type="\w+" )?id="([^"]+)"', html
        ):
            assert f'<label for="{field_id}"' in html, (slug, field_id)
    general = fields_of(
        client.get(f"/console/sites/{site.site_key}/settings/general").get_data(as_text=True)
    )
    assert general["/name"] == site.name and general["/origins"] == "https://www.example.com"


@pytest.mark.parametrize("slug", SECTIONS)
def test_a_section_posted_back_unchanged_changes_nothing(client, owner, site, slug):
    """The forms round-trip: what a section shows, posted as it is, is the saved document."""
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/{slug}"
    form = fields_of(client.get(path).get_data(as_text=True))
    checked = post(client, path, {**form, "action": "check"}, page=path)
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert "<li>No change.</li>" in checked.get_data(as_text=True)


def test_a_form_and_a_text_are_edited_and_saved(client, owner, site):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/forms"
    form = fields_of(client.get(path).get_data(as_text=True))
    form["/forms/0/separate_consent/en"] = "I agree to the new wording."
    saved = post(client, path, {**form, "action": "save"}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    path = f"/console/sites/{site.site_key}/settings/texts"
    form = fields_of(client.get(path).get_data(as_text=True))
    form["/texts/en/title"] = "Your privacy, your choice"
    form["/texts/en/policy_link"] = ""  # back to the built-in words
    saved = post(client, path, {**form, "action": "save"}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    document = settings.export_document(site)
    assert document["forms"][0]["separate_consent"]["en"] == "I agree to the new wording."
    assert document["texts"]["en"]["title"] == "Your privacy, your choice"
    assert "policy_link" not in document["texts"]["en"]


def plan_of(html: str) -> str:
    return html.split('<ul class="plan">')[1].split("</ul>")[0]


def test_a_category_form_shows_the_plan_then_saves_with_a_history_entry(client, owner, site):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/categories"
    form = fields_of(client.get(path).get_data(as_text=True))
    before = site.settings_hash
    form["/categories/1/texts/en/name"] = "Statistics"
    new = f"/categories/{len(site.categories)}"
    form[f"{new}/slug"] = "Not A Slug"
    form[f"{new}/texts/en/name"] = "Support chat"
    checked = post(client, path, {**form, "action": "check", "hash": before}, page=path)
    html = checked.get_data(as_text=True)
    # A schema error, beside the field it names and announced; nothing saved.
    assert checked.status_code == 422
    assert "Errors block the save." in html and 'role="alert"' in html
    slug_id = sections.Field(f"{new}/slug", "", "text").id
    assert "Lower-case letters" in beside(html, slug_id)
    assert (
        f'id="{slug_id}" name="{new}/slug" value="Not A Slug" '
        f'aria-describedby="{slug_id}-findings" aria-invalid="true"'
    ) in html
    refused = post(client, path, {**form, "action": "save", "hash": before}, page=path)
    assert refused.status_code == 422
    db.session.refresh(site)
    assert site.settings_hash == before
    form[f"{new}/slug"] = "support"
    checked = post(client, path, {**form, "action": "check", "hash": before}, page=path)
    planned = plan_of(checked.get_data(as_text=True))
    assert "category analytics: texts" in planned and "+ category support" in planned
    assert "Visitors asked again: <strong>yes</strong>" in checked.get_data(as_text=True)
    saved = post(client, path, {**form, "action": "save", "hash": before}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert "Saved." in saved.get_data(as_text=True)
    document = settings.export_document(site)
    assert document["categories"][1]["texts"]["en"]["name"] == "Statistics"
    assert document["categories"][-1]["slug"] == "support"
    latest = db.session.scalars(select(SettingsChange).order_by(SettingsChange.id.desc())).first()
    assert latest.actor.startswith("console:") and "owner@example.com" in latest.actor
    history = client.get(f"/console/sites/{site.site_key}/history").get_data(as_text=True)
    assert "owner@example.com" in history and "support" in history
    # The form read the old hash: saving it again is refused like a stale If-Match.
    stale = post(client, path, {**form, "action": "save", "hash": before}, page=path)
    assert stale.status_code == 412


def test_a_linter_error_beside_its_field_blocks_the_save_until_fixed(client, owner, site):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/general"
    form = fields_of(client.get(path).get_data(as_text=True))
    before = site.settings_hash
    form["/lifetime_days"] = "400"
    form["/origins"] = "http://shop.example"
    checked = post(client, path, {**form, "action": "check", "hash": before}, page=path)
    html = checked.get_data(as_text=True)
    assert checked.status_code == 422
    assert "lifetime-too-long" in beside(html, "f-lifetime_days")
    assert "insecure-origin" in beside(html, "f-origins")
    assert "No plan" not in html, re.findall(
        r"<li class=\"finding[^<]*<strong>[^<]*</strong>[^<]*", html
    )
    assert "/lifetime_days" in plan_of(html)  # the plan is shown beside what blocks it
    saved = post(client, path, {**form, "action": "save", "hash": before}, page=path)
    assert saved.status_code == 422
    db.session.refresh(site)
    assert site.settings_hash == before
    form["/lifetime_days"], form["/origins"] = "180", "https://shop.example"
    saved = post(client, path, {**form, "action": "save", "hash": before}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert settings.export_document(site)["origins"] == ["https://shop.example"]


def test_a_service_is_added_from_the_catalogue_in_the_services_form(client, owner, site):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/services"
    form = fields_of(client.get(path).get_data(as_text=True))
    added = post(client, path, {**form, "action": "add", "catalogue": "hotjar"}, page=path)
    html = added.get_data(as_text=True)
    assert "+ service hotjar" in plan_of(html)
    assert '<input type="hidden" name="add_service" value="hotjar">' in html
    form = fields_of(html)
    saved = post(client, path, {**form, "add_service": "hotjar", "action": "save"}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert any(s.get("catalogue") == "hotjar" for s in settings.export_document(site)["services"])


def test_the_preview_builds_an_unsaved_draft_in_each_locale_and_records_nothing(
    client, owner, site
):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/texts"
    form = fields_of(client.get(path).get_data(as_text=True))
    form["/texts/en/title"] = "Draft title, not saved"
    form["/texts/zh-CN/title"] = "草稿标题"
    before = site.settings_hash
    for lang, words in (("en", "Draft title, not saved"), ("zh-CN", "草稿标题")):
        shown = post(client, path + "/preview", {**form, "preview_lang": lang}, page=path)
        html = shown.get_data(as_text=True)
        assert shown.status_code == 200
        assert f'<html lang="{lang}">' in html and words in html
        assert shown.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'self'" in shown.headers["Content-Security-Policy"]
        assert "/console/preview-sink" in html  # where its decisions go
    db.session.refresh(site)
    assert site.settings_hash == before
    assert "Draft title" not in client.get(f"/c/{site.site_key}.js").get_data(as_text=True)
    # The advanced editor's draft too.
    from consent_service.console import editing

    text = editing.current_text(site).replace("We value your privacy", "YAML draft title")
    shown = post(client, f"/console/sites/{site.site_key}/preview", {"document": text},
                 page=f"/console/sites/{site.site_key}/settings")  # fmt: skip
    assert "YAML draft title" in shown.get_data(as_text=True)
    # A decision made in the preview is answered but never recorded.
    token = csrf_token(client, path)
    answer = client.post(
        f"/console/preview-sink/api/v1/sites/{site.site_key}/consents",
        json={"event_id": "x", "action": "accept_all"},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 200 and answer.get_json() == {"recorded": False}
    assert count_rows(ConsentEvent) == 0


def test_auditor_reads_the_forms_without_controls_and_gets_403_on_each_post(client, site):
    make_account("auditor@example.com", "auditor", site)
    sign_in(client, "auditor@example.com")
    token = csrf_token(client, "/console/")
    base = f"/console/sites/{site.site_key}"
    for slug in SECTIONS:
        html = client.get(f"{base}/settings/{slug}").get_data(as_text=True)
        assert html.count('method="post"') == 1, slug  # signing out only
        assert "<input id=" not in html and "<textarea" not in html and "<select" not in html
        for path in (f"{base}/settings/{slug}", f"{base}/settings/{slug}/preview"):
            crafted = client.post(path, data={"action": "save", "/name": "x", "csrf_token": token})
            assert crafted.status_code == 403, path
    assert (
        client.post(
            f"{base}/preview", data={"document": "name: x", "csrf_token": token}
        ).status_code
        == 403
    )
    assert client.get(f"{base}/preview").status_code == 200  # the saved banner, read-only


def test_a_settings_form_without_its_csrf_token_is_refused(client, owner, site):
    owner(client, "owner@example.com")
    before = site.settings_hash
    for path in ("settings/general", "settings/general/preview", "preview"):
        refused = client.post(
            f"/console/sites/{site.site_key}/{path}", data={"action": "save", "/name": "x"}
        )
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    db.session.refresh(site)
    assert site.settings_hash == before


def test_findings_are_placed_beside_the_nearest_field():
    groups = sections.categories({"default_locale": "en", "locales": ["en", "zh-CN"],
                                  "categories": [{"slug": "a"}]})  # fmt: skip
    found = [
        {"pointer": "/categories/0/texts/zh-CN", "severity": "warning"},
        {"pointer": "/categories/0", "severity": "warning"},
        {"pointer": "/categories/0/slug", "severity": "error"},
        {"pointer": "/origins/0", "severity": "error"},
    ]
    placed, elsewhere = sections.place(found, groups)
    assert placed["/categories/0/texts/zh-CN/name"] == [found[0]]
    assert placed["/categories/0/slug"] == [found[1], found[2]]
    assert elsewhere == [found[3]]


def test_only_a_catalogue_service_offers_the_catalogue_s_category():
    services = [{"slug": "own", "category": "analytics"},
                {"slug": "ga", "catalogue": "google-analytics-4"}]  # fmt: skip
    groups = sections.services({"categories": [{"slug": "analytics"}], "services": services})
    own, ga = ([value for value, _ in group.fields[0].options] for group in groups)
    assert own == ["analytics"]  # an own service has no catalogue entry to fall back on
    assert ga == ["", "analytics"]
    assert groups[0].note == "Its other details are in the advanced editor."
    assert groups[1].note.startswith("From the catalogue entry google-analytics-4; its other")


def test_every_settings_page_has_a_plain_title(client, owner, site):
    owner(client, "owner@example.com")
    for path in [*(f"settings/{slug}" for slug in SECTIONS), "settings"]:
        html = client.get(f"/console/sites/{site.site_key}/{path}").get_data(as_text=True)
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        assert title and "<" not in title.group(1) and title.group(1).startswith("Settings: ")


def test_the_request_due_days_are_set_in_the_general_form(client, owner, site):
    owner(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings/general"
    form = fields_of(client.get(path).get_data(as_text=True))
    assert form["/rights/due_days"] == "15"
    saved = post(client, path, {**form, "/rights/due_days": "30", "action": "save"}, page=path)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert settings.export_document(site)["rights"]["due_days"] == 30
    queue = client.get(f"/console/sites/{site.site_key}/requests/").get_data(as_text=True)
    assert "due 30 days after" in queue
