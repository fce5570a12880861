"""Which rules a visitor gets: the built-in map, a site's own, the fallback; where the region
comes from (trusted headers, else the offline address lookup); how the script is cached."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from consent_service.netinfo import country_of_address, subdivision_code, visitor_place
from consent_service.schemas.settings import SiteSettingsSchema
from consent_service.sites.regions import rule_set_for, rule_sets_used


@pytest.mark.parametrize(
    "country,region,expected",
    [
        ("DE", None, "opt_in"),
        ("GB", None, "opt_in"),
        ("CH", None, "opt_in"),
        ("US", "US-CA", "opt_out"),
        ("US", "US-TX", "opt_out"),
        ("US", "US-AL", "notice_only"),
        ("US", None, "notice_only"),
        ("CN", None, "opt_in_separate"),
        ("BR", None, "opt_in"),
        (None, None, "opt_in"),
        ("DE", "US-CA", "opt_in"),  # a subdivision of another country is ignored
    ],
)
def test_built_in_map_and_fallback(country, region, expected):
    assert rule_set_for({}, country, region) == expected


def test_a_sites_rules_override_the_map_and_its_fallback_takes_the_rest():
    regions = {"rules": {"BR": "opt_out", "US-CA": "opt_in"}, "fallback": "notice_only"}
    assert rule_set_for(regions, "BR", None) == "opt_out"
    assert rule_set_for(regions, "US", "US-CA") == "opt_in"
    assert rule_set_for(regions, "JP", None) == "notice_only"
    assert rule_set_for(regions, "DE", None) == "opt_in"
    own_only = {"builtin": False, "rules": {"DE": "opt_in"}, "fallback": "opt_out"}
    assert rule_set_for(own_only, "CN", None) == "opt_out"
    assert rule_sets_used(own_only) == ["opt_in", "opt_out"]


def test_regions_in_the_settings_document():
    base = {"name": "Shop", "origins": ["https://shop.example"]}
    loaded = SiteSettingsSchema().load(base)
    assert loaded["regions"] == {"builtin": True, "rules": {}, "fallback": "opt_in"}
    assert loaded["reask_after_reject_days"] == 182
    with pytest.raises(ValidationError) as raised:
        SiteSettingsSchema().load({**base, "regions": {"rules": {"California": "opt_out"}}})
    assert "regions" in raised.value.messages
    with pytest.raises(ValidationError) as raised:
        SiteSettingsSchema().load({**base, "regions": {"rules": {"US-CA": "opt_maybe"}}})
    assert "regions" in raised.value.messages


def test_where_the_region_comes_from():
    assert subdivision_code(" us-ca ") == "US-CA"
    assert subdivision_code("California") is None and subdivision_code("US-") is None
    assert visitor_place("8.8.8.8", "de", None) == ("DE", None)  # the trusted header wins
    assert visitor_place("8.8.8.8", None, None) == ("US", None)  # else the offline lookup
    assert visitor_place("127.0.0.1", None, "US-CA") == (None, "US-CA")
    assert visitor_place(None, "DE", "US-CA") == ("DE", None)
    assert country_of_address("1.2.4.8") == "CN"
    assert country_of_address("10.0.0.1") is None and country_of_address("junk") is None


def test_the_script_varies_on_the_headers_that_chose_it(client, site):
    # No trusted header: chosen by the address, so no shared cache may keep it.
    plain = client.get(f"/c/{site.site_key}.js")
    assert plain.headers["Cache-Control"].startswith("private, ")
    assert plain.headers["Vary"] == "Accept-Encoding"
    client.application.config["COUNTRY_HEADER"] = "CF-IPCountry"
    german = client.get(f"/c/{site.site_key}.js", headers={"CF-IPCountry": "DE"})
    assert german.headers["Cache-Control"].startswith("public, ")
    assert german.headers["Vary"] == "Accept-Encoding, CF-IPCountry"
    chinese = client.get(f"/c/{site.site_key}.js", headers={"CF-IPCountry": "CN"})
    assert chinese.headers["ETag"] != german.headers["ETag"]
    # Each rule set's script stays reachable at its immutable URL for SRI.
    version = chinese.headers["ETag"].strip('"')
    pinned = client.get(f"/c/{site.site_key}.{version}.js")
    assert pinned.status_code == 200 and pinned.data == chinese.data


def test_a_decision_records_the_country_and_the_rule_set(client, site):
    from consent_service.extensions import db
    from consent_service.models import ConsentEvent
    from consent_service.sites import versions
    from tests.conftest import decision_body

    client.application.config.update(COUNTRY_HEADER="X-Country", REGION_HEADER="X-Region")
    body = decision_body(site)
    body["banner_version"] = versions.rule_banner_hash(versions.banner_document(site), "opt_out")
    headers = {"X-Country": "US", "X-Region": "US-CA", "Origin": "https://www.example.com"}
    response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=body, headers=headers)
    assert response.status_code == 201, response.json
    event = db.session.scalars(db.select(ConsentEvent)).one()
    assert (event.country, event.rule_set) == ("US", "opt_out")
    assert set(response.json["state"]) >= {"choices", "banner_version"}


def test_the_json_schema_knows_the_region_codes(client):
    import jsonschema

    validator = jsonschema.Draft202012Validator(client.get("/api/site-settings.schema.json").json)
    base = {"name": "x", "origins": ["https://x.example"]}
    assert not list(validator.iter_errors({**base, "regions": {"rules": {"US-CA": "opt_out"}}}))
    assert list(validator.iter_errors({**base, "regions": {"rules": {"California": "opt_out"}}}))
    assert list(validator.iter_errors({**base, "regions": {"fallback": "opt_maybe"}}))


def test_the_config_names_the_visitors_rule_set_and_varies_like_the_script(client, site):
    from consent_service.sites import versions

    url = f"/api/v1/sites/{site.site_key}/config"
    plain = client.get(url, environ_base={"REMOTE_ADDR": "1.2.4.8"})  # CN by the address
    assert plain.json["rule_set"] == "opt_in_separate"
    assert plain.json["jurisdiction"] == site.jurisdiction  # kept for older clients
    assert plain.headers["Cache-Control"].startswith("private, ")
    assert plain.headers["Vary"] == "Accept-Language, Origin"
    client.application.config.update(COUNTRY_HEADER="X-Country", REGION_HEADER="X-Region")
    document = versions.banner_document(site)
    etags = set()
    for headers, expected in [
        ({"X-Country": "DE"}, "opt_in"),
        ({"X-Country": "US", "X-Region": "US-CA"}, "opt_out"),
        ({"X-Country": "US", "X-Region": "US-AL"}, "notice_only"),
        ({"X-Country": "CN"}, "opt_in_separate"),
        ({"X-Country": "BR"}, "opt_in"),  # the fallback
    ]:
        answer = client.get(url, headers=headers)
        assert answer.json["rule_set"] == expected, headers
        assert answer.json["rule_set_banner_version"] == versions.rule_banner_hash(
            document, expected
        )
        assert answer.headers["Cache-Control"].startswith("public, ")
        assert answer.headers["Vary"] == "Accept-Language, X-Country, X-Region, Origin"
        etags.add(answer.headers["ETag"])
        # A validator from another rule set's answer does not match this one.
        script = client.get(f"/c/{site.site_key}.js", headers=headers)
        assert f'"rules":"{expected}"' in script.get_data(as_text=True)
    assert len(etags) == 4
    german = client.get(url, headers={"X-Country": "DE"})
    same = client.get(url, headers={"X-Country": "DE", "If-None-Match": german.headers["ETag"]})
    assert same.status_code == 304
    other = client.get(url, headers={"X-Country": "CN", "If-None-Match": german.headers["ETag"]})
    assert other.status_code == 200 and other.json["rule_set"] == "opt_in_separate"


def test_the_config_follows_the_sites_own_region_rules(client, site):
    from consent_service.sites import settings

    document = settings.current_document(site)
    document["regions"] = {"rules": {"BR": "opt_out", "DE": "notice_only"}, "fallback": "opt_out"}
    settings.apply_settings(document, site=site)
    client.application.config["COUNTRY_HEADER"] = "X-Country"
    url = f"/api/v1/sites/{site.site_key}/config"
    ruled = {
        country: client.get(url, headers={"X-Country": country}).json["rule_set"]
        for country in ("BR", "DE", "JP", "FR")
    }
    assert ruled == {"BR": "opt_out", "DE": "notice_only", "JP": "opt_out", "FR": "opt_in"}


def test_the_openapi_document_describes_the_rule_set(client):
    schema = client.get("/api/openapi.json").json["components"]["schemas"]["SiteConfig"]
    properties = schema["properties"]
    assert properties["rule_set"]["enum"] == [
        "opt_in",
        "opt_out",
        "opt_in_separate",
        "notice_only",
    ]
    assert "rule_set_banner_version" in properties and "jurisdiction" in properties
