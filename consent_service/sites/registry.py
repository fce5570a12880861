"""The site registry: site keys, looking sites up, and what an origin is. Sites are made and
changed through their settings document (`sites.settings`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import Site
from consent_service.sites import lint


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


def normalise_origin(origin: str) -> str:
    """`https://Example.com/` and `https://example.com` are the same origin."""
    origin = origin.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if not sep or not rest or "/" in rest:
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return f"{scheme.lower()}://{rest.lower()}"


def taken_by(name: object, renamed: Site | None = None) -> str | None:
    """The key of another site already named `name` (None when the name is free): `sites
    apply FILE` finds its site by name, so two sites may not share one. `renamed` is the site
    being renamed, which does not count."""
    if not isinstance(name, str) or not name:
        return None
    query = select(Site.site_key).where(Site.name == name)
    if renamed is not None:
        query = query.where(Site.id != renamed.id)
    return db.session.scalar(query.limit(1))


def refuse_taken_name(name: object) -> None:
    """A new site may not take another's name (409)."""
    taken = taken_by(name)
    if taken is not None:
        raise ApiError(
            409,
            f"A site named {name!r} exists already (site key {taken}); choose another name, "
            f"or change that site with `sites apply FILE --site {taken}`.",
            error="name_taken",
            errors={"name": ["Another site has this name."]},
        )


def rename_findings(document: dict[str, Any], site: Site) -> list[lint.Finding]:
    """An error at `/name` when a settings change would give the site another site's name."""
    name = document.get("name")
    if name == site.name or (taken := taken_by(name, renamed=site)) is None:
        return []
    message = f"Another site (site key {taken}) is named {name!r}; choose another name."
    return [lint.Finding("name-taken", "error", message, "/name", "consent-service")]
