"""The banner script, its stub, and the site's Global Privacy Control statement.

`GET /c/SITE_KEY.js` is the one tag a site owner pastes: runtime, configuration, texts and CSS
in one response, cached for minutes. `GET /c/SITE_KEY.VERSION.js` serves the same bytes at an
immutable URL for an SRI-pinned install; `GET /api/v1/sites/SITE_KEY/snippet` tells the current
version and its `integrity`. `GET /c/forms/SITE_KEY.VERSION.js` is a site's forms script, which
the banner fetches only on pages with a `<form data-consent-form>`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from consent_service.api.http import (
    host_url,
    place_cache_scope,
    place_headers,
    site_cache,
    site_snapshot,
    visitor_rule_set,
)
from consent_service.errors import DATABASE_UNAVAILABLE, ApiError
from consent_service.extensions import db
from consent_service.outbound import is_loopback_host
from consent_service.sites.regions import RULE_SETS
from consent_service.sites.snippet import PublishedScript, stub

blp = Blueprint("banner", __name__)

JAVASCRIPT = "text/javascript; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"


def api_base() -> str:
    """The service's public URL, for every link it makes: PUBLIC_BASE_URL (required in
    production). Without it (embedded, demo, tests) only a loopback Host is taken; any other
    Host gets no link and no script built for it (421), so a forged Host can neither put its
    name into a mail or a banner nor make the service build and cache a script per name."""
    base = api_base_of(request.environ)
    if base is None:
        raise ApiError(
            421,
            "This service answers for its own address only; set PUBLIC_BASE_URL.",
            error="misdirected_request",
        )
    return base


def api_base_of(environ: dict[str, Any]) -> str | None:
    """`api_base` from the WSGI environ (the fast lane has no request); None for a Host the
    service does not answer for."""
    configured: str | None = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    url = host_url(environ)
    if is_loopback_host(url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")):
        return url
    return None


def gtag_url(site_key: str) -> str | None:
    config = current_app.config
    if config.get("DEMO_GTAG_URL") and site_key == config.get("DEMO_SITE_KEY"):
        return str(config["DEMO_GTAG_URL"])
    return config.get("GA4_SCRIPT_URL")


def vary() -> str:
    """Compressed or not, and per value of the headers the rule set was chosen by (an address
    lookup depends on nothing a cache can key on: such answers are private)."""
    return ", ".join(["Accept-Encoding", *place_headers()])


def current_script(site_key: str, rule_set: str | None = None) -> PublishedScript:
    base = api_base()
    cache = site_cache()
    try:
        snapshot = site_snapshot(site_key)
        rules = rule_set or visitor_rule_set(snapshot.regions)
        return cache.script(snapshot, base, gtag_url(site_key), rules)
    except DATABASE_UNAVAILABLE:
        # The database is away: the last good script from memory is better than no banner,
        # under the site's own region rules as last read (None: never read, built-in map).
        db.session.rollback()
        rules = rule_set or visitor_rule_set(cache.last_good_regions(site_key))
        last = cache.last_good_script(site_key, base, gtag_url(site_key), rules)
        if last is None:
            raise
        return last


def versioned_script(site_key: str, version: str) -> PublishedScript | None:
    """The script of any of the site's rule sets that has this version, or None."""
    for rule_set in RULE_SETS:
        script = current_script(site_key, rule_set)
        if script.version == version:
            return script
    return None


def script_response(script: PublishedScript, cache_control: str) -> Response:
    """The script, gzip-compressed when the browser takes it (every browser does)."""
    compressed = "gzip" in request.accept_encodings
    etag, headers = script_headers(script, compressed, cache_control)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    if compressed:
        headers["Content-Encoding"] = "gzip"
    body = script.gzipped if compressed else script.body
    return Response(body, content_type=JAVASCRIPT, headers=headers)


def script_headers(
    script: PublishedScript, compressed: bool, cache_control: str
) -> tuple[str, dict[str, str]]:
    """(ETag, headers) of a script answer, 200 or 304, but Content-Encoding."""
    etag = f"{script.version}.gz" if compressed else script.version
    return etag, {
        "Cache-Control": cache_control,
        "ETag": f'"{etag}"',
        "Vary": vary(),
        "Access-Control-Allow-Origin": "*",  # loadable with crossorigin="anonymous" for SRI
        "X-Content-Type-Options": "nosniff",
    }


def current_cache_control() -> str:
    """Of the current (not pinned) script: stale for one more minute at most, so a material
    policy change reaches every page within SCRIPT_MAX_AGE plus a minute, not an hour; chosen
    by the address when no trusted proxy names the country, so a shared cache must not hand
    one region's script to another."""
    max_age = current_app.config["SCRIPT_MAX_AGE"]
    return f"{place_cache_scope()}, max-age={max_age}, stale-while-revalidate=60"


@blp.route("/c/stub.js", methods=["GET"])
def stub_script() -> Response:
    return Response(
        stub(),
        content_type=JAVASCRIPT,
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )


@blp.route("/c/<string:name>.js", methods=["GET"])
def site_script(name: str) -> Response:
    site_key, _, version = name.partition(".")
    if not version:
        return script_response(current_script(site_key), current_cache_control())
    pinned = versioned_script(site_key, version)
    if pinned is None:
        raise ApiError(
            404,
            "This version of the banner script is no longer current; "
            "GET /api/v1/sites/{site_key}/snippet gives the current one.",
            error="script_version_gone",
        )
    return script_response(pinned, IMMUTABLE)


@blp.route("/c/forms/<string:name>.js", methods=["GET"])
def forms_script(name: str) -> Response:
    """The site's no-code forms script; the banner names its immutable, versioned URL."""
    site_key, _, version = name.partition(".")
    snapshot = site_snapshot(site_key)
    script = site_cache().forms_script(snapshot, api_base())
    if script is None:
        raise ApiError(404, "This site has no forms.", error="no_forms")
    if not version:
        max_age = current_app.config["SCRIPT_MAX_AGE"]
        return script_response(script, f"public, max-age={max_age}")
    if version != script.version:
        # A banner script cached before the forms changed: send it to the current forms.
        current = f"{api_base()}/c/forms/{site_key}.{script.version}.js"
        return Response(status=302, headers={"Location": current, "Cache-Control": "no-store"})
    return script_response(script, IMMUTABLE)


@blp.route("/api/v1/sites/<string:site_key>/snippet", methods=["GET"])
def snippet_tags(site_key: str) -> dict[str, str]:
    """The tags to paste: the plain one, and the pinned one with its SRI `integrity`."""
    script = current_script(site_key)
    base = api_base()
    pinned = f"{base}/c/{site_key}.{script.version}.js"
    return {
        "src": f"{base}/c/{site_key}.js",
        "tag": f'<script src="{base}/c/{site_key}.js" async></script>',
        "versioned_src": pinned,
        "integrity": script.integrity,
        "pinned_tag": (
            f'<script src="{pinned}" integrity="{script.integrity}" crossorigin="anonymous" '
            "async></script>"
        ),
        "stub_tag": f'<script src="{base}/c/stub.js"></script>',
    }


@blp.route("/.well-known/gpc.json", methods=["GET"])
def gpc_statement() -> Response:
    """This service honours Global Privacy Control (the GPC specification's well-known file)."""
    response = Response(
        b'{"gpc": true, "lastUpdate": "2026-11-23"}\n', content_type="application/json"
    )
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
