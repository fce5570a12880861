"""Wire shapes of the ledger endpoints: export filters and range queries."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.ledger.exports import EXPORT_FORMATS
from consent_service.models.consent import ACTIONS
from consent_service.schemas import CalendarDateTime, Int64, Regexp, StrictSchema
from consent_service.schemas.consent import SLUG


class ExportQuerySchema(StrictSchema):
    format = fields.String(load_default="jsonl", validate=validate.OneOf(EXPORT_FORMATS))
    from_ = CalendarDateTime(data_key="from", load_default=None)
    to = CalendarDateTime(load_default=None)
    category = fields.String(load_default=None, validate=SLUG)
    action = fields.String(load_default=None, validate=validate.OneOf(ACTIONS))
    visitor_id = fields.String(
        load_default=None, validate=Regexp(r"^[0-9a-f]{32}$", error="Not a visitor id.")
    )


class ConsistencyQuerySchema(StrictSchema):
    from_ = Int64(data_key="from", required=True)
    to = Int64(required=True)
