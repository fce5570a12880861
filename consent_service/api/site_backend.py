"""Endpoints for a site's own backend, authenticated with the site's admin token."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from consent_service.api.http import site_snapshot
from consent_service.consents import decisions
from consent_service.schemas.consent import ConsentStateSchema
from consent_service.sites.access import authorize, bearer_token

blp = Blueprint(
    "site_backend",
    __name__,
    url_prefix="/api/v1/sites",
    description="Server-side questions of a site: may I?",
)


@blp.route("/<string:site_key>/visitors/<string:visitor_id>/consent", methods=["GET"])
@blp.response(200, ConsentStateSchema)
@blp.doc(security=[{"bearerAuth": []}])
def get_visitor_consent(site_key: str, visitor_id: str) -> decisions.ConsentState:
    site = site_snapshot(site_key)
    authorize(site.site_id, bearer_token(request.headers.get("Authorization")), roles={"admin"})
    return decisions.current_state(site, visitor_id)
