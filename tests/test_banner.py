"""The banner in real headless Chromium, on the demo page, against a real server and database."""

from __future__ import annotations

import json
import time

import pytest

from consent_service.sites import settings, versions
from tests.banner_support import (
    Visit,
    events,
    open_visit,
    wait_for_events,
    wait_for_frame,
)

VIDEO = "iframe[title='Product video']"


def test_first_visit_shows_the_banner_and_nothing_runs_before_consent(visit):
    visit.page.goto(visit.url)
    banner = visit.banner()
    banner.wait_for()
    assert banner.locator("h2").inner_text() == "We value your privacy"
    buttons = banner.locator("button")
    assert buttons.all_inner_texts() == ["Accept all", "Reject all", "Preferences"]
    boxes = [buttons.nth(index).bounding_box() for index in range(3)]
    assert len({(round(box["width"]), round(box["height"])) for box in boxes}) == 1
    assert visit.page.evaluate("consentService.get('analytics')") is None
    assert visit.page.evaluate("consentService.get('necessary')") is True
    visit.page.wait_for_timeout(300)
    assert visit.page.evaluate("document.documentElement.dataset.analyticsTagRuns") is None
    assert not any("gtag-standin" in url for url in visit.requests)
    assert [c["name"] for c in visit.context.cookies()] == []
    assert visit.foreign_requests == []
    assert events(visit.server.site) == []
    assert visit.errors() == []


def choose(visit: Visit, label: str) -> None:
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name=label, exact=True).click()
    visit.banner().wait_for(state="detached")


def test_accept_all_records_one_event_and_releases_tags_in_order(visit):
    choose(visit, "Accept all")
    recorded = wait_for_events(visit, 1)
    assert [(e.action, e.choices["analytics"], e.choices["crm"]) for e in recorded] == [
        ("accept_all", True, True)
    ]
    page = visit.page
    page.wait_for_function("() => window.gtagStandIn && gtagStandIn.hits > 0")
    assert page.evaluate("document.documentElement.dataset.analyticsTagRuns") == "1"
    commands = page.evaluate("gtagStandIn.commands")
    kinds = [command[0] + ":" + str(command[1]) for command in commands]
    assert kinds.index("consent:default") < kinds.index("config:G-DEMO2024CS")
    assert commands[0][2]["analytics_storage"] == "denied"
    assert commands[0][2]["security_storage"] == "granted"
    assert page.evaluate("gtagStandIn.consent.analytics_storage") == "granted"
    assert visit.cookie("_ga") is not None
    assert page.evaluate("dataLayer.some(e => e.event === 'consent_update')")
    assert page.frame_locator(VIDEO).locator("body").inner_text()
    assert visit.foreign_requests == [] and visit.errors() == []

    wait_for_frame(visit, VIDEO)
    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.analyticsTagRuns === '1'")
    assert visit.banner().count() == 0
    assert page.evaluate("consentService.get('analytics')") is True
    assert len(wait_for_events(visit, 2, timeout=0.5)) == 1


def test_reject_all_records_one_event_and_nothing_runs(visit):
    choose(visit, "Reject all")
    recorded = wait_for_events(visit, 1)
    assert [(e.action, e.choices["analytics"]) for e in recorded] == [("reject_all", False)]
    visit.page.wait_for_timeout(300)
    assert visit.page.evaluate("document.documentElement.dataset.analyticsTagRuns") is None
    assert visit.cookie("_ga") is None
    assert visit.page.evaluate("consentService.get('analytics')") is False
    state = json.loads(visit.page.evaluate("JSON.stringify(consentService.state())"))
    assert state["decided"] is True and state["choices"]["crm"] is False


def test_preferences_show_services_in_the_page_language(visit):
    visit.page.goto(visit.url + "?lang=zh-CN")
    visit.banner().get_by_role("button", name="偏好设置").click()
    text = visit.modal().text_content()
    for expected in ("中国", "跨境传输", "始终开启", "统计分析", "就您的咨询与您联系。"):
        assert expected in text
    assert "China" not in text and "undefined" not in text


def test_preferences_show_services_and_record_a_custom_choice(visit):
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Preferences").click()
    modal = visit.modal()
    assert modal.get_attribute("aria-modal") == "true"
    text = modal.text_content()
    for expected in ("NeoCRM", "China", "cross-border transfer", "Always on", "_ga"):
        assert expected in text
    assert all(not box.is_checked() for box in modal.get_by_role("switch").all())
    modal.get_by_role("switch", name="Analytics").check()
    modal.get_by_role("button", name="Save choices").click()
    recorded = wait_for_events(visit, 1)
    assert len(recorded) == 1
    assert recorded[0].action == "custom"
    assert recorded[0].choices == {
        "necessary": True,
        "analytics": True,
        "crm": False,
        "media": False,
        "marketing_email": False,
    }
    visit.page.wait_for_function("() => document.documentElement.dataset.analyticsTagRuns === '1'")


