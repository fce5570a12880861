"""The site registry: creating sites, looking them up, and the settings a site is made with
(origins, locales, lifetime, GA4).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import (
    Category,
    Service,
    Site,
)
from consent_service.safe_text import check_text
from consent_service.sites.versions import refresh_banner_version

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
    """128 bits of randomness, URL-safe, no padding (22 characters), never starting with `-`
    (the key reaches CSV exports, where a leading `-` starts a formula)."""
    while True:
        key = secrets.token_urlsafe(16)
        if key[0] != "-":
            return key


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

    A site always has a `necessary` category, added when the caller gives none. Names that
    reach exports are refused when a spreadsheet would read them as a formula.
    """
    check_text(name, "site name")
    for service_spec in services:
        for what in ("name", "provider", "storage_location"):
            check_text(getattr(service_spec, what), f"service {service_spec.slug} {what}")
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
