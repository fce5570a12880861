"""`mail` and `subscriptions`: the mail sender and imports with proof."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.integrations.mail import imports, sending


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

    if not current_app.config.get("SMTP_HOST"):
        click.echo("SMTP_HOST is not set: messages wait in the outbox.", err=True)
    while True:
        report = sending.run_mail_worker()
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

    from consent_service.errors import ApiError
    from consent_service.schemas.subscription import ImportItemSchema
    from consent_service.sites.snapshot import load_snapshot

    try:
        items = ImportItemSchema(many=True).load(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        details = exc.messages if isinstance(exc, ValidationError) else str(exc)
        raise click.ClickException(f"nothing imported: {json.dumps(details)}") from exc
    try:
        site = load_snapshot(site_or_fail(site_key).site_key, time.monotonic())
        report = imports.import_subscribers(site, items, form_slug)
    except ApiError as exc:
        details = json.dumps(exc.errors) if exc.errors else ""
        raise click.ClickException(f"nothing imported: {exc.description} {details}") from exc
    click.echo(
        f"imported {report.imported}, skipped {report.skipped_suppressed} suppressed, "
        f"{report.skipped_active} already active"
    )
