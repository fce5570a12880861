"""`sites`, `tokens` and `policies`: create sites, hand out API tokens, publish policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.safe_text import UnsafeText
from consent_service.sites import access, registry, versions


@click.group("sites")
def sites_group() -> None:
    """Create and list sites."""


@sites_group.command("create")
@click.option("--name", required=True, help="A name for people, e.g. 'Example Inc. (EU)'.")
@click.option("--origin", "origins", multiple=True, required=True, help="Allowed origin; repeat.")
@click.option("--locale", "default_locale", default="en", show_default=True)
@click.option("--lifetime-days", default=180, show_default=True, type=click.IntRange(1, 3650))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def sites_create(
    name: str, origins: tuple[str, ...], default_locale: str, lifetime_days: int, as_json: bool
) -> None:
    """Create a site; prints its key and a new admin token (shown only once)."""
    try:
        site = registry.create_site(
            name, origins, default_locale=default_locale, lifetime_days=lifetime_days
        )
    except UnsafeText as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--origin") from exc
    _, secret = access.issue_token(site, "admin", label="created with the site")
    if as_json:
        click.echo(json.dumps({"site_key": site.site_key, "admin_token": secret}))
    else:
        click.echo(f"site key:    {site.site_key}")
        click.echo(f"admin token: {secret}  (shown once; keep it secret)")


@sites_group.command("ga4")
@click.option("--site", "site_key", required=True)
@click.option("--measurement-id", default=None, help="G-XXXXXXXXXX; omit to stop loading gtag.js.")
@click.option("--mode", type=click.Choice(registry.GA4_MODES), default="basic", show_default=True)
@with_appcontext
def sites_ga4(site_key: str, measurement_id: str | None, mode: str) -> None:
    """Let the banner load Google Analytics 4 (gtag.js) with Consent Mode v2."""
    try:
        registry.set_ga4(site_or_fail(site_key), measurement_id, mode)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--measurement-id") from exc
    click.echo(f"GA4: {measurement_id or 'off'} ({mode} mode)")


@sites_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@with_appcontext
def sites_list(as_json: bool) -> None:
    """List sites with their keys and origins."""
    for site in registry.list_sites():
        if as_json:
            click.echo(
                json.dumps(
                    {"site_key": site.site_key, "name": site.name, "origins": site.allowed_origins}
                )
            )
        else:
            click.echo(f"{site.site_key}  {site.name}  {' '.join(site.allowed_origins)}")


@click.group("tokens")
def tokens_group() -> None:
    """Issue and revoke API tokens."""


@tokens_group.command("create")
@click.option("--site", "site_key", required=True)
@click.option("--role", type=click.Choice(["admin", "auditor"]), required=True)
@click.option("--label", default="", help="Who or what the token is for.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def tokens_create(site_key: str, role: str, label: str, as_json: bool) -> None:
    """Issue a token; the secret is printed once and stored only as a hash."""
    site = site_or_fail(site_key)
    token, secret = access.issue_token(site, role, label=label)
    if as_json:
        click.echo(json.dumps({"token": secret, "id": token.id, "role": role}))
    else:
        click.echo(f"{role} token {token.id}: {secret}  (shown once)")


@tokens_group.command("revoke")
@click.option("--site", "site_key", required=True)
@click.option("--id", "token_id", type=int, required=True)
@with_appcontext
def tokens_revoke(site_key: str, token_id: int) -> None:
    """Revoke a token by id."""
    count = access.revoke_tokens(site_or_fail(site_key), token_id=token_id)
    if not count:
        raise click.ClickException(f"no live token {token_id} on this site")
    click.echo(f"revoked token {token_id}")


@click.group("policies")
def policies_group() -> None:
    """Publish and list privacy policy versions."""


@policies_group.command("publish")
@click.option("--site", "site_key", required=True)
@click.option("--label", required=True, help="Version label shown to visitors, e.g. 2024-09.")
@click.option("--file", "text_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help="Where the policy is published.")
@click.option("--sha256", default=None, help="SHA-256 of the document at --url (without --file).")
@click.option("--effective-at", type=click.DateTime(), default=None, help="UTC; default now.")
@click.option("--material", is_flag=True, help="Visitors must consent again.")
@with_appcontext
def policies_publish(
    site_key: str,
    label: str,
    text_file: Path | None,
    url: str | None,
    sha256: str | None,
    effective_at: datetime | None,
    material: bool,
) -> None:
    """Publish a new immutable policy version."""
    site = site_or_fail(site_key)
    try:
        policy = versions.publish_policy(
            site,
            label,
            text=text_file.read_text(encoding="utf-8") if text_file else None,
            url=url,
            sha256=sha256,
            effective_at=effective_at.replace(tzinfo=UTC) if effective_at else None,
            material=material,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"published {policy.label} sha256={policy.sha256} material={policy.material}")


@policies_group.command("list")
@click.option("--site", "site_key", required=True)
@with_appcontext
def policies_list(site_key: str) -> None:
    for policy in versions.policy_versions(site_or_fail(site_key)):
        flag = " material" if policy.material else ""
        click.echo(f"{policy.label}  {policy.effective_at.isoformat()}  {policy.sha256}{flag}")
