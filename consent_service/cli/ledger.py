"""`ledger`: seal, export, verify and make signing keys."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from consent_service.cli.common import site_or_fail
from consent_service.ledger import exports, verify


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

    from consent_service.ledger import sealing

    while True:
        results = [sealing.seal_waiting(site_or_fail(site_key))] if site_key else sealing.seal_all()
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

    site = site_or_fail(site_key)
    filters = exports.ExportFilters(
        start=start.replace(tzinfo=UTC) if start else None,
        end=end.replace(tzinfo=UTC) if end else None,
        category=category,
        action=action,
        visitor_id=visitor_id,
    )
    manifest = exports.write_bundle(site.id, site.site_key, site.name, out, filters, actor="cli")
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

    if (bundle is None) == (site_key is None):
        raise click.UsageError("give either BUNDLE or --site")
    if bundle is not None:
        verdict = verify.verify_bundle(bundle, previous_checkpoint, public_key)
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

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        site = site_or_fail(site_key)
        trusted = json.loads(trusted_file.read_text(encoding="utf-8")) if trusted_file else None
        return verify.verify_live(site.id, site.site_key, trusted)


@ledger_group.command("keygen")
def ledger_keygen() -> None:
    """Print a new Ed25519 signing key for LEDGER_SIGNING_KEY (keep it secret)."""
    from consent_service.ledger.signing import new_private_key_b64

    click.echo(new_private_key_b64())