def test_keyboard_only(visit):
    page = visit.page
    page.goto(visit.url)
    visit.banner().wait_for()
    focused = "document.activeElement.shadowRoot?.activeElement?.textContent"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "Preferences":
            break
    assert page.evaluate(focused) == "Preferences"
    page.keyboard.press("Enter")
    visit.modal().wait_for()
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.closest('[role=dialog]')")
    for _ in range(25):  # focus stays in the modal
        page.keyboard.press("Tab")
        assert page.evaluate(
            "!!document.activeElement.shadowRoot?.activeElement?.closest('[role=dialog]')"
        )
    page.keyboard.press("Escape")
    assert visit.modal().count() == 0
    assert page.evaluate(focused) == "Preferences"  # focus given back
    page.keyboard.press("Enter")
    visit.modal().wait_for()
    page.keyboard.press("Tab")  # from the close button to the first switch
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.checked") is True
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "Save choices":
            break
    page.keyboard.press("Enter")
    recorded = wait_for_events(visit, 1)
    assert [(e.action, e.choices["analytics"]) for e in recorded] == [("custom", True)]


def test_material_policy_change_asks_again_with_earlier_choices_preset(visit):

    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Preferences").click()
    visit.modal().get_by_role("switch", name="Analytics").check()
    visit.modal().get_by_role("button", name="Save choices").click()
    wait_for_events(visit, 1)
    visit.page.reload()
    visit.page.wait_for_function("() => window.consentService && consentService.loaded")
    assert visit.banner().count() == 0

    versions.publish_policy(
        visit.server.site, "2026-11", text="New terms.", url=None, material=True
    )
    visit.page.reload()
    visit.banner().wait_for()
    assert visit.page.evaluate("consentService.get('analytics')") is None
    visit.banner().get_by_role("button", name="Preferences").click()
    assert visit.modal().get_by_role("switch", name="Analytics").is_checked()
    visit.modal().get_by_role("button", name="Save choices").click()
    recorded = wait_for_events(visit, 2)
    assert [e.policy_version for e in recorded] == ["2024-09", "2026-11"]


def test_global_privacy_control(browser, server):
    visit = open_visit(browser, server)
    visit.context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    try:
        visit.page.goto(visit.url)
        visit.banner().wait_for()
        assert "Global Privacy Control honoured" in visit.banner().inner_text()
        recorded = wait_for_events(visit, 1)
        assert [(e.action, e.gpc, e.choices["marketing_email"]) for e in recorded] == [
            ("gpc_opt_out", True, False)
        ]
        assert visit.page.evaluate("consentService.get('marketing_email')") is False
        assert visit.page.evaluate("consentService.get('analytics')") is None
        visit.banner().get_by_role("button", name="Accept all").click()  # explicit choice wins
        recorded = wait_for_events(visit, 2)
        assert recorded[-1].action == "accept_all" and recorded[-1].choices["marketing_email"]
        assert visit.page.evaluate("consentService.get('marketing_email')") is True
    finally:
        visit.context.close()


def test_strict_csp_page_has_no_violations_and_no_console_errors(visit):
    visit.context.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = visit.page.goto(visit.url)
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "strict-dynamic" in csp
    visit.banner().get_by_role("button", name="Preferences").click()
    visit.modal().get_by_role("button", name="Accept all").click()
    visit.page.wait_for_function("() => document.documentElement.dataset.analyticsTagRuns === '1'")
    visit.page.wait_for_function("() => window.gtagStandIn && gtagStandIn.hits > 0")
    assert visit.page.evaluate("cspViolations") == []
    assert visit.errors() == []


def test_chinese(browser, server):
    visit = open_visit(browser, server, locale="zh-CN")
    try:
        visit.page.goto(visit.url + "?lang=zh-CN")
        banner = visit.banner()
        banner.wait_for()
        assert banner.locator("h2").inner_text() == "我们重视您的隐私"
        assert banner.locator("button").all_inner_texts() == ["全部接受", "全部拒绝", "偏好设置"]
        banner.get_by_role("button", name="偏好设置").click()
        assert "跨境传输" in visit.modal().text_content()
        visit.modal().get_by_role("button", name="全部拒绝").click()
        assert [e.language for e in wait_for_events(visit, 1)] == ["zh-CN"]
    finally:
        visit.context.close()


def test_axe_finds_no_violations_in_banner_and_modal(browser, server):
    from pathlib import Path

    axe = Path(__file__).parent.parent / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    visit = open_visit(browser, server, bypass_csp=True)
    run = (
        "async () => (await axe.run({include: [['#consent-service']]},"
        " {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}"
        ")).violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | '))"
    )
    try:
        visit.page.goto(visit.url)
        visit.banner().wait_for()
        visit.page.add_script_tag(content=axe.read_text())
        assert visit.page.evaluate(run) == []
        visit.banner().get_by_role("button", name="Preferences").click()
        visit.page.locator("#consent-service details").first.click()
        assert visit.page.evaluate(run) == []
    finally:
        visit.context.close()


