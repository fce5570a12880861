"""Wire shapes of CRM leads: the form submission, the answer, and what admins see."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.schemas import Regexp, StrictBoolean, StrictSchema

SHA256_HEX = Regexp(r"^[0-9a-fA-F]{64}$", error="Must be a SHA-256 hex digest.")


class SeparateConsentSchema(StrictSchema):
    granted = StrictBoolean(required=True, metadata={"description": "The checkbox was ticked."})
    wording_hash = fields.String(
        required=True,
        validate=SHA256_HEX,
        metadata={"description": "SHA-256 of the exact checkbox text shown (from the config)."},
    )


class LeadSubmissionSchema(StrictSchema):
    visitor_token = fields.String(required=True, validate=validate.Length(min=1, max=512))
    form = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The lead form's slug; optional when the site has one."},
    )
    # Field names and values are checked against the form's definition (forms.py).
    fields_ = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Raw(),
        required=True,
        data_key="fields",
        attribute="fields",
        validate=validate.Length(min=1, max=20),
    )
    separate_consent = fields.Nested(SeparateConsentSchema, load_default=None)


class LeadAcceptedSchema(StrictSchema):
    lead_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True)


class LeadSchema(StrictSchema):
    lead_id = fields.UUID(dump_only=True)
    form = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    crm_id = fields.String(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    field_names = fields.List(fields.String(), dump_only=True)
    consent_event_id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    delivered_at = fields.DateTime(dump_only=True, allow_none=True)
    deleted_at = fields.DateTime(dump_only=True, allow_none=True)
    next_attempt_at = fields.DateTime(dump_only=True)


class DisclosureSchema(StrictSchema):
    id = fields.Integer(dump_only=True)
    lead_id = fields.String(dump_only=True, metadata={"description": "The lead's public id."})
    action = fields.String(
        dump_only=True, metadata={"description": "disclosed, erased or deleted_at_recipient"}
    )
    recipient = fields.String(dump_only=True)
    recipient_location = fields.String(dump_only=True)
    purpose = fields.String(dump_only=True)
    fields_ = fields.List(fields.String(), dump_only=True, data_key="fields", attribute="fields")
    legal_basis = fields.String(dump_only=True)
    consent_event_id = fields.String(dump_only=True)
    separate_consent_hash = fields.String(dump_only=True, allow_none=True)
    crm_id = fields.String(dump_only=True, allow_none=True)
    occurred_at = fields.String(dump_only=True, metadata={"description": "UTC, ISO 8601."})


class ErasureRequestSchema(StrictSchema):
    """From the visitor's browser: the token proves who they are, so only their leads go.

    An e-mail address is not taken here (anyone could name anyone's): every message carries
    an unsubscribe link, and the site's backend, which can check identity, erases addresses
    through the admin request below."""

    visitor_token = fields.String(required=True, validate=validate.Length(min=1, max=512))


class AdminErasureRequestSchema(StrictSchema):
    visitor_id = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    email = fields.String(
        load_default=None,
        validate=validate.Length(min=3, max=254),
        metadata={"description": "Remove this address from the marketing list."},
    )


class ErasureReportSchema(StrictSchema):
    leads = fields.Integer(dump_only=True, metadata={"description": "Leads stopped and erased."})
    subscriptions = fields.Integer(dump_only=True)
    reference = fields.String(
        dump_only=True,
        metadata={"description": "The request recorded (visitor's erasure): its reference."},
    )
    status_url = fields.String(dump_only=True, metadata={"description": "Its status page."})
