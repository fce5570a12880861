"""Small HTTP helpers shared by the blueprints: CORS for site origins, request context, JSON."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SessionInterface
from marshmallow import Schema, ValidationError

from consent_service.consents.decisions import RequestContext
from consent_service.errors import ApiError
from consent_service.netinfo import country_code, truncate_ip
from consent_service.sites.snapshot import SiteSnapshot, SiteSnapshotCache

CORS_MAX_AGE = "86400"


class NoSessionInterface(SessionInterface):
    """Flask's cookie session, switched off: parsing it costs time on every request."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def site_cache() -> SiteSnapshotCache:
    cache: SiteSnapshotCache = current_app.extensions["consent_site_cache"]
    return cache


def per_request() -> dict[str, Any]:
    """Storage that lives exactly as long as this request (the WSGI environ), unlike `g`,
    which is shared by every request made inside one pushed app context."""
    storage: dict[str, Any] = request.environ.setdefault("consent_service", {})
    return storage


def site_snapshot(site_key: str) -> SiteSnapshot:
    """The site's snapshot, read once per request (404 for an unknown site)."""
    storage = per_request()
    snapshot: SiteSnapshot | None = storage.get("site")
    if snapshot is None or snapshot.site_key != site_key:
        snapshot = site_cache().snapshot(site_key, time.monotonic())
        storage["site"] = snapshot
    return snapshot


def public_site(site_key: str) -> SiteSnapshot:
    """The site, after checking that a browser calling us comes from one of its origins."""
    snapshot = site_snapshot(site_key)
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in snapshot.allowed_origins:
        raise ApiError(403, "This origin is not allowed for this site.", error="origin_not_allowed")
    per_request()["cors_origin"] = origin
    return snapshot


def add_cors_headers(response: Response) -> Response:
    origin = per_request().get("cors_origin")
    headers = response.headers
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"
    vary = headers.get("Vary")
    headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    return response


_EMPTY_QUERY: dict[int, dict[str, Any]] = {}


def load_query(schema: Schema) -> dict[str, Any]:
    """The query string through `schema` (422 on errors).

    Most requests carry no query string at all; their result (the schema's defaults) is computed
    once, which keeps the hottest endpoint, the banner config, as cheap as a static answer.
    """
    if not request.args:
        if id(schema) not in _EMPTY_QUERY:
            _EMPTY_QUERY[id(schema)] = schema.load({})
        return dict(_EMPTY_QUERY[id(schema)])
    try:
        loaded: dict[str, Any] = schema.load(request.args)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_query": exc.messages}
        raise ApiError(
            422, "Invalid query parameters.", error="validation_failed", errors=errors
        ) from exc
    return loaded


def preflight_response() -> Response:
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def require_json() -> None:
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        raise ApiError(415, "Send the body as application/json.", error="unsupported_media_type")


def request_context() -> RequestContext:
    """What we may keep of this request: a truncated address, the user agent, a trusted country."""
    header = current_app.config.get("COUNTRY_HEADER")
    return RequestContext(
        ip_prefix=truncate_ip(request.remote_addr),
        user_agent=request.headers.get("User-Agent") or None,
        country=country_code(request.headers.get(header)) if header else None,
        sec_gpc=request.headers.get("Sec-GPC") == "1",
    )


def json_response(
    body: bytes, status: int = 200, headers: dict[str, Any] | None = None
) -> Response:
    return Response(body, status=status, headers=headers, mimetype="application/json")
