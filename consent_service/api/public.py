"""The public API that banners and site code call from the browser."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from consent_service.api.banner import api_base
from consent_service.api.document import json_answer
from consent_service.api.http import (
    add_cors_headers,
    json_response,
    load_query,
    parsed_json_body,
    place_cache_scope,
    place_headers,
    preflight_response,
    public_site,
    request_context,
    require_json,
    site_cache,
    visitor_rule_set,
)
from consent_service.background import wake
from consent_service.consents import decisions, portability, request_handling
from consent_service.errors import ApiError
from consent_service.integrations.crm import delivery, leads
from consent_service.ledger import proofs
from consent_service.schemas.consent import (
    ConsentDecisionSchema,
    ConsentRecordedSchema,
    ConsentStateSchema,
    VisitorTokenQuerySchema,
    dump_recorded,
    load_decision_fast,
)
from consent_service.schemas.lead import (
    ErasureReportSchema,
    ErasureRequestSchema,
    LeadAcceptedSchema,
    LeadSubmissionSchema,
)
from consent_service.schemas.site import ConfigQuerySchema, SiteConfigSchema
from consent_service.sites import versions
from consent_service.tokens import issue_request_reference

blp = Blueprint(
    "public", __name__, url_prefix="/api/v1/sites", description="Banner configuration and consent."
)


@blp.before_request
def check_site_and_origin() -> Response | None:
    """Unknown site (404), foreign origin (403) and non-JSON bodies (415) before anything else."""
    site_key = (request.view_args or {}).get("site_key")
    if site_key is not None:
        public_site(site_key)
    if request.method == "OPTIONS":
        return preflight_response()
    require_json()
    return None


blp.after_request(add_cors_headers)


CONFIG_QUERY = ConfigQuerySchema()


def documented_only(documented: Callable[..., Any]) -> Callable[..., Any]:
    """The view as written at run time, without flask-smorest's documenting wrappers (each a
    call that only passes the view's Response through); `functools.wraps` keeps their
    `_apidoc`, so the OpenAPI document is unchanged. For the hottest GET, the banner config."""
    plain = inspect.unwrap(documented)

    @functools.wraps(documented)
    def view(**kwargs: Any) -> Any:
        return plain(**kwargs)

    return view


@blp.route("/<string:site_key>/config", methods=["GET"])
@documented_only
@blp.doc(parameters=[{"in": "query", "name": "locale", "schema": {"type": "string"}}])
@blp.alt_response(200, schema=SiteConfigSchema, description="The configuration.", success=True)
@blp.alt_response(304, description="Not modified (If-None-Match matched the ETag).")
def get_config(site_key: str) -> Response:
    """What a banner needs: categories, services, texts, policy and banner versions, and the
    rule set of the visitor's region (chosen as for the served script)."""
    query = load_query(CONFIG_QUERY)
    snapshot = public_site(site_key)
    locale = snapshot.choose_locale(query["locale"], request.headers.get("Accept-Language", ""))
    published = site_cache().config(snapshot, locale, visitor_rule_set(snapshot.regions))
    headers = config_headers(published.etag, locale)
    if request.if_none_match.contains(published.etag):
        return Response(status=304, headers=headers)
    return json_response(published.body, headers=headers)


def config_headers(etag: str, locale: str) -> dict[str, str]:
    """The headers of a config answer (200 and 304), but CORS's (add_cors)."""
    max_age = current_app.config["CONFIG_MAX_AGE"]
    return {
        "ETag": f'"{etag}"',
        # Chosen by the address when no trusted proxy names the country: private, as the script.
        "Cache-Control": (
            f"{place_cache_scope()}, max-age={max_age}, stale-while-revalidate={max_age * 10}"
        ),
        "Vary": ", ".join(["Accept-Language", *place_headers()]),
        "Content-Language": locale,
    }


def record(decision: dict[str, Any], site_key: str) -> tuple[Any, int]:
    """Record one decision; the answer (ConsentRecordedSchema's shape) serialised once."""
    recorded = decisions.record_decision(public_site(site_key), decision, request_context())
    body = dump_recorded(recorded.event, recorded.visitor_token, recorded.state, recorded.receipt)
    return current_app.json.response(body), 201 if recorded.created else 200


def fast_consent_post(documented: Callable[..., Any]) -> Callable[..., Any]:
    """The consent write without webargs and flask-smorest's wrappers at run time.

    A well-formed decision (`load_decision_fast`, the same rules as the schema) is recorded
    and its answer serialised once; anything else goes through the documented view below,
    so every error is worded by the schema exactly as documented. The wrappers' `_apidoc`
    is kept, so the OpenAPI document is unchanged.
    """

    @functools.wraps(documented)
    def view(site_key: str) -> Any:
        decision = load_decision_fast(parsed_json_body())
        if decision is None:
            return documented(site_key=site_key)
        return record(decision, site_key)

    return view


@blp.route("/<string:site_key>/consents", methods=["POST"])
@fast_consent_post
@blp.arguments(ConsentDecisionSchema())
@blp.response(201, ConsentRecordedSchema)
@blp.alt_response(200, schema=ConsentRecordedSchema, description="Replay of a recorded event.")
def post_consent(decision: dict[str, Any], site_key: str) -> tuple[Any, int]:
    """Record one decision. Idempotent on `event_id`: a replay answers 200 with the same body."""
    return record(decision, site_key)


