"""One banner, the rules of each visitor's region, and every ad platform told: in headless
Chromium, with the region given by the trusted proxy's headers and stand-ins for the
platforms' tags that record what was queued before they ran and every call after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consent_service.models import BannerVersion
from consent_service.sites import demo, settings, versions
from consent_service.sites.regions import rule_set_for
from tests.banner_support import (
    LiveServer,
    Visit,
    open_visit,
    serve,
    wait_for_events,
)

DENIED = {"ad_storage": "denied"}
GRANTED = {"ad_storage": "granted"}
CLARITY_DENIED = {"ad_Storage": "denied", "analytics_Storage": "denied"}
CLARITY_GRANTED = {"ad_Storage": "granted", "analytics_Storage": "granted"}

#: The platforms' tags as a site places them, after the banner script: each stand-in notes
#: what the banner queued before it ran, then records every later call, in one log.
PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Regions</title>
<script>window.log = [];</script>
<script src="{script}"></script>
<script>
  log.push(["uet tag", (window.uetq || []).slice()]);
  window.uetq = {{ push: (...a) => log.push(["uet", a]) }};
  log.push(["clarity tag", ((window.clarity && clarity.q) || []).map((a) => [...a])]);
  window.clarity = (...a) => log.push(["clarity", a]);
  log.push(["meta tag", ((window.fbq && fbq.queue) || []).map((a) => [...a])]);
  if (window.fbq) fbq.callMethod = (...a) => log.push(["meta", a]);
  log.push(["google", dataLayer.filter((a) => a[0] == "consent").map((a) => [...a])]);
</script></head><body><h1>Regions</h1></body></html>"""


def regional_document(base_url: str) -> dict[str, Any]:
    """The demo site with ad platforms: Microsoft UET and Meta under marketing (which GPC
    turns off), Clarity under analytics."""
    document = demo.demo_document(base_url)
    document["categories"].append(
        {
            "slug": "marketing",
            "gpc_opt_out": True,
            "consent_mode": ["ad_storage", "ad_user_data", "ad_personalization"],
            "texts": {
                "en": {"name": "Advertising", "description": "Ads on other sites."},
                "zh-CN": {"name": "广告", "description": "在其他网站上投放广告。"},
            },
        }
    )
    document["services"] += [
        {"slug": "uet", "catalogue": "microsoft-advertising-uet"},
        {"slug": "meta", "catalogue": "meta-pixel"},
        {"slug": "clarity", "catalogue": "microsoft-clarity", "category": "analytics"},
    ]
    return document


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    app.config.update(COUNTRY_HEADER="X-Country", REGION_HEADER="X-Region")
    for live in serve(app):
        settings.apply_settings(regional_document(live.base_url), site=live.site)
        yield live


def visit_from(
    browser: Any,
    server: LiveServer,
    country: str,
    region: str | None = None,
    gpc: bool = False,
    locale: str = "en",
) -> Visit:
    headers = {"X-Country": country, **({"X-Region": region} if region else {})}
    visit = open_visit(browser, server, extra_http_headers=headers, locale=locale)
    if gpc:
        visit.context.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
        )
    url = server.base_url + "/regions/"
    page = PAGE.format(script=f"{server.base_url}/c/{server.site.site_key}.js", lang=locale)
    visit.page.route(url, lambda route: route.fulfill(body=page, content_type="text/html"))
    visit.page.goto(url)
    visit.banner().wait_for()
    return visit


def calls(visit: Visit) -> list[list[Any]]:
    return [list(entry) for entry in visit.page.evaluate("log")]


def buttons(visit: Visit) -> list[str]:
    return visit.banner().get_by_role("button").all_inner_texts()


def rule_of(site: Any, event: Any) -> str | None:
    return versions.find_banner_version(site.id, event.banner_version).rule_set


def test_opt_in_visitors_from_germany_and_brazil(browser, server):
    # DE by the built-in map, BR by the fallback.
    for count, country in enumerate(("DE", "BR"), start=1):
        visit = visit_from(browser, server, country)
        try:
            assert buttons(visit) == ["Accept all", "Reject all", "Preferences"]
            # Every platform is told "denied" before its tag runs.
            assert calls(visit)[:3] == [
                ["uet tag", ["consent", "default", DENIED]],
                ["clarity tag", [["consentv2", CLARITY_DENIED]]],
                ["meta tag", [["consent", "revoke"]]],
            ]
            google = calls(visit)[3]
            assert google[0] == "google" and google[1][0][:2] == ["consent", "default"]
            assert google[1][0][2]["ad_storage"] == "denied" and len(google[1]) == 1
            visit.banner().get_by_role("button", name="Accept all").click()
            event = wait_for_events(visit, count)[-1]
            recorded = (event.action, event.country, event.rule_set)
            assert recorded == ("accept_all", country, "opt_in")
            assert rule_of(server.site, event) == "opt_in"
            assert calls(visit)[4:] == [
                ["uet", ["consent", "update", GRANTED]],
                ["clarity", ["consentv2", CLARITY_GRANTED]],
                ["meta", ["consent", "grant"]],
            ]
        finally:
            visit.context.close()


