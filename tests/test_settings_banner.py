"""A site made from nothing but a name and an origin shows a complete banner in real Chromium:
a heading, a description and every button in en and zh-CN, never "undefined"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from consent_service.sites import settings
from tests.banner_support import LiveServer, open_visit

pytestmark = pytest.mark.browser


def page_with_tag(lang: str, base_url: str, site_key: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><title>Fresh</title></head><body>'
        f'<main>Hello</main><script src="{base_url}/c/{site_key}.js"></script></body></html>'
    )


def visit_tagged_page(browser: Any, server: LiveServer, site: Any, lang: str) -> Any:
    """A visit to a page of the site's origin that carries the site's tag, in `lang`."""
    visit = open_visit(browser, server)
    url = f"{server.base_url}/{site.site_key}-{lang}.html"
    visit.page.route(
        url,
        lambda route: route.fulfill(
            body=page_with_tag(lang, server.base_url, site.site_key), content_type="text/html"
        ),
    )
    visit.page.goto(url)
    return visit


@pytest.mark.parametrize(
    "lang,heading,buttons",
    [
        ("en", "Your privacy choices", ["Accept all", "Reject all", "Preferences"]),
        ("zh-CN", "您的隐私选择", ["全部接受", "全部拒绝", "偏好设置"]),
    ],
)
def test_fresh_site_shows_a_complete_banner(browser, server, lang, heading, buttons):
    site = settings.create_site("Fresh Shop", [server.base_url])
    visit = visit_tagged_page(browser, server, site, lang)
    try:
        banner = visit.banner()
        banner.wait_for()
        assert banner.locator("h2").inner_text().strip() == heading
        assert "Fresh Shop" in banner.locator("p").first.inner_text()
        assert banner.locator("button").all_inner_texts() == buttons
        banner.get_by_role("button", name=buttons[2]).click()
        dialog = visit.modal()
        dialog.wait_for()
        text = dialog.inner_text() + banner.inner_text()
        assert "undefined" not in text and "null" not in text
        headings = dialog.locator("h2, h3").all_inner_texts()
        assert headings and all(item.strip() for item in headings)
        assert visit.errors() == [] and visit.foreign_requests == []
    finally:
        visit.context.close()


EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "sunmi-north-america.yaml"


@pytest.mark.parametrize(
    "lang,title,preferences,expected",
    [
        (
            "en",
            "Your privacy on the SUNMI North America website",
            "Preferences",
            ["Google Analytics 4", "NeoCRM (Xiaoshouyi)", "China", "SUNMI product news"],
        ),
        (
            "zh-CN",
            "您在商米北美官网上的隐私",
            "偏好设置",
            ["Google Analytics 4（谷歌分析）", "销售易 NeoCRM", "中国", "商米产品资讯", "跨境传输"],
        ),
    ],
)
def test_the_sunmi_example_applies_and_shows_its_services(
    browser, server, lang, title, preferences, expected
):
    """The example in docs/examples, applied as a site owner would, shows its own words and its
    services (NeoCRM's transfer to China marked) in both languages."""
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["origins"] = [server.base_url]
    site = settings.create_site(document=document)
    visit = visit_tagged_page(browser, server, site, lang)
    try:
        banner = visit.banner()
        banner.wait_for()
        assert banner.locator("h2").inner_text().strip() == title
        banner.get_by_role("button", name=preferences).click()
        dialog = visit.modal()
        dialog.wait_for()
        text = dialog.text_content() or ""  # services sit in collapsed <details>
        for words in expected:
            assert words in text, words
        assert "undefined" not in text and visit.errors() == []
    finally:
        visit.context.close()
