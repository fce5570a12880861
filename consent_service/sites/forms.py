"""Site forms that hand personal data to a recipient: which fields they may carry, the
category they need, and the wording of the separate consent shown beside them.

A wording is identified by the SHA-256 of its exact UTF-8 text. Every wording a form has ever
shown is kept as an immutable `BannerVersion` (kind `wording:<form>`): a lead or a
subscription that names a hash names text we can still print, years later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_service.canonical import sha256_hex
from consent_service.extensions import db
from consent_service.models import BannerVersion, Site, SiteForm
from consent_service.models.form import FORM_PURPOSES

EMAIL = re.compile(
    # The local part is RFC 5322's dot-atom (no quoted strings): "a,b@example.com" or
    # "a b@example.com" could never be delivered, so they are refused, not queued forever.
    r"^(?=[^@]{1,64}@)[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
PHONE = re.compile(r"^\+?[0-9 ()./-]{4,40}$")
POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,14}$")
WEBSITE = re.compile(r"^(https?://)?[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:[0-9]{1,5})?(/[^\s]*)?$")


@dataclass(frozen=True)
class FieldRule:
    """What a value of a catalogue field may be."""

    max_length: int
    pattern: re.Pattern[str] | None = None
    multiline: bool = False
    hint: str = ""


#: The fields a form may carry; a site picks some and says which are required.
FIELD_CATALOGUE: dict[str, FieldRule] = {
    "name": FieldRule(200),
    "company": FieldRule(200),
    "website": FieldRule(2048, WEBSITE, hint="a web address such as https://example.com"),
    "phone": FieldRule(40, PHONE, hint="digits, spaces and + ( ) - . /"),
    "email": FieldRule(254, EMAIL, hint="an e-mail address"),
    "postal_code": FieldRule(15, POSTAL_CODE, hint="letters, digits, spaces and -"),
    "message": FieldRule(5000, multiline=True),
}
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]")
MAX_WORDING_LENGTH = 2000


def wording_kind(form_slug: str) -> str:
    return f"wording:{form_slug}"


def wording_hash(text: str) -> str:
    """The hash a page sends back to name the checkbox text it showed."""
    return sha256_hex(text)


def check_field_value(name: str, value: Any) -> list[str]:
    """Errors for one submitted value (empty when it is fine)."""
    rule = FIELD_CATALOGUE[name]
    if not isinstance(value, str):
        return ["Must be a string."]
    if len(value) > rule.max_length:
        return [f"At most {rule.max_length} characters."]
    if CONTROL_CHARACTERS.search(value) or (not rule.multiline and LINE_BREAKS.search(value)):
        return ["Must not contain line breaks or control characters."]
    if rule.pattern is not None and value and not rule.pattern.fullmatch(value):
        return [f"Must be {rule.hint}."]
    return []


def validate_submission(form: SiteForm, given: Mapping[str, Any]) -> tuple[dict[str, str], dict]:
    """The cleaned values of a submission and the errors per field (unknown, missing, invalid)."""
    allowed = {field["name"]: bool(field.get("required")) for field in form.fields}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for name, value in given.items():
        if name not in allowed:
            errors[name] = ["Unknown field for this form."]
            continue
        problems = check_field_value(name, value)
        if problems:
            errors[name] = problems
        elif value.strip():
            cleaned[name] = value.strip()
    for name, required in allowed.items():
        if required and name not in cleaned and name not in errors:
            errors[name] = ["Missing data for required field."]
    return cleaned, errors


def parse_field_list(fields: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`["name*", "email*", "phone"]` (a star: required) or dicts into the stored shape."""
    parsed: list[dict[str, Any]] = []
    for item in fields:
        if isinstance(item, str):
            name, required = item.rstrip("*"), item.endswith("*")
        else:
            name, required = str(item.get("name")), bool(item.get("required"))
        if name not in FIELD_CATALOGUE:
            raise ValueError(f"unknown form field {name!r}; known: {', '.join(FIELD_CATALOGUE)}")
        if any(existing["name"] == name for existing in parsed):
            raise ValueError(f"form field {name!r} given twice")
        parsed.append({"name": name, "required": required})
    if not parsed:
        raise ValueError("a form needs at least one field")
    return parsed