def test_opt_out_in_california_and_texas_with_and_without_gpc(browser, server):
    visit = visit_from(browser, server, "US", "US-CA")
    try:
        assert buttons(visit) == [
            "Do not sell or share my personal information",
            "Close",
            "Preferences",
        ]
        # Allowed until refused: each platform gets its default, then "granted" at once.
        assert calls(visit)[:3] == [
            ["uet tag", ["consent", "default", DENIED, "consent", "update", GRANTED]],
            ["clarity tag", [["consentv2", CLARITY_GRANTED]]],
            ["meta tag", [["consent", "grant"]]],
        ]
        visit.banner().get_by_role("button", name="Do not sell or share").click()
        (event,) = wait_for_events(visit, 1)
        assert (event.action, event.country, event.rule_set) == ("custom", "US", "opt_out")
        assert event.choices["marketing"] is False and event.choices["analytics"] is True
        assert calls(visit)[4:] == [
            ["uet", ["consent", "update", DENIED]],
            ["clarity", ["consentv2", CLARITY_GRANTED]],
            ["meta", ["consent", "revoke"]],
        ]
    finally:
        visit.context.close()

    visit = visit_from(browser, server, "US", "US-CA", gpc=True)
    try:
        text = visit.banner().inner_text()
        assert "opt-out request honoured" in text and "Advertising off" in text
        events = wait_for_events(visit, 2)
        assert (events[-1].action, events[-1].rule_set, events[-1].gpc) == (
            "gpc_opt_out",
            "opt_out",
            True,
        )
        # Marketing was never allowed: its platforms only ever heard "denied".
        assert calls(visit)[:3] == [
            ["uet tag", ["consent", "default", DENIED]],
            ["clarity tag", [["consentv2", CLARITY_GRANTED]]],
            ["meta tag", [["consent", "revoke"]]],
        ]
    finally:
        visit.context.close()

    visit = visit_from(browser, server, "US", "US-TX", gpc=True)
    try:
        assert "Do not sell or share my personal information" in buttons(visit)
        events = wait_for_events(visit, 3)
        assert (events[-1].action, events[-1].rule_set) == ("gpc_opt_out", "opt_out")
    finally:
        visit.context.close()

    # A state without a privacy law: a notice; closing it records nothing and keeps quiet.
    visit = visit_from(browser, server, "US", "US-AL")
    try:
        assert buttons(visit) == ["Close", "Preferences"]
        visit.banner().get_by_role("button", name="Close").click()
        assert len(wait_for_events(visit, 4, timeout=1.0)) == 3  # nothing recorded
        visit.page.reload()
        visit.page.wait_for_function("() => window.consentService?.loaded")
        assert visit.banner().count() == 0
    finally:
        visit.context.close()


def test_china_asks_the_separate_consent_in_the_first_layer(browser, server):
    visit = visit_from(browser, server, "CN")
    try:
        boxes = visit.banner().get_by_role("checkbox")
        assert boxes.count() == 4  # every optional category has a cross-border service
        assert "separately consent" in visit.banner().inner_text()
        visit.banner().get_by_label("Advertising", exact=False).check()
        visit.banner().get_by_role("button", name="Accept all").click()
        (event,) = wait_for_events(visit, 1)
        assert (event.action, event.country, event.rule_set) == ("custom", "CN", "opt_in_separate")
        assert event.choices["marketing"] is True and event.choices["analytics"] is False
        assert calls(visit)[4:] == [
            ["uet", ["consent", "update", GRANTED]],
            ["clarity", ["consentv2", CLARITY_DENIED]],
            ["meta", ["consent", "grant"]],
        ]
    finally:
        visit.context.close()


