"""The `consent-service` command: Flask's CLI over `create_app`, and one module per command
group (`sites`, `ledger`, `webhooks`, `crm`, `mail`, `demo`, `catalogue`, `scan`,
`requests`)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from consent_service.cli.catalogue import catalogue_group
from consent_service.cli.crm import crm_group
from consent_service.cli.demo import demo_command
from consent_service.cli.ledger import ledger_group
from consent_service.cli.mail import mail_group, subscriptions_group
from consent_service.cli.requests import requests_group
from consent_service.cli.retention import retention_group
from consent_service.cli.scan import scan_command
from consent_service.cli.sites import policies_group, sites_group, tokens_group
from consent_service.cli.users import users_group
from consent_service.cli.webhooks import webhooks_group


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
    app.cli.add_command(retention_group)
    app.cli.add_command(ledger_group)
    app.cli.add_command(webhooks_group)
    app.cli.add_command(crm_group)
    app.cli.add_command(mail_group)
    app.cli.add_command(subscriptions_group)
    app.cli.add_command(catalogue_group)
    app.cli.add_command(scan_command)
    app.cli.add_command(users_group)
    app.cli.add_command(requests_group)


main.add_command(ledger_group)
main.add_command(catalogue_group)
