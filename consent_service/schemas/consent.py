"""Wire shapes of consent decisions and consent state."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.models.consent import ACTIONS, SOURCES
from consent_service.schemas import CalendarDateTime, Regexp, StrictBoolean, StrictSchema

SLUG = Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Not a category slug.")
LANGUAGE_TAG = Regexp(
    r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$", error="Not a BCP 47 language tag."
)
SHA256_HEX = Regexp(r"^[0-9a-f]{64}$", error="Not a SHA-256 hex digest.")


class ConsentDecisionSchema(StrictSchema):
    """POST /api/v1/sites/{site_key}/consents."""

    event_id = fields.UUID(required=True, metadata={"description": "Client-made idempotency key."})
    visitor_token = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=512)
    )
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    choices = fields.Dict(
        keys=fields.String(validate=SLUG),
        values=StrictBoolean(),
        load_default=dict,
        validate=validate.Length(max=64),
    )
    policy_version = fields.String(required=True, validate=validate.Length(min=1, max=64))
    banner_version = fields.String(required=True, validate=SHA256_HEX)
    language = fields.String(load_default=None, allow_none=True, validate=LANGUAGE_TAG)
    source = fields.String(load_default="banner", validate=validate.OneOf(SOURCES))
    gpc = StrictBoolean(load_default=False)
    # Whatever `location.href` holds: an ad click's gclid makes it long, an intranet host may
    # have an underscore. Refusing it would lose the decision; record_decision keeps it short.
    url = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "The page's URL; stored without query, truncated if long."},
    )
    client_time = CalendarDateTime(load_default=None, allow_none=True)


class ConsentStateSchema(StrictSchema):
    visitor_id = fields.String(dump_only=True)
    event_id = fields.String(dump_only=True)
    action = fields.String(dump_only=True)
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean(), dump_only=True)
    policy_version = fields.String(dump_only=True)
    banner_version = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    needs_renewal = fields.Boolean(dump_only=True)


class ReceiptSchema(StrictSchema):
    """Signed by the service (Ed25519 over the RFC 8785 JSON of the other fields)."""

    event_id = fields.String(dump_only=True)
    leaf_hash = fields.String(dump_only=True)
    recorded_at = fields.String(dump_only=True)
    seal_by = fields.String(dump_only=True)
    site = fields.String(dump_only=True)
    key_id = fields.String(dump_only=True)
    signature = fields.String(dump_only=True)


class ConsentRecordedSchema(StrictSchema):
    event_id = fields.String(dump_only=True)
    visitor_id = fields.String(dump_only=True)
    visitor_token = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)
    state = fields.Nested(ConsentStateSchema, dump_only=True)
    receipt = fields.Nested(ReceiptSchema, dump_only=True)


class VisitorTokenQuerySchema(StrictSchema):
    visitor_token = fields.String(load_default=None, validate=validate.Length(max=512))
