"""The settings document's rules as a JSON Schema, from the marshmallow schemas themselves.

Served at `/api/site-settings.schema.json` and shipped as `static/site-settings.schema.json`
so that an editor validates a settings file as it is typed (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import OpenAPIConverter
from marshmallow import fields

from consent_service.schemas.settings import (
    LOCALE,
    REGION_CODE,
    FormField,
    SiteSettingsSchema,
    Text,
)
from consent_service.sites.defaults import TEXT_KEYS

SCHEMA_ID = "https://consent-service.invalid/site-settings.schema.json"
TEXT = {
    "oneOf": [
        {"type": "string", "description": "In the default locale."},
        {
            "type": "object",
            "description": "Per locale.",
            "additionalProperties": {"type": "string"},
            "minProperties": 1,
        },
    ]
}
FIELD = {
    "oneOf": [
        {"type": "string", "pattern": "^[a-z_]{1,32}\\*?$"},
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "required": {"type": "boolean"}},
            "required": ["name"],
            "additionalProperties": False,
        },
    ]
}


def custom_fields(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    if isinstance(field, Text):
        return dict(TEXT)
    if isinstance(field, FormField):
        return dict(FIELD)
    return {}


def settings_json_schema() -> dict[str, Any]:
    # No spec: with a resolver that names nothing, every nested schema is inlined.
    converter = OpenAPIConverter(
        openapi_version="3.1.0",
        schema_name_resolver=lambda schema: None,
        spec=None,  # type: ignore[arg-type]
    )
    converter.add_attribute_function(custom_fields)
    body = converter.schema2jsonschema(SiteSettingsSchema())
    # What marshmallow checks on dict keys, spelt out for editors to complete and flag.
    body["properties"]["$schema"] = {"type": "string", "description": "For editors; ignored."}
    texts = body["properties"]["texts"]
    texts["propertyNames"] = {"pattern": LOCALE.pattern}
    texts["additionalProperties"]["propertyNames"] = {"enum": list(TEXT_KEYS)}
    rules = body["properties"]["regions"]["properties"]["rules"]
    rules["propertyNames"] = {"pattern": REGION_CODE.pattern}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "consent-service site settings",
        "description": "One site's settings: texts, categories, services, forms. "
        "A service may name a catalogue entry and override its fields.",
        **body,
    }
