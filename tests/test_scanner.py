"""The scanner without a browser: the declared-services adapter, classification, the rules,
proposals, the cookie database build, the command's errors, and the captures as evidence
(API and export bundle)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from consent_service.cli import main
from consent_service.ledger.sealing import seal_site
from consent_service.scanner import build_cookie_db, declared, proposals
from consent_service.scanner.captures import store_captures
from consent_service.scanner.cookie_db import cookie_database
from consent_service.scanner.crawl import PageVisit, Shot
from consent_service.scanner.findings import Finding, classify
from consent_service.scanner.violations import violations
from consent_service.sites import access
from tests.conftest import decision_body, ledger_public_key
from tests.live_server import serving

PNG = b"\x89PNG\r\n\x1a\nnot really an image"


@pytest.mark.parametrize(
    ("text", "days"),
    [("2 years", 730), ("13 months", 390), ("30 minutes", 1), ("Session", 0), ("", None),
     ("until sent", None), ("1 Year", 365), ("End of session (browser)", 0)],
)  # fmt: skip
def test_stated_lifetimes_are_read_as_people_write_them(text, days):
    assert declared.lifetime_days(text) == days


def test_declared_services_have_the_settings_document_shape(site):
    services = {service["slug"]: service for service in declared.declared_services(site)}
    analytics = services["google-analytics"]
    assert analytics["category"] == "analytics"
    assert analytics["privacy_links"] == [
        {"url": "https://policies.google.com/privacy", "locale": "en"}
    ]
    # Texts in the site's default locale, as the demo's settings file declares them.
    assert analytics["cookies"][0] == {
        "name": "_ga",
        "pattern": False,
        "domain": None,
        "lifetime": "2 years",
        "lifetime_days": 730,
        "description": analytics["cookies"][0]["description"],
    }
    assert analytics["cookies"][1]["name"] == "^_ga_.+$" and analytics["cookies"][1]["pattern"]
    # Hosts come from the cookie database (the platform of `_ga`) and GA4 (gtag.js's host).
    assert analytics["hosts"] == ["google-analytics.com", "www.googletagmanager.com"]
    assert services["video-player"]["hosts"] == []
    assert declared.necessary_categories(site) == {"necessary"}


def finding(kind, name, state="no_choice", domain="www.example.com", **extra):
    return Finding(0, state, kind, name, domain, ["https://www.example.com/"], **extra)


def run_rules(site, found, jurisdiction="opt_in"):
    classify(
        found,
        declared.declared_services(site),
        declared.own_service(site, "consent.example.com"),
        declared.necessary_categories(site),
        cookie_database(),
    )
    return {(v.rule, v.state, v.name) for v in violations(found, [], jurisdiction)}


def test_classification_and_rules(site):
    year = 365 * 86400.0
    found = [
        finding("cookie", "_ga", lifetime_seconds=year),  # declared analytics, before a choice
        finding("cookie", "cs_consent", "reject_all", lifetime_seconds=180 * 86400.0),
        finding("cookie", "_hjSessionUser_123", "accept_all", lifetime_seconds=year),
        finding("cookie", "vp_session", "accept_all", lifetime_seconds=86400.0 * 3),
        finding("request", "consent.example.com", "reject_all", domain="consent.example.com"),
        finding("request", "www.google-analytics.com", "reject_all"),  # declared via `_ga`
        finding("request", "bat.bing.com", "accept_all"),
    ]
    assert run_rules(site, found) == {
        ("before_consent", "no_choice", "_ga"),
        ("undeclared", "accept_all", "_hjSessionUser_123"),
        ("lifetime", "accept_all", "vp_session"),  # declared as a session cookie
        ("after_reject", "reject_all", "www.google-analytics.com"),
        ("undeclared", "accept_all", "bat.bing.com"),
    }
    hotjar, analytics, bing = found[2], found[5], found[6]
    assert (hotjar.matched_by, hotjar.proposed["service"]) == ("cookie-database", "Hotjar")
    assert (analytics.matched_by, analytics.service) == ("declared", "google-analytics")
    assert (bing.category, bing.proposed["service"]) == ("marketing", "Bing / Microsoft")
    assert found[1].matched_by == "consent-service" and found[1].necessary


def test_opt_out_sites_may_set_things_before_a_choice_but_not_after_reject(site):
    found = [finding("cookie", "_ga"), finding("cookie", "_ga", "reject_all")]
    assert run_rules(site, found, jurisdiction="opt_out") == {("after_reject", "reject_all", "_ga")}


def test_a_missing_banner_is_a_violation():
    page = PageVisit("https://www.example.com/", "reject_all", 200, banner=False)
    assert [v.rule for v in violations([], [page], "opt_in")] == ["banner_missing"]


def test_proposals_group_undeclared_findings_by_service(site, tmp_path):
    found = [
        finding("cookie", "_ga_XYZ", lifetime_seconds=400 * 86400.0),
        finding("request", "www.google-analytics.com"),
        finding("local_storage", "mystery", domain="https://www.example.com"),
    ]
    classify(found, [], declared.own_service(site, None), set(), cookie_database())
    services = proposals.propose(found)
    path = tmp_path / "proposed.yaml"
    proposals.write_proposal(path, site, services)
    import yaml

    text = path.read_text()
    assert text.startswith("# A copy of the site's settings") and "Nothing here has been" in text
    document = yaml.safe_load(text)
    assert document["name"] == site.name and document["origins"]
    by_slug = {service["slug"]: service for service in document["services"]}
    # The demo declares a google-analytics service already: the proposal does not overwrite it.
    assert {"google-analytics", "google-analytics-proposed", "unknown-www-example-com"} <= set(
        by_slug
    )
    ga = by_slug["google-analytics-proposed"]
    assert ga["category"] == "analytics" and ga["hosts"] == ["www.google-analytics.com"]
    assert ga["cookies"][0]["name"] == "_ga_XYZ" and ga["cookies"][0]["lifetime_days"] == 400
    assert by_slug["unknown-www-example-com"]["category"] == ""


def test_the_cookie_database_builds_from_the_csv(tmp_path):
    csv = tmp_path / "ocd.csv"
    csv.write_text(
        "ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,"
        "Data Controller,User Privacy & GDPR Rights Portals,Wildcard match\n"
        "1,Tracker,Marketing,_tr_,tracker.example (3rd party) or cdn.tracker.example,Id,1 year,"
        "Tracker Inc.,https://tracker.example/privacy,1\n"
        "2,Tracker,Functional,tr_optout,tracker.example,Opt-out,5 years,Tracker Inc.,,0\n"
    )
    document = build_cookie_db.build(csv)
    assert document["hosts"] == [
        ["cdn.tracker.example", 0, "marketing"],
        ["tracker.example", 0, "marketing"],  # a tie: the use that needs consent most
    ]
    assert [row[:4] for row in document["cookies"]] == [
        ["_tr_", 1, 0, "marketing"],
        ["tr_optout", 0, 0, "functional"],
    ]


def test_scan_refuses_other_origins_and_unknown_sites(runner, site):
    outside = runner.invoke(args=["scan", "--site", site.site_key, "https://evil.example/"])
    assert outside.exit_code == 2 and "not on the site's origins" in outside.output
    unknown = runner.invoke(args=["scan", "--site", "nope", "https://www.example.com/"])
    assert unknown.exit_code == 2 and "no site" in unknown.output


def shot(version, kind="first_layer", width=1280):
    return Shot(kind, "en", width, 800, PNG + kind.encode(), version, "https://www.example.com/",
                datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # fmt: skip


def test_captures_are_evidence_for_admins_and_auditors(client, runner, site, tmp_path):
    version = site.banner_version_hash
    stored = store_captures(
        site, [shot(version), shot(version, "preferences", 390), shot("f" * 64)]
    )
    assert [entry["stored"] for entry in stored] == [True, True, False]
    base = f"/api/v1/sites/{site.site_key}/ledger/banner-versions/{version}/captures"
    assert client.get(base).status_code == 401
    for role in ("admin", "auditor"):
        _, secret = access.issue_token(site, role, label=role)
        headers = {"Authorization": f"Bearer {secret}"}
        listed = client.get(base, headers=headers)
        assert listed.status_code == 200
        assert [(c["kind"], c["width"]) for c in listed.json["captures"]] == [
            ("first_layer", 1280),
            ("preferences", 390),
        ]
        png = client.get(listed.json["captures"][1]["png_url"], headers=headers)
        assert png.status_code == 200 and png.mimetype == "image/png"
        assert png.data == PNG + b"preferences"
    other = base.replace(version, "f" * 64)
    assert client.get(other, headers=headers).status_code == 404
    assert client.get(f"{base}/999.png", headers=headers).status_code == 404

    posted = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
    assert posted.status_code == 201
    seal_site(site)
    result = runner.invoke(
        args=["ledger", "export", "--site", site.site_key, "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    lines_text = (tmp_path / "captures.jsonl").read_text()
    lines = [json.loads(x) for x in lines_text.splitlines()]
    assert [(x["sha256"], x["banner_version"], x["width"], x["locale"]) for x in lines] == [
        (entry["sha256"], version, entry["width"], "en") for entry in stored[:2]
    ]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["captures"]["row_count"] == 2
    trust = ["--public-key", ledger_public_key()]
    verified = CliRunner().invoke(main, ["ledger", "verify", str(tmp_path), *trust])
    assert verified.exit_code == 0, verified.output
    (tmp_path / "captures.jsonl").write_text(lines_text.replace(version, "0" * 64))
    tampered = CliRunner().invoke(main, ["ledger", "verify", str(tmp_path), *trust])
    assert tampered.exit_code == 1 and "FAIL  captures.jsonl matches manifest" in tampered.output


def test_the_sitemap_and_its_index_are_read():
    from werkzeug.wrappers import Request, Response

    from consent_service.scanner.crawl import sitemap

    urlset = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'
    index = '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'

    @Request.application
    def app(request):
        base = request.host_url.rstrip("/")
        documents = {
            "/sitemap.xml": index.format(f"<sitemap><loc>{base}/pages.xml</loc></sitemap>"),
            "/pages.xml": urlset.format(
                "".join(f"<url><loc>{base}/p{n}</loc></url>" for n in range(3))
            ),
        }
        if request.path not in documents:
            return Response("no", status=404)
        return Response(documents[request.path], content_type="application/xml")

    with serving(app) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        assert sitemap(base, 10) == [f"{base}/p0", f"{base}/p1", f"{base}/p2"]
