"""The no-code forms script as served: only sites with forms get the loader, the forms script
carries every form's fields and wordings with their hashes, and its URL is content-addressed."""

from __future__ import annotations

import gzip
import json
import re

from consent_service.sites import demo, settings
from consent_service.sites.forms import wording_hash
from consent_service.sites.snippet import (
    FORMS_PLACEHOLDER,
    FORMS_SRC_PLACEHOLDER,
    forms_loader,
    forms_runtime,
    runtime,
)

DEMO_FORMS = {form["slug"]: form for form in demo.demo_document("http://x")["forms"]}
CRM_TRANSFER_WORDING = DEMO_FORMS["crm"]["separate_consent"]
NEWSLETTER_WORDING = DEMO_FORMS["newsletter"]["separate_consent"]

FORMS_SRC = re.compile(r'"(http://localhost/c/forms/([A-Za-z0-9_-]+)\.([0-9a-f]{16})\.js)"')


def forms_src(client, site_key: str) -> re.Match[str] | None:
    return FORMS_SRC.search(client.get(f"/c/{site_key}.js").get_data(as_text=True))


def forms_config(body: str) -> dict:
    prefix, suffix = forms_runtime().split(FORMS_PLACEHOLDER)
    assert body.startswith(prefix) and body.endswith(suffix)
    return json.loads(body[len(prefix) : len(body) - len(suffix)])


def test_a_site_with_forms_gets_the_loader_naming_its_forms_script(client, site):
    body = client.get(f"/c/{site.site_key}.js").get_data(as_text=True)
    loader_head = forms_loader().split(FORMS_SRC_PLACEHOLDER)[0]
    assert loader_head in body and FORMS_SRC_PLACEHOLDER not in body
    assert body.startswith(runtime().split("__CONSENT_SITE__")[0])
    found = forms_src(client, site.site_key)
    assert found is not None and found.group(2) == site.site_key

    response = client.get(found.group(1).removeprefix("http://localhost"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.content_type == "text/javascript; charset=utf-8"
    config = forms_config(response.get_data(as_text=True))
    assert config["site_key"] == site.site_key and config["cookie_name"] == site.cookie_name
    crm = next(form for form in config["forms"] if form["slug"] == "crm")
    assert crm["purpose"] == "lead" and crm["category"] == "crm"
    assert {"name": "name", "required": True} in crm["fields"]
    for locale, text in CRM_TRANSFER_WORDING.items():
        assert crm["separate_consent"][locale] == {"text": text, "hash": wording_hash(text)}
    assert config["categories"]["crm"]["zh-CN"] == "客户关系管理（CRM）"
    assert set(config["categories"]) == {"crm", "marketing_email"}


def test_the_core_script_no_longer_carries_the_forms(client, site):
    body = client.get(f"/c/{site.site_key}.js").get_data(as_text=True)
    assert CRM_TRANSFER_WORDING["en"] not in body


def test_a_site_without_forms_gets_no_loader_and_no_forms_script(client, app):
    plain = settings.create_site("Plain", ["https://plain.example"])
    body = client.get(f"/c/{plain.site_key}.js").get_data(as_text=True)
    assert forms_loader().split(FORMS_SRC_PLACEHOLDER)[0] not in body
    assert "/c/forms/" not in body
    response = client.get(f"/c/forms/{plain.site_key}.js")
    assert response.status_code == 404 and response.json["status"] == "no_forms"


def test_unversioned_url_revalidates_and_gzips(client, site):
    response = client.get(f"/c/forms/{site.site_key}.js")
    assert response.status_code == 200 and "max-age=300" in response.headers["Cache-Control"]
    again = client.get(
        f"/c/forms/{site.site_key}.js", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    compressed = client.get(f"/c/forms/{site.site_key}.js", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(compressed.data) == response.data


def test_a_changed_form_changes_both_urls_and_an_old_version_redirects(client, site):
    before = forms_src(client, site.site_key)
    assert before is not None
    wording = dict(NEWSLETTER_WORDING, en="Yes, e-mail me product news. Unsubscribe any time.")
    from consent_service.sites import forms

    forms.define_form(
        site,
        "newsletter",
        purpose="subscription",
        category="marketing_email",
        service="newsletter",
        fields=["email*"],
        wording=wording,
    )
    after = forms_src(client, site.site_key)
    assert after is not None and after.group(3) != before.group(3)
    stale = client.get(before.group(1).removeprefix("http://localhost"))
    assert stale.status_code == 302
    assert stale.headers["Location"].endswith(f"/c/forms/{site.site_key}.{after.group(3)}.js")
    assert stale.headers["Cache-Control"] == "no-store"
    current = client.get(after.group(1).removeprefix("http://localhost"))
    assert wording["en"] in current.get_data(as_text=True)


def test_unknown_site_is_a_json_404(client):
    response = client.get("/c/forms/nope.js")
    assert response.status_code == 404 and response.json["status"] == "site_not_found"
