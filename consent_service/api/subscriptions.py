"""Marketing e-mail over the API: the browser's subscription request, and what a site's
admin token may do (status, List-Unsubscribe headers, suppressions, imports, messages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from consent_service.api.banner import api_base
from consent_service.api.http import (
    add_cors_headers,
    body_limit,
    preflight_response,
    public_site,
    request_context,
    require_json,
)
from consent_service.api.webhooks import admin_site
from consent_service.background import wake
from consent_service.integrations.mail import imports, opt_in, opt_out, outbox, sending, subscribers
from consent_service.models import MailMessage, Suppression
from consent_service.schemas.subscription import (
    AcceptedSchema,
    EmailQuerySchema,
    ImportItemSchema,
    ImportQuerySchema,
    ImportReportSchema,
    MailMessageSchema,
    MarketingMessageSchema,
    QueuedSchema,
    StatusSchema,
    SubscribeSchema,
    SuppressionCreateSchema,
    SuppressionSchema,
    UnsubscribeHeadersSchema,
)

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/api/v1/sites",
    description="Marketing e-mail: double opt-in, one-click unsubscribe, suppression list.",
)

#: The same answer for every address, known or not, subscribed or suppressed.
ACCEPTED = {
    "status": "accepted",
    "message": "If this address can be subscribed, a confirmation message is on its way.",
}
#: An import is the one body allowed to be larger than a consent (about 5,000 subscribers).
MAX_IMPORT_BYTES = 2 * 1024 * 1024


@blp.before_request
def public_request_checks() -> Response | None:
    """The browser's request: unknown site 404, foreign origin 403, preflight, JSON only."""
    if request.endpoint == "subscriptions.subscribe":
        public_site((request.view_args or {})["site_key"])
        if request.method == "OPTIONS":
            return preflight_response()
        require_json()
    return None


blp.after_request(add_cors_headers)


def wake_sender() -> None:
    wake(current_app._get_current_object(), sending.MAIL_WORKER)  # type: ignore[attr-defined]


@blp.route("/<string:site_key>/subscriptions", methods=["POST"], endpoint="subscribe")
@blp.arguments(SubscribeSchema())
@blp.response(202, AcceptedSchema)
@blp.alt_response(429, description="Too many requests from this network; see Retry-After.")
def subscribe(body: dict[str, Any], site_key: str) -> dict[str, str]:
    """Ask for marketing e-mail: a confirmation link is mailed (double opt-in).

    Always 202 with the same body, whatever the address's state, so that nobody can learn
    who is subscribed; 422 for bad input or an unknown wording hash.
    """
    opt_in.request_subscription(public_site(site_key), body, request_context(), api_base())
    wake_sender()
    return ACCEPTED


@blp.route("/<string:site_key>/subscriptions/status", methods=["GET"])
@blp.arguments(EmailQuerySchema(), location="query")
@blp.response(200, StatusSchema)
@blp.doc(security=[{"bearerAuth": []}])
def status(query: dict[str, Any], site_key: str) -> subscribers.SubscriberStatus:
    """May the site e-mail this address, and on which consent event does that rest?"""
    return subscribers.subscriber_status(admin_site(site_key), query["email"])


@blp.route("/<string:site_key>/subscriptions/headers", methods=["GET"])
@blp.arguments(EmailQuerySchema(), location="query")
@blp.response(200, UnsubscribeHeadersSchema)
@blp.doc(security=[{"bearerAuth": []}])
def headers(query: dict[str, Any], site_key: str) -> dict[str, str]:
    """The List-Unsubscribe headers for a message the site sends itself; 404 unless the
    address is subscribed."""
    found = sending.unsubscribe_headers(admin_site(site_key), query["email"], api_base())
    return {
        "list_unsubscribe": found["List-Unsubscribe"],
        "list_unsubscribe_post": found["List-Unsubscribe-Post"],
    }


@blp.route("/<string:site_key>/subscriptions/suppressions", methods=["POST"])
@blp.arguments(SuppressionCreateSchema())
@blp.response(201, SuppressionSchema)
@blp.doc(security=[{"bearerAuth": []}])
def add_suppression(body: dict[str, Any], site_key: str) -> Suppression:
    """A bounce or a complaint: the address is never mailed again (until it confirms anew)."""
    return opt_out.add_suppression(admin_site(site_key), body["email"], body["reason"])


@blp.route("/<string:site_key>/subscriptions/messages", methods=["POST"])
@blp.arguments(MarketingMessageSchema())
@blp.response(202, QueuedSchema)
@blp.doc(security=[{"bearerAuth": []}])
def send_message(body: dict[str, Any], site_key: str) -> dict[str, int]:
    """Mail every active, unsuppressed subscriber, each with a one-click unsubscribe link."""
    queued = sending.send_marketing(admin_site(site_key), body["subject"], body["text"], api_base())
    wake_sender()
    return {"queued": queued}


@blp.route(
    "/<string:site_key>/subscriptions/import", methods=["POST"], endpoint="import_subscribers"
)
@body_limit(MAX_IMPORT_BYTES)
@blp.arguments(ImportQuerySchema(), location="query")
@blp.arguments(ImportItemSchema(many=True))
@blp.response(200, ImportReportSchema)
@blp.doc(security=[{"bearerAuth": []}])
def import_subscribers(
    query: dict[str, Any], items: list[dict[str, Any]], site_key: str
) -> imports.ImportReport:
    """Subscribers who consented elsewhere, each with its proof (source, time, wording,
    locale). Any error refuses the whole batch (422); suppressed addresses are skipped."""
    return imports.import_subscribers(admin_site(site_key), items, query["form"])


@blp.route("/<string:site_key>/subscriptions/messages/dead", methods=["GET"])
@blp.response(200, MailMessageSchema(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def dead_messages(site_key: str) -> Sequence[MailMessage]:
    """Messages that failed every attempt (or were refused for good)."""
    return outbox.dead_messages(admin_site(site_key).site_id)


@blp.route("/<string:site_key>/subscriptions/messages/<int:message_id>/retry", methods=["POST"])
@blp.response(200, MailMessageSchema)
@blp.doc(security=[{"bearerAuth": []}])
def retry_message(site_key: str, message_id: int) -> MailMessage:
    retried = outbox.retry_message(admin_site(site_key).site_id, message_id)
    wake_sender()
    return retried
