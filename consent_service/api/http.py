"""Small HTTP helpers shared by the blueprints: CORS for site origins, request context, JSON."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter
from werkzeug.wsgi import get_host

from consent_service.consents.decisions import RequestContext
from consent_service.errors import ApiError
from consent_service.netinfo import truncate_ip, visitor_place
from consent_service.sites.regions import rule_set_for
from consent_service.sites.snapshot import SiteSnapshot, SiteSnapshotCache

CORS_MAX_AGE = "86400"
#: What a site's page may send: JSON bodies, admin tokens, and the visitor token as a header (the
#: banner reads the visitor's current state with it, so the token is in no URL).
CORS_REQUEST_HEADERS = "Content-Type, Authorization, X-Visitor-Token"
#: Deeper JSON than any of our bodies has is refused before a parser recurses into it.
MAX_JSON_DEPTH = 16
#: Characters no column can keep: NUL (PostgreSQL refuses it in text) and lone surrogates
#: (not encodable as UTF-8). Refused at the edge, so no operation ever sees them.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_INT64 = 2**63 - 1
#: The largest id of an INTEGER (32-bit) primary key, for `<int(max=MAX_INT32):…>`.
MAX_INT32 = 2**31 - 1


class Int64Converter(IntegerConverter):
    """`<int:…>` path ids that fit a BIGINT; a larger number matches no route (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INT64)
        super().__init__(map, *args, **kwargs)


def register_request_guard(app: Flask) -> None:
    """Refuse what no endpoint can take before any view or schema sees it (a 4xx, never a
    500): oversized bodies however they are framed, JSON nested too deep, numbers too big for
    a 64-bit column, and NUL or lone surrogates anywhere in the path, query or body."""
    app.url_map.converters["int"] = Int64Converter
    app.before_request(guard_request)


def guard_request() -> None:
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and UNSTORABLE.search(value):
            raise ApiError(404, "No such resource.", error="not_found")
    bad = [name for name, value in request.args.items(multi=True) if UNSTORABLE.search(value)]
    bad += [name for name in request.args if UNSTORABLE.search(name)]
    if bad:
        errors = {UNSTORABLE.sub("?", bad[0]): ["Contains characters that cannot be stored."]}
        raise ApiError(422, "Invalid query parameters.", error="validation_failed", errors=errors)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        check_body()


F = TypeVar("F", bound=Callable[..., Any])


def body_limit(limit: int) -> Callable[[F], F]:
    """Let one view take bodies of up to `limit` bytes instead of the app's
    MAX_CONTENT_LENGTH; the request guard applies it before anything reads the body."""

    def mark(view: F) -> F:
        view.body_limit = limit  # type: ignore[attr-defined]
        return view

    return mark


def check_body() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "body_limit", None) or current_app.config.get("MAX_CONTENT_LENGTH")
    request.max_content_length = limit
    environ = request.environ
    chunked = request.content_length is None and environ.get("wsgi.input_terminated")
    if chunked and limit is not None:
        # A chunked body has no Content-Length, and Werkzeug would cut it silently at the
        # limit (leaving a shorter, maybe still valid, body): count what actually arrives.
        data = environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
    if not request.is_json:
        return
    raw = request.get_data(cache=True)
    if not raw:
        return
    try:
        body = json.loads(raw)
        per_request()["json"] = body
    except RecursionError as exc:
        raise ApiError(400, "The JSON body is nested too deeply.", error="bad_request") from exc
    except ValueError:
        return  # the schema's parser answers 400 "Invalid JSON body."
    problem = json_problem(body, 0)
    if problem is not None:
        where, message = problem
        raise ApiError(
            422, "Invalid request.", error="validation_failed", errors={where: [message]}
        )


def parsed_json_body() -> Any:
    """The JSON body as the request guard parsed it (None if it was not JSON): parsed once."""
    return per_request().get("json")


def json_problem(value: Any, depth: int, where: str = "_body") -> tuple[str, str] | None:
    """The first thing in a parsed body no endpoint can take: (top-level field, message)."""
    if depth > MAX_JSON_DEPTH:
        return where, f"Nested deeper than {MAX_JSON_DEPTH} levels."
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            return where, "Contains characters that cannot be stored (NUL, lone surrogate)."
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        if abs(value) > MAX_INT64:
            return where, "Number too large."
    elif isinstance(value, dict):
        for key, item in value.items():
            field = UNSTORABLE.sub("?", key) if depth == 0 else where
            if UNSTORABLE.search(key):
                return field, "Contains characters that cannot be stored (NUL, lone surrogate)."
            problem = json_problem(item, depth + 1, field)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1, where)
            if problem is not None:
                return problem
    return None


CONSOLE_PATH = "/console"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """A signed cookie session for the console's pages alone (every other path has none):
    its own name and path, HttpOnly, SameSite=Lax, and Secure whenever the request came over
    https, so a console behind TLS never sends it in the clear."""

    def open_session(self, app: Flask, request: Request) -> Any:
        if not is_console_path(request.path):
            return None
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if session is None or not is_console_path(request.path):
            return None
        return super().save_session(app, session, response)

    def get_cookie_name(self, app: Flask) -> str:
        return "console_session"

    def get_cookie_path(self, app: Flask) -> str:
        return CONSOLE_PATH

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request) and request.is_secure


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def site_cache() -> SiteSnapshotCache:
    cache: SiteSnapshotCache = current_app.extensions["consent_site_cache"]
    return cache


