"""The `consent-service` command: Flask's CLI over `create_app`, plus our own commands."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    app.cli.add_command(ledger_group)
    app.cli.add_command(webhooks_group)
    app.cli.add_command(crm_group)
    app.cli.add_command(mail_group)
    app.cli.add_command(subscriptions_group)


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


@sites_group.command("ga4")
@click.option("--site", "site_key", required=True)
@click.option("--measurement-id", default=None, help="G-XXXXXXXXXX; omit to stop loading gtag.js.")
@click.option("--mode", type=click.Choice(sites.GA4_MODES), default="basic", show_default=True)
@with_appcontext
def sites_ga4(site_key: str, measurement_id: str | None, mode: str) -> None:
    """Let the banner load Google Analytics 4 (gtag.js) with Consent Mode v2."""
    try:
        sites.set_ga4(_site_or_fail(site_key), measurement_id, mode)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--measurement-id") from exc
    click.echo(f"GA4: {measurement_id or 'off'} ({mode} mode)")


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
                f'  banner tag:   <script src="{base_url}/c/{site.site_key}.js" async></script>',
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
    # The demo page must not call Google: its gtag.js is a local stand-in.
    os.environ.setdefault("GA4_SCRIPT_URL", f"{base_url}/static/demo/gtag-standin.js")
    serve(bind=f"{host}:{port}", workers=workers)


@click.group("ledger")
def ledger_group() -> None:
    """Seal, export and verify the consent ledger."""


@ledger_group.command("seal")
@click.option("--site", "site_key", default=None, help="Only this site (default: all).")
@click.option("--watch", is_flag=True, help="Keep sealing every --interval seconds.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600))
@with_appcontext
def ledger_seal(site_key: str | None, watch: bool, interval: float) -> None:
    """Number unsealed events and sign a new checkpoint."""
    import time

    from consent_service import sealing

    while True:
        results = (
            [sealing.seal_waiting(_site_or_fail(site_key))] if site_key else sealing.seal_all()
        )
        for result in results:
            if result.sealed:
                click.echo(
                    f"{result.site_key}: sealed {result.sealed}, tree size {result.tree_size}"
                )
        if not watch:
            return
        time.sleep(interval)


@ledger_group.command("export")
@click.option("--site", "site_key", required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--from", "start", type=click.DateTime(), default=None, help="UTC, inclusive.")
@click.option("--to", "end", type=click.DateTime(), default=None, help="UTC, exclusive.")
@click.option("--category", default=None, help="Only events that granted this category.")
@click.option("--action", default=None)
@click.option("--visitor-id", default=None)
@with_appcontext
def ledger_export(
    site_key: str,
    out: Path,
    start: datetime | None,
    end: datetime | None,
    category: str | None,
    action: str | None,
    visitor_id: str | None,
) -> None:
    """Write a bundle: events.jsonl, manifest.json, checkpoint.json, public_keys.json."""
    from consent_service import audit

    site = _site_or_fail(site_key)
    filters = audit.ExportFilters(
        start=start.replace(tzinfo=UTC) if start else None,
        end=end.replace(tzinfo=UTC) if end else None,
        category=category,
        action=action,
        visitor_id=visitor_id,
    )
    manifest = audit.write_bundle(site.id, site.site_key, site.name, out, filters, actor="cli")
    click.echo(
        f"wrote {manifest['row_count']} events to {out} "
        f"(checkpoint tree size {manifest['checkpoint']['tree_size']})"
    )


@ledger_group.command("verify")
@click.argument(
    "bundle", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--site", "site_key", default=None, help="Verify the live database instead.")
@click.option(
    "--previous-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An older checkpoint you kept: nothing it covers may be gone or changed.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Public keys document obtained independently (default: the bundle's).",
)
def ledger_verify(
    bundle: Path | None,
    site_key: str | None,
    previous_checkpoint: Path | None,
    public_key: Path | None,
) -> None:
    """Verify a bundle offline (no database, no network), or a site's live ledger."""
    from consent_service import audit

    if (bundle is None) == (site_key is None):
        raise click.UsageError("give either BUNDLE or --site")
    if bundle is not None:
        verdict = audit.verify_bundle(bundle, previous_checkpoint, public_key)
    else:
        verdict = _verify_live(site_key or "", previous_checkpoint)
    for failure in verdict.failures:
        click.echo(f"FAIL  {failure}")
    click.echo(f"{len(verdict.checks)} checks passed, {len(verdict.failures)} failed")
    if not verdict.ok:
        click.echo("VERDICT: NOT VERIFIED")
        sys.exit(1)
    click.echo("VERDICT: VERIFIED")


