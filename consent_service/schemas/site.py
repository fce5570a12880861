"""Wire shape of the public site configuration a banner reads."""

from __future__ import annotations

from marshmallow import fields, validate

from consent_service.schemas import StrictSchema
from consent_service.sites.regions import RULE_SETS


class ConfigQuerySchema(StrictSchema):
    locale = fields.String(load_default=None, validate=validate.Length(max=35))


class CategoryConfigSchema(StrictSchema):
    slug = fields.String()
    necessary = fields.Boolean()
    order = fields.Integer()
    gpc_opt_out = fields.Boolean()
    consent_mode = fields.List(fields.String())
    name = fields.String()
    description = fields.String()


class CookieSchema(StrictSchema):
    name = fields.String()
    pattern = fields.String()
    domain = fields.String()
    lifetime = fields.String()


class ServiceConfigSchema(StrictSchema):
    slug = fields.String()
    category = fields.String()
    name = fields.String()
    provider = fields.String()
    privacy_policy_url = fields.String(allow_none=True)
    storage_location = fields.String()
    cross_border = fields.Boolean()
    third_party = fields.Boolean()
    cookies = fields.List(fields.Nested(CookieSchema))
    purpose = fields.String()
    data_collected = fields.String()
    countries = fields.List(fields.String(), metadata={"description": "ISO 3166-1 alpha-2"})
    address = fields.String(metadata={"description": "The provider's address"})
    contact = fields.String(metadata={"description": "The provider's privacy contact"})
    retention = fields.String()
    cookie_texts = fields.List(
        fields.Dict(), metadata={"description": "Lifetime and description of each cookie"}
    )


class PolicySummarySchema(StrictSchema):
    label = fields.String()
    url = fields.String(allow_none=True)
    sha256 = fields.String()
    effective_at = fields.String()
    material = fields.Boolean()


class FormFieldSchema(StrictSchema):
    name = fields.String()
    required = fields.Boolean()


class WordingSchema(StrictSchema):
    text = fields.String()
    hash = fields.String(metadata={"description": "SHA-256 of the exact UTF-8 text."})


class FormConfigSchema(StrictSchema):
    slug = fields.String()
    purpose = fields.String(metadata={"description": "lead or subscription"})
    category = fields.String(metadata={"description": "The category the visitor must grant."})
    service = fields.String(allow_none=True, metadata={"description": "The recipient."})
    fields_ = fields.List(fields.Nested(FormFieldSchema), data_key="fields")
    separate_consent = fields.Nested(WordingSchema, allow_none=True)


class SiteConfigSchema(StrictSchema):
    """Documentation of GET .../config; the body is built by `sites.site_config`."""

    site_key = fields.String()
    name = fields.String()
    locale = fields.String()
    default_locale = fields.String()
    locales = fields.List(fields.String())
    texts = fields.Dict(keys=fields.String(), values=fields.String())
    categories = fields.List(fields.Nested(CategoryConfigSchema))
    services = fields.List(fields.Nested(ServiceConfigSchema))
    policy_version = fields.Nested(PolicySummarySchema, allow_none=True)
    banner_version = fields.String()
    lifetime_days = fields.Integer()
    jurisdiction = fields.String(
        metadata={
            "description": "The site's general setting, kept for older clients; the "
            "rules this visitor is under are in `rule_set`."
        }
    )
    rule_set = fields.String(
        validate=validate.OneOf(RULE_SETS),
        metadata={
            "description": "The rule set of the visitor's region, chosen as for the served "
            "script (COUNTRY_HEADER and REGION_HEADER, else the address's country; the site's "
            "`regions` setting, else its fallback). Answers vary on those headers."
        },
    )
    rule_set_banner_version = fields.String(
        metadata={
            "description": "The banner version drawn under `rule_set`: send it with a decision "
            "so the record names the rules the visitor was shown."
        }
    )
    cookie_name = fields.String()
    cookie_domain = fields.String(allow_none=True)
    gpc = fields.Dict()
    consent_mode = fields.Dict()
    ga4 = fields.Dict(allow_none=True)
    forms = fields.List(fields.Nested(FormConfigSchema))
