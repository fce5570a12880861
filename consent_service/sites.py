"""Sites and what they show: creating a site, publishing policies, versioning the banner and
building the configuration a banner needs."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from consent_service.canonical import canonical_json, sha256_hex
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.forms import form_config, forms_of
from consent_service.models import (
    BannerVersion,
    Category,
    PolicyVersion,
    Service,
    Site,
    Webhook,
)
from consent_service.models.types import utcnow
from consent_service.snippet import PublishedScript, build_script

BUILTIN_LOCALES = ("en", "zh-CN")


@dataclass
class CategorySpec:
    slug: str
    texts: dict[str, dict[str, str]]
    necessary: bool = False
    gpc_opt_out: bool = False
    consent_mode_signals: list[str] = field(default_factory=list)


@dataclass
class ServiceSpec:
    slug: str
    category: str
    name: str
    provider: str
    texts: dict[str, dict[str, str]]
    privacy_policy_url: str | None = None
    storage_location: str = ""
    cross_border: bool = False
    third_party: bool = True
    cookies: list[dict[str, Any]] = field(default_factory=list)


def generate_site_key() -> str:
    """128 bits of randomness, URL-safe, no padding (22 characters)."""
    return secrets.token_urlsafe(16)


def get_site(site_key: str) -> Site:
    site = db.session.scalar(select(Site).where(Site.site_key == site_key))
    if site is None:
        raise ApiError(404, "No such site.", error="site_not_found")
    return site


def list_sites() -> Sequence[Site]:
    return db.session.scalars(select(Site).order_by(Site.id)).all()


def create_site(
    name: str,
    origins: Iterable[str],
    *,
    default_locale: str = "en",
    texts: dict[str, dict[str, str]] | None = None,
    categories: Sequence[CategorySpec] = (),
    services: Sequence[ServiceSpec] = (),
    lifetime_days: int = 180,
    jurisdiction: str = "opt_in",
    consent_mode: dict[str, Any] | None = None,
    site_key: str | None = None,
) -> Site:
    """Create a site with its categories and services and its first banner version.

    A site always has a `necessary` category, added when the caller gives none.
    """
    site = Site(
        site_key=site_key or generate_site_key(),
        name=name,
        allowed_origins=sorted({normalise_origin(origin) for origin in origins}),
        default_locale=default_locale,
        texts=texts or {},
        lifetime_days=lifetime_days,
        jurisdiction=jurisdiction,
        consent_mode=consent_mode or {"wait_for_update": 500, "regions": []},
    )
    db.session.add(site)
    specs = list(categories)
    if not any(spec.necessary for spec in specs):
        specs.insert(0, CategorySpec(slug="necessary", necessary=True, texts={}))
    by_slug: dict[str, Category] = {}
    for position, spec in enumerate(specs):
        category = Category(
            slug=spec.slug,
            necessary=spec.necessary,
            position=position,
            texts=spec.texts,
            gpc_opt_out=spec.gpc_opt_out,
            consent_mode_signals=list(spec.consent_mode_signals),
        )
        site.categories.append(category)
        by_slug[spec.slug] = category
    for service_spec in services:
        if service_spec.category not in by_slug:
            raise ValueError(f"service {service_spec.slug!r}: unknown category")
        site.services.append(
            Service(
                slug=service_spec.slug,
                category=by_slug[service_spec.category],
                name=service_spec.name,
                provider=service_spec.provider,
                privacy_policy_url=service_spec.privacy_policy_url,
                storage_location=service_spec.storage_location,
                cross_border=service_spec.cross_border,
                third_party=service_spec.third_party,
                cookies=list(service_spec.cookies),
                texts=service_spec.texts,
            )
        )
    db.session.flush()
    refresh_banner_version(site)
    db.session.commit()
    return site


GA4_MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{4,20}$")
GA4_MODES = ("basic", "advanced")


def set_ga4(site: Site, measurement_id: str | None, mode: str = "basic") -> None:
    """Let the banner load gtag.js for this GA4 property (None: it loads none); commits.

    basic: gtag.js only after analytics consent; advanced: at once, with the denied defaults.
    """
    if measurement_id is not None and not GA4_MEASUREMENT_ID.match(measurement_id):
        raise ValueError("A GA4 measurement id looks like G-XXXXXXXXXX.")
    if mode not in GA4_MODES:
        raise ValueError(f"mode must be one of {', '.join(GA4_MODES)}")
    site.ga4_measurement_id = measurement_id
    site.ga4_mode = mode
    db.session.commit()


def normalise_origin(origin: str) -> str:
    """`https://Example.com/` and `https://example.com` are the same origin."""
    origin = origin.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if not sep or not rest or "/" in rest:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{scheme.lower()}://{rest.lower()}"


def banner_document(site: Site) -> dict[str, Any]:
    """Everything a visitor can be shown, in every locale: the content of a BannerVersion."""
    categories = sorted(site.categories, key=lambda category: category.position)
    return {
        "site": {"name": site.name, "default_locale": site.default_locale},
        "texts": site.texts,
        "categories": [
            {
                "slug": category.slug,
                "necessary": category.necessary,
                "order": category.position,
                "gpc_opt_out": category.gpc_opt_out,
                "consent_mode": list(category.consent_mode_signals),
                "texts": category.texts,
            }
            for category in categories
        ],
        "services": [
            {
                "slug": service.slug,
                "category": service.category.slug,
                "name": service.name,
                "provider": service.provider,
                "privacy_policy_url": service.privacy_policy_url,
                "storage_location": service.storage_location,
                "cross_border": service.cross_border,
                "third_party": service.third_party,
                "cookies": service.cookies,
                "texts": service.texts,
            }
            for service in site.services
        ],
    }


def refresh_banner_version(site: Site) -> BannerVersion:
    """Make the site's current banner version match what it shows now (no commit).

    Content-addressed: an unchanged banner keeps its hash; any change to texts, categories or
    services yields a new immutable version while the old ones stay readable.
    """
    document = canonical_json(banner_document(site))
    digest = sha256_hex(document)
    version = find_banner_version(site.id, digest)
    if version is None:
        version = BannerVersion(site_id=site.id, sha256=digest, canonical_json=document.decode())
        db.session.add(version)
    site.banner_version_hash = digest
    return version


def find_banner_version(site_id: int, digest: str) -> BannerVersion | None:
    """A banner this site has shown (not a form's wording, which has its own kind)."""
    return db.session.scalar(
        select(BannerVersion).where(
            BannerVersion.site_id == site_id,
            BannerVersion.sha256 == digest,
            BannerVersion.kind == "banner",
        )
    )


def publish_policy(
    site: Site,
    label: str,
    *,
    text: str | None = None,
    url: str | None = None,
    sha256: str | None = None,
    effective_at: datetime | None = None,
    material: bool = False,
) -> PolicyVersion:
    """Publish a new, immutable policy version.

    The hash is of the text when the text is given; for a policy kept only at a URL the caller
    supplies the SHA-256 of the document published there.
    """
    if text is None and url is None:
        raise ValueError("a policy needs its text or its URL")
    if text is not None:
        sha256 = sha256_hex(text)
    if not sha256 or len(sha256) != 64:
        raise ValueError("a policy published by URL needs the SHA-256 of its document")
    if find_policy(site.id, label) is not None:
        raise ApiError(409, f"Policy version {label!r} is already published.", error="conflict")
    policy = PolicyVersion(
        site_id=site.id,
        label=label,
        text=text,
        url=url,
        sha256=sha256.lower(),
        effective_at=effective_at or utcnow(),
        material=material,
    )
    db.session.add(policy)
    db.session.commit()
    return policy


def policy_versions(site: Site) -> Sequence[PolicyVersion]:
    return db.session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.site_id == site.id)
        .order_by(PolicyVersion.effective_at, PolicyVersion.id)
    ).all()