def per_request() -> dict[str, Any]:
    """Storage that lives exactly as long as this request (the WSGI environ), unlike `g`,
    which is shared by every request made inside one pushed app context."""
    return storage_of(request.environ)


def storage_of(environ: dict[str, Any]) -> dict[str, Any]:
    """`per_request` of a WSGI environ, for the lane (no request context there)."""
    storage: dict[str, Any] = environ.setdefault("consent_service", {})
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
    """The site, after checking that a browser calling us comes from one of its origins or
    from the service's own pages (the preference center asks for erasure from there)."""
    snapshot = site_snapshot(site_key)
    origin = request.headers.get("Origin")
    if not origin_allowed(snapshot, origin, request.environ):
        raise ApiError(403, "This origin is not allowed for this site.", error="origin_not_allowed")
    per_request()["cors_origin"] = origin
    return snapshot


def origin_allowed(snapshot: SiteSnapshot, origin: str | None, environ: dict[str, Any]) -> bool:
    """No Origin (not a cross-origin browser call), one of the site's, or the service's own."""
    if origin is None:
        return True
    origin = origin.lower()
    return origin in snapshot.allowed_origins or origin == own_origin(environ)


def own_origin(environ: dict[str, Any]) -> str:
    """The service's own origin as this request reached it (scheme and host after ProxyFix).

    A browser's Origin header is its own: another site's page cannot claim ours."""
    return host_url(environ).lower()


def host_url(environ: dict[str, Any]) -> str:
    """Scheme and Host of the request as werkzeug's `request.host_url` spells them, no slash."""
    host = get_host(environ, current_app.config.get("TRUSTED_HOSTS"))
    return f"{environ['wsgi.url_scheme']}://{host}"


def add_cors_headers(response: Response) -> Response:
    add_cors(response.headers, per_request().get("cors_origin"))
    return response


def add_cors(headers: Any, origin: str | None) -> None:
    """The CORS headers of a public answer (`headers`: a dict or werkzeug's Headers): the
    calling origin, once checked, and Vary on Origin."""
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"
    vary = headers.get("Vary")
    headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


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
    response.headers["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def require_json() -> None:
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        raise ApiError(415, "Send the body as application/json.", error="unsupported_media_type")


def request_context() -> RequestContext:
    """What we may keep of this request: a truncated address, the user agent, the country
    (a trusted header's, else the offline lookup's; the address itself is not kept)."""
    return request_context_of(request.environ)


def request_context_of(environ: dict[str, Any]) -> RequestContext:
    """`request_context` from the WSGI environ itself (the fast lane has no request)."""
    country, _ = visitor_place_of(environ)
    return RequestContext(
        ip_prefix=truncate_ip(environ.get("REMOTE_ADDR")),
        user_agent=UNSTORABLE.sub("", environ.get("HTTP_USER_AGENT", "")) or None,
        country=country,
        sec_gpc=environ.get("HTTP_SEC_GPC") == "1",
    )


def visitor_place_of_request() -> tuple[str | None, str | None]:
    """(country, subdivision) of the visitor: COUNTRY_HEADER and REGION_HEADER from the
    trusted proxy, else the country of the address."""
    return visitor_place_of(request.environ)


def visitor_place_of(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    """`visitor_place_of_request` from the WSGI environ itself (the fast lane has no request)."""
    config = current_app.config
    country_header, region_header = config.get("COUNTRY_HEADER"), config.get("REGION_HEADER")
    return visitor_place(
        environ.get("REMOTE_ADDR"),
        environ.get(environ_key(country_header)) if country_header else None,
        environ.get(environ_key(region_header)) if region_header else None,
    )


def environ_key(header: str) -> str:
    """Where WSGI keeps a request header: `CF-IPCountry` is HTTP_CF_IPCOUNTRY."""
    return "HTTP_" + header.upper().replace("-", "_")


def visitor_rule_set(regions: dict[str, Any] | None) -> str:
    """The rule set of this request's visitor under a site's `regions` (None: the built-in
    map), decided now so the banner needs no second request."""
    return rule_set_of(regions, request.environ)


def rule_set_of(regions: dict[str, Any] | None, environ: dict[str, Any]) -> str:
    return rule_set_for(regions, *visitor_place_of(environ))


def place_headers() -> list[str]:
    """The trusted proxy's headers a visitor's rule set is chosen by: an answer that depends
    on the rule set varies on them, so a CDN in front keeps one copy per value."""
    config = current_app.config
    return [name for name in (config.get("COUNTRY_HEADER"), config.get("REGION_HEADER")) if name]


def place_cache_scope() -> str:
    """ "public" when the rule set comes from the trusted proxy's headers; "private" when it
    comes from the address, which nothing a shared cache keys on tells apart."""
    return "public" if current_app.config.get("COUNTRY_HEADER") else "private"


def json_response(
    body: bytes, status: int = 200, headers: dict[str, Any] | None = None
) -> Response:
    return Response(body, status=status, headers=headers, mimetype="application/json")
