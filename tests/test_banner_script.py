"""The banner script as the service serves it (the browser side is in test_banner.py)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

from consent_service.sites import versions
from consent_service.sites.snippet import PLACEHOLDER, runtime, script_literal


def test_one_response_carries_runtime_and_config(client, site):
    response = client.get(f"/c/{site.site_key}.js")
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    assert "max-age=300" in response.headers["Cache-Control"]
    body = response.get_data(as_text=True)
    assert PLACEHOLDER not in body
    # The version of the banner under the rules of the visitor's region (a loopback visitor
    # has none: the fallback, opt_in).
    shown = versions.rule_banner_hash(versions.banner_document(site), "opt_in")
    assert shown in body and "我们重视您的隐私" in body
    assert body.startswith(runtime().split(PLACEHOLDER)[0])
    etag = response.headers["ETag"]
    again = client.get(f"/c/{site.site_key}.js", headers={"If-None-Match": etag})
    assert again.status_code == 304

    compressed = client.get(f"/c/{site.site_key}.js", headers={"Accept-Encoding": "gzip, br"})
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.data) == response.data
    assert compressed.headers["ETag"] != etag and "Accept-Encoding" in compressed.headers["Vary"]


def test_versioned_url_is_immutable_and_matches_its_integrity(client, site):
    tags = client.get(f"/api/v1/sites/{site.site_key}/snippet").json
    pinned = client.get(tags["versioned_src"].removeprefix("http://localhost"))
    assert pinned.status_code == 200
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    digest = base64.b64encode(hashlib.sha384(pinned.data).digest()).decode()
    assert tags["integrity"] == f"sha384-{digest}"
    assert f'integrity="sha384-{digest}"' in tags["pinned_tag"]

    versions.publish_policy(site, "2026-11", text="New terms.", url=None, material=True)
    gone = client.get(tags["versioned_src"].removeprefix("http://localhost"))
    assert gone.status_code == 404 and gone.json["status"] == "script_version_gone"


def test_unknown_site_is_a_json_404(client):
    response = client.get("/c/no-such-site.js")
    assert response.status_code == 404 and response.json["code"] == 404


def test_site_texts_cannot_close_the_script():
    literal = script_literal({"title": "</script><script>alert(1)</script>\u2028"})
    assert "</script" not in literal and "\u2028" not in literal
    assert json.loads(literal)["title"].startswith("</script>")


def test_stub_and_gpc_statement(client):
    stub = client.get("/c/stub.js")
    assert stub.status_code == 200 and b"consentService" in stub.data
    gpc = client.get("/.well-known/gpc.json")
    assert gpc.json["gpc"] is True and "lastUpdate" in gpc.json


def test_ga4_setting_from_the_cli(runner, site):
    bad = runner.invoke(
        args=["sites", "ga4", "--site", site.site_key, "--measurement-id", "UA-1234-1"]
    )
    assert bad.exit_code == 2 and "G-XXXXXXXXXX" in bad.output
    good = runner.invoke(
        args=["sites", "ga4", "--site", site.site_key, "--measurement-id", "G-ABCDE12345",
              "--mode", "advanced"]
    )  # fmt: skip
    assert good.exit_code == 0, good.output
    assert (site.ga4_measurement_id, site.ga4_mode) == ("G-ABCDE12345", "advanced")


def test_a_forged_host_gets_no_script_and_no_cached_build(app_factory, site):
    cached = app_factory(SITE_CACHE_SECONDS=600)
    with cached.app_context():
        client = cached.test_client()
        forged = client.get(f"/c/{site.site_key}.js", headers={"Host": "evil.example"})
        assert forged.status_code == 421
        assert b"evil.example" not in forged.data
        cached.config["PUBLIC_BASE_URL"] = "https://consent.example.com"
        for host in ("evil.example", "other.example", "localhost"):
            script = client.get(f"/c/{site.site_key}.js", headers={"Host": host})
            assert script.status_code == 200
            assert b"https://consent.example.com" in script.data
            assert b"evil.example" not in script.data
        snapshot = cached.extensions["consent_site_cache"].snapshot(site.site_key, 0.0)
        assert len(snapshot.scripts) == 1


def test_the_gtag_stand_in_is_for_the_demo_site_only(app, client, site):
    from consent_service.sites import settings
    from tests.settings_support import document

    other = settings.create_site(
        document=document(
            name="Other",
            origins=["https://other.example"],
            ga4={"measurement_id": "G-OTHER123", "mode": "basic"},
        )
    )
    app.config["DEMO_SITE_KEY"] = site.site_key
    app.config["DEMO_GTAG_URL"] = "http://localhost/static/demo/gtag-standin.js"
    assert b"gtag-standin.js" in client.get(f"/c/{site.site_key}.js").data
    other_script = client.get(f"/c/{other.site_key}.js").data
    assert b"gtag-standin.js" not in other_script
    assert b"googletagmanager.com" in other_script
