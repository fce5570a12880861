"""The `consent-service` command: Flask's CLI over `create_app`, plus our own commands."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from consent_service import access, sites


def _create_app() -> Flask:
    from consent_service import create_app
    from consent_service.config import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """consent-service: consent and cookie management with a verifiable ledger."""


def register_commands(app: Flask) -> None:
    app.cli.add_command(sites_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(policies_group)
    app.cli.add_command(demo_command)


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
        site = sites.create_site(
            name, origins, default_locale=default_locale, lifetime_days=lifetime_days
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--origin") from exc
    _, secret = access.issue_token(site, "admin", label="created with the site")
    if as_json:
        click.echo(json.dumps({"site_key": site.site_key, "admin_token": secret}))
    else:
        click.echo(f"site key:    {site.site_key}")
        click.echo(f"admin token: {secret}  (shown once; keep it secret)")


@sites_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@with_appcontext
def sites_list(as_json: bool) -> None:
    """List sites with their keys and origins."""
    for site in sites.list_sites():
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
    site = _site_or_fail(site_key)
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
    count = access.revoke_tokens(_site_or_fail(site_key), token_id=token_id)
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
    site = _site_or_fail(site_key)
    try:
        policy = sites.publish_policy(
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
    for policy in sites.policy_versions(_site_or_fail(site_key)):
        flag = " material" if policy.material else ""
        click.echo(f"{policy.label}  {policy.effective_at.isoformat()}  {policy.sha256}{flag}")


def _site_or_fail(site_key: str) -> sites.Site:
    from consent_service.errors import ApiError

    try:
        return sites.get_site(site_key)
    except ApiError as exc:
        raise click.ClickException(f"no site with key {site_key!r}") from exc


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the database and demo site, then exit.")
@with_appcontext
def demo_command(host: str, port: int, workers: int, no_serve: bool) -> None:
    """Upgrade the database, create the demo site if missing, and serve it with gunicorn."""
    from flask_migrate import upgrade

    from consent_service import demo

    upgrade()
    base_url = f"http://{host}:{port}"
    site, admin_token = demo.ensure_demo_site(base_url)
    click.echo(
        "\n".join(
            [
                "consent-service demo",
                f"  site key:     {site.site_key}",
                f"  admin token:  {admin_token}",
                f"  demo page:    {base_url}/demo/",
                f"  config:       {base_url}/api/v1/sites/{site.site_key}/config",
                f"  API document: {base_url}/api/openapi.json",
                f"  health:       {base_url}/readyz",
                "Press Ctrl+C to stop.",
            ]
        )
    )
    sys.stdout.flush()
    if no_serve:
        return
    from consent_service.serve import serve

    os.environ.setdefault("CONSENT_SERVICE_DEMO", "1")
    serve(bind=f"{host}:{port}", workers=workers)
