"""Wire shapes of consent decisions and consent state."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import ValidationError, fields, validate

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


DECISION_SCHEMA = ConsentDecisionSchema()
_ACTIONS = frozenset(ACTIONS)
_SOURCES = frozenset(SOURCES)
_DECISION_FIELDS = frozenset(DECISION_SCHEMA.fields)
_REQUIRED = frozenset(("event_id", "action", "policy_version", "banner_version"))
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CLIENT_TIME = DECISION_SCHEMA.fields["client_time"]


def load_decision_fast(body: Any) -> dict[str, Any] | None:
    """What `ConsentDecisionSchema().load(body)` gives for a well-formed decision, or None.

    The consent write is the service's hottest path and marshmallow's field machinery costs
    more than the database commit. This checks the same rules as the schema with plain
    comparisons; anything it does not accept outright (an error, an unusual value) returns None
    so that the schema loads it and words the errors. It never accepts what the schema refuses
    (tests compare the two on valid, invalid and fuzzed bodies).
    """
    if type(body) is not dict or not _REQUIRED <= body.keys() <= _DECISION_FIELDS:
        return None
    event_id = body["event_id"]
    action = body["action"]
    policy = body["policy_version"]
    banner = body["banner_version"]
    token = body.get("visitor_token")
    choices = body.get("choices", None)
    language = body.get("language")
    source = body.get("source", "banner")
    gpc = body.get("gpc", False)
    url = body.get("url")
    client_time = body.get("client_time")
    if not (
        type(event_id) is str
        and type(action) is str
        and action in _ACTIONS
        and type(policy) is str
        and 1 <= len(policy) <= 64
        and type(banner) is str
        and _SHA256_HEX.fullmatch(banner)
        and (token is None or (type(token) is str and len(token) <= 512))
        and (language is None or (type(language) is str and _LANGUAGE_TAG.fullmatch(language)))
        and type(source) is str
        and source in _SOURCES
        and type(gpc) is bool
        and (url is None or type(url) is str)
    ):
        return None
    if choices is None:
        if "choices" in body:
            return None  # null is not a choice map: the schema says so
        choices = {}
    elif type(choices) is not dict or len(choices) > 64:
        return None
    for slug, value in choices.items():
        if type(value) is not bool or not _SLUG.fullmatch(slug):
            return None
    try:
        parsed_id = uuid.UUID(event_id)
        parsed_time = None if client_time is None else _CLIENT_TIME.deserialize(client_time)
    except (ValueError, ValidationError):
        return None
    return {
        "event_id": parsed_id,
        "visitor_token": token,
        "action": action,
        "choices": dict(choices),
        "policy_version": policy,
        "banner_version": banner,
        "language": language,
        "source": source,
        "gpc": gpc,
        "url": url,
        "client_time": parsed_time,
    }


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


RECEIPT_FIELDS = tuple(ReceiptSchema().fields)


class ConsentRecordedSchema(StrictSchema):
    event_id = fields.String(dump_only=True)
    visitor_id = fields.String(dump_only=True)
    visitor_token = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)
    state = fields.Nested(ConsentStateSchema, dump_only=True)
    receipt = fields.Nested(ReceiptSchema, dump_only=True)


def dump_state(state: Any) -> dict[str, Any]:
    """`ConsentStateSchema().dump(state)`, written out: the write path dumps one per request."""
    return {
        "visitor_id": state.visitor_id,
        "event_id": state.event_id,
        "action": state.action,
        "choices": dict(state.choices),
        "policy_version": state.policy_version,
        "banner_version": state.banner_version,
        "recorded_at": state.recorded_at.isoformat(),
        "expires_at": state.expires_at.isoformat(),
        "needs_renewal": state.needs_renewal,
    }


def dump_recorded(
    event: Any, visitor_token: str, state: Any, receipt: dict[str, Any]
) -> dict[str, Any]:
    """`ConsentRecordedSchema().dump(...)` of a recorded decision, written out (a test keeps
    the two equal): marshmallow's dump costs as much as the INSERT."""
    return {
        "event_id": str(event.event_id),
        "visitor_id": event.visitor_id,
        "visitor_token": visitor_token,
        "recorded_at": event.recorded_at.isoformat(),
        "state": dump_state(state),
        "receipt": {name: receipt[name] for name in RECEIPT_FIELDS},
    }


class VisitorTokenQuerySchema(StrictSchema):
    visitor_token = fields.String(load_default=None, validate=validate.Length(max=512))
