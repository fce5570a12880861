"""The site settings document: everything a site's owner decides, as JSON or YAML.

Pure field rules. What needs the whole document (a category a service names, a catalogue
entry, a missing translation) is checked by `sites.settings` and the linter in `sites.lint`.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from consent_service.safe_text import UnsafeText, check_text
from consent_service.schemas import StrictSchema
from consent_service.sites.catalogue import PLATFORM_SIGNALS
from consent_service.sites.defaults import BUILTIN_LOCALES, TEXT_KEYS
from consent_service.sites.regions import DEFAULT_FALLBACK, RULE_SETS

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$", error="Lower-case letters, digits, - and _.")
CONSENT_SIGNALS = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
FORM_FIELD = re.compile(r"^[a-z_]{1,32}\*?$")
#: A country (ISO 3166-1 alpha-2) or a subdivision (ISO 3166-2) such as US-CA.
REGION_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


def check_locale(value: str) -> None:
    if len(value) > 16 or not LOCALE.match(value):
        raise ValidationError("Not a locale such as en or zh-CN.")


def safe_text(value: str) -> None:
    """Free text can reach a CSV export: refuse what a spreadsheet would run as a formula."""
    try:
        check_text(value, "text")
    except UnsafeText as exc:
        raise ValidationError(str(exc)) from exc


class Text(fields.Field):
    """A human-readable string: plain (in the default locale) or `{locale: string}`; no value
    may start like a spreadsheet formula (see `safe_text`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            safe_text(value)
            return value
        if isinstance(value, dict) and value:
            errors: dict[str, list[str]] = {}
            for locale, text in value.items():
                if not isinstance(locale, str) or not LOCALE.match(locale):
                    errors[str(locale)] = ["Not a locale such as en or zh-CN."]
                elif not isinstance(text, str):
                    errors[locale] = ["Not a valid string."]
                else:
                    try:
                        safe_text(text)
                    except ValidationError as exc:
                        errors[locale] = [str(message) for message in exc.messages]
            if errors:
                raise ValidationError(errors)
            return dict(value)
        raise ValidationError("A string, or an object of strings keyed by locale.")


def signals() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(CONSENT_SIGNALS)))


class CookieSettingSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 64))
    domain = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 253))


class ConsentModeRegionSchema(StrictSchema):
    region = fields.List(fields.String(validate=validate.Length(2, 10)), required=True)
    ad_storage = fields.String(validate=validate.OneOf(("granted", "denied")))
    analytics_storage = fields.String(validate=validate.OneOf(("granted", "denied")))
    ad_user_data = fields.String(validate=validate.OneOf(("granted", "denied")))
    ad_personalization = fields.String(validate=validate.OneOf(("granted", "denied")))


class ConsentModeSchema(StrictSchema):
    wait_for_update = fields.Integer(load_default=500, validate=validate.Range(0, 10000))
    regions = fields.List(fields.Nested(ConsentModeRegionSchema), load_default=list)


class RegionsSchema(StrictSchema):
    """Which rule set each visitor's region gets (see `sites.regions`)."""

    #: Start from the built-in map (EU/EEA/UK/CH opt_in, US privacy states opt_out, CN
    #: opt_in_separate, other US states notice_only); false: only `rules` below.
    builtin = fields.Boolean(load_default=True)
    rules = fields.Dict(
        keys=fields.String(
            validate=validate.Regexp(
                REGION_CODE,
                error="A country (ISO 3166-1 alpha-2, e.g. BR) or subdivision (ISO 3166-2, "
                "e.g. US-CA).",
            )
        ),
        values=fields.String(validate=validate.OneOf(RULE_SETS)),
        load_default=dict,
    )
    fallback = fields.String(load_default=DEFAULT_FALLBACK, validate=validate.OneOf(RULE_SETS))


