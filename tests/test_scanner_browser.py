"""The scanner in real headless Chromium against a fixture site with planted mistakes and
against the demo site, both served on loopback with the real banner script."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from consent_service.sites import access
from tests.scan_fixture import FixtureSite, fixture_site

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(server) -> Iterator[FixtureSite]:
    yield from fixture_site(server.base_url)


def violations_of(report: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    return {
        (v["rule"], v["state"], v["kind"], v["name"], v["page"].rsplit("/", 1)[-1])
        for v in report["violations"]
    }


def test_the_scan_reports_exactly_the_planted_violations(app, runner, client, shop, tmp_path):
    pixel = shop.pixel_host
    pixel_port = pixel.rsplit(":", 1)[1]
    paths = {name: tmp_path / name for name in ("report.json", "report.html", "proposed.json")}
    result = runner.invoke(
        args=[
            "scan", "--site", shop.site.site_key, shop.base_url + "/", "--pages", "3",
            "--locale", "en", "--json", str(paths["report.json"]),
            "--html", str(paths["report.html"]), "--propose", str(paths["proposed.json"]),
        ]
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(paths["report.json"].read_text())
    assert {"pages", "findings", "violations"} <= set(report)
    assert violations_of(report) == {
        ("before_consent", "no_choice", "cookie", "fx_track", ""),
        ("before_consent", "no_choice", "local_storage", "fx_visits", ""),
        ("before_consent", "no_choice", "request", pixel, "about.html"),
        ("undeclared", "no_choice", "local_storage", "fx_visits", ""),
        ("undeclared", "no_choice", "request", pixel, "about.html"),
        ("after_reject", "reject_all", "cookie", "fx_track", ""),
        ("after_reject", "reject_all", "local_storage", "fx_visits", ""),
        ("after_reject", "reject_all", "request", pixel, "about.html"),
        ("lifetime", "accept_all", "cookie", "fx_gated", ""),
    }
    # The page reached only through a link was visited in every state.
    visited = {(p["state"], p["url"].rsplit("/", 1)[-1]) for p in report["pages"]}
    assert {(s, "about.html") for s in ("no_choice", "reject_all", "accept_all")} <= visited

    findings = {(f["state"], f["kind"], f["name"]): f for f in report["findings"]}
    track = findings[("no_choice", "cookie", "fx_track")]
    assert (track["set_by"], track["source"]) == ("script", shop.base_url + "/static/tracker.js")
    assert track["service"] == "shop-analytics" and 29 < track["lifetime_days"] <= 30
    session = findings[("no_choice", "cookie", "fx_session")]
    assert (session["set_by"], session["category"]) == ("http", "necessary")
    request = findings[("no_choice", "request", pixel)]
    assert request["source"] == shop.base_url + "/static/pixel.js"
    assert request["url"] == f"http://{pixel}/p.gif?e=view"
    assert ("no_choice", "cookie", "fx_gated") not in findings  # the gated tag waited
    assert findings[("accept_all", "cookie", "fx_gated")]["lifetime_days"] > 89
    consent = findings[("reject_all", "cookie", "cs_consent")]
    assert consent["matched_by"] == "consent-service"

    # The captures show the banner version the service serves, and are kept as evidence.
    # (each rule set has its own banner version: compare with the one this visitor is served)
    script = client.get(f"/c/{shop.site.site_key}.js").get_data(as_text=True)
    version = re.search(r'"banner_version":"([0-9a-f]{64})"', script).group(1)
    assert report["banner_version"] == version
    shots = report["captures"]
    assert {(c["kind"], c["width"], c["banner_version"], c["stored"]) for c in shots} == {
        (kind, width, version, True)
        for kind in ("first_layer", "preferences")
        for width in (1280, 390)
    }  # fmt: skip
    _, secret = access.issue_token(shop.site, "auditor", label="test")
    headers = {"Authorization": f"Bearer {secret}"}
    listed = client.get(
        f"/api/v1/sites/{shop.site.site_key}/ledger/banner-versions/{version}/captures",
        headers=headers,
    )
    assert listed.status_code == 200
    first = listed.json["captures"][0]
    png = client.get(first["png_url"], headers=headers)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")

    html = paths["report.html"].read_text()
    assert html.index("9 violations") < html.index("Before any choice")
    assert html.count("data:image/png;base64,") == 4 and "http://" not in html.split("<body>")[0]
    proposed = json.loads(paths["proposed.json"].read_text())
    by_slug = {service["slug"]: service for service in proposed["services"]}
    site_port = shop.base_url.rsplit(":", 1)[1]
    assert {f"unknown-127-0-0-1-{site_port}", f"unknown-127-0-0-2-{pixel_port}"} <= set(by_slug)
    assert by_slug[f"unknown-127-0-0-2-{pixel_port}"]["hosts"] == [pixel]
    assert [c["name"] for c in by_slug[f"unknown-127-0-0-1-{site_port}"]["cookies"]] == [
        "fx_visits"
    ]


def test_the_demo_site_has_no_violations(runner, server):
    result = runner.invoke(
        args=["scan", "--site", server.site.site_key, server.base_url + "/demo/",
              "--pages", "2", "--locale", "zh-CN", "--json", "-"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["violations"] == []
    # The page says lang="en"; the capture is still drawn in the locale asked for.
    assert {capture["locale"] for capture in report["captures"]} == {"zh-CN"}
    assert {f["name"] for f in report["findings"] if f["state"] == "accept_all"} >= {
        "_ga",
        "cs_consent",
    }


def test_a_site_that_cannot_be_loaded_is_an_error_not_a_verdict(runner, app):
    import socket

    from consent_service.sites import settings

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = settings.create_site("Down", origins=[f"http://127.0.0.1:{port}"])
    result = runner.invoke(args=["scan", "--site", site.site_key, f"http://127.0.0.1:{port}/"])
    assert result.exit_code == 2 and "no page could be loaded" in result.output
