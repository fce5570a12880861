"""The hottest public requests answered without Flask's request machinery.

Every page view of every site fetches the banner script, many fetch the banner config (or
its 304), and every decision is a consent write. Through Flask, a request context, routing,
the request hooks and a Response object cost more than a cached answer itself, and a fifth
of a write. The lane
sits between the WSGI server (and ProxyFix) and Flask and answers a *plain* such request
with the same status, headers and body as the Flask view would, built by the same functions
(tests compare the two answers header by header). Anything else goes on to Flask: another
path or method, a query string, a site key of another shape, a refused Origin or Host, and
any error at all (an unknown site, the database away), which Flask then answers as
documented (a write the lane found the database away for with the lane's own error, not
trying the database twice). The lane opens only after a first request went through Flask,
which starts the process's background jobs.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, has_app_context
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header, parse_etags, remove_entity_headers

from consent_service.api.banner import (
    JAVASCRIPT,
    api_base_of,
    current_cache_control,
    gtag_url,
    script_headers,
)
from consent_service.api.http import (
    add_cors,
    host_url,
    json_problem,
    origin_allowed,
    per_request,
    request_context_of,
    rule_set_of,
    site_cache,
    storage_of,
)
from consent_service.api.public import config_headers
from consent_service.consents.decisions import record_decision
from consent_service.errors import DATABASE_UNAVAILABLE
from consent_service.extensions import db
from consent_service.schemas.consent import dump_recorded, load_decision_fast

SITE_KEY = r"[A-Za-z0-9_-]{8,64}"
CONFIG_PATH = re.compile(rf"/api/v1/sites/({SITE_KEY})/config")
SCRIPT_PATH = re.compile(rf"/c/({SITE_KEY})\.js")
CONSENTS_PATH = re.compile(rf"/api/v1/sites/({SITE_KEY})/consents")

Answer = tuple[str, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]


class FastLane:
    """WSGI middleware: `FastLane(app, app.wsgi_app)`; `behind` is what it passes on to."""

    def __init__(self, app: Flask, behind: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.behind = behind
        self.open = False
        app.before_request(self._first_request)
        # First of all hooks: a write the lane found the database away for is not tried again.
        app.before_request_funcs.setdefault(None, []).insert(0, _database_found_away)

    def _first_request(self) -> None:
        self.open = True

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if self.open and not environ.get("QUERY_STRING"):
            answer = self._answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.behind(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> Answer | None:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        lane: Callable[[str, dict[str, Any]], Answer | None]
        if method == "GET" and (found := CONFIG_PATH.fullmatch(path)):
            lane = config_answer
        elif method == "GET" and (found := SCRIPT_PATH.fullmatch(path)):
            lane = script_answer
        elif method == "POST" and (found := CONSENTS_PATH.fullmatch(path)):
            lane = consent_answer
        else:
            return None
        if has_app_context() and current_app.extensions.get("fast_lane") is self:
            return self._answer_in_context(lane, found.group(1), environ)  # as Flask: reuse it
        with self.app.app_context():
            return self._answer_in_context(lane, found.group(1), environ)

    @staticmethod
    def _answer_in_context(
        lane: Callable[[str, dict[str, Any]], Answer | None], site_key: str, environ: dict[str, Any]
    ) -> Answer | None:
        try:
            host_url(environ)  # a Host outside TRUSTED_HOSTS raises: Flask answers 400
            return lane(site_key, environ)
        except DATABASE_UNAVAILABLE as exc:
            db.session.rollback()
            if lane is consent_answer:  # the GETs' views have a last good answer to give
                storage_of(environ)["database_away"] = exc  # for `_database_found_away`
            return None
        except Exception:  # Flask answers it, as documented (nothing was written)
            db.session.rollback()
            return None


def _database_found_away() -> None:
    """Flask answers a write the lane could not make for want of a database (503) with the
    lane's own error: trying again would wait for the database a second time (a connect
    timeout, SQLite's busy timeout) before the same answer. An origin the lane checked before
    the write failed gets its CORS headers, as when the view's write fails."""
    away = per_request().pop("database_away", None)
    if away is not None:
        raise away


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
    base = api_base_of(environ)
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


def consent_answer(site_key: str, environ: dict[str, Any]) -> Answer | None:
    """POST /api/v1/sites/{key}/consents with a well-formed decision in a JSON body of known
    length, as `public.post_consent`. The body read here is put back for Flask; a decision the
    service refuses (422, 409, 429) is rolled back and goes on to Flask, which words it."""
    length = environ.get("CONTENT_LENGTH") or ""
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not length.isdigit() or content_type != "application/json":
        return None
    if limit is not None and int(length) > limit:
        return None
    raw = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(raw)
    body = json.loads(raw)
    if json_problem(body, 0) is not None:
        return None
    decision = load_decision_fast(body)
    if decision is None:
        return None
    snapshot = site_cache().snapshot(site_key, time.monotonic())
    origin = environ.get("HTTP_ORIGIN")
    if not origin_allowed(snapshot, origin, environ):
        return None
    try:
        recorded = record_decision(snapshot, decision, request_context_of(environ))
    except DATABASE_UNAVAILABLE:
        storage_of(environ)["cors_origin"] = origin  # checked: the 503 gets CORS, as Flask's
        raise
    answer = dump_recorded(recorded.event, recorded.visitor_token, recorded.state, recorded.receipt)
    body = json_body(answer)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    add_cors(headers, origin)
    status = "201 CREATED" if recorded.created else "200 OK"
    return status, list(headers.items()), body


def json_body(value: Any) -> bytes:
    """The body `current_app.json.response(value)` answers, without the Response object (a
    twentieth of a consent write): compact, or indented in debug mode, and a newline."""
    provider: Any = current_app.json
    if (provider.compact is None and current_app.debug) or provider.compact is False:
        text = provider.dumps(value, indent=2)
    else:
        text = provider.dumps(value, separators=(",", ":"))
    return f"{text}\n".encode()


def not_modified_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    """What werkzeug keeps of them on a 304: no entity headers (Content-Language...)."""
    kept = list(headers.items())
    remove_entity_headers(kept)
    return kept


def answer_headers(
    headers: dict[str, str], content_type: str, body: bytes
) -> list[tuple[str, str]]:
    return [*headers.items(), ("Content-Type", content_type), ("Content-Length", str(len(body)))]