class RetentionSchema(StrictSchema):
    """How long what the service keeps about visitors stays (`consents.retention` runs it).

    Under Chinese law (a region with the `opt_in_separate` rules) records of processing are
    kept at least 6 months: the linter flags a shorter outbox or dead-letter period and the
    runner never goes below it."""

    #: A visitor's consent evidence is erased this many years after their last event.
    consent_records_years = fields.Integer(load_default=5, validate=validate.Range(1, 100))
    #: Subscription requests never confirmed are deleted after this many days.
    unconfirmed_subscriptions_days = fields.Integer(load_default=7, validate=validate.Range(1, 365))
    #: Delivered outbox rows (CRM leads' fields, webhook deliveries, sent mail) after N days.
    delivered_outbox_days = fields.Integer(load_default=183, validate=validate.Range(1, 3650))
    #: Dead letters (leads, webhook deliveries, mail nobody retried) after N days.
    dead_letter_days = fields.Integer(load_default=183, validate=validate.Range(1, 3650))


class Ga4Schema(StrictSchema):
    measurement_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^G-[A-Z0-9]{4,20}$", error="Looks like G-XXXXXXXXXX."),
    )
    mode = fields.String(load_default="basic", validate=validate.OneOf(("basic", "advanced")))


class RightsSchema(StrictSchema):
    """How the site answers visitors' rights requests (access, erasure, ...)."""

    #: Days a data subject request may stay unanswered before it is overdue. The seed policies
    #: promise 15; GDPR Art. 12(3) allows one month, PIPL Art. 50 asks for "timely".
    due_days = fields.Integer(load_default=15, validate=validate.Range(1, 90))


class CategoryTextSchema(StrictSchema):
    name = fields.String(validate=validate.Length(1, 200))
    description = fields.String(validate=validate.Length(max=2000))


class CategorySettingSchema(StrictSchema):
    slug = fields.String(required=True, validate=SLUG)
    necessary = fields.Boolean(load_default=False)
    order = fields.Integer(load_default=None, allow_none=True)
    texts = fields.Dict(
        keys=fields.String(validate=check_locale),
        values=fields.Nested(CategoryTextSchema),
        load_default=dict,
    )
    gpc_opt_out = fields.Boolean(load_default=False)
    consent_mode = signals()


class ProviderSchema(StrictSchema):
    legal_name = Text(required=True)
    address = Text()
    contact = fields.String(validate=validate.Length(max=300))


class PrivacyLinkSchema(StrictSchema):
    url = fields.Url(
        required=True,
        schemes={"https"},
        validate=validate.Length(max=2048),
        error_messages={"invalid": "Not an https URL."},
    )
    locale = fields.String(required=True, validate=check_locale)


class StorageLocationSchema(StrictSchema):
    country = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="ISO 3166-1 alpha-2, e.g. CN.")
    )
    name = Text()


class ServiceCookieSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    pattern = fields.Boolean(load_default=False)
    domain = fields.String(load_default=None, allow_none=True)
    lifetime = Text()
    lifetime_days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(0))
    description = Text()

    @validates_schema
    def check_pattern(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("pattern"):
            try:
                re.compile(data["name"])
            except re.error as exc:
                raise ValidationError(f"Not a regular expression: {exc}", "name") from exc


class ServiceSettingSchema(StrictSchema):
    """A service as a site writes it; with `catalogue`, every other field is an override."""

    slug = fields.String(required=True, validate=SLUG)
    catalogue = fields.String(validate=validate.Length(1, 64))
    category = fields.String(validate=SLUG)
    name = Text()
    provider = fields.Nested(ProviderSchema)
    purposes = fields.List(Text())
    data_collected = fields.List(Text())
    privacy_links = fields.List(fields.Nested(PrivacyLinkSchema))
    storage_locations = fields.List(fields.Nested(StorageLocationSchema))
    cross_border = fields.Boolean()
    third_party = fields.Boolean()
    retention = Text()
    cookies = fields.List(fields.Nested(ServiceCookieSchema))
    consent_mode = signals()
    #: How the service's tag takes a consent signal ("none": it is gated by markup alone).
    platform_signal = fields.String(validate=validate.OneOf(PLATFORM_SIGNALS))
    hosts = fields.List(fields.String(validate=validate.Length(1, 253)))


class FormFieldSettingSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(1, 32))
    required = fields.Boolean(load_default=False)


