"""The site registry: site keys, looking sites up, and what an origin is. Sites are made and
changed through their settings document (`sites.settings`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import Site


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


def refuse_taken_name(name: object) -> None:
    """A new site may not take another's name: `sites apply FILE` finds its site by name."""
    if not isinstance(name, str) or not name:
        return
    taken = db.session.scalar(select(Site.site_key).where(Site.name == name).limit(1))
    if taken is not None:
        raise ApiError(
            409,
            f"A site named {name!r} exists already (site key {taken}); choose another name, "
            f"or change that site with `sites apply FILE --site {taken}`.",
            error="name_taken",
            errors={"name": ["Another site has this name."]},
        )
