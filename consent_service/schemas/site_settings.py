"""Query parameters of the settings endpoints (the document itself: `schemas.settings`)."""

from __future__ import annotations

from marshmallow import fields

from consent_service.schemas import StrictSchema


class DryRunQuerySchema(StrictSchema):
    dry_run = fields.Boolean(load_default=False)