def define_form(
    site: Site,
    slug: str,
    *,
    purpose: str,
    category: str,
    fields: Sequence[str | Mapping[str, Any]],
    wording: Mapping[str, str] | None = None,
    service: str | None = None,
) -> SiteForm:
    """Create or replace a form's definition and record its wordings; commits.

    The category must be one of the site's; the service, when given, one of its services in
    that category. A wording is required when the service is third-party or cross-border
    (PIPL Art. 23 and 39 ask for a separate consent) and for subscriptions.
    """
    if purpose not in FORM_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(FORM_PURPOSES)}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", slug):
        raise ValueError("a form slug is lower-case letters, digits, - and _")
    categories = {category.slug for category in site.categories}
    if category not in categories:
        raise ValueError(f"unknown category {category!r}")
    recipient = None
    if service is not None:
        recipient = next((item for item in site.services if item.slug == service), None)
        if recipient is None or recipient.category.slug != category:
            raise ValueError(f"service {service!r} is not a service of category {category!r}")
    texts = {locale: text.strip() for locale, text in (wording or {}).items() if text.strip()}
    for locale, text in texts.items():
        if len(text) > MAX_WORDING_LENGTH:
            raise ValueError(f"wording for {locale} is longer than {MAX_WORDING_LENGTH}")
    needs_wording = purpose == "subscription" or (
        recipient is not None and (recipient.third_party or recipient.cross_border)
    )
    if needs_wording and not texts:
        raise ValueError("this form needs the wording of its separate consent (per locale)")
    form = find_form(site.id, slug)
    if form is None:
        form = SiteForm(site_id=site.id, slug=slug)
        db.session.add(form)
    form.purpose = purpose
    form.category = category
    form.service = service
    form.fields = parse_field_list(fields)
    form.wording = texts
    for text in texts.values():
        record_wording(site.id, slug, text)
    db.session.commit()
    return form


def record_wording(site_id: int, form_slug: str, text: str) -> BannerVersion:
    """Keep a wording as shown, addressed by its hash (no commit; idempotent)."""
    digest = wording_hash(text)
    version = db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id, BannerVersion.sha256 == digest
        )
    )
    if version is None:
        version = BannerVersion(
            site_id=site_id, sha256=digest, canonical_json=text, kind=wording_kind(form_slug)
        )
        db.session.add(version)
    return version


def find_form(site_id: int, slug: str) -> SiteForm | None:
    return db.session.scalar(
        select(SiteForm).where(SiteForm.site_id == site_id, SiteForm.slug == slug)
    )


def forms_of(site_id: int, purpose: str | None = None) -> Sequence[SiteForm]:
    query = select(SiteForm).where(SiteForm.site_id == site_id).order_by(SiteForm.slug)
    if purpose is not None:
        query = query.where(SiteForm.purpose == purpose)
    return db.session.scalars(query).all()


def find_wording(site_id: int, form_slug: str, digest: str) -> BannerVersion | None:
    """A wording this form has shown (now or before), by its hash."""
    return db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id,
            BannerVersion.sha256 == digest.lower(),
            BannerVersion.kind == wording_kind(form_slug),
        )
    )


def form_config(form: SiteForm, locale: str | None, default_locale: str) -> dict[str, Any]:
    """A form as the page needs it: fields, and the wording (one locale, or all) with hashes."""
    if locale is None:
        wording: Any = {
            code: {"text": text, "hash": wording_hash(text)} for code, text in form.wording.items()
        }
    else:
        text = form.wording.get(locale) or form.wording.get(default_locale)
        if text is None and form.wording:
            text = next(iter(form.wording.values()))
        wording = {"text": text, "hash": wording_hash(text)} if text else None
    return {
        "slug": form.slug,
        "purpose": form.purpose,
        "category": form.category,
        "service": form.service,
        "fields": [dict(field) for field in form.fields],
        "separate_consent": wording,
    }
