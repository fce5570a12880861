"""Wire shapes of a site's webhooks and their deliveries."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.schemas import StrictSchema


class WebhookCreateSchema(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=8, max=2048))


class WebhookSchema(StrictSchema):
    id = fields.Integer(dump_only=True)
    url = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(dump_only=True, metadata={"description": "Shown only here."})


class DeliverySchema(StrictSchema):
    id = fields.Integer(dump_only=True)
    webhook_id = fields.Integer(dump_only=True)
    message_id = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    next_attempt_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
