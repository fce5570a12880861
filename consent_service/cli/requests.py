"""`requests`: the data subject request queue from a shell or a cron job
(`requests overdue` exits 1 while any request is late)."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.models.request import CLOSE_OUTCOMES, REQUEST_STATUSES


@click.group("requests")
def requests_group() -> None:
    """Data subject requests: access, correction, erasure, portability, objection."""


def row_dict(row: Any, site_keys: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "site": site_keys[row.site_id],
        "type": row.kind,
        "status": row.status,
        "received_at": row.received_at.isoformat() if row.received_at else None,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "overdue": row.overdue,
    }


def site_keys_of(rows: list[Any]) -> dict[int, str]:
    from sqlalchemy import select

    from consent_service.extensions import db
    from consent_service.models import Site

    sites = db.session.scalars(select(Site).where(Site.id.in_({row.site_id for row in rows})))
    return {site.id: site.site_key for site in sites}


def echo_rows(rows: list[Any], as_json: bool) -> None:
    keys = site_keys_of(rows)
    if as_json:
        click.echo(json.dumps([row_dict(row, keys) for row in rows], indent=2))
        return
    for row in rows:
        due = f"{row.due_at:%Y-%m-%d}" if row.due_at else "-"
        late = "  OVERDUE" if row.overdue else ""
        click.echo(
            f"{row.id}  {keys[row.site_id]}  {row.kind:<11}  {row.status:<21}  due {due}{late}"
        )


@requests_group.command("overdue")
@click.option("--site", "site_key", default=None, help="One site (default: every site).")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def requests_overdue(site_key: str | None, as_json: bool) -> None:
    """Requests past their due date; exit status 1 when there is any, 0 otherwise."""
    from consent_service.consents import requests

    site_id = site_or_fail(site_key).id if site_key else None
    rows = requests.overdue_requests(site_id)
    echo_rows(rows, as_json)
    if not as_json:
        click.echo(f"{len(rows)} overdue", err=True)
    raise SystemExit(1 if rows else 0)


@requests_group.command("list")
@click.option("--site", "site_key", default=None)
@click.option("--status", type=click.Choice(REQUEST_STATUSES), default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def requests_list(site_key: str | None, status: str | None, as_json: bool) -> None:
    """The newest requests (500 at most) with due dates; no ids or addresses of requesters."""
    from consent_service.consents import requests

    site_id = site_or_fail(site_key).id if site_key else None
    echo_rows(requests.list_requests(site_id, status), as_json)


@requests_group.command("close")
@click.option("--site", "site_key", required=True)
@click.option("--id", "request_id", required=True, type=click.IntRange(1, 2**63 - 1))
@click.option("--outcome", type=click.Choice(CLOSE_OUTCOMES), required=True)
@click.option("--note", default=None, help="Shown to the requester on the status page.")
@with_appcontext
def requests_close(site_key: str, request_id: int, outcome: str, note: str | None) -> None:
    """Close a request with its outcome (recorded as a step by "cli")."""
    from consent_service.consents import requests
    from consent_service.errors import ApiError

    try:
        requests.close(site_or_fail(site_key).id, request_id, "cli", outcome, note)
    except ApiError as exc:
        raise click.ClickException(str(exc.description)) from exc
    click.echo(f"request {request_id} closed: {outcome}")
