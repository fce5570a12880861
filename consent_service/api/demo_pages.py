"""The demo site's pages: what a site owner's page with the banner looks like.

Served under a strict Content Security Policy (nonces, 'strict-dynamic', no 'unsafe-inline',
no 'unsafe-eval') to show that the banner needs nothing looser. Nothing on these pages loads
from another host: gtag.js is a local stand-in (DEMO_GTAG_URL) and the video is local.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, abort, render_template, request, url_for

from consent_service.sites import demo
from consent_service.sites.public_config import site_locales
from consent_service.sites.versions import current_policy

blp = Blueprint("demo_pages", __name__, url_prefix="/demo")


def strict_csp(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'nonce-{nonce}' 'strict-dynamic'",
            "style-src 'self'",
            "img-src 'self' data:",
            "frame-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def page(template: str, **context: object) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = Response(render_template(template, nonce=nonce, **context))
    response.headers["Content-Security-Policy"] = strict_csp(nonce)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/", methods=["GET"])
def index() -> Response:
    site = demo.find_demo_site()
    if site is None:
        abort(404)
    lang = request.args.get("lang", "en")
    lang = lang if lang in site_locales(site) else site.default_locale
    return page(
        "demo/index.html",
        site=site,
        lang=lang,
        script_url=url_for("banner.site_script", name=site.site_key),
        stub_url=url_for("banner.stub_script"),
    )


@blp.route("/privacy", methods=["GET"])
def privacy() -> Response:
    site = demo.find_demo_site()
    policy = current_policy(site) if site else None
    if policy is None:
        abort(404)
    return page("demo/privacy.html", policy=policy, site_key=site.site_key if site else "")


@blp.route("/video", methods=["GET"])
def video() -> Response:
    """Stands in for a third-party video player in an iframe; sets its own cookie."""
    response = page("demo/video.html")
    response.set_cookie("vp_session", secrets.token_hex(8), samesite="Lax")
    return response
