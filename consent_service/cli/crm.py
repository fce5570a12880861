"""`crm`: the NeoCRM connection, the lead worker and dead letters."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.config import secret_from_env
from consent_service.integrations.crm import connection as crm_connection
from consent_service.integrations.crm import delivery, leads


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


class _StdinLines:
    """stdin read once, handed out a line at a time to the options given as -."""

    def __init__(self) -> None:
        self.lines: list[str] | None = None

    def next(self) -> str:
        if self.lines is None:
            self.lines = click.get_text_stream("stdin").read().splitlines()
        return self.lines.pop(0) if self.lines else ""


def _secret(path: str | None, env_name: str, option: str, stdin: _StdinLines) -> str:
    if path == "-":
        value: str | None = stdin.next()
    elif path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip("\r\n")
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from exc
    else:
        value = secret_from_env(env_name)
    if not value:
        raise click.UsageError(f"Give {option} (a file, or - for stdin) or set {env_name}.")
    return value


@crm_group.command("configure")
@click.option("--site", "site_key", required=True)
@click.option("--auth-url", required=True, help="NeoCRM login host; /oauth2/token is appended.")
@click.option("--instance-url", required=True, help="NeoCRM API host (/rest/data/v2.0/...).")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret-file",
    default=None,
    help="File holding the client secret, or - for stdin; default: $NEOCRM_CLIENT_SECRET.",
)
@click.option("--username", required=True)
@click.option(
    "--password-file",
    default=None,
    help="File holding the password, or - for stdin (after the secret, one per line); "
    "default: $NEOCRM_PASSWORD.",
)
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
    client_secret_file: str | None,
    username: str,
    password_file: str | None,
    field_map: str | None,
    fixed: str | None,
) -> None:
    """Connect a site to its NeoCRM tenant (the secret and password are stored encrypted).

    Secrets never come from the command line: from a file, stdin or the environment.
    """
    site = site_or_fail(site_key)
    stdin = _StdinLines()
    client_secret = _secret(
        client_secret_file, "NEOCRM_CLIENT_SECRET", "--client-secret-file", stdin
    )
    password = _secret(password_file, "NEOCRM_PASSWORD", "--password-file", stdin)
    try:
        connection = crm_connection.configure(
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
    missing = crm_connection.unmapped_fields(site.id, connection)
    if missing:
        click.echo(f"warning: collected but not sent (no mapping): {', '.join(missing)}")
    if crm_connection.LEAD_ID_SOURCE not in connection.field_map:
        click.echo(
            f"note: map {crm_connection.LEAD_ID_SOURCE} to a NeoCRM custom field so that a lead "
            "whose creation timed out is found instead of waiting for you to check"
        )


@crm_group.command("worker")
@click.option("--once", is_flag=True, help="Exit when nothing is due (the rest waits on back-off).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600))
@with_appcontext
def crm_worker(once: bool, interval: float) -> None:
    """Deliver leads to NeoCRM and delete withdrawn ones (web processes do it too unless
    CRM_AUTODELIVER=0)."""
    import time

    while True:
        report = delivery.deliver_until_idle()
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

    site = site_or_fail(site_key)
    counts = leads.outbox_counts(site.id)
    click.echo("  ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "none")
    for lead in leads.dead_leads(site.id):
        click.echo(f"dead {lead.lead_id}  attempts {lead.attempts}  {lead.last_error}")


@crm_group.command("retry")
@click.option("--site", "site_key", required=True)
@click.option("--lead", "lead_id", required=True, help="The lead id (a UUID).")
@with_appcontext
def crm_retry(site_key: str, lead_id: str) -> None:
    """Try a dead lead again from the first attempt."""
    from consent_service.errors import ApiError

    try:
        lead = leads.retry_lead(site_or_fail(site_key).id, lead_id)
    except ApiError as exc:
        raise click.ClickException(str(exc.description)) from exc
    click.echo(f"lead {lead.lead_id}: {lead.status} again")


@crm_group.command("keygen")
def crm_keygen() -> None:
    """Print a new key for DATA_ENCRYPTION_KEY (encrypts lead fields and CRM secrets)."""
    from consent_service.encryption import new_key

    click.echo(new_key())
