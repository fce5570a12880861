"""A small site with planted mistakes, served on loopback, for the scanner's tests.

Its pages load the real banner script from the app (served by tests.banner_support.serve), and
a pixel from a second loopback host (127.0.0.2). Planted:

- /static/tracker.js sets `fx_track` (declared, analytics) before any choice, on every page;
- an inline script stores the localStorage key `fx_visits` (declared nowhere) on every page;
- a correctly gated tag (`type="text/plain" data-consent="analytics"`) sets `fx_gated` for 90
  days where its service declares 30;
- every response sets `fx_session` over HTTP (declared, necessary: no violation);
- /about.html, reached only through a link, runs /static/pixel.js, which requests a pixel
  from the second host (declared nowhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from consent_service.sites import settings, versions
from tests.live_server import serving

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="{app}/c/{key}.js" async></script>
<script src="/static/tracker.js"></script>
<script>localStorage.setItem("fx_visits", "1");</script>
<script type="text/plain" data-consent="analytics" src="/static/gated.js"></script>
</head><body><h1>{title}</h1>{body}</body></html>"""

SCRIPTS = {
    "/static/tracker.js": "document.cookie = 'fx_track=1; path=/; max-age=2592000';",
    "/static/gated.js": "document.cookie = 'fx_gated=1; path=/; max-age=7776000';",
    "/static/pixel.js": (
        "var img = new Image(1, 1); img.src = '{pixel}/p.gif?e=view'; document.body.append(img);"
    ),
}


@dataclass
class FixtureSite:
    site: Any
    base_url: str
    pixel_host: str


def texts(name: str) -> dict[str, dict[str, str]]:
    return {"en": {"name": name, "description": name + "."}}


def cookie(name: str, lifetime: str) -> dict[str, Any]:
    return {"name": name, "pattern": False, "lifetime": lifetime}


def service(
    slug: str, category: str, name: str, purpose: str, cookies: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "slug": slug,
        "category": category,
        "name": name,
        "provider": {"legal_name": "Fixture shop"},
        "purposes": [purpose],
        "privacy_links": [{"url": "https://shop.example/privacy", "locale": "en"}],
        "third_party": False,
        "cookies": cookies,
    }


def fixture_site(app_base_url: str) -> Iterator[FixtureSite]:
    @Request.application
    def pixel(request: Request) -> Response:
        return Response(PIXEL, content_type="image/gif")

    state: dict[str, Any] = {}

    @Request.application
    def site_app(request: Request) -> Response:
        base = {"app": app_base_url, "key": state["key"]}
        if request.path in SCRIPTS:
            body = SCRIPTS[request.path].replace("{pixel}", f"http://{state['pixel_host']}")
            response = Response(body, content_type="text/javascript")
        elif request.path in ("/", "/index.html"):
            link = '<p><a href="/about.html">About us</a></p>'
            response = Response(
                PAGE.format(title="Home", body=link, **base), content_type="text/html"
            )
        elif request.path == "/about.html":
            body = '<script src="/static/pixel.js"></script>'
            response = Response(
                PAGE.format(title="About", body=body, **base), content_type="text/html"
            )
        else:
            return Response("not found", status=404)
        response.set_cookie("fx_session", "s1", httponly=True, samesite="Lax")
        return response

    with serving(pixel, "127.0.0.2") as pixel_server, serving(site_app) as server:
        pixel_host = state["pixel_host"] = f"127.0.0.2:{pixel_server.server_port}"
        base_url = f"http://127.0.0.1:{server.server_port}"
        site = settings.create_site(
            document={
                "name": "Fixture shop",
                "origins": [base_url],
                "locales": ["en"],
                "texts": {"en": {"title": "Cookies", "description": "We use cookies."}},
                "categories": [
                    {"slug": "necessary", "necessary": True, "texts": texts("Necessary")},
                    {"slug": "analytics", "texts": texts("Analytics")},
                ],
                "services": [
                    service("shop-session", "necessary", "Shop session", "Log-in",
                            [cookie("fx_session", "session")]),
                    service("shop-analytics", "analytics", "Shop analytics", "Counting",
                            [cookie("fx_track", "30 days"), cookie("fx_gated", "30 days")]),
                ],
            }
        )  # fmt: skip
        versions.publish_policy(
            site, "2026-01", text="We use cookies.", url=f"{base_url}/privacy",
            effective_at=datetime(2026, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        state["key"] = site.site_key
        yield FixtureSite(site, base_url, pixel_host)
