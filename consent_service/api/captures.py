"""Captures of the banner as scans rendered it, for admins and auditors: the evidence that a
banner version looked as claimed, listed by version and read one PNG at a time."""

from __future__ import annotations

from flask import Response
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from consent_service.api.document import json_answer
from consent_service.api.http import MAX_INT32
from consent_service.api.ledger import reader
from consent_service.scanner import captures

blp = Blueprint("captures", __name__, description="Captures of the banner, by banner version.")

BASE = "/api/v1/sites/<string:site_key>/ledger/banner-versions/<string:version_hash>/captures"


PNG_ANSWER = {
    "responses": {
        "200": {
            "description": "The capture, as the scan's browser rendered it.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@blp.route(BASE, methods=["GET"])
@blp.doc(
    security=[{"bearerAuth": []}],
    **json_answer("The captures of that version.", ("banner_version", "captures")),
)
def list_captures(site_key: str, version_hash: str) -> ResponseReturnValue:
    site, _ = reader(site_key)
    found = captures.list_captures(site.site_id, version_hash)
    prefix = f"/api/v1/sites/{site.site_key}/ledger/banner-versions/{version_hash}/captures"
    return {
        "banner_version": version_hash,
        "captures": [{**entry, "png_url": f"{prefix}/{entry['id']}.png"} for entry in found],
    }


# Capture ids are 32-bit; a larger one matches no route (404), never a query that overflows.
@blp.route(BASE + f"/<int(max={MAX_INT32}):capture_id>.png", methods=["GET"])
@blp.doc(security=[{"bearerAuth": []}], **PNG_ANSWER)
def capture_png(site_key: str, version_hash: str, capture_id: int) -> ResponseReturnValue:
    site, _ = reader(site_key)
    png = captures.capture_png(site.site_id, version_hash, capture_id)
    # Immutable rows: the bytes behind this URL never change, but they are evidence for
    # token holders only, so no shared cache keeps them.
    return Response(
        png, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )
