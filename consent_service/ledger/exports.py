"""Exports for auditors: sealed events streamed as CSV, JSONL or ISO/IEC TS 27560 records, a
signed manifest naming the checkpoint they are consistent with, and bundles on disk.

Exports carry every hashed field of every event with its sequence number and leaf hash, so
that `verify` can check them with nothing but the files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger.merkle_proofs import MerkleTree
from consent_service.ledger.proofs import checkpoint_document, leaf_hashes
from consent_service.ledger.records import RECORD_FIELDS, event_record
from consent_service.ledger.sealing import latest_checkpoint
from consent_service.ledger.signing import (
    current_key,
    public_key_document,
    published_keys,
)
from consent_service.models import AuditExport, ConsentEvent, LedgerEntry

EXPORT_FORMATS = ("csv", "jsonl", "iso27560")


CSV_COLUMNS = ("seq", "leaf_hash", *RECORD_FIELDS)


STREAM_BATCH = 2000


@dataclass(frozen=True)
class ExportFilters:
    start: datetime | None = None
    end: datetime | None = None
    category: str | None = None  # events in which this category was granted
    action: str | None = None
    visitor_id: str | None = None

    @property
    def empty(self) -> bool:
        return not any(self.as_dict().values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "category": self.category,
            "action": self.action,
            "visitor_id": self.visitor_id,
        }


def export_rows(
    site_id: int, site_key: str, tree_size: int | None, filters: ExportFilters
) -> Iterator[dict[str, Any]]:
    """Sealed events below `tree_size` (all if None) in sequence order, streamed from a
    server-side cursor."""
    query = (
        select(
            LedgerEntry.seq,
            LedgerEntry.leaf_hash,
            ConsentEvent.event_id,
            ConsentEvent.visitor_id,
            ConsentEvent.action,
            ConsentEvent.choices,
            ConsentEvent.policy_version,
            ConsentEvent.banner_version,
            ConsentEvent.language,
            ConsentEvent.source,
            ConsentEvent.gpc,
            ConsentEvent.recorded_at,
        )
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .where(LedgerEntry.site_id == site_id)
        .order_by(LedgerEntry.seq)
    )
    if tree_size is not None:
        query = query.where(LedgerEntry.seq < tree_size)
    if filters.start:
        query = query.where(ConsentEvent.recorded_at >= filters.start)
    if filters.end:
        query = query.where(ConsentEvent.recorded_at < filters.end)
    if filters.action:
        query = query.where(ConsentEvent.action == filters.action)
    if filters.visitor_id:
        query = query.where(ConsentEvent.visitor_id == filters.visitor_id)
    result = db.session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for row in result:
        if filters.category and not row.choices.get(filters.category):
            continue
        yield {"seq": row.seq, "leaf_hash": row.leaf_hash, **event_record(row, site_key)}


def iso27560_record(row: dict[str, Any], site_name: str) -> dict[str, Any]:
    """One event as an ISO/IEC TS 27560 consent record (Header, Processing, Parties, Events),
    with the field names of the W3C DPV "consent-27560" guide, plus the ledger position."""
    granted = [slug for slug, value in row["choices"].items() if value]
    refused = [slug for slug, value in row["choices"].items() if not value]
    state = {
        "accept_all": "dpv:ConsentGiven",
        "custom": "dpv:ConsentGiven" if granted else "dpv:ConsentRefused",
        "reject_all": "dpv:ConsentRefused",
        "withdraw": "dpv:ConsentWithdrawn",
        "gpc_opt_out": "dpv:ConsentRefused",
    }[row["action"]]
    return {
        "header": {
            "schema_version": "ISO/IEC TS 27560:2023",
            "record_id": row["event_id"],
            "record_timestamp": row["recorded_at"],
            "data_subject": {"identifier": row["visitor_id"], "type": "pseudonymous"},
        },
        "parties": [{"role": "dpv:DataController", "name": site_name, "site": row["site"]}],
        "processing": [
            {
                "purpose": slug,
                "legal_basis": "dpv:Consent",
                "consent_status": "given" if row["choices"][slug] else "refused",
            }
            for slug in sorted(row["choices"])
        ],
        "events": [
            {
                "type": state,
                "timestamp": row["recorded_at"],
                "method": row["source"],
                "notice": {
                    "policy_version": row["policy_version"],
                    "banner_version": row["banner_version"],
                    "language": row["language"],
                },
                "global_privacy_control": row["gpc"],
                "purposes_granted": granted,
                "purposes_refused": refused,
            }
        ],
        "ledger": {"seq": row["seq"], "leaf_hash": row["leaf_hash"], "record": event_fields(row)},
    }


def event_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in RECORD_FIELDS}


def render_rows(rows: Iterable[dict[str, Any]], fmt: str, site_name: str) -> Iterator[bytes]:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    json.dumps(row[name], sort_keys=True, separators=(",", ":"))
                    if name == "choices"
                    else ("true" if row[name] else "false")
                    if name == "gpc"
                    else row[name]
                    for name in CSV_COLUMNS
                ]
            )
            if buffer.tell() > 65536:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
        return
    for row in rows:
        document = iso27560_record(row, site_name) if fmt == "iso27560" else row
        yield (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@dataclass
class ExportRun:
    """A streaming export: iterate `chunks`; afterwards `manifest` describes what was sent."""

    export: AuditExport
    site_key: str
    checkpoint: dict[str, Any]
    chunks: Iterator[bytes]
    manifest: dict[str, Any] = field(default_factory=dict)


def start_export(
    site_id: int,
    site_key: str,
    site_name: str,
    fmt: str,
    filters: ExportFilters,
    actor: str,
    token_id: int | None,
) -> ExportRun:
    """Record the export (who, when, filters), then stream it; the manifest is stored at the
    end with the row count and the SHA-256 of exactly the bytes sent."""
    if fmt not in EXPORT_FORMATS:
        raise ApiError(
            422, "Unknown format.", error="validation_failed", errors={"format": ["Unknown."]}
        )
    checkpoint = latest_checkpoint(site_id)
    tree_size = checkpoint.tree_size if checkpoint else 0
    export = AuditExport(
        site_id=site_id,
        token_id=token_id,
        actor=actor,
        format=fmt,
        filters=filters.as_dict(),
    )
    db.session.add(export)
    db.session.commit()
    document = checkpoint_document(site_key, checkpoint)
    run = ExportRun(export, site_key, document, iter(()))

    def generate() -> Iterator[bytes]:
        digest = hashlib.sha256()
        count = 0

        def counted() -> Iterator[dict[str, Any]]:
            nonlocal count
            for row in export_rows(site_id, site_key, tree_size, filters):
                count += 1
                yield row

        for chunk in render_rows(counted(), fmt, site_name):
            digest.update(chunk)
            yield chunk
        run.manifest = build_manifest(export, site_key, document, count, digest.hexdigest())
        export.row_count = count
        export.manifest = json.dumps(run.manifest, sort_keys=True)
        db.session.add(export)
        db.session.commit()

    run.chunks = generate()
    return run


def build_manifest(
    export: AuditExport,
    site_key: str,
    checkpoint: dict[str, Any],
    rows: int,
    sha256: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    manifest = {
        "export_id": export.id,
        "site": site_key,
        "format": export.format,
        "filters": export.filters,
        "row_count": rows,
        "data_sha256": sha256,
        "generated_at": export.created_at.isoformat(),
        "checkpoint": checkpoint,
        **(extra or {}),
    }
    key = current_key()
    return {**manifest, "manifest_key_id": key.key_id, "manifest_signature": key.sign(manifest)}


def export_manifest(site_id: int, export_id: int) -> dict[str, Any]:
    export = db.session.get(AuditExport, export_id)
    if export is None or export.site_id != site_id:
        raise ApiError(404, "No such export.", error="not_found")
    if export.manifest is None:
        raise ApiError(409, "The export has not finished.", error="export_incomplete")
    manifest: dict[str, Any] = json.loads(export.manifest)
    return manifest


def write_bundle(
    site_id: int, site_key: str, site_name: str, out: Path, filters: ExportFilters, actor: str
) -> dict[str, Any]:
    """events.jsonl + disclosures.jsonl + captures.jsonl + manifest.json + checkpoint.json +
    public_keys.json.

    A filtered bundle carries each row's inclusion proof, so it verifies without the rest.
    The disclosure records (what went to which recipient, on which consent event) are the
    site's whole log, fixed by their hash in the signed manifest.
    """
    out.mkdir(parents=True, exist_ok=True)
    run = start_export(site_id, site_key, site_name, "jsonl", filters, actor, None)
    tree_size = run.checkpoint["tree_size"]
    tree = None if filters.empty else MerkleTree(leaf_hashes(site_id, tree_size))
    digest = hashlib.sha256()
    count = 0
    with (out / "events.jsonl").open("wb") as handle:
        for row in export_rows(site_id, site_key, tree_size, filters):
            if tree is not None:
                row["proof"] = [node.hex() for node in tree.inclusion_proof(row["seq"])]
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    disclosures = _write_disclosures(site_id, out / DISCLOSURES_FILE)
    captures = _write_captures(site_id, out / CAPTURES_FILE)
    manifest = build_manifest(
        run.export,
        site_key,
        run.checkpoint,
        count,
        digest.hexdigest(),
        {"disclosures": disclosures, "captures": captures},
    )
    run.export.row_count = count
    run.export.manifest = json.dumps(manifest, sort_keys=True)
    db.session.commit()
    _write_json(out / "manifest.json", manifest)
    _write_json(out / "checkpoint.json", run.checkpoint)
    _write_json(out / "public_keys.json", public_key_document(published_keys()))
    return manifest


DISCLOSURES_FILE = "disclosures.jsonl"


def _write_disclosures(site_id: int, path: Path) -> dict[str, Any]:
    from consent_service.integrations.crm.disclosures import disclosure_records

    digest = hashlib.sha256()
    count = 0
    with path.open("wb") as handle:
        for record in disclosure_records(site_id):
            line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    return {"file": DISCLOSURES_FILE, "row_count": count, "sha256": digest.hexdigest()}


CAPTURES_FILE = "captures.jsonl"


def _write_captures(site_id: int, path: Path) -> dict[str, Any]:
    """The banner captures scans took, named by the SHA-256 of each PNG with the banner version
    it shows (the images stay in the service: GET .../banner-versions/{hash}/captures)."""
    from consent_service.scanner.captures import capture_records

    digest = hashlib.sha256()
    count = 0
    with path.open("wb") as handle:
        for record in capture_records(site_id):
            line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    return {"file": CAPTURES_FILE, "row_count": count, "sha256": digest.hexdigest()}


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
