"""`sites`, `tokens` and `policies`: create, apply, export and lint sites' settings, hand out
API tokens, publish policies."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.errors import ApiError
from consent_service.schemas.jsonschema import settings_json_schema
from consent_service.sites import access, plan, registry, settings, versions

T = TypeVar("T")


@click.group("sites")
def sites_group() -> None:
    """Create sites and apply, export and lint their settings documents."""


@sites_group.command("create")
@click.option("--name", default=None, help="A name for people, e.g. 'Example Inc. (EU)'.")
@click.option("--origin", "origins", multiple=True, help="Allowed origin; repeat.")
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A settings file (YAML or JSON); --name and --origin replace its own.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def sites_create(
    name: str | None, origins: tuple[str, ...], from_file: Path | None, as_json: bool
) -> None:
    """Create a site; prints its key and a new admin token (shown only once).

    A name and an origin are enough: built-in texts (en, zh-CN) and a necessary category make
    a complete banner; edit the exported settings later.
    """
    if from_file is None and (not name or not origins):
        raise click.UsageError("give --name and --origin, or --from FILE")
    document = read_file(from_file) if from_file else None
    site = run(lambda: settings.create_site(name, origins, document=document))
    _, secret = access.issue_token(site, "admin", label="created with the site")
    if as_json:
        click.echo(json.dumps({"site_key": site.site_key, "admin_token": secret}))
    else:
        click.echo(f"site key:    {site.site_key}")
        click.echo(f"admin token: {secret}  (shown once; keep it secret)")


@sites_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--site", "site_key", default=None, help="The site to update (default: by name).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@with_appcontext
def sites_apply(file: Path, site_key: str | None, dry_run: bool, as_json: bool) -> None:
    """Create or update a site from a settings file, printing the plan first.

    Without --site, the site with the document's name is updated (a new one is created when
    there is none). Errors found by the linter stop the apply (exit 1).
    """
    document = read_file(file)
    site = site_or_fail(site_key) if site_key else run(lambda: settings.site_named(document))
    result = run(lambda: settings.apply_settings(document, site=site, dry_run=dry_run))
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    click.echo(plan.render(result))
    if result.applied:
        click.echo(f"applied to site {result.site_key}")
        if site is None:  # created here: unlike `sites create`, no admin token was made
            click.echo(
                f"no admin token yet: consent-service tokens create --site {result.site_key}"
                " --role admin"
            )


@sites_group.command("export")
@click.option("--site", "site_key", required=True)
@click.option("--format", "output", type=click.Choice(["yaml", "json"]), default="yaml")
@with_appcontext
def sites_export(site_key: str, output: str) -> None:
    """Print the site's settings document; applying it back changes nothing."""
    document = run(lambda: settings.export_document(site_or_fail(site_key)))
    if output == "json":
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100))


@sites_group.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON lines.")
def sites_lint(file: Path, as_json: bool) -> None:
    """Check a settings file without a database; exit 1 when it has errors (for CI)."""
    try:
        _, findings = settings.check(settings.parse_text(file_text(file)))
    except settings.SettingsRejected as exc:
        findings = exc.findings
    for item in findings:
        if as_json:
            click.echo(json.dumps(item.as_dict(), ensure_ascii=False))
        else:
            click.echo(f"{file}:{item.pointer or '/'}: {item.severity}: {item.message} "
                       f"[{item.rule}; {item.source}]")  # fmt: skip
    errors = sum(item.severity == "error" for item in findings)
    if not as_json:
        click.echo(f"{errors} error(s), {len(findings) - errors} warning(s)")
    if errors:
        sys.exit(1)


@sites_group.command("schema")
def sites_schema() -> None:
    """Print the JSON Schema of settings files (for editors)."""
    click.echo(json.dumps(settings_json_schema(), indent=2))


def read_file(path: Path) -> Any:
    return run(lambda: settings.parse_text(file_text(path)))


def file_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text: {exc}") from exc


def run(operation: Callable[[], T]) -> T:
    """Run an operation, turning its rejections into a readable exit 1."""
    try:
        return operation()
    except settings.SettingsRejected as exc:
        for item in exc.findings:
            if item.severity == "error":
                click.echo(f"error: {item.rule} at {item.pointer or '/'}: {item.message}", err=True)
        raise click.ClickException("the settings document has errors; nothing applied") from exc
    except ApiError as exc:
        raise click.ClickException(str(exc.description)) from exc


@sites_group.command("ga4")
@click.option("--site", "site_key", required=True)
@click.option("--measurement-id", default=None, help="G-XXXXXXXXXX; omit to stop loading gtag.js.")
@click.option(
    "--mode", type=click.Choice(["basic", "advanced"]), default="basic", show_default=True
)
@with_appcontext
def sites_ga4(site_key: str, measurement_id: str | None, mode: str) -> None:
    """Let the banner load Google Analytics 4 (gtag.js) with Consent Mode v2."""
    site = site_or_fail(site_key)
    try:
        settings.set_ga4(site, measurement_id, mode)
    except settings.SettingsRejected as exc:
        message = "; ".join(item.message for item in exc.findings if item.severity == "error")
        raise click.BadParameter(message, param_hint="--measurement-id") from exc
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
