"""A site's CRM leads as its admins see them: the outbox, dead letters, disclosure records."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from flask import request
from flask_smorest import Blueprint

from consent_service.api.http import site_snapshot
from consent_service.consents import erasure, request_handling
from consent_service.errors import ApiError
from consent_service.integrations.crm import disclosures as crm_disclosures
from consent_service.integrations.crm import leads
from consent_service.models import Lead
from consent_service.schemas.lead import (
    AdminErasureRequestSchema,
    DisclosureSchema,
    ErasureReportSchema,
    LeadSchema,
)
from consent_service.sites.access import authorize, bearer_token

blp = Blueprint(
    "leads",
    __name__,
    url_prefix="/api/v1/sites",
    description="CRM leads: outbox, dead letters and disclosure records.",
)


def site_for(site_key: str, roles: set[str]) -> int:
    site = site_snapshot(site_key)
    authorize(site.site_id, bearer_token(request.headers.get("Authorization")), roles=roles)
    return site.site_id


@blp.route("/<string:site_key>/leads/<string:lead_id>", methods=["GET"])
@blp.response(200, LeadSchema)
@blp.doc(security=[{"bearerAuth": []}])
def get_lead(site_key: str, lead_id: str) -> Lead:
    """Where a lead is: pending, delivered (with its NeoCRM id), dead, deleted, withdrawn."""
    return leads.find_lead(site_for(site_key, {"admin"}), lead_id)


@blp.route("/<string:site_key>/leads/dead", methods=["GET"])
@blp.response(200, LeadSchema(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def dead_leads(site_key: str) -> Sequence[Lead]:
    """Leads that failed every attempt, or need an admin to look at NeoCRM first."""
    return leads.dead_leads(site_for(site_key, {"admin"}))


@blp.route("/<string:site_key>/leads/<string:lead_id>/retry", methods=["POST"])
@blp.response(200, LeadSchema)
@blp.doc(security=[{"bearerAuth": []}])
def retry_lead(site_key: str, lead_id: str) -> Lead:
    return leads.retry_lead(site_for(site_key, {"admin"}), lead_id)


@blp.route("/<string:site_key>/disclosures", methods=["GET"])
@blp.response(200, DisclosureSchema(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def disclosures(site_key: str) -> Iterator[dict[str, Any]]:
    """Every disclosure record: what went to which recipient, when, why, on which consent."""
    return crm_disclosures.disclosure_records(site_for(site_key, {"admin", "auditor"}))


@blp.route("/<string:site_key>/erasure-requests", methods=["POST"])
@blp.arguments(AdminErasureRequestSchema())
@blp.response(202, ErasureReportSchema)
@blp.doc(security=[{"bearerAuth": []}])
def erase(body: dict[str, Any], site_key: str) -> erasure.ErasureReport:
    """The site's backend erases a visitor's leads and/or an address it has verified."""
    site_id = site_for(site_key, {"admin"})
    if not body["visitor_id"] and not body["email"]:
        raise ApiError(
            422,
            "Name a visitor_id, an email, or both.",
            error="validation_failed",
            errors={"visitor_id": ["Give visitor_id or email."]},
        )
    report, _ = request_handling.erase_now(
        site_id, body["visitor_id"], body["email"], channel="site_backend", actor="site_backend"
    )
    return report
