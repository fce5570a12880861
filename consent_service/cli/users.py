"""`users`: console accounts. The password comes from a prompt on a terminal or from
standard input in scripts, never from an argument (arguments end up in shell histories and
process listings)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.console import accounts
from consent_service.errors import ApiError


@click.group("users")
def users_group() -> None:
    """Console accounts: site owners, editors, auditors and operators."""


@users_group.command("create")
@click.option("--email", required=True, help="The e-mail address the person signs in with.")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
@click.option("--site", "site_key", default=None, help="The site key (not for an operator).")
@with_appcontext
def users_create(email: str, role: str, site_key: str | None) -> None:
    """Create an account with a role (or add the role to an existing account)."""
    if (role == accounts.OPERATOR) != (site_key is None):
        raise click.UsageError("give --site for owner, editor and auditor, and not for operator")
    site = site_or_fail(site_key) if site_key else None
    password = read_password()
    try:
        account = accounts.create_account(email, password, role, site)
    except ApiError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(details or str(exc.description)) from exc
    where = f" on {site.site_key}" if site else ""
    click.echo(f"{account.email}: {role}{where}")


@users_group.command("password")
@click.option("--email", required=True, help="The e-mail address the person signs in with.")
@with_appcontext
def users_password(email: str) -> None:
    """Set a new password for an account (a lost one cannot be recovered, only replaced)."""
    password = read_password()
    try:
        account = accounts.set_password(email, password)
    except ApiError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        raise click.ClickException(details or str(exc.description)) from exc
    click.echo(f"{account.email}: new password set")


def read_password() -> str:
    stream = click.get_text_stream("stdin")
    if stream.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return stream.readline().rstrip("\r\n")
