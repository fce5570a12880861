"""The settings endpoints: ETag and If-Match, dry runs, 422 by JSON Pointer, history, past
documents and banner versions, and the published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from consent_service.sites import access, settings
from tests.conftest import count_rows
from tests.settings_support import document

ROOT = Path(__file__).resolve().parent.parent


def url(site, tail: str = "settings") -> str:
    return f"/api/v1/sites/{site.site_key}/{tail}"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_read_settings_with_an_etag(client, site, admin_token):
    response = client.get(url(site), headers=bearer(admin_token))
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{site.settings_hash}"'
    assert response.json == settings.current_document(site)
    _, auditor = access.issue_token(site, "auditor")
    assert client.get(url(site), headers=bearer(auditor)).status_code == 200
    assert client.get(url(site)).status_code == 401


def test_put_needs_if_match_and_refuses_a_stale_one(client, site, admin_token):
    body = client.get(url(site), headers=bearer(admin_token))
    etag = body.headers["ETag"]
    changed = {**body.json, "lifetime_days": 90}
    missing = client.put(url(site), json=changed, headers=bearer(admin_token))
    assert missing.status_code == 428 and missing.json["status"] == "precondition_required"
    ok = client.put(url(site), json=changed, headers={**bearer(admin_token), "If-Match": etag})
    assert ok.status_code == 200 and ok.json["applied"] is True
    assert ok.json["visitors_asked_again"] is True and not ok.json["new_banner_version"]
    assert ok.headers["ETag"] == f'"{ok.json["settings_hash_after"]}"' != etag
    stale = client.put(
        url(site),
        json={**changed, "lifetime_days": 60},
        headers={**bearer(admin_token), "If-Match": etag},
    )
    assert stale.status_code == 412 and stale.json["status"] == "stale"
    assert settings.current_document(site)["lifetime_days"] == 90


def test_a_large_document_is_accepted(client, site, admin_token):
    changed = settings.current_document(site)
    changed["services"][0]["purposes"] = [{"en": "x" * 1500, "zh-CN": "y" * 1500}] * 8
    response = client.put(url(site), json=changed, headers={**bearer(admin_token), "If-Match": "*"})
    assert len(json.dumps(changed)) > 16 * 1024
    assert response.status_code == 200 and response.json["applied"]


def test_auditors_cannot_write(client, site):
    _, auditor = access.issue_token(site, "auditor")
    response = client.put(
        url(site),
        json=settings.current_document(site),
        headers={**bearer(auditor), "If-Match": "*"},
    )
    assert response.status_code == 403


def test_dry_run_answers_the_plan_and_writes_nothing(client, site, admin_token):
    from consent_service.models import SettingsChange

    before = count_rows(SettingsChange)
    changed = settings.current_document(site)
    changed["texts"]["en"]["title"] = "Cookies here"
    response = client.put(
        url(site) + "?dry_run=true",
        json=changed,
        headers={**bearer(admin_token), "If-Match": f'"{site.settings_hash}"'},
    )
    assert response.status_code == 200
    assert response.json["applied"] is False and response.json["new_banner_version"] is True
    summaries = [change["summary"].split(":")[0] for change in response.json["changes"]]
    assert summaries == ["~ texts.en.title"]
    assert count_rows(SettingsChange) == before
    unguarded = client.put(url(site) + "?dry_run=true", json=changed, headers=bearer(admin_token))
    assert unguarded.status_code == 200 and unguarded.json == response.json


def test_errors_are_422_keyed_by_json_pointer(client, site, admin_token):
    bad = document()
    bad["services"][1]["privacy_links"][0]["url"] = "ftp://shop.example/privacy"
    bad["services"].append({"slug": "x", "category": "crm", "name": "X"})
    bad["forms"][0]["category"] = "nowhere"
    response = client.put(url(site), json=bad, headers={**bearer(admin_token), "If-Match": "*"})
    assert response.status_code == 422
    assert response.json["status"] == "validation_failed"
    assert "/services/1/privacy_links/0/url" in response.json["errors"]
    bad["services"][1]["privacy_links"][0]["url"] = "https://shop.example/privacy"
    response = client.put(url(site), json=bad, headers={**bearer(admin_token), "If-Match": "*"})
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["/services/2/provider"]  # no catalogue gives it
    del bad["services"][2]
    response = client.put(url(site), json=bad, headers={**bearer(admin_token), "If-Match": "*"})
    assert response.status_code == 422
    assert sorted(response.json["errors"]) == ["/forms/0/category", "/forms/0/service"]
    not_json = client.put(
        url(site), data="name: x", headers={**bearer(admin_token), "If-Match": "*"}
    )
    assert not_json.status_code == 422 and "" in not_json.json["errors"]


def test_history_and_past_documents_and_banner_versions(client, site, admin_token):
    first_banner = site.banner_version_hash
    first = settings.current_document(site)
    changed = json.loads(json.dumps(first))
    changed["texts"]["en"]["title"] = "New title"
    put = client.put(url(site), json=changed, headers={**bearer(admin_token), "If-Match": "*"})
    assert put.status_code == 200
    history = client.get(url(site, "settings/history"), headers=bearer(admin_token)).json["changes"]
    assert len(history) == 2
    latest, created = history
    assert latest["actor"].startswith("token:") and created["actor"] == "cli"
    assert latest["hash_before"] == created["hash_after"] and latest["banner_changed"]
    assert latest["banner_version"] == put.json["banner_version_after"]
    old = client.get(url(site, f"settings/history/{created['id']}"), headers=bearer(admin_token))
    assert old.json == first
    at = client.get(
        url(site, "settings/history"),
        query_string={"at": created["applied_at"]},
        headers=bearer(admin_token),
    ).json["changes"]
    assert [change["id"] for change in at] == [created["id"]]  # in effect then: the first
    _, auditor = access.issue_token(site, "auditor")
    shown = client.get(url(site, f"banner-versions/{first_banner}"), headers=bearer(auditor))
    assert shown.status_code == 200
    import hashlib

    assert hashlib.sha256(shown.data).hexdigest() == first_banner
    assert json.loads(shown.data)["texts"]["en"]["title"] == "We value your privacy"
    missing = client.get(url(site, "banner-versions/" + "0" * 64), headers=bearer(auditor))
    assert missing.status_code == 404


def test_json_schema_is_published_and_shipped(client):
    response = client.get("/api/site-settings.schema.json")
    assert response.status_code == 200 and response.mimetype == "application/schema+json"
    shipped = ROOT / "consent_service" / "static" / "site-settings.schema.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == response.json
    jsonschema.Draft202012Validator.check_schema(response.json)
    demo = yaml.safe_load(
        (ROOT / "consent_service" / "sites" / "demo_site.yaml").read_text("utf-8")
    )
    jsonschema.validate(demo, response.json)
    bad = {**demo, "services": [{"slug": "x", "privacy_links": [{"url": 1, "locale": "en"}]}]}
    assert list(jsonschema.Draft202012Validator(response.json).iter_errors(bad))


def test_json_schema_names_the_text_keys(client):
    schema = client.get("/api/site-settings.schema.json").json
    validator = jsonschema.Draft202012Validator(schema)
    base = {"name": "x", "origins": ["https://x.example"]}
    assert not list(validator.iter_errors({**base, "texts": {"en": {"reject_all": "No"}}}))
    assert list(validator.iter_errors({**base, "texts": {"en": {"rejekt_all": "No"}}}))
    assert list(validator.iter_errors({**base, "texts": {"English": {"title": "Hi"}}}))


def test_openapi_documents_the_settings_endpoints(client):
    document = client.get("/api/openapi.json").json
    put = document["paths"]["/api/v1/sites/{site_key}/settings"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"type": "object"}  # a $ref to a URL no client resolves offline
    assert "/api/site-settings.schema.json" in put["requestBody"]["description"]
    assert {"412", "428"} <= set(put["responses"])
    assert "new_banner_version" in document["components"]["schemas"]["Plan"]["properties"]
    schema = document["paths"]["/api/site-settings.schema.json"]["get"]["responses"]["200"]
    assert "application/schema+json" in schema["content"]
    read = document["paths"]["/api/v1/sites/{site_key}/settings"]["get"]["responses"]["200"]
    assert "ETag" in read["headers"] and "application/json" in read["content"]
    refs = [line for line in json.dumps(document).split('"$ref": ')[1:]]
    assert all(ref.startswith('"#/') for ref in refs)


def test_ids_beyond_their_column_are_404_not_500(client, site, admin_token):
    for change_id in (2**31, 2**63 - 2):
        response = client.get(
            url(site, f"settings/history/{change_id}"), headers=bearer(admin_token)
        )
        assert response.status_code == 404
    assert client.get(url(site, "settings"), headers=bearer(admin_token)).status_code == 200


def test_schema_command_prints_the_shipped_schema(runner):
    result = runner.invoke(args=["sites", "schema"])
    shipped = ROOT / "consent_service" / "static" / "site-settings.schema.json"
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(shipped.read_text(encoding="utf-8"))
