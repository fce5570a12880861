"""Driving Chromium: the pages of a site's own origins, visited in three states of consent, and
the banner photographed as rendered.

The no-choice pass finds the pages (same-origin links breadth first from the start URLs, then
the sitemap) up to the limit; the reject-all and accept-all passes each click the banner's real
button on the first page, in a fresh browser context, and visit the same pages again. Only the
site's own origins are navigated to; what the pages load from elsewhere loads as it would for
a visitor, and is recorded.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

from consent_service.scanner.observe import Observation, Recorder, origin_of

#: Debian's Chromium, and the flags that keep it from calling home (the tests use them too).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
BANNER = "#consent-service .b"
# ui.js `choiceRow`: the first layer's row is [Accept all, Reject all, Preferences].
BUTTONS = BANNER + " .r button"
ACCEPT, REJECT, PREFERENCES = 0, 1, 2
DIALOG = '#consent-service [role="dialog"]'
SKIPPED = re.compile(r"\.(pdf|zip|gz|png|jpe?g|gif|svg|webp|ico|mp4|mp3|css|js|xml|json)$", re.I)
SETTLE_MS = 250  # the banner releases tags after its first paint (at most 200 ms)
QUIET_MS = 250  # then no request in flight for this long
IDLE_MS = 5000  # a page that never goes quiet is scanned as it is by then
FORCE_LANG = """
(() => {
  const own = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "lang");
  Object.defineProperty(HTMLElement.prototype, "lang", {
    configurable: true,
    get() { return this === document.documentElement ? %s : own.get.call(this); },
    set(value) { own.set.call(this, value); },
  });
})();
"""


class ScannerUnavailable(RuntimeError):
    """The scan cannot run: Playwright is not installed, Chromium cannot start, or not one
    page of the site could be loaded."""


@dataclass
class PageVisit:
    url: str
    state: str
    status: int | None
    error: str = ""
    banner: bool | None = None  # whether the banner showed (first page of a pass)


@dataclass
class Shot:
    kind: str  # first_layer | preferences
    locale: str
    width: int
    height: int
    png: bytes
    banner_version: str | None
    page: str
    captured_at: datetime


@dataclass
class CrawlResult:
    pages: list[PageVisit] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    shots: list[Shot] = field(default_factory=list)
    banner_version: str | None = None
    service_host: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def chromium(executable: str = CHROMIUM) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ScannerUnavailable(
            "the scanner needs Playwright: pip install 'consent-service[scan]'"
        ) from exc
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except Exception as exc:  # Playwright's launch errors are plain Errors
            raise ScannerUnavailable(f"cannot start Chromium at {executable}: {exc}") from exc
        try:
            yield browser
        finally:
            browser.close()


def links(page: Any, origins: set[str]) -> list[str]:
    try:
        hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    except Exception:  # a page that navigated away has no links to give
        return []
    found = []
    for href in hrefs:
        url = urldefrag(href)[0]
        if origin_of(url) in origins and not SKIPPED.search(urlsplit(url).path):
            found.append(url)
    return found


def sitemap(origin: str, limit: int) -> list[str]:
    """`<loc>`s of /sitemap.xml (one level of sitemap index followed)."""

    def locs(url: str) -> list[str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                root = ET.fromstring(response.read(2_000_000))
        except Exception:  # no sitemap is the common case
            return []
        return [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]

    found: list[str] = []
    for loc in locs(origin + "/sitemap.xml"):
        found.extend(locs(loc) if loc.endswith(".xml") else [loc])
        if len(found) >= limit:
            break
    return found


class Crawler:
    """One scan's browser work; `progress` is told of every page visited and photo taken."""

    def __init__(
        self,
        browser: Any,
        site_key: str,
        origins: list[str],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.browser = browser
        self.site_key = site_key
        self.origins = {origin.lower().rstrip("/") for origin in origins}
        self.hosts = {urlsplit(origin).netloc for origin in self.origins}
        self.progress = progress or (lambda steps: None)
        self.result = CrawlResult()
        self.script = re.compile(r"/c/" + re.escape(site_key) + r"(\.[0-9a-f]+)?\.js$")

    def _open(self, **options: Any) -> tuple[Any, Any, Recorder]:
        context = self.browser.new_context(**options)
        self.traffic = Traffic(context)
        recorder = Recorder(self.hosts)
        recorder.attach(context)
        page = context.new_page()
        recorder.watch(page)
        page.on("request", self._note_service)
        return context, page, recorder

    def _note_service(self, request: Any) -> None:
        if self.result.service_host is None and self.script.search(urlsplit(request.url).path):
            self.result.service_host = urlsplit(request.url).netloc.lower()

    def _banner(self, page: Any) -> bool:
        try:
            page.locator(BANNER).wait_for(timeout=10_000)
        except Exception:  # Playwright's TimeoutError: the banner never came
            return False
        return True

    def _go(self, page: Any, url: str, state: str, settle: bool = True) -> PageVisit:
        try:
            response = page.goto(url, wait_until="load", timeout=30_000)
        except Exception as exc:  # an unreachable page is reported, not fatal
            return PageVisit(url, state, None, error=str(exc).splitlines()[0])
        if settle:
            self.traffic.settle(page)
        visit = PageVisit(url, state, response.status if response else None)
        if origin_of(page.url) not in self.origins:
            visit.error = f"left the site for {origin_of(page.url)}"
        return visit

    def discover(self, start: list[str], limit: int) -> list[str]:
        """The no-choice pass, which also decides the pages the other passes visit."""
        context, page, recorder = self._open()
        queue, seen = list(start), set(start)
        visited: list[str] = []
        sitemap_read = False
        try:
            while len(visited) < limit:
                if not queue and not sitemap_read:
                    sitemap_read = True
                    for origin in sorted({origin_of(url) for url in start}):
                        queue += [
                            url
                            for url in sitemap(origin, limit)
                            if url not in seen and origin_of(url) in self.origins
                        ]
                        seen.update(queue)
                if not queue:
                    break
                url = queue.pop(0)
                recorder.begin("no_choice", url)
                visit = self._go(page, url, "no_choice")
                if not visited and not visit.error:
                    visit.banner = self._banner(page)
                recorder.collect(page)
                self.result.pages.append(visit)
                if not visit.error:
                    visited.append(url)
                self.progress(1)
                for link in links(page, self.origins) if not visit.error else []:
                    if link not in seen:
                        seen.add(link)
                        queue.append(link)
        finally:
            self.result.observations += recorder.observations
            context.close()
        return visited

    def choose(self, pages: list[str], state: str) -> None:
        """Click Reject all or Accept all on the first page, then visit every page again."""
        context, page, recorder = self._open()
        try:
            visit = self._go(page, pages[0], state)
            if visit.error or not self._banner(page):
                visit.banner = None if visit.error else False
                self.result.pages.append(visit)
                return
            visit.banner = True
            recorder.begin(state, pages[0], page)
            try:
                page.locator(BUTTONS).nth(REJECT if state == "reject_all" else ACCEPT).click()
                page.locator(BANNER).wait_for(state="detached", timeout=10_000)
            except Exception:  # Playwright's errors: no such button, or it did not close
                visit.banner = False
                visit.error = "the banner's button did not record a choice"
                self.result.pages.append(visit)
                return
            self.traffic.settle(page)
            recorder.collect(page)
            self.result.pages.append(visit)
            self.progress(1)
            for url in pages:
                recorder.begin(state, url)
                self.result.pages.append(self._go(page, url, state))
                recorder.collect(page)
                self.progress(1)
        finally:
            self.result.observations += recorder.observations
            context.close()

    def photograph(self, url: str, locales: list[str]) -> None:
        """The first layer and the preferences dialog, per locale and width, with the banner
        version the served script carries."""
        for locale in locales:
            for label, (width, height) in WIDTHS.items():
                context = self.browser.new_context(
                    viewport={"width": width, "height": height},
                    locale=locale,
                    is_mobile=label == "phone",
                    has_touch=label == "phone",
                )
                context.add_init_script(FORCE_LANG % json.dumps(locale))
                try:
                    self._photograph_one(context, url, locale, width, height)
                finally:
                    context.close()

    def _photograph_one(self, context: Any, url: str, locale: str, width: int, height: int) -> None:
        page = context.new_page()
        scripts: list[Any] = []
        page.on("response", lambda r: scripts.append(r) if self.script.search(r.url) else None)
        if self._go(page, url, "capture", settle=False).error:
            return
        try:
            page.locator(BANNER).wait_for(timeout=10_000)
        except Exception:  # no banner: nothing to photograph
            return
        version = banner_version_of(scripts)
        # The locale the banner really drew (it falls back when the site lacks one): the
        # evidence names what is in the picture, not what was asked for.
        shown = page.locator("#consent-service").first.get_attribute("lang") or locale
        self.result.banner_version = self.result.banner_version or version
        shots = [("first_layer", page.screenshot(animations="disabled"))]
        try:
            page.locator(BUTTONS).nth(PREFERENCES).click()
            page.locator(DIALOG).wait_for(timeout=10_000)
            shots.append(("preferences", page.screenshot(animations="disabled")))
        except Exception:  # no dialog: the first layer is still evidence
            pass
        for kind, png in shots:
            self.result.shots.append(
                Shot(kind, shown, width, height, png, version, url, datetime.now(UTC))
            )
            self.progress(1)


class Traffic:
    """Requests in flight in one context, to tell when a page has gone quiet (Playwright's
    `networkidle` waits 500 ms, which adds up over three passes)."""

    def __init__(self, context: Any) -> None:
        self.pending: set[Any] = set()
        self.last = time.monotonic()
        context.on("request", self._start)
        context.on("requestfinished", self._end)
        context.on("requestfailed", self._end)

    def _start(self, request: Any) -> None:
        self.pending.add(request)
        self.last = time.monotonic()

    def _end(self, request: Any) -> None:
        self.pending.discard(request)
        self.last = time.monotonic()

    def settle(self, page: Any) -> None:
        page.wait_for_timeout(SETTLE_MS)
        deadline = time.monotonic() + IDLE_MS / 1000
        while time.monotonic() < deadline:
            if not self.pending and time.monotonic() - self.last >= QUIET_MS / 1000:
                return
            page.wait_for_timeout(50)


VERSION = re.compile(rb'"banner_version":"([0-9a-f]{64})"')


def banner_version_of(responses: list[Any]) -> str | None:
    for response in responses:
        try:
            found = VERSION.search(response.body())
        except Exception:  # a 304 or a closed response has no body
            continue
        if found:
            return found.group(1).decode()
    return None


def crawl(
    browser: Any,
    site_key: str,
    origins: list[str],
    start: list[str],
    *,
    max_pages: int,
    locales: list[str],
    progress: Callable[[int], None] | None = None,
) -> CrawlResult:
    crawler = Crawler(browser, site_key, origins, progress)
    began = time.monotonic()
    pages = crawler.discover(start, max_pages)
    if not pages:
        errors = "; ".join(f"{visit.url}: {visit.error}" for visit in crawler.result.pages)
        raise ScannerUnavailable(f"no page could be loaded ({errors})")
    crawler.result.timings["no_choice"] = time.monotonic() - began
    for state in ("reject_all", "accept_all"):
        began = time.monotonic()
        if pages:
            crawler.choose(pages, state)
        crawler.result.timings[state] = time.monotonic() - began
    began = time.monotonic()
    if pages and locales:
        crawler.photograph(pages[0], locales)
    crawler.result.timings["captures"] = time.monotonic() - began
    return crawler.result
