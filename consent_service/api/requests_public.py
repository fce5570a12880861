"""The browser's data subject request: with the visitor's token (open at once, the reference
in the answer) or with an address (a confirmation link mailed; the same answer for every
address). The status and confirmation pages are in `rights_pages.py`."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from consent_service.api.banner import api_base
from consent_service.api.http import add_cors_headers, public_site, request_context
from consent_service.api.public import check_site_and_origin, request_status_url
from consent_service.background import wake
from consent_service.consents import request_mail
from consent_service.integrations.mail import sending
from consent_service.schemas.request import RequestSubmitSchema, RequestSubmittedSchema

blp = Blueprint(
    "subject_requests_public",
    __name__,
    url_prefix="/api/v1/sites",
    description="A visitor's data subject request.",
)
blp.before_request(check_site_and_origin)
blp.after_request(add_cors_headers)

#: The same answer for every address, whatever it is or asked before.
ACCEPTED = "If this address can be confirmed, a confirmation message is on its way."


@blp.route("/<string:site_key>/requests", methods=["POST"])
@blp.arguments(RequestSubmitSchema())
@blp.response(202, RequestSubmittedSchema)
def submit_request(body: dict[str, Any], site_key: str) -> dict[str, Any]:
    """Access, correction, erasure, portability or objection. With `visitor_token` the
    request is open (202 with `reference` and `status_url`); with `email` a confirmation
    link is mailed first (202 `accepted`, the same for every address)."""
    submitted = request_mail.submit(public_site(site_key), body, request_context(), api_base())
    if submitted.reference is None:
        wake(current_app._get_current_object(), sending.MAIL_WORKER)  # type: ignore[attr-defined]
        return {"status": submitted.status, "message": ACCEPTED}
    return {
        "status": submitted.status,
        "message": "Your request is received; keep the reference to follow it.",
        "reference": submitted.reference,
        "status_url": request_status_url(submitted.reference),
        "due_at": submitted.due_at,
    }