class FormField(fields.Field):
    """`"email*"` (a star: required) or `{"name": "email", "required": true}`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not FORM_FIELD.match(value):
                raise ValidationError("A field name such as email, or email* when required.")
            return value
        if isinstance(value, dict):
            return FormFieldSettingSchema().load(value)
        raise ValidationError("A field name or an object with name and required.")


class FormSettingSchema(StrictSchema):
    slug = fields.String(required=True, validate=SLUG)
    purpose = fields.String(required=True, validate=validate.OneOf(("lead", "subscription")))
    category = fields.String(required=True, validate=SLUG)
    service = fields.String(load_default=None, allow_none=True, validate=SLUG)
    fields_ = fields.List(
        FormField(),
        data_key="fields",
        attribute="fields",
        required=True,
        validate=validate.Length(min=1),
    )
    separate_consent = fields.Dict(
        keys=fields.String(validate=check_locale),
        values=fields.String(validate=validate.Length(1, 2000)),
        load_default=dict,
    )


class SiteSettingsSchema(StrictSchema):
    """One site's settings document."""

    name = fields.String(required=True, validate=[validate.Length(1, 200), safe_text])
    origins = fields.List(
        fields.String(validate=validate.Length(1, 300)),
        required=True,
        validate=validate.Length(min=1),
    )
    default_locale = fields.String(load_default="en", validate=check_locale)
    locales = fields.List(fields.String(validate=check_locale), load_default=list)
    lifetime_days = fields.Integer(load_default=180, validate=validate.Range(1, 3650))
    cookie = fields.Nested(CookieSettingSchema, load_default=lambda: {"name": "cs_consent"})
    jurisdiction = fields.String(
        load_default="opt_in", validate=validate.OneOf(("opt_in", "opt_out"))
    )
    gpc = fields.Boolean(load_default=True)
    regions = fields.Nested(RegionsSchema, load_default=dict)
    #: After "Reject all", the banner asks again only after this many days (or when a purpose
    #: is added or a material policy change takes effect).
    reask_after_reject_days = fields.Integer(load_default=182, validate=validate.Range(1, 3650))
    consent_mode = fields.Nested(ConsentModeSchema, load_default=dict)
    ga4 = fields.Nested(Ga4Schema, load_default=dict)
    rights = fields.Nested(RightsSchema, load_default=dict)
    retention = fields.Nested(RetentionSchema, load_default=dict)
    texts = fields.Dict(
        keys=fields.String(validate=check_locale),
        values=fields.Dict(
            keys=fields.String(validate=validate.OneOf(TEXT_KEYS)),
            values=fields.String(validate=validate.Length(max=2000)),
        ),
        load_default=dict,
    )
    categories = fields.List(fields.Nested(CategorySettingSchema), load_default=list)
    services = fields.List(fields.Nested(ServiceSettingSchema), load_default=list)
    forms = fields.List(fields.Nested(FormSettingSchema), load_default=list)

    @post_load
    def fill_defaults(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Nested objects given as {} get their defaults too; locales default to the site's
        default locale and the built-in ones, so that load(dump(x)) == x."""
        data["cookie"] = CookieSettingSchema().load(data["cookie"])
        data["consent_mode"] = ConsentModeSchema().load(data["consent_mode"])
        data["ga4"] = Ga4Schema().load(data["ga4"])
        data["regions"] = RegionsSchema().load(data["regions"])
        data["rights"] = RightsSchema().load(data["rights"])
        data["retention"] = RetentionSchema().load(data["retention"])
        if not data["locales"]:
            data["locales"] = [data["default_locale"]] + [
                locale for locale in BUILTIN_LOCALES if locale != data["default_locale"]
            ]
        return data

    @validates_schema
    def check_locales(self, data: dict[str, Any], **kwargs: Any) -> None:
        locales = data.get("locales") or []
        if len(set(locales)) != len(locales):
            raise ValidationError("A locale is listed twice.", "locales")
        if locales and data.get("default_locale") not in locales:
            raise ValidationError("The default locale must be one of the locales.", "locales")
        for key in ("categories", "services", "forms"):
            slugs = [item.get("slug") for item in data.get(key) or []]
            duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1 and slug})
            if duplicates:
                raise ValidationError(f"Slug given twice: {', '.join(duplicates)}.", key)
