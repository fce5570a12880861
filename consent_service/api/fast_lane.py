"""The hottest public requests answered without Flask's request machinery.

Every page view of every site fetches the banner script, and many fetch the banner config
(or its 304). Through Flask, a request context, routing, the request hooks and a Response
object cost more than the answer itself, which is a body built once and cached. The lane
sits between the WSGI server (and ProxyFix) and Flask and answers a *plain* such request
with the same status, headers and body as the Flask view would, built by the same functions
(tests compare the two answers header by header). Anything else goes on to Flask: another
path or method, a query string, a site key of another shape, a refused Origin or Host, and
any error at all (an unknown site, the database away), which Flask then answers as
documented. The lane opens only after a first request went through Flask, which starts the
process's background jobs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, has_app_context
from werkzeug.datastructures import Accept
from werkzeug.http import is_entity_header, parse_accept_header, parse_etags

from consent_service.api.banner import (
    JAVASCRIPT,
    current_cache_control,
    gtag_url,
    script_headers,
)
from consent_service.api.http import add_cors, host_url, origin_allowed, rule_set_of, site_cache
from consent_service.api.public import config_headers
from consent_service.extensions import db
from consent_service.outbound import is_loopback_host

SITE_KEY = r"[A-Za-z0-9_-]{8,64}"
CONFIG_PATH = re.compile(rf"/api/v1/sites/({SITE_KEY})/config")
SCRIPT_PATH = re.compile(rf"/c/({SITE_KEY})\.js")

Answer = tuple[str, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]


class FastLane:
    """WSGI middleware: `FastLane(app, app.wsgi_app)`; `behind` is what it passes on to."""

    def __init__(self, app: Flask, behind: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.behind = behind
        self.open = False
        app.before_request(self._first_request)

    def _first_request(self) -> None:
        self.open = True

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if self.open and environ["REQUEST_METHOD"] == "GET" and not environ.get("QUERY_STRING"):
            answer = self._answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.behind(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> Answer | None:
        path = environ.get("PATH_INFO", "")
        config, script = CONFIG_PATH.fullmatch(path), SCRIPT_PATH.fullmatch(path)
        if config is None and script is None:
            return None
        if has_app_context() and current_app.extensions.get("fast_lane") is self:
            return self._answer_in_context(config, script, environ)  # as Flask, reuse it
        with self.app.app_context():
            return self._answer_in_context(config, script, environ)

    def _answer_in_context(
        self, config: re.Match[str] | None, script: re.Match[str] | None, environ: dict[str, Any]
    ) -> Answer | None:
        try:
            if config is not None:
                return config_answer(config.group(1), environ)
            assert script is not None
            return script_answer(script.group(1), environ)
        except Exception:  # Flask answers it, as documented
            db.session.rollback()
            return None


def config_answer(site_key: str, environ: dict[str, Any]) -> Answer | None:
    """GET /api/v1/sites/{key}/config without a query string, as `public.get_config`."""
    cache = site_cache()
    snapshot = cache.snapshot(site_key, time.monotonic())
    origin = environ.get("HTTP_ORIGIN")
    if not origin_allowed(snapshot, origin, environ):
        return None
    locale = snapshot.choose_locale(None, environ.get("HTTP_ACCEPT_LANGUAGE", ""))
    published = cache.config(snapshot, locale, rule_set_of(snapshot.regions, environ))
    headers = config_headers(published.etag, locale)
    add_cors(headers, origin)
    if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(published.etag):
        return "304 NOT MODIFIED", not_modified_headers(headers), b""
    return "200 OK", answer_headers(headers, "application/json", published.body), published.body


def script_answer(site_key: str, environ: dict[str, Any]) -> Answer | None:
    """GET /c/{key}.js, as `banner.site_script`, when the service knows its own address."""
    if site_key == "stub":
        return None
    base = public_base(environ)
    if base is None:
        return None
    cache = site_cache()
    snapshot = cache.snapshot(site_key, time.monotonic())
    rules = rule_set_of(snapshot.regions, environ)
    script = cache.script(snapshot, base, gtag_url(site_key), rules)
    accepted = parse_accept_header(environ.get("HTTP_ACCEPT_ENCODING"), Accept)
    compressed = "gzip" in accepted
    etag, headers = script_headers(script, compressed, current_cache_control())
    if parse_etags(environ.get("HTTP_IF_NONE_MATCH")).contains(etag):
        return "304 NOT MODIFIED", not_modified_headers(headers), b""
    if compressed:
        headers["Content-Encoding"] = "gzip"
    body = script.gzipped if compressed else script.body
    return "200 OK", answer_headers(headers, JAVASCRIPT, body), body


def public_base(environ: dict[str, Any]) -> str | None:
    """`banner.api_base` from the environ: PUBLIC_BASE_URL, else a loopback Host's own URL,
    else None (Flask answers 421)."""
    configured: str | None = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    url = host_url(environ)
    host = url.split("://", 1)[1]
    if is_loopback_host(host.rsplit(":", 1)[0].strip("[]")):
        return url
    return None


def not_modified_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    """What werkzeug keeps of them on a 304: no entity headers (Content-Language...)."""
    return [
        (name, value)
        for name, value in headers.items()
        if not is_entity_header(name) or name.lower() in ("expires", "content-location")
    ]


def answer_headers(
    headers: dict[str, str], content_type: str, body: bytes
) -> list[tuple[str, str]]:
    return [*headers.items(), ("Content-Type", content_type), ("Content-Length", str(len(body)))]