def current_policy(site: Site, now: datetime | None = None) -> PolicyVersion | None:
    """The newest version already in effect (a future-dated version waits for its date)."""
    now = now or utcnow()
    return db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.site_id == site.id, PolicyVersion.effective_at <= now)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def find_policy(site_id: int, label: str) -> PolicyVersion | None:
    return db.session.scalar(
        select(PolicyVersion).where(PolicyVersion.site_id == site_id, PolicyVersion.label == label)
    )


def site_locales(site: Site) -> list[str]:
    locales = set(site.texts) | set(BUILTIN_LOCALES) | {site.default_locale}
    for category in site.categories:
        locales |= set(category.texts)
    return sorted(locales)


def negotiate_locale(available: Sequence[str], requested: str | None, accept: Sequence[str]) -> str:
    """Pick the best of `available`: an explicit request first, then the Accept-Language list.

    Matches exactly, then by primary language (`zh` matches `zh-CN`); falls back to the first
    available locale, which callers order with the site's default first.
    """
    lowered = {locale.lower(): locale for locale in available}
    candidates = ([requested] if requested else []) + list(accept)
    for candidate in candidates:
        candidate = candidate.strip().replace("_", "-").lower()
        if candidate in lowered:
            return lowered[candidate]
        primary = candidate.split("-")[0]
        for lower, locale in lowered.items():
            if lower.split("-")[0] == primary:
                return locale
    return available[0]


