"""The preference center and the banner's withdraw control in real headless Chromium, against a
real server and database (both backends), under the pages' strict CSP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.banner_support import (
    Visit,
    events,
    open_visit,
    wait_for_events,
    wait_for_frame,
)

AXE = Path(__file__).parent.parent / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = (
    "async () => (await axe.run(document,"
    " {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}"
    ")).violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | '))"
)
VIDEO = "iframe[title='Product video']"


def accept_all(visit: Visit) -> str:
    """Accept all on the demo page; the visitor token once the service acknowledged it."""
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Accept all", exact=True).click()
    wait_for_events(visit, 1)
    visit.page.wait_for_function("() => decodeURIComponent(document.cookie).includes('\"t\":')")
    value = json.loads(unquote(visit.cookie("cs_consent") or ""))
    return str(value["t"])


def open_dialog(visit: Visit) -> Any:
    visit.page.get_by_role("link", name="Cookie settings").click()
    visit.modal().wait_for()
    return visit.modal()


def test_the_dialog_links_to_the_preference_center_with_the_token_in_the_fragment(visit):
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Preferences").click()
    assert visit.modal().get_by_role("button", name="Withdraw consent").count() == 0
    visit.modal().get_by_role("button", name="Close").click()
    token = accept_all(visit)
    link = open_dialog(visit).get_by_role("link", name="Your consent history")
    href = link.get_attribute("href")
    assert href == f"{visit.server.base_url}/p/{visit.server.site.site_key}?lang=en#{token}"
    assert link.get_attribute("target") == "_blank"


def test_the_preference_center_shows_changes_exports_withdraws_and_asks_for_erasure(visit):
    token = accept_all(visit)
    page = visit.page
    site_key = visit.server.site.site_key
    center = f"{visit.server.base_url}/p/{site_key}"
    page.goto(f"{center}?lang=en#{token}")
    history = page.locator("tbody tr")
    history.first.wait_for()
    assert "#" not in page.url  # the token left the address bar
    assert not any(token in url for url in visit.requests)  # and was never in a request URL
    assert history.count() == 1
    assert "Accepted all" in history.first.inner_text()
    assert "We value your privacy" in history.first.inner_text()
    assert page.get_by_role("checkbox", name="Analytics").is_checked()

    page.get_by_role("checkbox", name="Analytics").uncheck()
    page.get_by_role("button", name="Save choices").click()
    page.get_by_role("status").filter(has_text="Your choices were saved.").wait_for()
    recorded = wait_for_events(visit, 2)
    assert [(e.action, e.source) for e in recorded] == [
        ("accept_all", "banner"),
        ("custom", "preference_center"),
    ]
    assert recorded[1].choices["analytics"] is False and recorded[1].choices["media"] is True
    assert not page.get_by_role("checkbox", name="Analytics").is_checked()
    assert history.count() == 2 and "This page" in history.first.inner_text()

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data (JSON)").click()
    document = json.loads(Path(download.value.path()).read_text("utf-8"))
    assert [event["action"] for event in document["events"]] == ["custom", "accept_all"]
    assert document["events"][0]["receipt"]["signature"]

    page.get_by_role("button", name="Ask for erasure").click()
    status = page.locator("#erasure-status")
    status.filter(has_text="Your request for erasure was received.").wait_for()
    assert page.get_by_text("Your choices were saved.").count() == 0
    follow = status.get_by_role("link", name="Follow your request")
    assert "/rights/" in (follow.get_attribute("href") or "")
    request_page = visit.context.new_page()
    request_page.goto(follow.get_attribute("href") or "")
    assert "Erasure" in request_page.inner_text("body")
    request_page.close()

    page.get_by_role("button", name="Withdraw all consent").click()
    page.get_by_role("status").filter(has_text="Your consent is withdrawn.").wait_for()
    recorded = wait_for_events(visit, 3)
    assert [e.action for e in recorded].count("withdraw") == 1
    assert (recorded[-1].action, recorded[-1].source) == ("withdraw", "preference_center")

    page.get_by_role("link", name="中文").click()  # the tab keeps the token across a reload
    page.get_by_role("heading", name="您的选择记录").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "撤回同意" in history.first.inner_text()
    assert len(events(visit.server.site)) == 3
    assert visit.foreign_requests == [] and visit.errors() == []


def test_axe_finds_no_violations_on_the_preference_center(browser, server):
    if not AXE.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    visit = open_visit(browser, server, bypass_csp=True)
    try:
        token = accept_all(visit)
        page = visit.page
        page.goto(f"{server.base_url}/p/{server.site.site_key}")
        page.add_script_tag(content=AXE.read_text())
        assert page.evaluate(AXE_RUN) == []  # the page before it knows the visitor
        for lang in ("en", "zh-CN"):
            page.goto(f"{server.base_url}/p/{server.site.site_key}?lang={lang}#{token}")
            page.locator("tbody tr").first.wait_for()
            page.locator("details summary").first.click()
            page.add_script_tag(content=AXE.read_text())
            assert page.evaluate(AXE_RUN) == []
    finally:
        visit.context.close()


def test_the_banner_withdraw_control_unloads_what_it_released_without_a_reload(visit):
    accept_all(visit)
    page = visit.page
    page.locator(VIDEO).wait_for(state="visible")
    page.wait_for_function("() => document.documentElement.dataset.analyticsTagRuns === '1'")
    page.wait_for_function("() => window.gtagStandIn && gtagStandIn.hits > 0")
    page.wait_for_function(
        "() => document.querySelector(\"iframe[title='Product video']\").contentDocument"
        "?.cookie.includes('vp_session')"
    )
    assert visit.cookie("vp_session") is not None and visit.cookie("_ga") is not None
    wait_for_frame(visit, VIDEO)  # withdrawing unloads it
    page.evaluate("window.sameDocument = true")

    open_dialog(visit).get_by_role("button", name="Withdraw consent").click()
    visit.modal().wait_for(state="detached")
    page.get_by_role("button", name="Allow").wait_for()  # the video's placeholder is back
    frame = page.locator(VIDEO)
    assert frame.count() == 1 and frame.is_hidden() and frame.get_attribute("src") is None
    page.wait_for_function("() => !document.cookie.includes('_ga')")
    assert visit.cookie("vp_session") is None and visit.cookie("_ga") is None
    recorded = wait_for_events(visit, 2)
    assert [e.action for e in recorded] == ["accept_all", "withdraw"]
    assert page.evaluate("window.sameDocument") is True  # no reload
    assert page.evaluate("document.documentElement.dataset.analyticsTagRuns") == "1"
    assert page.evaluate("consentService.get('media')") is False

    page.get_by_role("button", name="Allow").click()  # allowing again brings the video back
    frame.wait_for(state="visible")
    wait_for_frame(visit, VIDEO)
    assert page.evaluate("document.documentElement.dataset.analyticsTagRuns") == "1"
    assert visit.foreign_requests == [] and visit.errors() == []


def site_choices(visit: Visit) -> dict[str, bool]:
    """The choices in the site's consent cookie."""
    return dict(json.loads(unquote(visit.cookie("cs_consent") or ""))["c"])


