"""A site's webhooks, managed with its admin token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app, request
from flask_smorest import Blueprint

from consent_service.api.http import site_snapshot
from consent_service.integrations import webhooks
from consent_service.models import Webhook, WebhookDelivery
from consent_service.schemas.webhook import (
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookSchema,
)
from consent_service.sites.access import authorize, bearer_token
from consent_service.sites.registry import get_site

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/sites",
    description="Webhooks: consent changes POSTed, signed, to a site's backend.",
)


def admin_site(site_key: str) -> Any:
    site = site_snapshot(site_key)
    authorize(site.site_id, bearer_token(request.headers.get("Authorization")), roles={"admin"})
    return site


@blp.route("/<string:site_key>/webhooks", methods=["GET"])
@blp.response(200, WebhookSchema(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def list_webhooks(site_key: str) -> Sequence[Webhook]:
    return webhooks.list_webhooks(admin_site(site_key).site_id)


@blp.route("/<string:site_key>/webhooks", methods=["POST"])
@blp.arguments(WebhookCreateSchema())
@blp.response(201, WebhookCreatedSchema)
@blp.doc(security=[{"bearerAuth": []}])
def add_webhook(body: dict[str, Any], site_key: str) -> dict[str, Any]:
    """Register an endpoint; the answer carries its signing secret, shown only here."""
    admin_site(site_key)
    webhook, secret = webhooks.add_webhook(
        get_site(site_key), body["url"], current_app.config["WEBHOOK_ALLOW_HTTP"]
    )
    return {
        "id": webhook.id,
        "url": webhook.url,
        "created_at": webhook.created_at,
        "secret": secret,
    }


@blp.route("/<string:site_key>/webhooks/<int(max=2147483647):webhook_id>", methods=["DELETE"])
@blp.response(204)
@blp.doc(security=[{"bearerAuth": []}])
def remove_webhook(site_key: str, webhook_id: int) -> None:
    webhooks.remove_webhook(admin_site(site_key).site_id, webhook_id)


@blp.route("/<string:site_key>/webhooks/dead", methods=["GET"])
@blp.response(200, DeliverySchema(many=True))
@blp.doc(security=[{"bearerAuth": []}])
def dead_deliveries(site_key: str) -> Sequence[WebhookDelivery]:
    """Deliveries that failed every attempt."""
    return webhooks.dead_deliveries(admin_site(site_key).site_id)


@blp.route("/<string:site_key>/webhooks/deliveries/<int:delivery_id>/retry", methods=["POST"])
@blp.response(200, DeliverySchema)
@blp.doc(security=[{"bearerAuth": []}])
def retry_delivery(site_key: str, delivery_id: int) -> WebhookDelivery:
    return webhooks.retry_delivery(admin_site(site_key).site_id, delivery_id)
