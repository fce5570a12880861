"""Data subject requests as a site's admins handle them (admin token) and auditors read them
(auditor token): the list with due dates and overdue flags, one request with its steps, and
the actions. Each action writes a step naming the token that took it."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from consent_service.api.document import json_answer
from consent_service.api.http import site_snapshot
from consent_service.consents import request_handling, requests
from consent_service.models import ApiToken
from consent_service.schemas.request import (
    RequestCloseSchema,
    RequestCorrectSchema,
    RequestDetailSchema,
    RequestListItemSchema,
    RequestListQuerySchema,
    RequestNoteSchema,
    RequestRejectSchema,
    RequiredNoteSchema,
)
from consent_service.sites.access import authorize, bearer_token

blp = Blueprint(
    "subject_requests",
    __name__,
    url_prefix="/api/v1/sites",
    description="Data subject requests: access, correction, erasure, portability, objection.",
)

READERS = {"admin", "auditor"}
WRITERS = {"admin"}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def token_for(site_key: str, roles: set[str]) -> tuple[int, ApiToken]:
    site = site_snapshot(site_key)
    token = authorize(site.site_id, bearer_token(request.headers.get("Authorization")), roles)
    return site.site_id, token


def actor(token: ApiToken) -> str:
    return f"site_backend:{token.id}:{token.label or ''}"


def shown(site_id: int, request_id: int, token: ApiToken) -> dict[str, Any]:
    found = requests.find_request(site_id, request_id)
    return requests.detail(found, personal=token.role == "admin")


@blp.route("/<string:site_key>/requests", methods=["GET"])
@blp.arguments(RequestListQuerySchema(), location="query")
@blp.response(200, RequestListItemSchema(many=True))
@blp.doc(security=SECURITY)
def list_requests(query: dict[str, Any], site_key: str) -> list[requests.Listed]:
    """The newest requests (500 at most), with due dates; `overdue=true` for the late ones."""
    site_id, _ = token_for(site_key, READERS)
    return requests.list_requests(site_id, query["status"], query["overdue"])


@blp.route("/<string:site_key>/requests/<int:request_id>", methods=["GET"])
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def show_request(site_key: str, request_id: int) -> dict[str, Any]:
    """One request and every step; whom it concerns for admin tokens only."""
    site_id, token = token_for(site_key, READERS)
    return shown(site_id, request_id, token)


@blp.route("/<string:site_key>/requests/<int:request_id>/handle", methods=["POST"])
@blp.arguments(RequestNoteSchema())
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def handle_request(body: dict[str, Any], site_key: str, request_id: int) -> dict[str, Any]:
    """Take an open request on; an erasure request is carried out now (409 unless open)."""
    site_id, token = token_for(site_key, WRITERS)
    request_handling.handle(site_id, request_id, actor(token), body["note"])
    return shown(site_id, request_id, token)


@blp.route("/<string:site_key>/requests/<int:request_id>/export", methods=["POST"])
@blp.doc(
    security=SECURITY,
    **json_answer("What the service holds about the requester.", ("format", "site")),
)
def export_request(site_key: str, request_id: int) -> dict[str, Any]:
    """The requester's data as JSON, recorded as a step (409 for another type or when done)."""
    site_id, token = token_for(site_key, WRITERS)
    return request_handling.export(site_id, request_id, actor(token))


@blp.route("/<string:site_key>/requests/<int:request_id>/correct", methods=["POST"])
@blp.arguments(RequestCorrectSchema())
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def correct_request(body: dict[str, Any], site_key: str, request_id: int) -> dict[str, Any]:
    """A correction request: its subscriptions move to the corrected address."""
    site_id, token = token_for(site_key, WRITERS)
    request_handling.correct_address(site_id, request_id, body["email"], actor(token))
    return shown(site_id, request_id, token)


@blp.route("/<string:site_key>/requests/<int:request_id>/notes", methods=["POST"])
@blp.arguments(RequiredNoteSchema())
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def note_request(body: dict[str, Any], site_key: str, request_id: int) -> dict[str, Any]:
    site_id, token = token_for(site_key, WRITERS)
    requests.add_note(site_id, request_id, actor(token), body["note"])
    return shown(site_id, request_id, token)


@blp.route("/<string:site_key>/requests/<int:request_id>/close", methods=["POST"])
@blp.arguments(RequestCloseSchema())
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def close_request(body: dict[str, Any], site_key: str, request_id: int) -> dict[str, Any]:
    site_id, token = token_for(site_key, WRITERS)
    requests.close(site_id, request_id, actor(token), body["outcome"], body["note"])
    return shown(site_id, request_id, token)


@blp.route("/<string:site_key>/requests/<int:request_id>/reject", methods=["POST"])
@blp.arguments(RequestRejectSchema())
@blp.response(200, RequestDetailSchema)
@blp.doc(security=SECURITY)
def reject_request(body: dict[str, Any], site_key: str, request_id: int) -> dict[str, Any]:
    site_id, token = token_for(site_key, WRITERS)
    requests.reject(site_id, request_id, actor(token), body["reason"])
    return shown(site_id, request_id, token)
