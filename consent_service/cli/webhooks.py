"""`webhooks`: endpoints of a site's backend and the sender."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail


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

    from consent_service.errors import ApiError
    from consent_service.integrations import webhooks

    try:
        webhook, secret = webhooks.add_webhook(
            site_or_fail(site_key), url, current_app.config["WEBHOOK_ALLOW_HTTP"]
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
    from consent_service.integrations import webhooks

    for webhook in webhooks.list_webhooks(site_or_fail(site_key).id):
        click.echo(f"{webhook.id}  {webhook.url}  since {webhook.created_at:%Y-%m-%d}")


@webhooks_group.command("remove")
@click.option("--site", "site_key", required=True)
@click.option("--id", "webhook_id", required=True, type=int)
@with_appcontext
def webhooks_remove(site_key: str, webhook_id: int) -> None:
    from consent_service.errors import ApiError
    from consent_service.integrations import webhooks

    try:
        webhooks.remove_webhook(site_or_fail(site_key).id, webhook_id)
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

    from consent_service.integrations import webhooks

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
