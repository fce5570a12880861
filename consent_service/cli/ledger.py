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
    """Number unsealed events and sign a new checkpoint (with --watch, at least three times
    within LEDGER_MAX_MERGE_DELAY, the time receipts promise)."""
    import time

    from consent_service.ledger import sealing
    from consent_service.ledger.records import max_merge_delay, seal_interval

    if watch and seal_interval(interval, max_merge_delay()) < interval:
        interval = seal_interval(interval, max_merge_delay())
        click.echo(f"sealing every {interval:g} s to keep LEDGER_MAX_MERGE_DELAY", err=True)

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


KEY_SOURCES = "--public-key B64, --keys FILE or --service URL"


def trusted_keys(public_key: str | None, keys_file: Path | None, service: str | None) -> Any:
    """The keys the auditor trusts, from exactly one source; None when none was given."""
    from consent_service.ledger import trust

    given = [value for value in (public_key, keys_file, service) if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"give only one of {KEY_SOURCES}")
    try:
        if public_key is not None:
            return trust.from_public_key(public_key)
        if keys_file is not None:
            return trust.from_file(keys_file)
        if service is not None:
            return trust.from_service(service)
    except trust.TrustError as exc:
        raise click.ClickException(str(exc)) from exc
    return None


#: The two ways to name the keys an auditor trusts (verify and monitor take both).
public_key_option = click.option(
    "--public-key", metavar="B64", default=None, help="The trusted Ed25519 public key (base64)."
)
keys_option = click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A consent-ledger-keys document you obtained and trust.",
)


@ledger_group.command("verify")
@click.argument("bundle", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--site", "site_key", default=None, help="Verify the live database instead.")
@click.option(
    "--previous-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An older checkpoint you kept: nothing it covers may be gone or changed.",
)
@public_key_option
@keys_option
@click.option(
    "--service",
    metavar="URL",
    default=None,
    help="Fetch the trusted keys from URL/.well-known/consent-ledger-keys.",
)
def ledger_verify(
    bundle: Path | None,
    site_key: str | None,
    previous_checkpoint: Path | None,
    public_key: str | None,
    keys_file: Path | None,
    service: str | None,
) -> None:
    """Verify a bundle offline (no database; network only for --service), or a site's live
    ledger, against keys you trust. BUNDLE is the folder `ledger export` writes or the
    .tar.gz the console downloads. Exit 0 only when VERIFIED; 1 NOT VERIFIED; 2
    UNAUTHENTICATED (no trusted key given)."""

    if (bundle is None) == (site_key is None):
        raise click.UsageError("give either BUNDLE or --site")
    keys = trusted_keys(public_key, keys_file, service)
    if keys is not None:
        click.echo(f"trusting {len(keys.keys)} key(s) from {keys.source}")
    if bundle is not None:
        verdict = _verify_bundle(bundle, keys, previous_checkpoint)
    elif keys is None:
        verdict = verify.Verdict(authenticated=False)
    else:
        verdict = _verify_live(site_key or "", keys, previous_checkpoint)
    for note in verdict.notes:
        click.echo(f"NOTE  {note}")
    for failure in verdict.failures:
        click.echo(f"FAIL  {failure}")
    click.echo(f"{len(verdict.checks)} checks passed, {len(verdict.failures)} failed")
    click.echo(f"VERDICT: {verdict.word}")
    if verdict.word == "UNAUTHENTICATED":
        click.echo(
            "No trusted key was given, so nothing shows who signed this. Pass "
            f"{KEY_SOURCES} (the keys of /.well-known/consent-ledger-keys, obtained from a "
            "channel you trust).",
            err=True,
        )
        sys.exit(2)
    if not verdict.ok:
        sys.exit(1)


def _verify_bundle(bundle: Path, keys: Any, previous_checkpoint: Path | None) -> Any:
    """A folder as it is; an archive unpacked into a temporary folder first."""
    from consent_service.ledger import bundle_archive

    if bundle.is_dir():
        return verify.verify_bundle(bundle, keys, previous_checkpoint)
    if not bundle_archive.is_archive(bundle):
        raise click.UsageError("BUNDLE is a bundle folder or a .tar.gz of one")
    try:
        with bundle_archive.unpacked(bundle) as folder:
            return verify.verify_bundle(folder, keys, previous_checkpoint)
    except bundle_archive.ArchiveError as exc:
        verdict = verify.Verdict()
        verdict.check(False, f"bundle readable: {exc}")
        return verdict


def _verify_live(site_key: str, keys: Any, trusted_file: Path | None) -> Any:
    """Only the live check needs the app; the offline one must work without any setup."""
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        site = site_or_fail(site_key)
        trusted = json.loads(trusted_file.read_text(encoding="utf-8")) if trusted_file else None
        return verify.verify_live(site.id, site.site_key, keys, trusted)


@ledger_group.command("monitor")
@click.option("--service", metavar="URL", required=True, help="Base URL of the consent service.")
@click.option("--site", "site_key", metavar="KEY", required=True)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory that keeps the last verified checkpoint and the history.",
)
@public_key_option
@keys_option
@click.option(
    "--token",
    envvar="CONSENT_SERVICE_TOKEN",
    default=None,
    help="An auditor token of the site (or CONSENT_SERVICE_TOKEN).",
)
@click.option("--once", is_flag=True, help="Check once and exit.")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(1, 86400))
def ledger_monitor(
    service: str,
    site_key: str,
    state: Path,
    public_key: str | None,
    keys_file: Path | None,
    token: str | None,
    once: bool,
    interval: float,
) -> None:
    """Watch a site's log: every new checkpoint must be signed by a trusted key and extend the
    last one verified. Exits 1, saying why, on a fork, a rollback or a bad signature."""
    import time

    from consent_service.ledger import monitor

    keys = trusted_keys(public_key, keys_file, None)
    if keys is None:
        raise click.UsageError("give --public-key B64 or --keys FILE")
    client = monitor.Client(service, site_key, token)
    while True:
        try:
            step = monitor.monitor_once(client, site_key, keys, state)
        except monitor.MonitorAlert as alert:
            click.echo(f"ALERT {alert}")
            sys.exit(1)
        except monitor.FetchError as exc:
            if once:
                click.echo(f"ERROR could not fetch: {exc}", err=True)
                sys.exit(3)
            click.echo(f"could not fetch, will retry: {exc}", err=True)
        else:
            if step.previous_size is None:
                click.echo(f"OK first checkpoint, size {step.size}, kept in {state}")
            else:
                click.echo(f"OK size {step.previous_size} -> {step.size}, consistent")
        if once:
            return
        time.sleep(interval)