def test_a_regions_script_carries_only_its_own_rules(client, site):
    """Each region's script names its rule set and a banner version drawn under it alone."""
    client.application.config.update(COUNTRY_HEADER="X-Country", REGION_HEADER="X-Region")
    seen = {}
    visitors = ({"X-Country": "DE"}, {"X-Country": "US", "X-Region": "US-CA"}, {"X-Country": "CN"})
    for headers in visitors:
        response = client.get(f"/c/{site.site_key}.js", headers=headers)
        assert response.headers["Vary"] == "Accept-Encoding, X-Country, X-Region"
        assert response.headers["Cache-Control"].startswith("public, ")
        body = response.get_data(as_text=True)
        expected = rule_set_for({}, headers["X-Country"], headers.get("X-Region"))
        digest = versions.rule_banner_hash(versions.banner_document(site), expected)
        assert f'"rules":"{expected}"' in body and digest in body
        others = [
            versions.rule_banner_hash(versions.banner_document(site), name)
            for name in ("opt_in", "opt_out", "opt_in_separate", "notice_only")
            if name != expected
        ]
        assert not any(other in body for other in others)
        stored = versions.find_banner_version(site.id, digest)
        assert isinstance(stored, BannerVersion) and stored.rule_set == expected
        assert json.loads(stored.canonical_json)["rule_set"] == expected
        seen[expected] = response.headers["ETag"]
    assert len(set(seen.values())) == 3


def test_the_plan_says_which_regions_are_asked_again_as_the_banner_does(browser, server):
    """A region put under consent rules is asked again, one put under looser rules is not:
    what the settings plan says is what the banner then does."""
    alabama = visit_from(browser, server, "US", "US-AL")
    germany = visit_from(browser, server, "DE")
    try:
        alabama.banner().get_by_role("button", name="Close").click()
        germany.banner().get_by_role("button", name="Accept all").click()
        wait_for_events(germany, 1)
        document = settings.current_document(server.site)
        document["regions"] = {"rules": {"US-AL": "opt_in", "DE": "opt_out"}}
        applied = settings.apply_settings(document, site=server.site)
        assert applied.asks_again == ["visitors from US-AL now under opt_in (were notice_only)"]
        alabama.page.reload()
        alabama.banner().wait_for()
        assert buttons(alabama) == ["Accept all", "Reject all", "Preferences"]
        assert alabama.page.evaluate("consentService.get('analytics')") is None
        germany.page.reload()
        germany.page.wait_for_function("() => window.consentService?.loaded")
        assert germany.banner().count() == 0
        assert germany.page.evaluate("consentService.get('analytics')") is True
        germany.page.evaluate("consentService.rejectAll()")  # made under the new rules
        assert wait_for_events(germany, 2)[-1].rule_set == "opt_out"
    finally:
        alabama.context.close()
        germany.context.close()


AXE = Path(__file__).parent.parent / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
#: The violations axe finds in the banner, and how many of its buttons it checked for a name
#: (none would mean it looked at nothing).
AXE_RUN = """async () => {
  const result = await axe.run({include: [['#consent-service']]},
    {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']});
  const named = result.passes.find((rule) => rule.id == 'button-name');
  return [
    result.violations.map((v) => v.impact + ' ' + v.id + ': ' + v.nodes.map((n) => n.target)),
    named ? named.nodes.length : 0,
  ];
}"""


@pytest.mark.parametrize(
    "country,region,gpc,locale",
    [
        ("US", "US-CA", False, "en"),  # opt_out: "Do not sell or share…"
        ("US", "US-CA", True, "en"),  # opt_out with the "opt-out request honoured" note
        ("US", "US-AL", False, "en"),  # notice_only
        ("CN", None, False, "en"),  # opt_in_separate: a separate consent per category
        ("CN", None, False, "zh-CN"),
    ],
)
def test_axe_finds_no_violations_in_each_regions_first_layer(
    browser, server, country, region, gpc, locale
):
    if not AXE.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    visit = visit_from(browser, server, country, region, gpc=gpc, locale=locale)
    try:
        if locale == "zh-CN":
            assert "全部拒绝" in visit.banner().inner_text()
        visit.page.add_script_tag(content=AXE.read_text())
        for size in ({"width": 1280, "height": 800}, {"width": 375, "height": 740}):
            visit.page.set_viewport_size(size)
            violations, buttons_checked = visit.page.evaluate(AXE_RUN)
            assert violations == [], size
            assert buttons_checked >= 2
        # It can fail: a control without a name is found.
        visit.page.evaluate(
            "document.querySelector('#consent-service').shadowRoot.querySelector('.b button')"
            ".replaceChildren()"
        )
        assert any("button-name" in found for found in visit.page.evaluate(AXE_RUN)[0])
    finally:
        visit.context.close()
