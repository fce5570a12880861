"""A site's settings document for its owners: read with an ETag, replace with If-Match (or
only plan with ?dry_run=true), the history of changes, and past banner versions."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint
from marshmallow import RAISE

from consent_service.api.document import json_answer
from consent_service.api.http import MAX_INT32, body_limit, json_response
from consent_service.errors import ApiError
from consent_service.models import ApiToken, Site
from consent_service.schemas.jsonschema import settings_json_schema
from consent_service.schemas.site_settings import (
    DryRunQuerySchema,
    HistoryQuerySchema,
    PlanSchema,
)
from consent_service.sites import history, settings, versions
from consent_service.sites.access import authorize, bearer_token
from consent_service.sites.registry import get_site

blp = Blueprint(
    "site_settings", __name__, description="A site's settings document, its history and versions."
)

READERS = {"admin", "auditor"}
# A document with many services in several locales outgrows the 16 KiB of a consent body.
SETTINGS_MAX_BYTES = 1024 * 1024
SITE = "/api/v1/sites/<string:site_key>"
# The document is checked by the operation (errors keyed by JSON Pointer), not by webargs.
# Its JSON Schema (2020-12) is served on its own rather than referenced: a `$ref` to a URL
# is one no OpenAPI client can resolve offline, and a 2020-12 schema is not an OpenAPI 3.0 one.
DOCUMENT_BODY = {
    "required": True,
    "description": "A settings document; its JSON Schema is GET /api/site-settings.schema.json.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The document's SHA-256."}}


def document_answer(description: str) -> dict[str, Any]:
    """A 200 answering a settings document, with its ETag."""
    answer = json_answer(description)
    answer["responses"]["200"]["headers"] = ETAG
    return answer


def caller(site_key: str, roles: set[str]) -> tuple[Site, ApiToken]:
    site = get_site(site_key)
    token = authorize(site.id, bearer_token(request.headers.get("Authorization")), roles)
    return site, token


def if_match_tags(required: bool) -> list[str] | None:
    """The entity tags of If-Match ("*" for any); 428 when a write comes without one."""
    if not request.if_match:
        if required:
            raise ApiError(
                428, "Send If-Match with the ETag you read.", error="precondition_required"
            )
        return None
    return ["*"] if request.if_match.star_tag else list(request.if_match)


@blp.route("/api/site-settings.schema.json", methods=["GET"])
@blp.doc(**json_answer("The JSON Schema (2020-12).", content_type="application/schema+json"))
def settings_schema() -> ResponseReturnValue:
    """The JSON Schema of settings documents, for editors and CI."""
    response = jsonify(settings_json_schema())
    response.mimetype = "application/schema+json"
    return response


@blp.route(f"{SITE}/settings", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **document_answer("The document last applied."))
def read_settings(site_key: str) -> ResponseReturnValue:
    """The document last applied; its ETag is the document's SHA-256, for If-Match."""
    site, _ = caller(site_key, READERS)
    document = settings.current_document(site)
    response = jsonify(document)
    response.set_etag(settings.settings_hash(document))
    return response


@blp.route(f"{SITE}/settings", methods=["PUT"])
@body_limit(SETTINGS_MAX_BYTES)
@blp.arguments(DryRunQuerySchema(), location="query", unknown=RAISE)
@blp.alt_response(200, schema=PlanSchema, description="The plan (applied or not).", success=True)
@blp.doc(security=[{"bearerAuth": []}], requestBody=DOCUMENT_BODY)
def replace_settings(query: dict[str, Any], site_key: str) -> ResponseReturnValue:
    """Apply a document: the plan, 412 when the If-Match is stale, 428 without one, 422 with
    errors keyed by JSON Pointer. With ?dry_run=true only the plan, nothing written (If-Match
    then optional)."""
    site, token = caller(site_key, {"admin"})
    result = settings.apply_settings(
        request.get_json(silent=True),
        site=site,
        actor=f"token:{token.id}",
        dry_run=query["dry_run"],
        if_match=if_match_tags(required=not query["dry_run"]),
    )
    response = jsonify(result.as_dict())
    response.set_etag(result.settings_hash_after if result.applied else settings.current_hash(site))
    return response


@blp.route(f"{SITE}/settings/history", methods=["GET"])
@blp.arguments(HistoryQuerySchema(), location="query", unknown=RAISE)
@blp.doc(security=[{"bearerAuth": []}], **json_answer("The changes, newest first.", ("changes",)))
def settings_history(query: dict[str, Any], site_key: str) -> ResponseReturnValue:
    """Every applied change, newest first: who, when, hashes before and after, banner version;
    with ?at=, those made by then (the first was in effect at that moment)."""
    site, _ = caller(site_key, READERS)
    changes = history.history(site, query["at"])
    return {"changes": [history.change_summary(change) for change in changes]}


# Change ids are 32-bit; a larger one matches no route (404), never a query that overflows.
@blp.route(f"{SITE}/settings/history/<int(max={MAX_INT32}):change_id>", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **document_answer("The document that change applied."))
def settings_at(site_key: str, change_id: int) -> ResponseReturnValue:
    """The document a past change applied."""
    site, _ = caller(site_key, READERS)
    document = history.change_document(site, change_id)
    response = jsonify(document)
    response.set_etag(settings.settings_hash(document))
    return response


@blp.route(f"{SITE}/banner-versions/<string:digest>", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **json_answer("The canonical banner document."))
def banner_version(site_key: str, digest: str) -> ResponseReturnValue:
    """The exact canonical document a banner version hashes (its SHA-256 is the name)."""
    site, _ = caller(site_key, READERS)
    version = versions.find_banner_version(site.id, digest.lower())
    if version is None:
        raise ApiError(404, "This site never showed that banner version.", error="not_found")
    return json_response(
        version.canonical_json.encode("utf-8"),
        headers={"ETag": f'"{version.sha256}"', "Cache-Control": "private, max-age=31536000"},
    )
