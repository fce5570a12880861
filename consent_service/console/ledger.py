"""What the console shows of a site's ledger: events found by visitor, event id or day; one
event with its signed receipt, whether it is sealed and proved in the latest checkpoint, and
the exact banner document it rested on; the latest checkpoint and a live verification; the
signed bundle `ledger verify` checks, as a download."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger import bundle_archive, exports, proofs, verify
from consent_service.ledger.records import event_record, issue_receipt
from consent_service.ledger.sealing import latest_checkpoint
from consent_service.ledger.signing import current_key, public_key_document, published_keys
from consent_service.ledger.trust import from_document
from consent_service.models import ConsentEvent, Site
from consent_service.sites.versions import find_banner_version

PAGE = 100


def find_events(
    site: Site, *, visitor_id: str = "", event_id: str = "", day: str = ""
) -> Sequence[ConsentEvent]:
    """The newest events matching every filter given (at most 100)."""
    query = select(ConsentEvent).where(ConsentEvent.site_id == site.id)
    if visitor_id:
        query = query.where(ConsentEvent.visitor_id == visitor_id.strip()[:32])
    if event_id:
        query = query.where(ConsentEvent.event_id == parse_event_id(event_id))
    if day:
        try:
            start = datetime.combine(date.fromisoformat(day), time(), UTC)
        except ValueError as exc:
            raise ApiError(422, "The day is YYYY-MM-DD.", error="validation_failed") from exc
        query = query.where(
            ConsentEvent.recorded_at >= start, ConsentEvent.recorded_at < start + timedelta(1)
        )
    return db.session.scalars(query.order_by(ConsentEvent.id.desc()).limit(PAGE)).all()


def parse_event_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError as exc:
        raise ApiError(422, "Not an event id (a UUID).", error="validation_failed") from exc


def event_detail(site: Site, event_id: str) -> dict[str, Any]:
    event = db.session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.site_id == site.id, ConsentEvent.event_id == parse_event_id(event_id)
        )
    )
    if event is None:
        raise ApiError(404, "No such event.", error="event_not_found")
    record = event_record(event, site.site_key)
    try:
        proof = proofs.inclusion_proof_for(site.id, site.site_key, event.event_id)
        inclusion = (
            f"Sealed as event {proof['seq']} of the checkpoint of "
            f"{proof['checkpoint']['tree_size']} events; inclusion proof of "
            f"{len(proof['proof'])} hashes."
        )
    except ApiError as exc:
        inclusion = str(exc.description)
    banner = find_banner_version(site.id, event.banner_version)
    banner_text = (
        json.dumps(json.loads(banner.canonical_json), indent=2, ensure_ascii=False)
        if banner is not None
        else "(not found)"
    )
    return {
        "event": event,
        "record": json.dumps(record, indent=2, ensure_ascii=False),
        "receipt": json.dumps(issue_receipt(record, current_key()), indent=2),
        "inclusion": inclusion,
        "banner": banner_text,
    }


def status(site: Site, *, live: bool) -> dict[str, Any]:
    """The latest checkpoint; with `live`, a verification of every sealed event against it
    (a full read of the ledger: only on request, never on a plain view). Inside the service
    the keys it publishes are the trusted ones; an outside auditor uses `ledger verify` with
    keys obtained independently."""
    checkpoint = proofs.checkpoint_document(site.site_key, latest_checkpoint(site.id))
    verdict = None
    if live:
        keys = from_document(public_key_document(published_keys()), "the service's own keys")
        verdict = verify.verify_live(site.id, site.site_key, keys)
    return {"checkpoint": checkpoint, "verdict": verdict}


def bundle_download(site: Site, actor: str) -> tuple[str, Iterator[bytes]]:
    """The whole ledger as the bundle `consent-service ledger export` writes (the same
    `exports.write_bundle`), packed as a .tar.gz on disk and streamed: its file name and chunks.
    `ledger verify` takes the archive as it is."""
    top = f"{site.site_key}-ledger-bundle"
    scratch = Path(tempfile.mkdtemp(prefix="console-bundle-"))
    try:
        exports.write_bundle(
            site.id, site.site_key, site.name, scratch / top, exports.ExportFilters(), actor
        )
        chunks = bundle_archive.packed_stream(scratch / top, top)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return f"{top}.tar.gz", chunks
