"""The console in headless Chromium: an operator signs in, creates a site, adds a service from
the catalogue, sees the plan and a linter error, publishes a material policy, pastes the tag
into a page on another loopback origin, makes a consent there and sees the dashboard count
it; an auditor exports but sees no edit control; axe-core finds nothing serious on any page.

Screenshots of the main pages at desktop and phone widths go to `artifacts/console/` (ignored
by git), for people to look at; the README shows two of them from `docs/`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from consent_service.console import accounts
from tests.banner_support import LiveServer, serve
from tests.console_support import PASSWORD, make_account

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "console"
AXE = ROOT / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
README = {"width": 960, "height": 600}  # docs/console-*.png are copies of these
SECTIONS = ("general", "texts", "categories", "services", "forms")


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    app.config["CONSOLE_SIGNIN_DELAY"] = 0
    app.config["WEBHOOK_ALLOW_HTTP"] = True  # the tag check may fetch the shop on loopback
    yield from serve(app)


class ShopPage:
    """A site owner's own page on another loopback origin, holding whatever tag is pasted."""

    def __init__(self) -> None:
        self.head = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                    f"<title>Shop</title>{owner.head}</head><body><h1>Shop</h1></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def shop() -> Iterator[ShopPage]:
    page = ShopPage()
    yield page
    page.close()


