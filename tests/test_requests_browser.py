"""The requester's pages and the console's request queue in headless Chromium: usable under
their own strict CSP (nothing blocked, nothing from another host), the confirmation button
works from the keyboard, and axe-core finds nothing serious, in en and zh-CN."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from consent_service.consents import requests
from consent_service.extensions import db
from consent_service.models import SubjectRequest
from consent_service.models.types import utcnow
from consent_service.tokens import issue_request_confirmation, issue_request_reference
from tests.banner_support import LiveServer, serve
from tests.console_support import make_account
from tests.test_console_browser import AXE, DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.browser

SERIOUS = (
    "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',"
    " 'wcag21aa', 'wcag22aa', 'best-practice']})).violations"
    ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
    ".map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' | '))"
)


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    app.config["CONSOLE_SIGNIN_DELAY"] = 0
    yield from serve(app)


def axe_clean(page: Any, label: str) -> None:
    page.add_script_tag(content=AXE.read_text())
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        assert page.evaluate(SERIOUS) == [], label
    page.set_viewport_size(DESKTOP)


def test_the_requesters_pages_work_under_their_csp_and_pass_axe(browser, server):
    if not AXE.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    site = server.site
    asked = requests.new_request(
        site, "access", channel="email", actor="visitor", email="someone@example.com"
    )
    db.session.commit()
    assert asked.confirm_nonce is not None
    link = f"{server.base_url}/rights/confirm/" + issue_request_confirmation(
        site.site_key, asked.id, asked.confirm_nonce
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(server.base_url) else foreign.append(request.url)
        ),
    )
    try:
        page.goto(link)
        button = page.get_by_role("button", name="Confirm my request")
        button.focus()
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Your request is confirmed").wait_for()
        page.get_by_role("link", name="Follow your request").click()
        page.get_by_role("heading", name="Your request").wait_for()
        assert "Received" in page.content()
        assert page.evaluate("getComputedStyle(document.body).maxWidth") == "640px"  # CSS loaded
        context_clean = [text for text in blocked if "Content Security Policy" in text]
        assert context_clean == [] and foreign == []
        db.session.refresh(asked)
        assert asked.status == "open"
        page.get_by_role("link", name="中文").click()
        page.get_by_role("heading", name="您的请求").wait_for()
        # axe runs without the CSP (its script is injected); the pages were checked under it
        axe_context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        checked = axe_context.new_page()
        reference = issue_request_reference(site.site_key, asked.id)
        for path in (f"/rights/{reference}", f"/rights/{reference}?lang=zh-CN", "/rights/x"):
            checked.goto(server.base_url + path)
            axe_clean(checked, path)
        axe_context.close()
    finally:
        context.close()


def test_the_console_queue_passes_axe_and_an_owner_handles_a_late_request(browser, server):
    if not AXE.exists():
        pytest.fail("axe-core is needed: cd js-snippet && npm ci")
    site = server.site
    make_account("owner@example.com", "owner", site)
    late = requests.open_request(
        site, "erasure", channel="site_backend", actor="t", visitor_id="v" * 32,
        now=utcnow() - timedelta(days=20),
    )  # fmt: skip
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    base = f"{server.base_url}/console/sites/{site.site_key}/requests/"
    try:
        sign_in(page, server.base_url, "owner@example.com")
        page.goto(base)
        assert page.locator("tr.overdue").count() == 1
        axe_clean(page, "list")
        page.get_by_role("link", name=str(late.id)).click()
        axe_clean(page, "detail")
        page.get_by_role("button", name="Handle (erase now)").click()
        page.get_by_label("Note (a closing note").fill("Erased everything we held.")
        page.get_by_role("button", name="Close").click()
        page.get_by_text("closed (fulfilled)").wait_for()
    finally:
        context.close()
    db.session.expire_all()
    finished = db.session.get(SubjectRequest, late.id)
    assert finished is not None and finished.status == "closed"
    actions = [step.action for step in requests.steps_of(late.id)]
    assert actions == ["opened", "started", "erased", "closed"]
