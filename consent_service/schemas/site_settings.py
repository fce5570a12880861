"""Query parameters of the settings endpoints (the document itself: `schemas.settings`)."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields

from consent_service.schemas import StrictSchema


class DryRunQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False)


class HistoryQuerySchema(StrictSchema):
    at = fields.AwareDateTime(
        load_default=None,
        default_timezone=UTC,
        metadata={"description": "Only changes made by then; the first is the one in effect."},
    )