def shoot(page: Any, name: str) -> None:
    """A desktop and a phone screenshot of the page as it is now."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(README)
    page.screenshot(path=str(ARTIFACTS / f"{name}-small.png"))
    page.set_viewport_size(DESKTOP)


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Sites").wait_for()


def test_operator_sets_up_a_site_and_the_dashboard_counts_a_consent(browser, server, shop):
    make_account("op@example.com", "operator")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    base = server.base_url
    try:
        sign_in(page, base, "op@example.com")
        shoot(page, "sites")

        page.get_by_label("Name").fill("Shop")
        page.get_by_label("Origins").fill(shop.origin)
        page.get_by_role("button", name="Create site").click()
        page.get_by_role("heading", name="Decisions").wait_for()
        site_url = page.url.rstrip("/")

        # Add a service from the catalogue: pick it, add it; the plan shows what changes.
        page.get_by_role("link", name="Settings").click()
        page.get_by_role("link", name="Advanced (YAML)").click()
        page.get_by_label("Service", exact=True).select_option("hotjar")
        page.get_by_role("button", name="Add to document").click()
        plan = page.locator("ul.plan")
        assert "+ service hotjar" in plan.inner_text()
        assert "+ category analytics" in plan.inner_text()
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved.").wait_for()

        # The preview frames the real banner, in each locale and at phone width.
        page.goto(f"{site_url}/settings?lang=zh-CN&width=phone")
        frame = page.frame_locator("iframe.preview")
        frame.locator("#consent-service .b").wait_for()
        assert frame.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("iframe.preview").get_attribute("width") == "360"
        frame.locator("[data-consent-open]").click()
        frame.locator('#consent-service [role="dialog"]').wait_for()

        # A linter error, next to the field it names, blocks the save.
        editor = page.get_by_label("The whole document")
        document = editor.input_value()
        editor.fill(document.replace(shop.origin, "http://shop.example", 1))
        page.get_by_role("button", name="Check").click()
        finding = page.locator(".finding.error")
        assert "/origins/0" in finding.first.inner_text()
        assert "insecure-origin" in finding.first.inner_text()
        page.get_by_text("Errors block the save.").wait_for()
        shoot(page, "settings")

        page.goto(f"{site_url}/policies")
        page.get_by_label("Label").fill("2027-01")
        page.get_by_label("Text (paste the policy)").fill("Our privacy policy.")
        page.get_by_label("Material change").check()
        page.get_by_role("button", name="Publish").click()
        page.get_by_role("link", name="2027-01").wait_for()
        assert "yes" in page.locator("tbody tr").first.inner_text()

        # Copy the tag into the shop's page and make a consent there.
        page.goto(f"{site_url}/install")
        shop.head = page.locator("#tag").inner_text()
        assert shop.head.startswith(f'<script src="{base}/c/')
        page.get_by_label("Page URL").fill(shop.origin + "/")
        page.get_by_role("button", name="Check the page").click()
        assert page.locator("#check-result").inner_text() == "The banner's tag is on this page."
        shoot(page, "install")
        # A visitor is another browser (this one cached the script before the policy).
        visitor_context = browser.new_context()
        visitor = visitor_context.new_page()
        visitor.goto(shop.origin + "/")
        visitor.locator("#consent-service .b").get_by_role("button", name="Accept all").click()
        visitor.wait_for_load_state("networkidle")
        visitor_context.close()
        page.goto(site_url + "/")
        for _ in range(50):
            if page.locator('[data-total="accept_all"]').inner_text() == "1":
                break
            page.wait_for_timeout(100)
            page.reload()
        assert page.locator('[data-total="accept_all"]').inner_text() == "1"
        assert page.locator("#chart-actions canvas").count() == 1  # uPlot drew
        shoot(page, "dashboard")
        # Nothing refused by the CSP, no script error (the 422 of the blocked check is expected).
        assert [text for text in problems if "status of 422" not in text] == []
    finally:
        context.close()


def test_auditor_exports_sees_no_edit_control_and_is_refused_a_crafted_post(browser, server):
    site = server.site
    make_account("audit@example.com", "auditor", site)
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    base = f"{server.base_url}/console/sites/{site.site_key}"
    try:
        sign_in(page, server.base_url, "audit@example.com")
        for path in ("/", "/settings", "/policies", "/install", "/ledger", "/history", "/outboxes",
                     *(f"/settings/{slug}" for slug in SECTIONS)):  # fmt: skip
            page.goto(base + path)
            assert page.locator("form[method=post]").count() == 1, path  # signing out only
            controls = "main input, main select, textarea" if "/settings/" in path else "textarea"
            assert page.locator(controls).count() == 0, path
        page.goto(base + "/ledger")
        with page.expect_download() as download:
            page.get_by_role("link", name="Export jsonl").click()
        assert download.value.suggested_filename.endswith(".jsonl")
        # A POST made by hand, with the session's own CSRF token, is still 403.
        token = page.evaluate("() => document.querySelector('input[name=csrf_token]').value")
        status = page.evaluate(
            """async ([url, token]) => (await fetch(url, {method: 'POST',
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                 body: new URLSearchParams({csrf_token: token, label: 'x', text: 'x'})})).status""",
            [base + "/policies", token],
        )
        assert status == 403
        # So is a POST to each settings form and each preview of a draft.
        for path in (*(f"/settings/{slug}" for slug in SECTIONS),
                     *(f"/settings/{slug}/preview" for slug in SECTIONS), "/preview"):  # fmt: skip
            status = page.evaluate(
                """async ([url, token]) => (await fetch(url, {method: 'POST',
                     headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                     body: new URLSearchParams({csrf_token: token, action: 'save',
                                                '/name': 'x', document: 'name: x'})})).status""",
                [base + path, token],
            )
            assert status == 403, path
    finally:
        context.close()


def test_axe_finds_nothing_serious_on_any_console_page(browser, server):
    if not AXE.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    site = server.site
    make_account("owner@example.com", "owner", site)
    accounts.create_account("op2@example.com", PASSWORD, "operator")
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    base = f"{server.base_url}/console/sites/{site.site_key}"
    run = (
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa', 'wcag22aa', 'best-practice']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | '))"
    )
    try:
        page.goto(f"{server.base_url}/console/login")
        page.add_script_tag(content=AXE.read_text())
        assert page.evaluate(run) == [], "login"
        sign_in(page, server.base_url, "op2@example.com")
        pages = ["/console/", "/console/activity"] + [
            base + path
            for path in (
                "/",
                "/settings",
                *(f"/settings/{slug}" for slug in SECTIONS),
                "/history",
                "/policies",
                "/install",
                "/ledger",
                "/activity",
            )
        ]
        for url in pages:
            page.goto(url if url.startswith("http") else server.base_url + url)
            page.add_script_tag(content=AXE.read_text())
            for size in (DESKTOP, PHONE):
                page.set_viewport_size(size)
                assert page.evaluate(run) == [], url
            page.set_viewport_size(DESKTOP)
    finally:
        context.close()


def test_owner_edits_settings_through_the_forms_with_plan_findings_and_a_live_preview(
    browser, server
):
    site = server.site
    make_account("owner@example.com", "owner", site)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    base = f"{server.base_url}/console/sites/{site.site_key}"
    try:
        sign_in(page, server.base_url, "owner@example.com")
        # A category: rename it; Check shows the plan, Save keeps it.
        page.goto(base + "/settings/categories")
        page.locator("#f-categories-1-texts-en-name").fill("Statistics")
        page.get_by_role("button", name="Check", exact=True).click()
        assert "~ category analytics: texts" in page.locator("ul.plan").inner_text()
        assert "New banner version: yes" in page.locator("#review-title + ul + p").inner_text()
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Saved.").wait_for()

        # A linter error beside its field: announced, blocking the save until fixed.
        page.goto(base + "/settings/general")
        lifetime = page.get_by_label("Consent kept for (days)")
        lifetime.fill("400")
        page.get_by_role("button", name="Check", exact=True).click()
        assert lifetime.get_attribute("aria-invalid") == "true"
        described = page.locator("#" + lifetime.get_attribute("aria-describedby"))
        assert "lifetime-too-long" in described.inner_text()
        assert "Errors block the save." in page.get_by_role("alert").inner_text()
        assert "/lifetime_days" in page.locator("ul.plan").inner_text()
        shoot(page, "settings-forms")  # docs/console-settings.png is its small one
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_role("alert").wait_for()
        assert page.get_by_label("Consent kept for (days)").input_value() == "400"
        page.get_by_label("Consent kept for (days)").fill("150")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Saved.").wait_for()

        # A text: the preview shows the unsaved draft, in each locale and at phone width.
        page.goto(base + "/settings/texts")
        frame = page.frame_locator("iframe.preview")
        frame.locator("#consent-service .b").wait_for()
        page.locator("#f-texts-en-title").fill("Draft words, not saved")
        frame.locator("#consent-service .b").get_by_text("Draft words, not saved").wait_for()
        page.locator("#f-texts-zh-CN-title").fill("未保存的草稿")
        page.get_by_label("Language", exact=True).select_option("zh-CN")
        frame.locator("#consent-service .b").get_by_text("未保存的草稿").wait_for()
        assert frame.locator("html").get_attribute("lang") == "zh-CN"
        with page.expect_response(lambda r: r.url.endswith("/settings/texts/preview")):
            page.get_by_label("phone").check()
        frame.locator("#consent-service .b").get_by_text("未保存的草稿").wait_for()
        assert page.locator("iframe.preview").get_attribute("width") == "360"
        assert frame.locator("body").evaluate("b => b.clientWidth") <= 360
        # Trying the draft's banner records nothing.
        with page.expect_response(lambda r: "/console/preview-sink/" in r.url) as sink:
            accept = frame.locator("#consent-service .b").get_by_role("button", name="全部接受")
            accept.evaluate("button => button.click()")
        assert sink.value.status == 200
        served = page.request.get(f"{server.base_url}/c/{site.site_key}.js").text()
        assert "Draft words" not in served and "We value your privacy" in served
        page.goto(base + "/settings/texts")
        page.locator("#f-texts-en-title").fill("Saved words")
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Saved.").wait_for()

        page.goto(base + "/history")
        entries = page.locator("ol.history > li")
        assert "owner@example.com" in entries.first.inner_text()
        assert "texts" in entries.first.inner_text()
        assert "lifetime_days" in entries.nth(1).inner_text()
        assert "category analytics" in entries.nth(2).inner_text()
        assert [text for text in problems if "status of 422" not in text] == []
    finally:
        context.close()
    from consent_service.models import ConsentEvent
    from tests.conftest import count_rows

    assert count_rows(ConsentEvent) == 0
