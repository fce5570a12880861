"""The shape of a service catalogue entry (also the service fields of a site's settings).

A `Text` is a string (English) or an object {locale: string}; storage locations are ISO 3166-1
alpha-2 countries; a cookie's `name` is a regular expression when `pattern` is true, and its
`domain` is null when the cookie is set on the site's own domain (first-party), else the
vendor's domain; `lifetime_days` is null for a session cookie and 0 for less than a day.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from consent_service.schemas import StrictSchema
from consent_service.sites.catalogue import (
    CONSENT_MODE_SIGNALS,
    DEFAULT_CATEGORIES,
    PLATFORM_SIGNALS,
)

LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
HOST = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"


class Text(fields.Field):
    """A string, or an object of non-empty strings keyed by language tag."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValidationError("Must not be empty.")
            return value
        if not isinstance(value, dict) or not value:
            raise ValidationError("Must be a string or an object of strings by locale.")
        for locale, text in value.items():
            if not isinstance(locale, str) or not LOCALE.match(locale):
                raise ValidationError(f"{locale!r} is not a language tag.")
            if not isinstance(text, str) or not text.strip():
                raise ValidationError(f"The {locale} text must be a non-empty string.")
        return value


class ProviderSchema(StrictSchema):
    legal_name = Text(required=True)
    address = Text(required=True)
    contact = fields.String(required=True, validate=validate.Length(min=3, max=300))


class PrivacyLinkSchema(StrictSchema):
    url = fields.Url(required=True, schemes={"https"})
    locale = fields.String(required=True, validate=validate.Regexp(LOCALE))


class StorageLocationSchema(StrictSchema):
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    name = Text(required=True)


class CookieSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    pattern = fields.Boolean(required=True)
    domain = fields.String(required=True, allow_none=True)
    lifetime = Text(required=True)
    lifetime_days = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=0, max=36500)
    )
    description = Text(required=True)

    @validates_schema
    def pattern_compiles(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["pattern"]:
            try:
                re.compile(data["name"])
            except re.error as exc:
                raise ValidationError({"name": [f"Not a regular expression: {exc}."]}) from exc


class CatalogueEntrySchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Regexp(SLUG))
    default_category = fields.String(required=True, validate=validate.OneOf(DEFAULT_CATEGORIES))
    source = fields.Url(required=True, schemes={"https"})
    name = Text(required=True)
    provider = fields.Nested(ProviderSchema, required=True)
    purposes = fields.List(Text(), required=True, validate=validate.Length(min=1))
    data_collected = fields.List(Text(), required=True, validate=validate.Length(min=1))
    privacy_links = fields.List(
        fields.Nested(PrivacyLinkSchema), required=True, validate=validate.Length(min=1)
    )
    storage_locations = fields.List(
        fields.Nested(StorageLocationSchema), required=True, validate=validate.Length(min=1)
    )
    cross_border = fields.Boolean(required=True)
    third_party = fields.Boolean(required=True)
    retention = Text(required=True)
    cookies = fields.List(fields.Nested(CookieSchema), required=True)
    consent_mode = fields.List(
        fields.String(validate=validate.OneOf(CONSENT_MODE_SIGNALS)), required=True
    )
    platform_signal = fields.String(required=True, validate=validate.OneOf(PLATFORM_SIGNALS))
    hosts = fields.List(fields.String(validate=validate.Regexp(HOST)), required=True)


class CatalogueSchema(StrictSchema):
    """The data file: a version, when it was last reviewed, attribution, and the entries."""

    version = fields.Integer(required=True, validate=validate.Equal(1))
    reviewed = fields.Date(required=True)
    attribution = fields.String(required=True)
    entries = fields.List(fields.Nested(CatalogueEntrySchema), required=True)
