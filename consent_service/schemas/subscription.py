"""Wire shapes of marketing e-mail: subscription requests, admin calls and their answers.

Anything that can reach a mail header (address, locale, subject, …) is one line without
control characters; the address follows the form field catalogue's rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from consent_service.models.subscription import SUPPRESSION_REASONS
from consent_service.schemas import CalendarDateTime, Regexp, StrictSchema
from consent_service.sites.forms import (
    CONTROL_CHARACTERS,
    LINE_BREAKS,
    MAX_WORDING_LENGTH,
    check_field_value,
)

LOCALE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SHA256_HEX = r"^[0-9a-fA-F]{64}$"
MAX_IMPORT = 5000
ADMIN_SUPPRESSION_REASONS = ("bounced", "complaint")
assert set(ADMIN_SUPPRESSION_REASONS) <= set(SUPPRESSION_REASONS)


def one_line(value: str) -> None:
    """No line breaks or control characters: the value may end up in a mail header."""
    if CONTROL_CHARACTERS.search(value) or LINE_BREAKS.search(value):
        raise ValidationError("Must not contain line breaks or control characters.")


def no_control_characters(value: str) -> None:
    """Line breaks allowed (a text body), other control characters not."""
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("Must not contain control characters.")


def email_address(value: str) -> None:
    problems = check_field_value("email", value)
    if problems:
        raise ValidationError(problems)


def email_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=email_address, **kwargs)


def locale_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[validate.Length(max=16), Regexp(LOCALE, error="Not a language tag.")],
        **kwargs,
    )


class SubscribeSchema(StrictSchema):
    email = email_field(required=True)
    locale = locale_field(required=True)
    wording_hash = fields.String(
        required=True,
        validate=Regexp(SHA256_HEX, error="The SHA-256 (hex) of the wording shown."),
    )
    form = fields.String(load_default=None, validate=Regexp(SLUG, error="Not a form slug."))
    visitor_token = fields.String(load_default=None, validate=[validate.Length(max=512), one_line])


class AcceptedSchema(StrictSchema):
    status = fields.String(dump_only=True)
    message = fields.String(dump_only=True)


class EmailQuerySchema(StrictSchema):
    email = email_field(required=True)


class EventSummarySchema(StrictSchema):
    event_id = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)
    source = fields.String(dump_only=True)
    wording_hash = fields.String(dump_only=True)
    action = fields.String(dump_only=True)


class SuppressionSummarySchema(StrictSchema):
    reason = fields.String(dump_only=True)
    since = fields.DateTime(dump_only=True)


class StatusSchema(StrictSchema):
    email = fields.String(dump_only=True)
    may_send = fields.Boolean(dump_only=True)
    status = fields.String(
        dump_only=True,
        metadata={"enum": ["active", "pending", "unsubscribed", "suppressed", "unknown"]},
    )
    consent_event = fields.Nested(EventSummarySchema, dump_only=True, allow_none=True)
    form = fields.String(dump_only=True, allow_none=True)
    suppression = fields.Nested(SuppressionSummarySchema, dump_only=True, allow_none=True)
    withdrawal_event = fields.Nested(EventSummarySchema, dump_only=True, allow_none=True)


class UnsubscribeHeadersSchema(StrictSchema):
    list_unsubscribe = fields.String(dump_only=True, data_key="List-Unsubscribe")
    list_unsubscribe_post = fields.String(dump_only=True, data_key="List-Unsubscribe-Post")


class SuppressionCreateSchema(StrictSchema):
    email = email_field(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(ADMIN_SUPPRESSION_REASONS))


class SuppressionSchema(StrictSchema):
    reason = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class MarketingMessageSchema(StrictSchema):
    subject = fields.String(required=True, validate=[validate.Length(min=1, max=200), one_line])
    text = fields.String(
        required=True, validate=[validate.Length(min=1, max=10000), no_control_characters]
    )


class QueuedSchema(StrictSchema):
    queued = fields.Integer(dump_only=True)


class ImportItemSchema(StrictSchema):
    """One subscriber who consented elsewhere, with the proof of it: all fields required."""

    email = email_field(required=True)
    source = fields.String(required=True, validate=[validate.Length(min=1, max=200), one_line])
    consented_at = CalendarDateTime(required=True)
    wording = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_WORDING_LENGTH), no_control_characters],
    )
    locale = locale_field(required=True)

    @validates("consented_at")
    def in_the_past(self, value: datetime, **kwargs: Any) -> None:
        if value > datetime.now(UTC):
            raise ValidationError("Must be in the past.")

    @validates("wording")
    def not_blank(self, value: str, **kwargs: Any) -> None:
        if not value.strip():
            raise ValidationError("The exact text the subscriber agreed to.")


class ImportQuerySchema(StrictSchema):
    form = fields.String(load_default=None, validate=Regexp(SLUG, error="Not a form slug."))


class ImportReportSchema(StrictSchema):
    imported = fields.Integer(dump_only=True)
    skipped_suppressed = fields.Integer(dump_only=True)
    skipped_active = fields.Integer(dump_only=True)


class MailMessageSchema(StrictSchema):
    """A message as admins see it: its state, never its recipient or content."""

    id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    attempts = fields.Integer(dump_only=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    next_attempt_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
