"""The ledger for auditors and site backends: keys, checkpoints, proofs, exports."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint
from marshmallow import RAISE

from consent_service.api.document import json_answer
from consent_service.api.http import MAX_INT32, site_snapshot
from consent_service.errors import ApiError
from consent_service.ledger import exports, notices, proofs
from consent_service.ledger.signing import (
    public_key_document,
    publish_on_first_request,
    published_keys,
)
from consent_service.models import ApiToken
from consent_service.schemas.ledger import ConsistencyQuerySchema, ExportQuerySchema
from consent_service.sites.access import authorize, bearer_token

blp = Blueprint("ledger", __name__, description="Proof of consent: checkpoints, proofs, exports.")

READERS = {"admin", "auditor"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "iso27560": "application/x-ndjson",
}


EXPORT_ANSWER = {
    "responses": {
        "200": {
            "description": "The sealed events, streamed: CSV, or JSON Lines (jsonl, iso27560).",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
            "headers": {
                "Link": {"schema": {"type": "string"}, "description": "The manifest's URL."},
                "X-Export-Id": {"schema": {"type": "string"}},
            },
        }
    }
}


@blp.record_once
def publish_signing_key(state: Any) -> None:
    """The signing key is listed from the first request on, before it signs anything."""
    publish_on_first_request(state.app)


def reader(site_key: str) -> tuple[Any, ApiToken]:
    site = site_snapshot(site_key)
    token = authorize(site.site_id, bearer_token(request.headers.get("Authorization")), READERS)
    return site, token


@blp.route("/.well-known/consent-ledger-keys", methods=["GET"])
@blp.doc(**json_answer("Every public key that ever signed, with its key id."))
def ledger_keys() -> ResponseReturnValue:
    """Every public key that signed checkpoints, receipts or manifests, old ones included."""
    return public_key_document(published_keys())


def checkpoint_answer(description: str) -> dict[str, Any]:
    """A checkpoint as JSON, or with `Accept: text/plain` as a C2SP signed note."""
    answer = json_answer(description, ("tree_size",))
    answer["responses"]["200"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    return answer


@blp.route("/api/v1/sites/<string:site_key>/ledger/checkpoints/latest", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **checkpoint_answer("The latest signed checkpoint."))
def latest_checkpoint(site_key: str) -> ResponseReturnValue:
    """JSON by default; with `Accept: text/plain` the C2SP tlog-checkpoint signed note."""
    site, _ = reader(site_key)
    return checkpoint_response(site.site_key, proofs.require_checkpoint(site.site_id))


@blp.route("/api/v1/sites/<string:site_key>/ledger/checkpoints/<int:tree_size>", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **checkpoint_answer("The checkpoint of that size."))
def checkpoint_of_size(site_key: str, tree_size: int) -> ResponseReturnValue:
    """The checkpoint of one size, as JSON or (`Accept: text/plain`) as a signed note."""
    site, _ = reader(site_key)
    return checkpoint_response(site.site_key, proofs.checkpoint_at(site.site_id, tree_size))


def checkpoint_response(site_key: str, checkpoint: Any) -> ResponseReturnValue:
    accepted = request.accept_mimetypes
    if accepted["text/plain"] > accepted["application/json"]:
        return Response(
            proofs.checkpoint_note(site_key, checkpoint),
            content_type="text/plain; charset=utf-8",
            headers={"Vary": "Accept", "Cache-Control": "no-store"},
        )
    return proofs.checkpoint_document(site_key, checkpoint)


@blp.route("/api/v1/sites/<string:site_key>/ledger/proof/<string:event_id>", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **json_answer("The event's inclusion proof."))
def inclusion_proof(site_key: str, event_id: str) -> ResponseReturnValue:
    site, _ = reader(site_key)
    try:
        parsed = uuid.UUID(event_id)
    except ValueError as exc:
        raise ApiError(
            422, "Not an event id.", error="validation_failed", errors={"event_id": ["Not a UUID."]}
        ) from exc
    return proofs.inclusion_proof_for(site.site_id, site.site_key, parsed)


@blp.route("/api/v1/sites/<string:site_key>/ledger/consistency", methods=["GET"])
@blp.arguments(ConsistencyQuerySchema(), location="query", unknown=RAISE)
@blp.doc(security=[{"bearerAuth": []}], **json_answer("A consistency proof between two sizes."))
def consistency(query: dict[str, int], site_key: str) -> ResponseReturnValue:
    site, _ = reader(site_key)
    return proofs.consistency_between(site.site_id, site.site_key, query["from_"], query["to"])


@blp.route("/api/v1/sites/<string:site_key>/ledger/export", methods=["GET"])
@blp.arguments(ExportQuerySchema(), location="query", unknown=RAISE)
@blp.doc(security=[{"bearerAuth": []}], **EXPORT_ANSWER)
def export(query: dict[str, Any], site_key: str) -> ResponseReturnValue:
    """Stream sealed events; the manifest is at the URL in the `Link` header once done."""
    site, token = reader(site_key)
    filters = exports.ExportFilters(
        start=query["from_"],
        end=query["to"],
        category=query["category"],
        action=query["action"],
        visitor_id=query["visitor_id"],
    )
    run = exports.start_export(
        site.site_id, site.site_key, site.name, query["format"], filters,
        actor=f"token:{token.id}:{token.role}", token_id=token.id,
    )  # fmt: skip
    manifest_url = f"/api/v1/sites/{site.site_key}/ledger/exports/{run.export.id}/manifest"
    return Response(
        stream_with_context(run.chunks),
        content_type=CONTENT_TYPES[query["format"]],
        headers={
            "X-Export-Id": str(run.export.id),
            "X-Checkpoint-Tree-Size": str(run.checkpoint["tree_size"]),
            "Link": f'<{manifest_url}>; rel="describedby"',
            "Cache-Control": "no-store",
        },
    )


@blp.route(
    f"/api/v1/sites/<string:site_key>/ledger/exports/<int(max={MAX_INT32}):export_id>/manifest",
    methods=["GET"],
)
@blp.doc(security=[{"bearerAuth": []}], **json_answer("The export's signed manifest."))
def export_manifest(site_key: str, export_id: int) -> ResponseReturnValue:
    site, _ = reader(site_key)
    return exports.export_manifest(site.site_id, export_id)


@blp.route(
    "/api/v1/sites/<string:site_key>/ledger/banner-versions/<string:digest>", methods=["GET"]
)
@blp.doc(
    security=[{"bearerAuth": []}],
    **json_answer("The version's hash and the exact document hashed.", ("sha256",)),
)
def banner_version(site_key: str, digest: str) -> ResponseReturnValue:
    """A banner or wording version as hashed: `document` is the exact string whose UTF-8
    SHA-256 is the version's hash (`sha256`)."""
    site, _ = reader(site_key)
    if len(digest) != 64 or any(char not in "0123456789abcdefABCDEF" for char in digest):
        raise ApiError(
            422, "Not a SHA-256.", error="validation_failed", errors={"hash": ["64 hex digits."]}
        )
    return notices.banner_version(site.site_id, digest)
