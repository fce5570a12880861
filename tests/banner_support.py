"""Real headless Chromium (Playwright over /usr/bin/chromium) against a real HTTP server.

The app runs in a werkzeug server thread on loopback; the browser gets the demo page, whose
only other "host" would be Google's, stood in for by a local gtag.js. Every request the page
makes is seen by a route handler that refuses any other host and remembers it, so tests can
assert that nothing left the machine (and nothing went anywhere before consent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from consent_service.extensions import db
from consent_service.models import ConsentEvent
from consent_service.scanner.crawl import CHROMIUM, CHROMIUM_FLAGS
from tests.live_server import serving


@dataclass
class LiveServer:
    base_url: str
    site: Any
    stop: Callable[[], None]


@dataclass
class Visit:
    """One browser context on the demo page, with what it requested and logged."""

    page: Any
    context: Any
    server: LiveServer
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url + "/demo/"

    def banner(self) -> Any:
        return self.page.locator("#consent-service .b")

    def modal(self) -> Any:
        return self.page.locator('#consent-service [role="dialog"]')

    def cookie(self, name: str) -> str | None:
        for cookie in self.context.cookies():
            if cookie["name"] == name:
                return str(cookie["value"])
        return None

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]


def serve(app: Flask) -> Iterator[LiveServer]:
    from consent_service.sites import demo

    with serving(app) as server:
        base_url = f"http://127.0.0.1:{server.server_port}"
        site, _ = demo.ensure_demo_site(base_url)
        app.config["DEMO_SITE_KEY"] = site.site_key
        app.config["DEMO_GTAG_URL"] = f"{base_url}/static/demo/gtag-standin.js"
        yield LiveServer(base_url, site, server.shutdown)


def open_visit(browser: Any, server: LiveServer, **context_options: Any) -> Visit:
    context = browser.new_context(**context_options)
    page = context.new_page()
    visit = Visit(page=page, context=context, server=server)
    host = urlsplit(server.base_url).netloc

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).netloc != host:
            visit.foreign_requests.append(url)
            request_route.abort()
            return
        visit.requests.append(url)
        request_route.continue_()

    context.route("**/*", route)
    page.on("console", lambda message: visit.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: visit.console.append(("error", str(error))))
    return visit


def events(site: Any) -> list[ConsentEvent]:
    db.session.rollback()  # a fresh snapshot: the server's threads wrote them
    return list(
        db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.site_id == site.id).order_by(ConsentEvent.id)
        )
    )


def wait_for_events(visit: Visit, count: int, timeout: float = 10.0) -> list[ConsentEvent]:
    """The site's events once there are `count`; then a short grace period to catch extras.

    Waits with Playwright, not time.sleep: the route handler that lets the page's requests
    through runs only while Playwright has control.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = events(visit.server.site)
        if len(found) >= count or time.monotonic() > deadline:
            break
        visit.page.wait_for_timeout(50)
    visit.page.wait_for_timeout(300)
    return events(visit.server.site)


def wait_for_frame(visit: Visit, selector: str) -> None:
    """Until the released iframe `selector` has loaded its page and all the page needs.

    Withdrawing, reloading or closing the context before that aborts the frame's requests in
    the middle, which is not what the tests mean to test.
    """
    visit.page.wait_for_function(
        "(selector) => { const d = document.querySelector(selector)?.contentDocument;"
        " return !!d && d.URL !== 'about:blank' && d.readyState === 'complete'; }",
        arg=selector,
    )


def launch_chromium() -> Iterator[Any]:
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is needed for the banner tests: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
