"""The console's queue of data subject requests: the list with due dates (overdue ones
marked), one request with its steps, and the actions (owners and editors; auditors read and
get 403 on any POST from `console.guard`). Actions are `consents.requests` operations, each
also written to the console's activity log."""

from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError

from consent_service.api.console import actor, error_page, guard, signed_in
from consent_service.api.console_site import site_page
from consent_service.consents import request_handling, requests
from consent_service.console import activity
from consent_service.errors import ApiError, ValidationFailed
from consent_service.models.request import CLOSE_OUTCOMES, REQUEST_STATUSES
from consent_service.schemas.request import RequestCorrectSchema
from consent_service.sites.registry import get_site

blp = Blueprint(
    "console_requests", __name__, url_prefix="/console/sites/<string:site_key>/requests"
)
blp.before_request(guard)
blp.register_error_handler(ApiError, error_page)
blp.register_error_handler(CSRFError, error_page)

ACTIONS = ("handle", "export", "note", "close", "reject", "correct")
NOTE_LENGTH = 1000


@blp.route("/", methods=["GET"])
def request_list(site_key: str) -> ResponseReturnValue:
    site = get_site(site_key)
    status = request.args.get("status") or None
    if status not in (None, *REQUEST_STATUSES):
        raise ApiError(422, "Unknown status.", error="validation_failed")
    overdue = True if request.args.get("overdue") == "1" else None
    rows = requests.list_requests(site.id, status, overdue)
    return site_page(
        "console/requests.html",
        site_key,
        rows=rows,
        statuses=REQUEST_STATUSES,
        chosen=status,
        overdue=overdue,
        late=len(requests.overdue_requests(site.id)),
        due_days=requests.due_days(site),
    )


@blp.route("/<int:request_id>", methods=["GET"])
def request_detail(site_key: str, request_id: int) -> ResponseReturnValue:
    site = get_site(site_key)
    found = requests.find_request(site.id, request_id)
    return site_page(
        "console/request.html",
        site_key,
        item=requests.detail(found, personal=True),
        outcomes=CLOSE_OUTCOMES,
    )


@blp.route("/<int:request_id>", methods=["POST"])
def request_action(site_key: str, request_id: int) -> ResponseReturnValue:
    site = get_site(site_key)
    account = signed_in()
    action = request.form.get("action", "")
    note = request.form.get("note", "").strip()[:NOTE_LENGTH] or None
    who = actor(account)
    if action == "export":
        # Access and portability: what is held, as a file the owner sends to the requester.
        document = request_handling.export(site.id, request_id, who)
        activity.record("request.export", account=account, site_id=site.id, request=request_id)
        return Response(
            json.dumps(document, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="request-{request_id}.json"',
                "Cache-Control": "no-store",
            },
        )
    if action == "handle":
        request_handling.handle(site.id, request_id, who, note)
    elif action == "note" and note:
        requests.add_note(site.id, request_id, who, note)
    elif action == "close":
        requests.close(site.id, request_id, who, request.form.get("outcome", ""), note)
    elif action == "reject":
        requests.reject(site.id, request_id, who, note or "")
    elif action == "correct":
        # The API's POST .../requests/{id}/correct, from the form: the same schema and operation.
        try:
            body = RequestCorrectSchema().load({"email": request.form.get("email", "")})
        except ValidationError as exc:
            raise ValidationFailed(exc.normalized_messages()) from exc
        request_handling.correct_address(site.id, request_id, body["email"], who)
    else:
        raise ApiError(422, "Unknown action or missing note.", error="validation_failed")
    activity.record("request." + action, account=account, site_id=site.id, request=request_id)
    return redirect(
        url_for("console_requests.request_detail", site_key=site_key, request_id=request_id)
    )