def test_blocked_iframe_placeholder_allows_its_category(visit):
    visit.page.goto(visit.url)
    visit.banner().wait_for()
    frame = visit.page.locator(VIDEO)
    assert frame.get_attribute("src") is None and frame.is_hidden()
    visit.page.get_by_role("button", name="Allow").click()
    recorded = wait_for_events(visit, 1)
    assert [(e.action, e.choices["media"], e.choices["analytics"]) for e in recorded] == [
        ("custom", True, False)
    ]
    frame.wait_for(state="visible")
    assert "Product video" in visit.page.frame_locator(VIDEO).locator("body").inner_text()
    wait_for_frame(visit, VIDEO)


def test_withdrawal_deletes_declared_cookies_and_tells_the_page(visit):
    choose(visit, "Accept all")
    page = visit.page
    page.wait_for_function("() => window.gtagStandIn && gtagStandIn.hits > 0")
    assert visit.cookie("_ga") is not None
    wait_for_frame(visit, VIDEO)  # withdrawing unloads it
    page.evaluate(
        "window.changes = []; consentService.on('change', s => changes.push(s));"
        "document.addEventListener('consent:change', e => changes.push(e.detail));"
    )
    page.evaluate("consentService.withdraw()")
    # `change` comes a task before the withdrawn categories' cookies are deleted.
    page.wait_for_function(
        "() => changes.length === 2 && !document.cookie.split('; ').some(c => c.startsWith('_ga'))"
    )
    change = page.evaluate("changes[0]")
    assert set(change["withdrawn"]) == {"analytics", "crm", "media", "marketing_email"}
    assert visit.cookie("_ga") is None
    assert not any(name.startswith("_ga_") for name in (c["name"] for c in visit.context.cookies()))
    recorded = wait_for_events(visit, 2)
    assert [e.action for e in recorded] == ["accept_all", "withdraw"]
    assert page.evaluate("consentService.get('analytics')") is False


def test_offline_decision_is_queued_and_sent_once(visit):
    visit.page.goto(visit.url)
    visit.banner().wait_for()
    visit.context.set_offline(True)
    visit.banner().get_by_role("button", name="Reject all").click()
    visit.page.wait_for_timeout(500)
    assert events(visit.server.site) == []
    assert "reject_all" in visit.page.evaluate("localStorage.getItem(Object.keys(localStorage)[0])")
    visit.context.set_offline(False)
    recorded = wait_for_events(visit, 1)
    visit.page.reload()  # flushing again on the next page must not record it twice
    visit.page.wait_for_timeout(500)
    assert [e.action for e in wait_for_events(visit, 2, timeout=1)] == ["reject_all"]
    assert len(recorded) == 1
    assert visit.page.evaluate("Object.values(localStorage).join('')") == "[]"


def test_loading_twice_is_a_no_op_with_one_warning(visit):
    visit.page.goto(visit.url)
    visit.banner().wait_for()
    site_key = visit.server.site.site_key
    visit.page.evaluate(
        "src => new Promise(done => { const s = document.createElement('script');"
        " s.src = src; s.onload = done; document.head.append(s); })",
        f"/c/{site_key}.js",
    )
    assert visit.page.locator("#consent-service").count() == 1
    warnings = [text for kind, text in visit.console if kind == "warning"]
    assert warnings == ["consent-service: loaded twice, ignored"]


def test_api_before_the_script_arrives_is_queued_by_the_stub(visit):
    visit.context.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => {"
        " window.early = []; consentService.on('change', s => early.push(s.choices.crm)); })"
    )
    choose(visit, "Accept all")
    visit.page.wait_for_function("() => window.early && early.length === 1")
    assert visit.page.evaluate("early") == [True]
    assert visit.page.evaluate("consentService.ready.then(api => api.get('crm'))") is True


