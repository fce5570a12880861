"""A site's settings document: checked, applied with a plan in one transaction, exported, and
kept in an append-only history.

The document is what the owner decides; the tables (site, categories, services, forms) are
written from it so that the hot paths keep reading plain rows, and the banner version is the
hash of what the document makes visitors see.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from marshmallow import ValidationError
from sqlalchemy import select, update

from consent_service.canonical import canonical_json, sha256_hex
from consent_service.errors import ApiError, ValidationFailed
from consent_service.extensions import db
from consent_service.models import SettingsChange, Site
from consent_service.schemas.settings import SiteSettingsSchema
from consent_service.sites import forms, lint, plan, resolve, tables
from consent_service.sites.defaults import default_document
from consent_service.sites.history import latest_change
from consent_service.sites.legacy import document_from_site
from consent_service.sites.registry import (
    generate_site_key,
    normalise_origin,
    refuse_taken_name,
    rename_findings,
)
from consent_service.sites.versions import record_banner_version

CLI_ACTOR = "cli"


class SettingsRejected(ValidationFailed):
    """422: errors keyed by the JSON Pointer of the offending field, with the findings."""

    def __init__(self, findings: Sequence[lint.Finding]) -> None:
        errors: dict[str, list[str]] = {}
        for item in findings:
            if item.severity == "error":
                errors.setdefault(item.pointer, []).append(f"{item.message} ({item.rule})")
        super().__init__(errors, "The settings document has errors.")
        self.findings = list(findings)


@dataclass
class Prepared:
    """A document that passed the schema and the linter, with what it makes a visitor see."""

    document: dict[str, Any]
    resolved: dict[str, Any]
    banner: dict[str, Any]
    banner_hash: str
    findings: list[lint.Finding]

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.document)


def settings_hash(document: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(document))


def parse_text(text: str) -> Any:
    """A YAML or JSON document (JSON is YAML); a syntax error is a finding at the root."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsRejected([schema_finding("", f"Not YAML or JSON: {exc}")]) from exc


def schema_finding(at: str, message: str) -> lint.Finding:
    return lint.Finding("schema", "error", message, at, "site-settings.schema.json")


def flatten(messages: Any, at: tuple[Any, ...] = ()) -> list[lint.Finding]:
    """marshmallow's nested error dict as one finding per JSON Pointer."""
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            where = at if key in ("_schema", "value") else (*at, key)
            if key == "key":
                where = at
            found.extend(flatten(value, where))
        return found
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return [schema_finding(resolve.pointer(*at), message) for message in messages]
    if isinstance(messages, list):
        return [found for item in messages for found in flatten(item, at)]
    return [schema_finding(resolve.pointer(*at), str(messages))]


def check(raw: Any) -> tuple[Prepared | None, list[lint.Finding]]:
    """Schema, resolution and linter findings; the prepared document when nothing is fatal."""
    if not isinstance(raw, dict):
        return None, [schema_finding("", "A settings document is an object (a mapping).")]
    # `$schema` tells an editor where the JSON Schema is; it is not a setting.
    raw = {key: value for key, value in raw.items() if key != "$schema"}
    try:
        document = SiteSettingsSchema().load(raw)
    except ValidationError as exc:
        return None, flatten(exc.messages)
    for index, origin in enumerate(document["origins"]):
        try:
            document["origins"][index] = normalise_origin(origin)
        except ValueError as exc:
            return None, [schema_finding(resolve.pointer("origins", index), str(exc))]
    resolved, errors = resolve.resolve(document)
    errors.update(form_field_errors(document["forms"]))
    if errors:
        return None, [
            schema_finding(at, message) for at, messages in errors.items() for message in messages
        ]
    findings = lint.lint(document, resolved)
    banner = resolve.banner_document(resolved)
    prepared = Prepared(document, resolved, banner, sha256_hex(canonical_json(banner)), findings)
    return prepared, findings