def _verify_live(site_key: str, trusted_file: Path | None) -> Any:
    """Only the live check needs the app; the offline one must work without any setup."""
    from flask.cli import ScriptInfo

    from consent_service import audit

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        site = _site_or_fail(site_key)
        trusted = json.loads(trusted_file.read_text(encoding="utf-8")) if trusted_file else None
        return audit.verify_live(site.id, site.site_key, trusted)


@ledger_group.command("keygen")
def ledger_keygen() -> None:
    """Print a new Ed25519 signing key for LEDGER_SIGNING_KEY (keep it secret)."""
    from consent_service.signing import new_private_key_b64

    click.echo(new_private_key_b64())


# Found without building the app, so `ledger verify BUNDLE` needs no configuration at all.
@click.group("webhooks")
def webhooks_group() -> None:
    """Endpoints of a site's backend that hear of every consent change."""


@webhooks_group.command("add")
@click.option("--site", "site_key", required=True)
@click.option("--url", required=True, help="https://… of the site's backend.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def webhooks_add(site_key: str, url: str, as_json: bool) -> None:
    """Register an endpoint; prints its signing secret (shown once)."""
    from flask import current_app

    from consent_service import webhooks
    from consent_service.errors import ApiError

    try:
        webhook, secret = webhooks.add_webhook(
            _site_or_fail(site_key), url, current_app.config["WEBHOOK_ALLOW_HTTP"]
        )
    except ApiError as exc:
        raise click.BadParameter(str(exc.description), param_hint="--url") from exc
    if as_json:
        click.echo(json.dumps({"id": webhook.id, "url": webhook.url, "secret": secret}))
    else:
        click.echo(f"webhook {webhook.id}: {webhook.url}\nsecret: {secret}  (shown once)")


@webhooks_group.command("list")
@click.option("--site", "site_key", required=True)
@with_appcontext
def webhooks_list(site_key: str) -> None:
    from consent_service import webhooks

    for webhook in webhooks.list_webhooks(_site_or_fail(site_key).id):
        click.echo(f"{webhook.id}  {webhook.url}  since {webhook.created_at:%Y-%m-%d}")


@webhooks_group.command("remove")
@click.option("--site", "site_key", required=True)
@click.option("--id", "webhook_id", required=True, type=int)
@with_appcontext
def webhooks_remove(site_key: str, webhook_id: int) -> None:
    from consent_service import webhooks
    from consent_service.errors import ApiError

    try:
        webhooks.remove_webhook(_site_or_fail(site_key).id, webhook_id)
    except ApiError as exc:
        raise click.ClickException(str(exc.description)) from exc
    click.echo(f"webhook {webhook_id} removed")


@webhooks_group.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600))
@with_appcontext
def webhooks_worker(once: bool, interval: float) -> None:
    """Send due deliveries (the web processes do it too unless WEBHOOK_AUTODELIVER=0)."""
    import time

    from consent_service import webhooks

    while True:
        report = webhooks.deliver_due()
        if report.delivered or report.failed or report.dead:
            click.echo(
                f"delivered {report.delivered}, failed {report.failed} (will retry), "
                f"dead {report.dead}"
            )
        if once:
            return
        time.sleep(interval)


@click.group("crm")
def crm_group() -> None:
    """Lead capture into NeoCRM: connection, worker, dead letters."""


