"""`retention run`: purge what the sites' retention rules say is due (the web processes do it
too, on a schedule, unless RETENTION_AUTORUN=0)."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.consents import retention


@click.group("retention")
def retention_group() -> None:
    """How long the service keeps what it holds about visitors."""


@retention_group.command("run")
@click.option("--site", "site_key", default=None, help="One site (default: every site).")
@click.option("--dry-run", is_flag=True, help="Print what would be purged; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per site.")
@click.option("--batch", default=retention.BATCH, show_default=True, type=click.IntRange(1, 50000))
@with_appcontext
def retention_run(site_key: str | None, dry_run: bool, as_json: bool, batch: int) -> None:
    """Erase expired consent evidence (leaves stay), delete unconfirmed subscriptions, old
    outbox rows and dead letters; in short transactions of --batch rows."""
    if site_key is not None:
        site_or_fail(site_key)
    due = retention.run_retention(site_key, dry_run=True)
    reports = due
    total = sum(sum(report.counts.values()) for report in due)
    if not dry_run and total:
        if sys.stderr.isatty() and not as_json:
            with click.progressbar(length=total, label="Purging", file=sys.stderr) as bar:
                reports = retention.run_retention(site_key, batch=batch, progress=bar.update)
        else:
            reports = retention.run_retention(site_key, batch=batch)
    for report in reports:
        if as_json:
            click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, sort_keys=True))
            continue
        verb = "would purge" if dry_run else "purged"
        items = ", ".join(f"{kind} {count}" for kind, count in report.counts.items() if count)
        click.echo(f"{report.site_key}: {verb} {items or 'nothing'}")