def localised(texts: dict[str, Any], locale: str, default_locale: str) -> dict[str, Any]:
    value = texts.get(locale) or texts.get(default_locale) or texts.get("en") or {}
    return dict(value)


def site_config(site: Site, locale: str) -> dict[str, Any]:
    """What a banner needs, in one locale: the body of GET .../config."""
    policy = current_policy(site)
    document = banner_document(site)
    default = site.default_locale
    return {
        "site_key": site.site_key,
        "name": site.name,
        "locale": locale,
        "default_locale": default,
        "locales": site_locales(site),
        "texts": localised(site.texts, locale, default),
        "categories": [
            {
                "slug": category["slug"],
                "necessary": category["necessary"],
                "order": category["order"],
                "gpc_opt_out": category["gpc_opt_out"],
                "consent_mode": category["consent_mode"],
                **localised(category["texts"], locale, default),
            }
            for category in document["categories"]
        ],
        "services": [
            {
                **{key: value for key, value in service.items() if key != "texts"},
                **localised(service["texts"], locale, default),
            }
            for service in document["services"]
        ],
        "policy_version": policy_summary(policy),
        "banner_version": site.banner_version_hash,
        "lifetime_days": site.lifetime_days,
        "jurisdiction": site.jurisdiction,
        "cookie_name": site.cookie_name,
        "gpc": {"honour": site.honour_gpc},
        "consent_mode": site.consent_mode,
        "ga4": (
            {"measurement_id": site.ga4_measurement_id, "mode": site.ga4_mode}
            if site.ga4_measurement_id
            else None
        ),
        "forms": [form_config(form, locale, default) for form in forms_of(site.id)],
    }


def snippet_config(site: Site, api_base: str, ga4_script_url: str | None) -> dict[str, Any]:
    """The configuration embedded in the banner script: every locale, so the browser can pick
    the visitor's language without another request."""
    document = banner_document(site)
    ga4 = None
    if site.ga4_measurement_id:
        ga4 = {
            "measurement_id": site.ga4_measurement_id,
            "mode": site.ga4_mode,
            "script_url": ga4_script_url
            or f"https://www.googletagmanager.com/gtag/js?id={site.ga4_measurement_id}",
        }
    return {
        "site_key": site.site_key,
        "api_base": api_base.rstrip("/"),
        "default_locale": site.default_locale,
        "cookie_name": site.cookie_name,
        "lifetime_days": site.lifetime_days,
        "jurisdiction": site.jurisdiction,
        "policy_version": policy_summary(current_policy(site)),
        "banner_version": site.banner_version_hash,
        "texts": document["texts"],
        "categories": document["categories"],
        "services": document["services"],
        "gpc": {"honour": site.honour_gpc},
        "consent_mode": site.consent_mode,
        "ga4": ga4,
        "forms": [form_config(form, None, site.default_locale) for form in forms_of(site.id)],
    }


def policy_summary(policy: PolicyVersion | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "label": policy.label,
        "url": policy.url,
        "sha256": policy.sha256,
        "effective_at": policy.effective_at.isoformat(),
        "material": policy.material,
    }


@dataclass(frozen=True)
class PublishedConfig:
    body: bytes
    etag: str  # unquoted entity tag


@dataclass(frozen=True)
class CategoryRule:
    slug: str
    necessary: bool
    gpc_opt_out: bool


@dataclass(frozen=True)
class PolicyRef:
    label: str
    effective_at: datetime
    material: bool