def test_tags_added_later_run_in_document_order_once_granted(visit):
    host = visit.server.base_url
    visit.context.route(
        f"{host}/slow-tag.js",
        lambda route: (
            visit.page.wait_for_timeout(200),
            route.fulfill(body="window.order.push('external')", content_type="text/javascript"),
        ),
    )
    visit.page.goto(visit.url)
    visit.banner().wait_for()
    visit.page.evaluate(
        """() => { window.order = [];
        const add = (attrs, text) => { const s = document.createElement('script');
          s.type = 'text/plain'; s.dataset.consent = 'analytics';
          Object.entries(attrs).forEach(([k, v]) => s.setAttribute(k, v));
          if (text) s.text = text; document.body.append(s); };
        add({src: '/slow-tag.js'});
        add({}, "window.order.push('inline')");
        add({'data-consent': 'crm'}, "window.order.push('crm')"); }"""
    )
    visit.page.wait_for_timeout(200)
    assert visit.page.evaluate("order") == []
    visit.page.evaluate("consentService.set({analytics: true})")
    visit.page.wait_for_function("() => order.length === 2")
    assert visit.page.evaluate("order") == ["external", "inline"]  # the inline one waited
    visit.page.wait_for_timeout(200)
    assert visit.page.evaluate("order") == ["external", "inline"]  # crm still refused


def test_advanced_mode_loads_gtag_at_once_with_everything_denied(visit):

    settings.set_ga4(visit.server.site, "G-DEMO2024CS", "advanced")
    visit.page.goto(visit.url)
    visit.banner().wait_for()
    visit.page.wait_for_function("() => window.gtagStandIn && gtagStandIn.commands.length > 2")
    assert visit.page.evaluate("gtagStandIn.consent.analytics_storage") == "denied"
    assert visit.page.evaluate("gtagStandIn.consent.ad_storage") == "denied"
    assert visit.cookie("_ga") is None and events(visit.server.site) == []


def test_a_new_category_asks_again_with_the_others_preset(visit):
    choose(visit, "Accept all")
    wait_for_events(visit, 1)
    site = visit.server.site
    document = settings.current_document(site)
    document["categories"].append(
        {
            "slug": "personalisation",
            "consent_mode": ["personalization_storage"],
            "texts": {"en": {"name": "Personalisation", "description": "Remember preferences."}},
        }
    )
    assert settings.apply_settings(document, site=site).asks_again == [
        "new category 'personalisation'"
    ]
    visit.page.reload()
    visit.banner().wait_for()
    assert visit.page.evaluate("consentService.get('analytics')") is True  # still valid
    assert visit.page.evaluate("consentService.get('personalisation')") is None
    visit.banner().get_by_role("button", name="Preferences").click()
    assert visit.modal().get_by_role("switch", name="Analytics").is_checked()
    assert not visit.modal().get_by_role("switch", name="Personalisation").is_checked()


def test_right_to_left_locale_turns_the_banner(visit):
    site = visit.server.site
    document = settings.current_document(site)
    document["locales"].append("ar")
    document["texts"]["ar"] = {
        "title": "نحن نقدّر خصوصيتك",
        "description": "نص",
        "reject_all": "رفض الكل",
    }
    for form in document["forms"]:  # the linter wants the separate consent in every locale
        form["separate_consent"]["ar"] = "أوافق"
    settings.apply_settings(document, site=site)
    visit.page.goto(visit.url + "?lang=ar")
    visit.banner().wait_for()
    assert visit.page.locator("#consent-service").get_attribute("dir") == "rtl"
    assert visit.banner().locator("h2").inner_text() == "نحن نقدّر خصوصيتك"


def test_a_refused_decision_is_reported_not_dropped_silently(visit):
    def refuse(route):
        body = {"code": 422, "status": "validation_failed", "message": "No.", "errors": {}}
        route.fulfill(status=422, json=body)

    visit.context.route("**/consents", refuse)
    visit.context.add_init_script(
        "window.refused = [];"
        " document.addEventListener('consent:error', e => refused.push(e.detail));"
    )
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Accept all").click()
    visit.page.wait_for_function("() => window.refused.length === 1")
    detail = visit.page.evaluate("refused[0]")
    assert detail["status"] == 422
    assert detail["error"]["status"] == "validation_failed"
    assert any("consent-service: refused" in text for text in visit.errors())
    assert visit.page.evaluate("Object.values(localStorage).join('')") == "[]"


def test_a_busy_service_keeps_the_decision_and_honours_retry_after(visit):
    attempts: list[float] = []

    def busy_once(route):
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            route.fulfill(status=503, headers={"Retry-After": "3"}, json={"code": 503})
        else:
            route.continue_()

    visit.context.route("**/consents", busy_once)
    visit.page.goto(visit.url)
    visit.banner().get_by_role("button", name="Reject all").click()
    recorded = wait_for_events(visit, 1, timeout=15)
    assert [e.action for e in recorded] == ["reject_all"]
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 2.8  # the backoff alone would retry after 1 s


def test_a_decision_on_a_page_with_a_huge_ad_click_url_is_recorded(visit):
    visit.page.goto(visit.url + "?gclid=" + "Cj0KCQiA" * 3000)  # 24 KB: over the body limit
    visit.banner().get_by_role("button", name="Accept all").click()
    recorded = wait_for_events(visit, 1)
    assert [e.action for e in recorded] == ["accept_all"]
    assert recorded[0].page_url == visit.url
