"""Wire shapes of the ledger endpoints: export filters and range queries."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields, validate

from consent_service.ledger.exports import EXPORT_FORMATS
from consent_service.models.consent import ACTIONS
from consent_service.schemas import StrictSchema
from consent_service.schemas.consent import SLUG


class ExportQuerySchema(StrictSchema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(EXPORT_FORMATS))
    from_ = fields.AwareDateTime(data_key="from", load_default=None, default_timezone=UTC)
    to = fields.AwareDateTime(load_default=None, default_timezone=UTC)
    category = fields.String(load_default=None, validate=SLUG)
    action = fields.String(load_default=None, validate=validate.OneOf(ACTIONS))
    visitor_id = fields.String(
        load_default=None, validate=validate.Regexp(r"^[0-9a-f]{32}$", error="Not a visitor id.")
    )


class ConsistencyQuerySchema(StrictSchema):
    from_ = fields.Integer(data_key="from", required=True, validate=validate.Range(min=0))
    to = fields.Integer(required=True, validate=validate.Range(min=0))