@dataclass
class SiteSnapshot:
    """A site as the hot paths need it, read once and kept for a few seconds.

    Plain values, no ORM state: operations that take a snapshot run without a query for the
    site, its categories, policies or banner versions, and fall back to the database only when
    a version is missing (published a moment ago in another process).
    """

    site_id: int
    site_key: str
    name: str
    default_locale: str
    lifetime_days: int
    allowed_origins: frozenset[str]
    locales: list[str]
    categories: tuple[CategoryRule, ...]
    policies: dict[str, PolicyRef]
    banner_versions: frozenset[str]
    loaded_at: float
    # The site's active webhooks: a consent write queues a delivery to each, no query needed.
    webhook_ids: tuple[int, ...] = ()
    # Categories that lead forms need: refusing one stops the visitor's leads under it.
    lead_categories: frozenset[str] = frozenset()
    configs: dict[str, PublishedConfig] = field(default_factory=dict)
    scripts: dict[tuple[str, str | None], PublishedScript] = field(default_factory=dict)
    chosen_locales: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def choose_locale(self, requested: str | None, accept_language: str) -> str:
        """`negotiate_locale`, remembered per (request parameter, Accept-Language header)."""
        key = (requested, accept_language)
        locale = self.chosen_locales.get(key)
        if locale is None:
            accepted = parse_accept_header(accept_language, LanguageAccept)
            locale = negotiate_locale(self.locales, requested, list(accepted.values()))
            if len(self.chosen_locales) < 1024:
                self.chosen_locales[key] = locale
        return locale

    def newer_material_policy(self, than: str, now: datetime) -> bool:
        """Has a material version taken effect after the version `than` was consented to?"""
        consented = self.policies.get(than)
        if consented is None:
            return False
        return any(
            policy.material and consented.effective_at < policy.effective_at <= now
            for policy in self.policies.values()
        )


def load_snapshot(site_key: str, now: float) -> SiteSnapshot:
    site = get_site(site_key)
    locales = site_locales(site)
    locales.sort(key=lambda locale: locale != site.default_locale)
    policies = {
        policy.label: PolicyRef(policy.label, policy.effective_at, policy.material)
        for policy in policy_versions(site)
    }
    banners = db.session.scalars(
        select(BannerVersion.sha256).where(
            BannerVersion.site_id == site.id, BannerVersion.kind == "banner"
        )
    ).all()
    return SiteSnapshot(
        site_id=site.id,
        site_key=site.site_key,
        name=site.name,
        default_locale=site.default_locale,
        lifetime_days=site.lifetime_days,
        allowed_origins=frozenset(site.allowed_origins),
        locales=locales,
        categories=tuple(
            CategoryRule(category.slug, category.necessary, category.gpc_opt_out)
            for category in site.categories
        ),
        policies=policies,
        banner_versions=frozenset(banners),
        loaded_at=now,
        webhook_ids=tuple(
            db.session.scalars(
                select(Webhook.id).where(Webhook.site_id == site.id, Webhook.active)
            ).all()
        ),
        lead_categories=frozenset(form.category for form in forms_of(site.id, "lead")),
    )


class SiteSnapshotCache:
    """A short-lived per-process cache of site snapshots and rendered configs.

    The banner config is read on every page view of every customer site and every consent
    write needs the site's rules; serving both without a query is what keeps them as cheap as
    a static file. Other processes see changes within `ttl` seconds, well inside the config's
    max-age; a write path that meets an unknown version checks the database itself.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._snapshots: dict[str, SiteSnapshot] = {}

    def snapshot(self, site_key: str, now: float) -> SiteSnapshot:
        snapshot = self._snapshots.get(site_key)
        if snapshot is not None and now - snapshot.loaded_at < self.ttl:
            return snapshot
        snapshot = load_snapshot(site_key, now)
        if self.ttl > 0:
            self._snapshots[site_key] = snapshot
        return snapshot

    def config(self, snapshot: SiteSnapshot, locale: str) -> PublishedConfig:
        published = snapshot.configs.get(locale)
        if published is None:
            body = json_bytes(site_config(get_site(snapshot.site_key), locale))
            published = PublishedConfig(body=body, etag=sha256_hex(body)[:32])
            snapshot.configs[locale] = published
        return published

    def script(
        self, snapshot: SiteSnapshot, api_base: str, ga4_script_url: str | None
    ) -> PublishedScript:
        """The site's banner script, built once per snapshot and API base URL."""
        key = (api_base, ga4_script_url)
        published = snapshot.scripts.get(key)
        if published is None:
            config = snippet_config(get_site(snapshot.site_key), api_base, ga4_script_url)
            published = build_script(config)
            snapshot.scripts[key] = published
        return published


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