def come_back(page: Any) -> None:
    """Bring the site's tab to the front. Headless Chromium keeps every tab visible and fires
    no `visibilitychange` on a tab switch, so the test fires the event a browser fires then."""
    page.bring_to_front()
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_a_change_in_the_preference_center_reaches_the_banner_when_the_visitor_returns(visit):
    """Choices saved on the preference center (another tab) are applied to the site's page
    once the visitor comes back to it: cookie, API and tags follow, and nothing is recorded
    twice (the preference center's event is the only one)."""
    token = accept_all(visit)
    page = visit.page
    page.locator(VIDEO).wait_for(state="visible")
    wait_for_frame(visit, VIDEO)  # the preference center's change unloads it
    page.evaluate(
        "() => { window.sameDocument = true; window.changes = [];"
        " consentService.on('change', (s) => changes.push(s.withdrawn)); }"
    )
    come_back(page)  # before the visitor opened the preference center: nothing to ask
    with visit.context.expect_page() as opened:
        open_dialog(visit).get_by_role("link", name="Your consent history").click()
    center = opened.value
    center.locator("tbody tr").first.wait_for()
    media = center.get_by_role("checkbox", name="Embedded media")

    media.uncheck()
    center.get_by_role("button", name="Save choices").click()
    center.get_by_role("status").filter(has_text="Your choices were saved.").wait_for()
    come_back(page)
    page.wait_for_function("() => consentService.get('media') === false")
    assert site_choices(visit)["media"] is False and site_choices(visit)["analytics"] is True
    page.get_by_role("button", name="Allow").wait_for()  # the video's placeholder is back
    frame = page.locator(VIDEO)
    assert frame.is_hidden() and frame.get_attribute("src") is None
    assert visit.modal().count() == 0  # the dialog's stale switches are gone
    page.wait_for_function("() => changes.length")  # `change` comes a task later
    assert page.evaluate("window.changes") == [["media"]]
    recorded = wait_for_events(visit, 2)
    assert [(e.action, e.source) for e in recorded] == [
        ("accept_all", "banner"),
        ("custom", "preference_center"),
    ]

    center.bring_to_front()  # and back: allowing the video there releases it here
    media.check()
    center.get_by_role("button", name="Save choices").click()
    center.get_by_role("status").filter(has_text="Your choices were saved.").wait_for()
    come_back(page)
    frame.wait_for(state="visible")
    wait_for_frame(visit, VIDEO)
    assert frame.get_attribute("src")
    assert page.evaluate("consentService.get('media')") is True
    assert site_choices(visit)["media"] is True
    page.wait_for_function("() => changes.length > 1")
    assert page.evaluate("window.changes") == [["media"], []]
    recorded = wait_for_events(visit, 3)
    assert [(e.action, e.source) for e in recorded[1:]] == [
        ("custom", "preference_center"),
        ("custom", "preference_center"),
    ]
    assert page.evaluate("window.sameDocument") is True  # no reload
    asked = [url for url in visit.requests if url.endswith("/consents/current")]
    assert len(asked) == 2  # once per return
    assert not any(token in url for url in visit.requests)  # the token went in a header
    assert visit.foreign_requests == [] and visit.errors() == []
