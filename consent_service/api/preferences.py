"""The preference center, `/p/SITE_KEY`: a visitor's own consent, history, data and rights.

The page is on the service's origin, the banner on the site's; the banner's dialog links
here with the visitor token in the URL fragment (`/p/KEY?lang=en#TOKEN`). A fragment never
reaches a server, a log or a Referer: the page's script (`static/preferences/center.js`)
takes it out of the address bar and POSTs it in a form, and every later form of the page
carries it in its body. No cookie or session is set, so no other site can act for the
visitor without their token. Served under the demo's strict CSP, with no referrer and no
caching.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, request, url_for
from marshmallow import Schema, ValidationError

from consent_service.api.demo_pages import page
from consent_service.api.http import request_context, site_snapshot
from consent_service.consents import portability, preferences
from consent_service.errors import ApiError
from consent_service.schemas.preferences import ExportFormSchema, PreferenceFormSchema
from consent_service.sites.defaults import preference_center_texts
from consent_service.sites.registry import get_site
from consent_service.sites.snapshot import SiteSnapshot
from consent_service.tokens import read_visitor_token

blp = Blueprint("preferences", __name__, url_prefix="/p")

PREFERENCE_FORM = PreferenceFormSchema()
EXPORT_FORM = ExportFormSchema()
NOTICES = {"save": "saved", "withdraw": "withdrawn"}


def load_form(schema: Schema) -> dict[str, Any]:
    """The posted form through `schema` (422 in the JSON error shape on tampered input)."""
    form = {key: request.form.getlist(key) for key in request.form}
    flat = {key: values if key == "allow" else values[-1] for key, values in form.items()}
    try:
        loaded: dict[str, Any] = schema.load(flat)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
        raise ApiError(422, "Invalid form.", error="validation_failed", errors=errors) from exc
    return loaded


def render(snapshot: SiteSnapshot, locale: str, status: int = 200, **context: Any) -> Response:
    response = page(
        "preferences/center.html",
        site_key=snapshot.site_key,
        site_name=snapshot.name,
        locale=locale,
        locales=snapshot.locales,
        words=preference_center_texts(locale, snapshot.name),
        erasure_url=url_for("public.post_erasure", site_key=snapshot.site_key),
        **context,
    )
    response.status_code = status
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def page_locale(snapshot: SiteSnapshot, requested: str | None) -> str:
    return snapshot.choose_locale(requested, request.headers.get("Accept-Language", ""))


@blp.route("/<string:site_key>", methods=["GET"])
def center(site_key: str) -> Response:
    """The page before it knows the visitor: its script posts the token from the fragment."""
    snapshot = site_snapshot(site_key)
    return render(snapshot, page_locale(snapshot, request.args.get("lang")), view=None)


@blp.route("/<string:site_key>", methods=["POST"])
def center_post(site_key: str) -> Response:
    """The visitor's page; with `do=save` or `do=withdraw`, after recording that change."""
    form = load_form(PREFERENCE_FORM)
    snapshot = site_snapshot(site_key)
    locale = page_locale(snapshot, form["lang"])
    visitor_id = read_visitor_token(form["token"], site_key)
    if visitor_id is None:
        return render(snapshot, locale, 401, view=None, problem="invalid_token")
    site = get_site(site_key)
    notice = NOTICES.get(form["do"])
    if notice is not None:
        if form["event_id"] is None:
            raise ApiError(
                422,
                "Invalid form.",
                error="validation_failed",
                errors={"event_id": ["Required to record a change."]},
            )
        preferences.record_change(
            site,
            snapshot,
            form["token"],
            visitor_id,
            action="custom" if form["do"] == "save" else "withdraw",
            allowed=set(form["allow"]),
            event_id=form["event_id"],
            locale=locale,
            context=request_context(),
        )
    return render(
        snapshot,
        locale,
        view=preferences.center(site, visitor_id, locale),
        token=form["token"],
        notice=notice,
        save_id=uuid.uuid4(),
        withdraw_id=uuid.uuid4(),
    )


@blp.route("/<string:site_key>/export", methods=["POST"])
def export(site_key: str) -> Response:
    """Everything held about the visitor as a JSON download (`GET
    /api/v1/sites/KEY/portability` is the same document for a site's own code)."""
    form = load_form(EXPORT_FORM)
    snapshot = site_snapshot(site_key)
    visitor_id = read_visitor_token(form["token"], site_key)
    if visitor_id is None:
        raise ApiError(401, "The visitor token is not valid for this site.", error="invalid_token")
    document = portability.visitor_document(snapshot.site_id, site_key, visitor_id)
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="consent-data-{site_key}.json"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