@blp.route("/<string:site_key>/consents/current", methods=["GET"])
@blp.arguments(VisitorTokenQuerySchema(), location="query", unknown=RAISE)
@blp.response(200, ConsentStateSchema)
def get_current_consent(query: dict[str, Any], site_key: str) -> decisions.ConsentState:
    """The visitor's current state; token in `X-Visitor-Token` or `?visitor_token=`."""
    site = public_site(site_key)
    token = request.headers.get("X-Visitor-Token") or query["visitor_token"]
    return decisions.current_state(site, decisions.visitor_from_token(site, token))


@blp.route("/<string:site_key>/consents/<string:event_id>/proof", methods=["GET"])
@blp.arguments(VisitorTokenQuerySchema(), location="query", unknown=RAISE)
@blp.doc(**json_answer("The event's inclusion proof in the latest signed checkpoint."))
def get_consent_proof(query: dict[str, Any], site_key: str, event_id: str) -> dict[str, Any]:
    """The inclusion proof of the visitor's own event in the latest signed checkpoint (token in
    `X-Visitor-Token` or `?visitor_token=`); 404 `not_sealed` with `Retry-After` until sealed."""
    site = public_site(site_key)
    token = request.headers.get("X-Visitor-Token") or query["visitor_token"]
    visitor_id = decisions.visitor_from_token(site, token)
    try:
        parsed = uuid.UUID(event_id)
    except ValueError as exc:
        raise ApiError(
            422, "Not an event id.", error="validation_failed", errors={"event_id": ["Not a UUID."]}
        ) from exc
    return proofs.visitor_inclusion_proof(site.site_id, site.site_key, visitor_id, parsed)


@blp.route("/<string:site_key>/portability", methods=["GET"])
@blp.arguments(VisitorTokenQuerySchema(), location="query", unknown=RAISE)
@blp.doc(**json_answer("Everything held about the visitor (consent-service.visitor-data.v1)."))
def get_portability(query: dict[str, Any], site_key: str) -> dict[str, Any]:
    """Everything the service holds about the visitor on this site, as one JSON document:
    events with their evidence, receipts and seal status, leads and subscriptions by status
    (token in `X-Visitor-Token` or `?visitor_token=`). The preference center's download."""
    site = public_site(site_key)
    token = request.headers.get("X-Visitor-Token") or query["visitor_token"]
    visitor_id = decisions.visitor_from_token(site, token)
    return portability.visitor_document(site.site_id, site.site_key, visitor_id)


@blp.route("/<string:site_key>/policies/<string:label>.txt", methods=["GET"])
@blp.alt_response(200, description="The exact UTF-8 text whose SHA-256 is the version's hash.")
def get_policy_text(site_key: str, label: str) -> Response:
    """A policy version's exact text: the bytes its `sha256` (in consent events' evidence and
    bundles) is the hash of. Immutable, like the version."""
    policy = versions.policy_text(public_site(site_key).site_id, label)
    return Response(
        (policy.text or "").encode("utf-8"),
        content_type="text/plain; charset=utf-8",
        headers={
            "ETag": f'"{policy.sha256}"',
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


@blp.route("/<string:site_key>/leads", methods=["POST"])
@blp.arguments(LeadSubmissionSchema())
@blp.response(202, LeadAcceptedSchema)
def post_lead(submission: dict[str, Any], site_key: str) -> Any:
    """A contact form's lead for the site's CRM: accepted (202, in the outbox) only on consent.

    403 `<category>_consent_missing` or `separate_consent_missing` says which consent is missing.
    """
    lead = leads.accept_lead(public_site(site_key), submission)
    wake(current_app._get_current_object(), delivery.CRM_WORKER)  # type: ignore[attr-defined]
    return lead


@blp.route("/<string:site_key>/erasure", methods=["POST"])
@blp.arguments(ErasureRequestSchema())
@blp.response(202, ErasureReportSchema)
def post_erasure(body: dict[str, Any], site_key: str) -> dict[str, Any]:
    """The visitor asks for erasure: their leads (deleted in the CRM too), subscriptions and
    the evidence of their consent events; the ledger's leaves stay. Recorded as a data
    subject request, closed at once; `reference` opens its status page."""
    site = public_site(site_key)
    visitor_id = decisions.visitor_from_token(site, body["visitor_token"])
    report, recorded = request_handling.erase_now(
        site.site_id, visitor_id, None, channel="visitor_token", actor="visitor"
    )
    wake(current_app._get_current_object(), delivery.CRM_WORKER)  # type: ignore[attr-defined]
    reference = issue_request_reference(site.site_key, recorded.id)
    answer: dict[str, Any] = {"leads": report.leads, "subscriptions": report.subscriptions}
    answer["reference"] = reference
    url = request_status_url(reference)
    if url is not None:
        answer["status_url"] = url
    return answer


def request_status_url(reference: str) -> str | None:
    """The status page of a data subject request; None when the service cannot name its own
    URL for this Host (see `api_base`): the reference alone still works."""
    try:
        return f"{api_base()}/rights/{reference}"
    except ApiError:
        return None
