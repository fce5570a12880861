"""The preference center's forms (`/p/SITE_KEY`): the visitor token and what to do."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.schemas import StrictSchema

#: show: draw the page; save: record the boxes ticked; withdraw: withdraw every consent.
PAGE_ACTIONS = ("show", "save", "withdraw")


class PreferenceFormSchema(StrictSchema):
    """A form of the preference center. The token is the visitor's only credential (it came
    in the link's fragment): no session, so no cross-site request can act without it."""

    token = fields.String(required=True, validate=validate.Length(min=1, max=512))
    lang = fields.String(load_default=None, validate=validate.Length(max=35))
    do = fields.String(load_default="show", validate=validate.OneOf(PAGE_ACTIONS))
    # A fresh id in every form drawn: a resubmitted form replays, it never records twice.
    event_id = fields.UUID(load_default=None)
    allow = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list)


class ExportFormSchema(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=512))
