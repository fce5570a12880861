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
from tests.banner_support import LiveServer, launch_chromium, serve
from tests.console_support import PASSWORD, make_account

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "console"
AXE = ROOT / "js-snippet" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
README = {"width": 960, "height": 600}  # docs/console-*.png are copies of these


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


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
        for path in ("/", "/settings", "/policies", "/install", "/ledger", "/history", "/outboxes"):
            page.goto(base + path)
            assert page.locator("form[method=post]").count() == 1, path  # signing out only
            assert page.locator("textarea").count() == 0
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
