"""Data subject requests on the wire: the browser's request, the admin's list, one request
with its steps, and the bodies of the admin's actions."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.models.request import CLOSE_OUTCOMES, REQUEST_KINDS, REQUEST_STATUSES
from consent_service.schemas import StrictSchema
from consent_service.schemas.subscription import email_field, locale_field

NOTE = validate.Length(min=1, max=1000)


class RequestSubmitSchema(StrictSchema):
    """From the visitor's browser: their token (the request is open at once) or an address
    (a confirmation link is mailed to it first), or both."""

    type = fields.String(required=True, validate=validate.OneOf(REQUEST_KINDS))
    visitor_token = fields.String(load_default=None, validate=validate.Length(min=1, max=512))
    email = email_field(load_default=None)
    locale = locale_field(load_default="en")
    details = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "What the requester asks, in their words (kept encrypted)."},
    )


class RequestSubmittedSchema(StrictSchema):
    status = fields.String(
        dump_only=True, metadata={"description": "`open`, or `accepted` for an address."}
    )
    message = fields.String(dump_only=True)
    reference = fields.String(
        dump_only=True, metadata={"description": "Opens the status page; keep it."}
    )
    status_url = fields.String(dump_only=True, allow_none=True)
    due_at = fields.AwareDateTime(dump_only=True)


class RequestListQuerySchema(StrictSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(REQUEST_STATUSES))
    overdue = fields.Boolean(load_default=None, truthy={"true"}, falsy={"false"})


class RequestListItemSchema(StrictSchema):
    """A request in a list: what it is and when it is due; nobody's id or address."""

    id = fields.Integer(dump_only=True)
    type = fields.String(dump_only=True, attribute="kind")
    status = fields.String(dump_only=True)
    channel = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    due_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    closed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    outcome = fields.String(dump_only=True, allow_none=True)
    overdue = fields.Boolean(dump_only=True)


class RequestStepSchema(StrictSchema):
    at = fields.AwareDateTime(dump_only=True)
    actor = fields.String(dump_only=True)
    action = fields.String(dump_only=True)
    note = fields.String(dump_only=True, allow_none=True)


class RequestDetailSchema(RequestListItemSchema):
    """One request: its steps, and for admins (not auditors) whom it concerns."""

    visitor_id = fields.String(dump_only=True, allow_none=True)
    email = fields.String(dump_only=True, allow_none=True)
    details = fields.String(dump_only=True, allow_none=True)
    steps = fields.List(fields.Nested(RequestStepSchema), dump_only=True)


class RequestNoteSchema(StrictSchema):
    note = fields.String(load_default=None, validate=NOTE)


class RequiredNoteSchema(StrictSchema):
    note = fields.String(required=True, validate=NOTE)


class RequestCloseSchema(StrictSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(CLOSE_OUTCOMES))
    note = fields.String(
        load_default=None, validate=NOTE, metadata={"description": "Shown to the requester."}
    )


class RequestRejectSchema(StrictSchema):
    reason = fields.String(
        required=True, validate=NOTE, metadata={"description": "Shown to the requester."}
    )


class RequestCorrectSchema(StrictSchema):
    email = email_field(
        required=True, metadata={"description": "The corrected subscription address."}
    )
