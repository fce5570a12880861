"""GET /config: what a banner needs, cacheable, in the visitor's language."""

from __future__ import annotations

import sqlalchemy as sa


def config_url(site):
    return f"/api/v1/sites/{site.site_key}/config"


def test_config_has_what_a_banner_needs(client, site):
    response = client.get(config_url(site))
    assert response.status_code == 200
    body = response.json
    assert {"categories", "services", "policy_version", "banner_version", "lifetime_days"} <= set(
        body
    )
    slugs = [(category["slug"], category["necessary"]) for category in body["categories"]]
    assert slugs == [
        ("necessary", True),
        ("analytics", False),
        ("crm", False),
        ("media", False),
        ("marketing_email", False),
    ]
    neocrm = next(service for service in body["services"] if service["slug"] == "neocrm")
    assert neocrm["storage_location"] == "China"
    zh = client.get(config_url(site), query_string={"locale": "zh-CN"}).json
    neocrm_zh = next(service for service in zh["services"] if service["slug"] == "neocrm")
    assert (
        neocrm_zh["storage_location"] == "中国" and neocrm_zh["purpose"] == "就您的咨询与您联系。"
    )
    assert zh["texts"]["reject_all"] == "全部拒绝"
    assert neocrm["cross_border"] is True and neocrm["third_party"] is True
    assert body["policy_version"]["label"] == "2024-09"
    assert body["banner_version"] == site.banner_version_hash
    assert body["lifetime_days"] == 180
    assert body["texts"]["title"] == "We value your privacy"


def test_config_etag_and_304(client, site):
    first = client.get(config_url(site))
    etag = first.headers["ETag"]
    assert "max-age" in first.headers["Cache-Control"]
    second = client.get(config_url(site), headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.data == b""
    stale = client.get(config_url(site), headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


def test_locale_from_query_and_accept_language(client, site):
    by_query = client.get(config_url(site), query_string={"locale": "zh-CN"}).json
    assert by_query["locale"] == "zh-CN"
    assert by_query["texts"]["title"] == "我们重视您的隐私"
    assert by_query["categories"][1]["name"] == "统计分析"
    by_header = client.get(config_url(site), headers={"Accept-Language": "zh;q=0.9, en;q=0.5"})
    assert by_header.json["locale"] == "zh-CN"
    fallback = client.get(config_url(site), headers={"Accept-Language": "fr-FR"})
    assert fallback.json["locale"] == "en"
    assert by_query["banner_version"] == fallback.json["banner_version"]
    assert by_header.headers["ETag"] != fallback.headers["ETag"]


def test_unknown_site_and_foreign_origin(client, site):
    missing = client.get("/api/v1/sites/unknown/config")
    assert missing.status_code == 404
    assert set(missing.json) == {"code", "status", "message", "errors"}
    foreign = client.get(config_url(site), headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    allowed = client.get(config_url(site), headers={"Origin": "https://www.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "Origin" in allowed.headers["Vary"]


def test_unknown_query_parameter_is_422(client, site):
    response = client.get(config_url(site), query_string={"lang": "en"})
    assert response.status_code == 422
    assert "lang" in response.json["errors"]


def test_banner_version_follows_content(app, site):
    from consent_service.extensions import db
    from consent_service.models import BannerVersion
    from consent_service.sites.settings import apply_settings, current_document

    before = site.banner_version_hash
    document = current_document(site)
    apply_settings(document, site=site)
    assert site.banner_version_hash == before
    document["texts"]["en"]["title"] = "Cookies"
    apply_settings(document, site=site)
    assert site.banner_version_hash != before
    # The site's own versions; the rule sets' ones (rule_set set) follow each of them.
    banners = db.session.scalars(
        sa.select(BannerVersion.sha256).where(
            BannerVersion.kind == "banner", BannerVersion.rule_set.is_(None)
        )
    ).all()
    assert sorted(banners) == sorted([before, site.banner_version_hash])


def test_forms_in_config_name_their_wording_by_hash(client, site):
    import hashlib

    body = client.get(config_url(site), query_string={"locale": "zh-CN"}).json
    crm = next(form for form in body["forms"] if form["slug"] == "crm")
    assert crm["purpose"] == "lead" and crm["category"] == "crm" and crm["service"] == "neocrm"
    assert {"name": "name", "required": True} in crm["fields"]
    wording = crm["separate_consent"]
    assert "NeoCRM" in wording["text"] and "中国" in wording["text"]
    assert wording["hash"] == hashlib.sha256(wording["text"].encode()).hexdigest()


def test_snippet_config_carries_every_locale(site):
    from consent_service.sites.public_config import snippet_config

    config = snippet_config(site, "https://consent.example.com/", None)
    assert config["api_base"] == "https://consent.example.com"
    assert set(config["texts"]) == {"en", "zh-CN"}
    assert config["categories"][1]["texts"]["zh-CN"]["name"] == "统计分析"
    from consent_service.sites import versions

    opt_in = versions.rule_banner_hash(versions.banner_document(site), "opt_in")
    assert config["banner_version"] == opt_in and config["rules"] == "opt_in"
    assert config["policy_version"]["label"] == "2024-09"
    assert config["ga4"]["measurement_id"] == "G-DEMO2024CS"
    assert config["ga4"]["script_url"].startswith("https://www.googletagmanager.com/")
    site.ga4_measurement_id = "G-ABC1234"
    with_ga = snippet_config(site, "https://consent.example.com", "/static/demo/gtag.js")
    assert with_ga["ga4"] == {
        "measurement_id": "G-ABC1234",
        "mode": "basic",
        "script_url": "/static/demo/gtag.js",
    }


def test_script_carries_per_locale_service_words_only_where_they_differ(site):
    from consent_service.sites.public_config import snippet_config

    services = snippet_config(site, "https://consent.example.com", None)["services"]
    neocrm = next(service for service in services if service["slug"] == "neocrm")
    assert neocrm["storage_location"] == "China"
    assert neocrm["texts"]["zh-CN"]["storage_location"] == "中国"
    assert "storage_location" not in neocrm["texts"]["en"]  # the same as the default
    assert "cookie_texts" not in neocrm["texts"]["en"] and "countries" not in neocrm
