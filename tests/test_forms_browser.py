"""Forms without code in real headless Chromium: the demo page's forms are plain
<form data-consent-form="SLUG"> markup, wired by the forms script the banner fetches."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.models import Lead, Subscription
from consent_service.sites import demo
from consent_service.sites.forms import wording_hash
from tests.banner_support import Visit, open_visit

DEMO_FORMS = {form["slug"]: form for form in demo.demo_document("http://x")["forms"]}
CRM_TRANSFER_WORDING = DEMO_FORMS["crm"]["separate_consent"]
NEWSLETTER_WORDING = DEMO_FORMS["newsletter"]["separate_consent"]

pytestmark = pytest.mark.browser


def form(visit: Visit, slug: str) -> Any:
    return visit.page.locator(f'form[data-consent-form="{slug}"]')


def status(visit: Visit, slug: str) -> Any:
    return form(visit, slug).locator(".cs-form-status")


def ready(visit: Visit, query: str = "") -> None:
    visit.page.goto(visit.url + query)
    visit.page.locator('form[data-consent-form="crm"][data-consent-form-ready]').wait_for()


def decide(visit: Visit, label: str) -> None:
    visit.banner().get_by_role("button", name=label, exact=True).click()
    visit.banner().wait_for(state="detached")


def rows(model: Any, site: Any) -> list[Any]:
    db.session.rollback()  # the server's threads wrote them
    return list(db.session.scalars(sa.select(model).where(model.site_id == site.id)))


@pytest.mark.parametrize(
    ("locale", "lead_text", "newsletter_text"),
    [
        ("en", CRM_TRANSFER_WORDING["en"], NEWSLETTER_WORDING["en"]),
        ("zh-CN", CRM_TRANSFER_WORDING["zh-CN"], NEWSLETTER_WORDING["zh-CN"]),
    ],
)
def test_the_exact_wording_for_the_page_language_unticked(
    browser, server, locale, lead_text, newsletter_text
):
    visit = open_visit(browser, server, locale=locale)
    try:
        ready(visit, f"?lang={locale}")
        for slug, text in (("crm", lead_text), ("newsletter", newsletter_text)):
            label = form(visit, slug).locator("label.cs-form-consent")
            assert label.inner_text().strip() == text
            assert label.get_attribute("lang") == locale
            box = label.get_by_role("checkbox")
            assert not box.is_checked()
            live = status(visit, slug)
            assert live.get_attribute("role") == "status"
            assert live.get_attribute("aria-live") == "polite"
        # Required fields from the form's definition become required inputs.
        assert form(visit, "crm").locator('input[name="name"]').get_attribute("required") == ""
        assert sum("/c/forms/" in url for url in visit.requests) == 1
        assert not visit.errors()
    finally:
        visit.context.close()


def test_refused_before_consent_then_a_lead_waits_in_the_outbox(visit):
    ready(visit)
    crm = form(visit, "crm")
    crm.locator('input[name="name"]').fill("Li Wei")
    crm.locator('input[name="phone"]').fill("+86 10 1234 5678")
    crm.get_by_role("button", name="Send").click()
    assert "allow “Customer relationship (CRM)”" in status(visit, "crm").inner_text()
    decide(visit, "Reject all")
    crm.get_by_role("button", name="Send").click()
    assert "allow “Customer relationship (CRM)”" in status(visit, "crm").inner_text()
    assert status(visit, "crm").get_attribute("data-state") == "refused"
    assert not [url for url in visit.requests if url.endswith("/leads")]

    # The message offers the cookie settings; allowing the category clears it.
    status(visit, "crm").get_by_role("button", name="Cookie settings").click()
    visit.modal().get_by_role("button", name="Accept all").click()
    visit.page.wait_for_function(
        "() => document.querySelector('form[data-consent-form=crm] .cs-form-status')"
        ".getAttribute('data-state') == 'ready'"
    )
    crm.get_by_role("button", name="Send").click()
    assert "tick the box" in status(visit, "crm").inner_text()
    assert not [url for url in visit.requests if url.endswith("/leads")]

    crm.get_by_role("checkbox").check()
    with visit.page.expect_response(lambda r: r.url.endswith("/leads")) as answer:
        crm.get_by_role("button", name="Send").click()
    assert answer.value.status == 202
    visit.page.wait_for_function(
        "() => document.querySelector('form[data-consent-form=crm] .cs-form-status')"
        ".getAttribute('data-state') == 'sent'"
    )
    assert "Thank you" in status(visit, "crm").inner_text()
    assert not crm.get_by_role("checkbox").is_checked()  # the form is reset
    (lead,) = rows(Lead, visit.server.site)
    assert lead.status == "pending" and lead.form == "crm"
    assert lead.separate_consent_hash == wording_hash(CRM_TRANSFER_WORDING["en"])
    assert sorted(lead.field_names) == ["name", "phone"]
    assert not visit.errors()


def test_a_field_the_service_refuses_is_marked(visit):
    ready(visit)
    decide(visit, "Accept all")
    crm = form(visit, "crm")
    crm.locator('input[name="name"]').fill("Li Wei")
    crm.locator('input[name="phone"]').fill("call me")
    crm.get_by_role("checkbox").check()
    with visit.page.expect_response(lambda r: r.url.endswith("/leads")) as answer:
        crm.get_by_role("button", name="Send").click()
    assert answer.value.status == 422
    phone = crm.locator('input[name="phone"]')
    phone.wait_for()
    visit.page.wait_for_function(
        "() => document.querySelector('form[data-consent-form=crm] [name=phone]')"
        ".getAttribute('aria-invalid') == 'true'"
    )
    note = visit.page.locator("#" + phone.get_attribute("aria-describedby"))
    assert "digits" in note.inner_text()
    assert "correct the marked fields" in status(visit, "crm").inner_text()
    assert rows(Lead, visit.server.site) == []


def test_subscription_form(browser, server):
    visit = open_visit(browser, server, locale="zh-CN")
    try:
        ready(visit, "?lang=zh-CN")
        news = form(visit, "newsletter")
        news.locator('input[name="email"]').fill("li.wei@example.com")
        news.get_by_role("button", name="Subscribe").click()
        assert "请先在 Cookie 设置中允许“营销邮件”" in status(visit, "newsletter").inner_text()
        decide(visit, "全部接受")
        news.get_by_role("button", name="Subscribe").click()
        assert "请先勾选同意" in status(visit, "newsletter").inner_text()
        assert not [url for url in visit.requests if url.endswith("/subscriptions")]
        news.get_by_role("checkbox").check()
        with visit.page.expect_response(lambda r: r.url.endswith("/subscriptions")) as answer:
            news.get_by_role("button", name="Subscribe").click()
        assert answer.value.status == 202
        visit.page.wait_for_function(
            "() => document.querySelector('form[data-consent-form=newsletter] .cs-form-status')"
            ".getAttribute('data-state') == 'sent'"
        )
        assert "请点击我们发送到您邮箱的链接" in status(visit, "newsletter").inner_text()
        (subscription,) = rows(Subscription, visit.server.site)
        assert subscription.status == "pending" and subscription.form == "newsletter"
        assert not visit.errors()
    finally:
        visit.context.close()


def test_a_page_without_a_consent_form_never_fetches_the_forms_script(visit):
    """A page of the site with the banner and no form; then the site's code adds one."""
    base = visit.server.base_url
    html = (
        '<!doctype html><html lang="en"><head>'
        f'<script src="{base}/c/{visit.server.site.site_key}.js" async></script></head>'
        "<body><h1>About us</h1></body></html>"
    )
    visit.page.route(
        f"{base}/about", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    visit.page.goto(f"{base}/about")
    visit.page.wait_for_function("() => window.consentService && window.consentService.loaded")
    visit.page.wait_for_timeout(300)
    assert not [url for url in visit.requests if "/c/forms/" in url]
    visit.page.evaluate(
        """() => {
          const f = document.createElement('form');
          f.setAttribute('data-consent-form', 'newsletter');
          f.innerHTML = '<input name="email"><button>Go</button>';
          document.body.append(f);
        }"""
    )
    visit.page.locator('form[data-consent-form="newsletter"] label.cs-form-consent').wait_for()
    assert sum("/c/forms/" in url for url in visit.requests) == 1


def test_axe_finds_no_violations_in_the_wired_forms(browser, server):
    from pathlib import Path

    axe = Path(__file__).parent.parent / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    visit = open_visit(browser, server, bypass_csp=True)
    run = (
        "async () => (await axe.run({include: [['form[data-consent-form]']]},"
        " {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}"
        ")).violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | '))"
    )
    try:
        ready(visit)
        visit.page.add_script_tag(content=axe.read_text())
        assert visit.page.evaluate(run) == []
        crm = form(visit, "crm")
        crm.locator('input[name="name"]').fill("Li Wei")
        crm.get_by_role("button", name="Send").click()  # refused: the message and its button
        status(visit, "crm").get_by_role("button", name="Cookie settings").wait_for()
        assert visit.page.evaluate(run) == []
    finally:
        visit.context.close()
