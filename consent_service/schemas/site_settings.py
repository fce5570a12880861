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


class ChangeSchema(StrictSchema):
    op = fields.String(metadata={"description": "add, remove or change"})
    path = fields.String(metadata={"description": "JSON Pointer into the document"})
    summary = fields.String()


class FindingSchema(StrictSchema):
    rule = fields.String()
    severity = fields.String(metadata={"description": "error or warning"})
    message = fields.String()
    pointer = fields.String(metadata={"description": "JSON Pointer of the field"})
    source = fields.String(metadata={"description": "The rule of law or guidance"})


class PlanSchema(StrictSchema):
    """Documentation of a PUT's answer; the body is built by `sites.plan.Plan.as_dict`."""

    site_key = fields.String(allow_none=True)
    creates_site = fields.Boolean()
    changed = fields.Boolean()
    applied = fields.Boolean()
    dry_run = fields.Boolean()
    settings_hash_before = fields.String(allow_none=True)
    settings_hash_after = fields.String()
    banner_version_before = fields.String(allow_none=True)
    banner_version_after = fields.String()
    new_banner_version = fields.Boolean()
    visitors_asked_again = fields.Boolean()
    asks_again = fields.List(fields.String(), metadata={"description": "Why visitors are asked"})
    changes = fields.List(fields.Nested(ChangeSchema))
    findings = fields.List(fields.Nested(FindingSchema))