def _json_option(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return parsed


@crm_group.command("configure")
@click.option("--site", "site_key", required=True)
@click.option("--auth-url", required=True, help="NeoCRM login host; /oauth2/token is appended.")
@click.option("--instance-url", required=True, help="NeoCRM API host (/rest/data/v2.0/...).")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option(
    "--field-map",
    default=None,
    help='Form field -> NeoCRM field, JSON, over the defaults, e.g. \'{"website": '
    '"customItem123__c", "lead_id": "customItem124__c"}\'; null unmaps.',
)
@click.option("--fixed", default=None, help='Values sent with every lead, JSON: {"entityType": 1}')
@with_appcontext
def crm_configure(
    site_key: str,
    auth_url: str,
    instance_url: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    field_map: str | None,
    fixed: str | None,
) -> None:
    """Connect a site to its NeoCRM tenant (the secret and password are stored encrypted)."""
    from consent_service import crm

    site = _site_or_fail(site_key)
    try:
        connection = crm.configure(
            site,
            auth_url=auth_url,
            instance_url=instance_url,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            field_map=_json_option(field_map, "--field-map"),
            fixed=_json_option(fixed, "--fixed"),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"NeoCRM for {site.site_key}: {connection.instance_url}")
    for source, target in connection.field_map.items():
        click.echo(f"  {source} -> {target}")
    for name, value in connection.fixed.items():
        click.echo(f"  {name} = {json.dumps(value)}")
    missing = crm.unmapped_fields(site.id, connection)
    if missing:
        click.echo(f"warning: collected but not sent (no mapping): {', '.join(missing)}")
    if crm.LEAD_ID_SOURCE not in connection.field_map:
        click.echo(
            f"note: map {crm.LEAD_ID_SOURCE} to a NeoCRM custom field so that a lead whose "
            "creation timed out is found instead of waiting for you to check"
        )


@crm_group.command("worker")
@click.option("--once", is_flag=True, help="Exit when nothing is due (the rest waits on back-off).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600))
@with_appcontext
def crm_worker(once: bool, interval: float) -> None:
    """Deliver leads to NeoCRM and delete withdrawn ones (web processes do it too unless
    CRM_AUTODELIVER=0)."""
    import time

    from consent_service import crm

    while True:
        report = crm.deliver_until_idle()
        if report.done:
            click.echo(
                f"delivered {report.delivered}, deleted {report.deleted}, "
                f"failed {report.failed} (will retry), dead {report.dead}"
            )
        if once:
            return
        time.sleep(interval)


@crm_group.command("status")
@click.option("--site", "site_key", required=True)
@with_appcontext
def crm_status(site_key: str) -> None:
    """Leads per status, and the dead ones with their last error."""
    from consent_service import crm

    site = _site_or_fail(site_key)
    counts = crm.outbox_counts(site.id)
    click.echo("  ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "none")
    for lead in crm.dead_leads(site.id):
        click.echo(f"dead {lead.lead_id}  attempts {lead.attempts}  {lead.last_error}")


@crm_group.command("retry")
@click.option("--site", "site_key", required=True)
@click.option("--lead", "lead_id", required=True, help="The lead id (a UUID).")
@with_appcontext
def crm_retry(site_key: str, lead_id: str) -> None:
    """Try a dead lead again from the first attempt."""
    from consent_service import crm
    from consent_service.errors import ApiError

    try:
        lead = crm.retry_lead(_site_or_fail(site_key).id, lead_id)
    except ApiError as exc:
        raise click.ClickException(str(exc.description)) from exc
    click.echo(f"lead {lead.lead_id}: {lead.status} again")


@crm_group.command("keygen")
def crm_keygen() -> None:
    """Print a new key for DATA_ENCRYPTION_KEY (encrypts lead fields and CRM secrets)."""
    from consent_service.encryption import new_key

    click.echo(new_key())


@click.group("mail")
def mail_group() -> None:
    """The outbox of e-mail (confirmations and marketing messages)."""


@mail_group.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600))
@with_appcontext
def mail_worker(once: bool, interval: float) -> None:
    """Send due messages over SMTP (the web processes do it too unless MAIL_AUTOSEND=0)."""
    import time

    from flask import current_app

    from consent_service import subscriptions

    if not current_app.config.get("SMTP_HOST"):
        click.echo("SMTP_HOST is not set: messages wait in the outbox.", err=True)
    while True:
        report = subscriptions.run_mail_worker()
        if report.sent or report.failed or report.dead or report.cancelled:
            click.echo(
                f"sent {report.sent}, failed {report.failed} (will retry), dead {report.dead}, "
                f"cancelled {report.cancelled}"
            )
        if once:
            return
        time.sleep(interval)


@click.group("subscriptions")
def subscriptions_group() -> None:
    """Marketing e-mail subscribers."""


@subscriptions_group.command("import")
@click.option("--site", "site_key", required=True)
@click.option("--form", "form_slug", default=None, help="Subscription form (default: the first).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def subscriptions_import(site_key: str, form_slug: str | None, file: Path) -> None:
    """Import subscribers with their proof of consent from a JSON list of
    {"email", "source", "consented_at", "wording", "locale"}; all or nothing."""
    import time

    from marshmallow import ValidationError

    from consent_service import subscriptions
    from consent_service.errors import ApiError
    from consent_service.schemas.subscription import ImportItemSchema
    from consent_service.sites import load_snapshot

    try:
        items = ImportItemSchema(many=True).load(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        details = exc.messages if isinstance(exc, ValidationError) else str(exc)
        raise click.ClickException(f"nothing imported: {json.dumps(details)}") from exc
    try:
        site = load_snapshot(_site_or_fail(site_key).site_key, time.monotonic())
        report = subscriptions.import_subscribers(site, items, form_slug)
    except ApiError as exc:
        details = json.dumps(exc.errors) if exc.errors else ""
        raise click.ClickException(f"nothing imported: {exc.description} {details}") from exc
    click.echo(
        f"imported {report.imported}, skipped {report.skipped_suppressed} suppressed, "
        f"{report.skipped_active} already active"
    )


main.add_command(ledger_group)
