"""The console's shell: signing in and out, the list of sites, and what an operator does
(create sites and accounts). Server-rendered pages under the demo page's strict CSP; every
POST carries a CSRF token. The pages of one site are in `console_site.py`.

Every console request passes `guard`: signed in (else to the sign-in page), a write on a site
only with a role that may write (403 for an auditor however the request is sent), then the
CSRF token."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from consent_service.api.demo_pages import strict_csp
from consent_service.console import accounts, activity, signin
from consent_service.errors import ApiError
from consent_service.extensions import csrf
from consent_service.models import ConsoleAccount, Site
from consent_service.netinfo import truncate_ip
from consent_service.sites import settings
from consent_service.sites.registry import get_site

blp = Blueprint("console", __name__, url_prefix="/console")

WRITES = ("POST", "PUT", "PATCH", "DELETE")
OPEN_ENDPOINTS = ("console.login",)
#: Writes nothing, so needs no token: the preview's banner reports its decisions there.
NO_CSRF_ENDPOINTS = ("console.preview_sink",)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page: no caching, the demo page's CSP, nothing from another host."""
    from secrets import token_urlsafe

    nonce = token_urlsafe(16)
    context.setdefault("account", current_account())
    response = Response(render_template(template, nonce=nonce, **context), status=status)
    response.headers["Content-Security-Policy"] = strict_csp(nonce)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def current_account() -> ConsoleAccount | None:
    account_id = session.get("account_id") if session is not None else None
    return accounts.get_account(int(account_id)) if account_id else None


def signed_in() -> ConsoleAccount:
    account = current_account()
    if account is None:
        raise ApiError(401, "Sign in first.", error="unauthorized")
    return account


def actor(account: ConsoleAccount) -> str:
    return f"console:{account.id}:{account.email}"[:100]


def guard() -> ResponseReturnValue | None:
    if request.endpoint in OPEN_ENDPOINTS:
        if request.method in WRITES:
            csrf.protect()
        return None
    account = current_account()
    if account is None:
        if request.method in WRITES:
            raise ApiError(401, "Sign in first.", error="unauthorized")
        return redirect(url_for("console.login", next=request.path))
    site_key = (request.view_args or {}).get("site_key")
    if site_key is not None:
        site = settings_site(site_key)
        accounts.require(account, site, write=request.method in WRITES)
    if request.method in WRITES and request.endpoint not in NO_CSRF_ENDPOINTS:
        csrf.protect()
    return None


def settings_site(site_key: str) -> Site:
    return get_site(site_key)


def error_page(exc: ApiError | CSRFError) -> Response:
    """Errors on a console page are pages too (the API keeps its JSON shape)."""
    errors = exc.errors if isinstance(exc, ApiError) else {}
    response = page(
        "console/error.html", status=exc.code or 400, message=exc.description, errors=errors
    )
    if isinstance(exc, ApiError):
        response.headers.update(exc.extra_headers)
    return response


blp.before_request(guard)
blp.register_error_handler(ApiError, error_page)
blp.register_error_handler(CSRFError, error_page)


def new_session() -> None:
    """A fresh session (and CSRF token) at each sign-in and sign-out, so that nothing of the
    one before, fixed by someone else maybe, carries over."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


@blp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return page("console/login.html")
    email = request.form.get("email", "")[:254]
    try:
        account = signin.sign_in(
            email, request.form.get("password", "")[:1024], truncate_ip(request.remote_addr)
        )
    except ApiError as exc:
        status = exc.code or 401
        answer = page("console/login.html", status=status, error=exc.description, email=email)
        answer.headers.update(exc.extra_headers)
        return answer
    new_session()
    session["account_id"] = account.id
    target = request.args.get("next", "")
    if not target.startswith("/console/") or target.startswith("//"):
        target = url_for("console.index")
    return redirect(target)


@blp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    account = signed_in()
    activity.record("signout", account=account)
    new_session()
    return redirect(url_for("console.login"))


@blp.route("/", methods=["GET"])
def index() -> ResponseReturnValue:
    account = signed_in()
    return page("console/index.html", sites=accounts.visible_sites(account), roles=accounts.ROLES)


def operator() -> ConsoleAccount:
    account = signed_in()
    if not account.is_operator:
        raise ApiError(403, "Only an operator may do this.", error="forbidden")
    return account


@blp.route("/sites", methods=["POST"])
def create_site() -> ResponseReturnValue:
    account = operator()
    origins = request.form.get("origins", "").split()
    site = settings.create_site(request.form.get("name", "").strip(), origins, actor=actor(account))
    activity.record("site.created", account=account, site_id=site.id)
    return redirect(url_for("console_site.overview", site_key=site.site_key))


@blp.route("/accounts", methods=["POST"])
def create_account() -> ResponseReturnValue:
    account = operator()
    role = request.form.get("role", "")
    site_key = request.form.get("site_key") or None
    site = settings_site(site_key) if site_key and role != accounts.OPERATOR else None
    accounts.create_account(
        request.form.get("email", ""), request.form.get("password", ""), role, site, actor=account
    )
    return redirect(url_for("console.index"))


@blp.route("/activity", methods=["GET"])
def all_activity() -> ResponseReturnValue:
    operator()
    return page("console/activity.html", entries=activity.recent(), site=None)


@blp.route("/preview-sink/", methods=["GET"])
def preview_sink_base() -> ResponseReturnValue:
    """The API base the preview's banner is given (so its decisions come to `preview_sink`)."""
    raise ApiError(404, "Nothing here.", error="not_found")


@blp.route("/preview-sink/api/v1/sites/<string:key>/consents", methods=["POST"])
def preview_sink(key: str) -> ResponseReturnValue:
    """Where the preview's banner reports a decision: answered, never recorded, so trying the
    banner in the console leaves the ledger and the dashboard alone."""
    signed_in()
    return {"recorded": False}, 200