def form_field_errors(written: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Form fields must come from the field catalogue, each once."""
    errors: dict[str, list[str]] = {}
    for index, form in enumerate(written):
        seen: set[str] = set()
        for position, item in enumerate(form["fields"]):
            name = item.rstrip("*") if isinstance(item, str) else item["name"]
            at = resolve.pointer("forms", index, "fields", position)
            if name not in forms.FIELD_CATALOGUE:
                known = ", ".join(forms.FIELD_CATALOGUE)
                errors.setdefault(at, []).append(f"Unknown field {name!r}; known: {known}.")
            elif name in seen:
                errors.setdefault(at, []).append(f"Field {name!r} given twice.")
            seen.add(name)
    return errors


def prepare(raw: Any) -> Prepared:
    prepared, findings = check(raw)
    if prepared is None or any(item.severity == "error" for item in findings):
        raise SettingsRejected(findings)
    return prepared


def current_document(site: Site) -> dict[str, Any]:
    """The document last applied to the site (derived from its tables if it predates them)."""
    change = latest_change(site)
    if change is not None:
        return dict(json.loads(change.document))
    return document_from_site(site)


def export_document(site: Site) -> dict[str, Any]:
    """The current document in the schema's order (name first), as people read and edit it."""
    exported: dict[str, Any] = SiteSettingsSchema().dump(current_document(site))
    return exported


def current_hash(site: Site) -> str:
    return site.settings_hash or settings_hash(current_document(site))


def apply_settings(
    raw: Any,
    *,
    site: Site | None = None,
    actor: str = CLI_ACTOR,
    dry_run: bool = False,
    if_match: Sequence[str] | None = None,
) -> plan.Plan:
    """Create or update a site from a document; one transaction, nothing written on a dry run.

    `if_match` holds the settings hash the caller last read ("*": any): a stale one is 412, so
    two editors never overwrite each other. An unchanged document writes nothing and keeps
    the banner version.
    """
    prepared = prepare(raw)
    before: dict[str, Any] | None = None
    read_hash: str | None = None
    if site is not None:
        db.session.refresh(site, with_for_update=True)
        read_hash = site.settings_hash
        before = current_document(site)
        if if_match is not None and not ({"*", settings_hash(before)} & set(if_match)):
            raise ApiError(412, "The settings changed since you read them.", error="stale")
        if renamed_over := rename_findings(prepared.document, site):
            raise SettingsRejected([*prepared.findings, *renamed_over])
    result = plan_of(site, prepared, before, dry_run)
    if dry_run or not (result.changed or result.new_banner_version):
        db.session.rollback()
        return result
    site = write(site, prepared, actor, result.settings_hash_before, read_hash)
    result.site_key = site.site_key
    result.applied = True
    return result


def plan_of(
    site: Site | None, prepared: Prepared, before: dict[str, Any] | None, dry_run: bool
) -> plan.Plan:
    """What applying `prepared` over `before` (the site's current document) would do."""
    return plan.Plan(
        site_key=site.site_key if site else None,
        creates_site=site is None,
        settings_hash_before=settings_hash(before) if before is not None else None,
        settings_hash_after=prepared.settings_hash,
        banner_version_before=site.banner_version_hash if site else None,
        banner_version_after=prepared.banner_hash,
        changes=plan.diff(before, prepared.document),
        asks_again=plan.reasons_to_ask_again(
            before,
            prepared.document,
            {category.slug for category in site.categories} if site else set(),
            {category["slug"] for category in prepared.resolved["categories"]},
        ),
        findings=[item.as_dict() for item in prepared.findings],
        dry_run=dry_run,
    )


def review_plan(raw: Any, site: Site) -> tuple[plan.Plan | None, list[lint.Finding]]:
    """The plan and the findings of a document, even one the linter's errors keep from being
    applied (an editor shows what would change beside what blocks it); None when the document
    cannot be read at all. Writes nothing."""
    prepared, findings = check(raw)
    if prepared is None:
        return None, findings
    findings = [*findings, *rename_findings(prepared.document, site)]
    return plan_of(site, prepared, current_document(site), True), findings


def write(
    site: Site | None,
    prepared: Prepared,
    actor: str,
    hash_before: str | None,
    read_hash: str | None,
) -> Site:
    """The tables from the document, the banner version, the history entry; one commit.

    The site's settings hash is swapped only if it is still the one read (`read_hash`): where
    the database cannot lock the row for the plan (SQLite), two writers still cannot both win.
    """
    document, resolved = prepared.document, prepared.resolved
    if site is not None:
        still = (
            Site.settings_hash.is_(None) if read_hash is None else Site.settings_hash == read_hash
        )
        swapped = db.session.execute(
            update(Site)
            .where(Site.id == site.id, still)
            .values(settings_hash=prepared.settings_hash)
            .execution_options(synchronize_session=False)
        )
        if getattr(swapped, "rowcount", 1) != 1:
            db.session.rollback()
            raise ApiError(409, "The settings changed while applying; try again.", error="stale")
    if site is None:
        site = Site(site_key=generate_site_key(), name=document["name"])
        db.session.add(site)
    site.name = document["name"]
    site.allowed_origins = sorted(set(document["origins"]))
    site.default_locale = document["default_locale"]
    site.locales = list(document["locales"])
    site.lifetime_days = document["lifetime_days"]
    site.jurisdiction = document["jurisdiction"]
    site.honour_gpc = document["gpc"]
    site.regions = document["regions"]
    site.reask_after_reject_days = document["reask_after_reject_days"]
    site.cookie_name = document["cookie"]["name"]
    site.cookie_domain = document["cookie"]["domain"]
    site.texts = resolved["texts"]
    site.consent_mode = document["consent_mode"]
    site.ga4_measurement_id = document["ga4"]["measurement_id"]
    site.ga4_mode = document["ga4"]["mode"]
    db.session.flush()
    categories = tables.sync_categories(site, resolved["categories"])
    tables.sync_services(site, resolved["services"], prepared.banner["services"], categories)
    db.session.flush()
    tables.sync_forms(site, document["forms"])
    banner_changed = site.banner_version_hash != prepared.banner_hash
    record_banner_version(site, prepared.banner)
    site.settings_hash = prepared.settings_hash
    db.session.add(
        SettingsChange(
            site_id=site.id,
            actor=actor,
            hash_before=hash_before,
            hash_after=prepared.settings_hash,
            banner_version=prepared.banner_hash,
            banner_changed=banner_changed,
            document=canonical_json(document).decode("utf-8"),
        )
    )
    db.session.commit()
    return site


def create_site(
    name: str | None = None,
    origins: Sequence[str] = (),
    *,
    document: dict[str, Any] | None = None,
    actor: str = CLI_ACTOR,
) -> Site:
    """A new site from a document, or from nothing but a name and origins (defaults for the
    rest); `name` and `origins`, when given, replace the document's. A name another site has
    is refused (409): `sites apply` finds a site by its name."""
    raw = dict(document) if document is not None else default_document(name or "", [])
    if name:
        raw["name"] = name
    if origins:
        raw["origins"] = list(origins)
    refuse_taken_name(raw.get("name"))
    result = apply_settings(raw, actor=actor)
    return site_by_key(str(result.site_key))


def site_named(raw: Any) -> Site | None:
    """The one site with the document's name (None when there is none), so that applying a
    file twice updates the site the first apply made."""
    name = raw.get("name") if isinstance(raw, dict) else None
    found = db.session.scalars(select(Site).where(Site.name == name)).all() if name else []
    if len(found) > 1:
        raise ApiError(409, f"Several sites are named {name!r}; give --site.", error="ambiguous")
    return found[0] if found else None


def site_by_key(site_key: str) -> Site:
    site = db.session.scalar(select(Site).where(Site.site_key == site_key))
    assert site is not None
    return site


def set_ga4(site: Site, measurement_id: str | None, mode: str = "basic") -> plan.Plan:
    """Let the banner load gtag.js for this GA4 property (None: none), as a settings change."""
    document = current_document(site)
    document["ga4"] = {"measurement_id": measurement_id, "mode": mode}
    return apply_settings(document, site=site)