@ledger_group.command("note-key")
@click.option("--site", "site_key", required=True)
@with_appcontext
def ledger_note_key(site_key: str) -> None:
    """Print the note verifier key (name+hash+key) of the site's checkpoint notes."""
    from consent_service.ledger.proofs import note_verifier_key

    click.echo(note_verifier_key(site_or_fail(site_key).site_key))


@ledger_group.command("keygen")
@click.option(
    "--publish/--no-publish",
    default=True,
    show_default=True,
    help="List the new public key in the service's database now (when one is configured).",
)
def ledger_keygen(publish: bool) -> None:
    """Print a new Ed25519 signing key for LEDGER_SIGNING_KEY (keep it secret).

    Its public key is published at once when the database can be reached, so auditors can
    fetch it before the key signs anything; the key id and public key go to stderr."""
    from consent_service.ledger.signing import load_key, new_private_key_b64

    secret = new_private_key_b64()
    key = load_key(secret)
    click.echo(secret)
    click.echo(f"key id {key.key_id}, public key {key.public_b64}", err=True)
    if publish:
        _publish(key.public_raw)


def _publish(public_raw: bytes) -> None:
    """Best effort: where no migrated database is reachable, the first start publishes it."""
    from flask.cli import ScriptInfo
    from sqlalchemy import inspect

    from consent_service.extensions import db
    from consent_service.ledger.signing import publish_key

    later = "it is published at the service's first start instead"
    try:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
        with app.app_context():
            if not inspect(db.engine).has_table("ledger_keys"):
                click.echo(f"not published now (database not migrated); {later}", err=True)
                return
            publish_key(public_raw)
    except Exception as exc:  # no database reachable from here
        click.echo(f"not published now ({exc}); {later}", err=True)
        return
    click.echo("published in /.well-known/consent-ledger-keys", err=True)
