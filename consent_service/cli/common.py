"""What several command groups share."""

from __future__ import annotations

import click

from consent_service.models import Site
from consent_service.sites import registry


def site_or_fail(site_key: str) -> Site:
    from consent_service.errors import ApiError

    try:
        return registry.get_site(site_key)
    except ApiError as exc:
        raise click.ClickException(f"no site with key {site_key!r}") from exc
