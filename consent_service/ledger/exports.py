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
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from consent_service.consents.tombstones import tombstone_records
from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger import iso27560
from consent_service.ledger.bundle_checks import (
    BANNER_VERSIONS_FILE,
    CAPTURES_FILE,
    DISCLOSURES_FILE,
    ERASURES_FILE,
    LEAVES_FILE,
    POLICIES_FILE,
)
from consent_service.ledger.merkle_proofs import MerkleTree
from consent_service.ledger.notices import banner_version_records, policy_records, site_profile
from consent_service.ledger.proofs import checkpoint_document, leaf_hashes
from consent_service.ledger.records import (
    LEAF_COLUMNS,
    LEAF_V2_FIELDS,
    RECORD_FIELDS,
    event_record,
    utc_timestamp,
)
from consent_service.ledger.sealing import latest_checkpoint
from consent_service.ledger.signing import (
    current_key,
    public_key_document,
    published_keys,
)
from consent_service.models import AuditExport, ConsentEvent, ErasureTombstone, LedgerEntry
from consent_service.models.types import utcnow
from consent_service.redact import get_logger

EXPORT_FORMATS = ("csv", "jsonl", "iso27560")

log = get_logger(__name__)


CSV_COLUMNS = ("seq", "leaf_hash", *RECORD_FIELDS, *LEAF_V2_FIELDS)


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
    site_id: int,
    site_key: str,
    tree_size: int | None,
    filters: ExportFilters,
    by_visitor: bool = False,
) -> Generator[dict[str, Any], None, None]:
    """Sealed events below `tree_size` (all if None) in sequence order (or by visitor, then
    sequence), streamed from a server-side cursor."""
    query = (
        select(
            LedgerEntry.seq,
            LedgerEntry.leaf_hash,
            *LEAF_COLUMNS,
            ConsentEvent.erasure_id,
            ErasureTombstone.created_at.label("erased_at"),
        )
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .outerjoin(ErasureTombstone, ErasureTombstone.id == ConsentEvent.erasure_id)
        .where(LedgerEntry.site_id == site_id)
        .order_by(*((ConsentEvent.visitor_id,) if by_visitor else ()), LedgerEntry.seq)
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
    # Closed however the stream ends: on PostgreSQL this is a server-side cursor.
    with db.session.execute(query.execution_options(yield_per=STREAM_BATCH)) as result:
        for row in result:
            if filters.category and not row.choices.get(filters.category):
                continue
            exported = {"seq": row.seq, "leaf_hash": row.leaf_hash, **event_record(row, site_key)}
            if row.erasure_id is not None:
                exported[ERASED] = erased_marker(row.erasure_id, row.erased_at)
            yield exported


#: An erased event's marker: its evidence is gone (the leaf, commitment included, is not).
ERASED = "erased"


def erased_marker(tombstone_id: int, erased_at: datetime | None) -> dict[str, Any]:
    return {
        "tombstone": tombstone_id,
        "at": utc_timestamp(erased_at) if erased_at is not None else None,
    }


def event_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The leaf fields of an exported row (format 2 rows carry `leaf_version` and `evidence`)."""
    fields = {name: row[name] for name in RECORD_FIELDS}
    if "leaf_version" in row:
        fields.update({name: row[name] for name in LEAF_V2_FIELDS})
    return fields


def csv_cell(name: str, value: Any) -> str:
    """One CSV cell: `choices` as compact key-sorted JSON, `gpc` as true/false, an absent
    format-2 field as the empty string, the rest as text (docs/ledger.md, "CSV columns")."""
    if name == "choices":
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if name == "gpc":
        return "true" if value else "false"
    return "" if value is None else str(value)


def render_rows(
    rows: Iterable[dict[str, Any]], fmt: str, profile: iso27560.SiteProfile | None = None
) -> Iterator[bytes]:
    """CSV or JSON Lines of the rows; for iso27560 (rows ordered by visitor) the records."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(name, row.get(name)) for name in CSV_COLUMNS])
            if buffer.tell() > 65536:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
        return
    documents: Iterable[dict[str, Any]] = rows
    if fmt == "iso27560":
        assert profile is not None
        documents = iso27560.group_records(profile, rows, utcnow().replace(tzinfo=None))
    for document in documents:
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

        source = export_rows(site_id, site_key, tree_size, filters, fmt == "iso27560")

        def counted() -> Iterator[dict[str, Any]]:
            nonlocal count
            for row in source:
                count += 1
                yield row

        profile = site_profile(site_id) if fmt == "iso27560" else None
        try:
            for chunk in render_rows(counted(), fmt, profile):
                digest.update(chunk)
                yield chunk
        except Exception:
            source.close()
            # The status line is gone: no error page can follow. Mark the export failed (it
            # never gets a manifest) and re-raise, so the server cuts the connection and the
            # client sees an incomplete transfer instead of a complete-looking file.
            log.exception("Export %s failed after %s rows", export.id, count)
            db.session.rollback()
            export.failed_at = utcnow()
            db.session.add(export)
            db.session.commit()
            raise
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
    """The signature covers every field but `manifest_signature`, `manifest_key_id` included."""
    key = current_key()
    manifest = {
        "export_id": export.id,
        "site": site_key,
        "format": export.format,
        "filters": export.filters,
        "row_count": rows,
        "data_sha256": sha256,
        "generated_at": utc_timestamp(export.created_at),
        "checkpoint": checkpoint,
        **(extra or {}),
        "manifest_key_id": key.key_id,
    }
    return {**manifest, "manifest_signature": key.sign(manifest)}


def export_manifest(site_id: int, export_id: int) -> dict[str, Any]:
    export = db.session.get(AuditExport, export_id)
    if export is None or export.site_id != site_id:
        raise ApiError(404, "No such export.", error="not_found")
    if export.failed_at is not None:
        raise ApiError(
            410, "The export failed before its end; run it again.", error="export_failed"
        )
    if export.manifest is None:
        raise ApiError(409, "The export has not finished.", error="export_incomplete")
    manifest: dict[str, Any] = json.loads(export.manifest)
    return manifest


def write_bundle(
    site_id: int, site_key: str, site_name: str, out: Path, filters: ExportFilters, actor: str
) -> dict[str, Any]:
    """events.jsonl, banner_versions.jsonl, policies.jsonl, disclosures.jsonl, captures.jsonl,
    erasures.jsonl, manifest.json, checkpoint.json, public_keys.json; a filtered bundle adds
    leaves.txt. erasures.jsonl holds the tombstones that erased rows name.

    A filtered bundle carries each row's inclusion proof and every leaf hash of the tree, so it
    verifies without the other rows and against any older checkpoint an auditor kept. The
    banner, wording and policy versions the rows name are there as the exact documents hashed.
    The disclosure records are the site's whole log. The signed manifest fixes every file.
    """
    out.mkdir(parents=True, exist_ok=True)
    run = start_export(site_id, site_key, site_name, "jsonl", filters, actor, None)
    tree_size = run.checkpoint["tree_size"]
    leaves = None if filters.empty else leaf_hashes(site_id, tree_size)
    tree = None if leaves is None else MerkleTree(leaves)
    digest = hashlib.sha256()
    count = 0
    banners: set[str] = set()
    policies: set[str] = set()
    erasures: set[int] = set()
    with (out / "events.jsonl").open("wb") as handle:
        for row in export_rows(site_id, site_key, tree_size, filters):
            banners.add(row["banner_version"])
            policies.add(row["policy_version"])
            if ERASED in row:
                erasures.add(row[ERASED]["tombstone"])
            if tree is not None:
                row["proof"] = [node.hex() for node in tree.inclusion_proof(row["seq"])]
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    files = {
        "banner_versions": _write_lines(
            out, BANNER_VERSIONS_FILE, banner_version_records(site_id, banners)
        ),
        "policies": _write_lines(out, POLICIES_FILE, policy_records(site_id, policies)),
        "disclosures": _write_lines(out, DISCLOSURES_FILE, _disclosures(site_id)),
        "captures": _write_lines(out, CAPTURES_FILE, _captures(site_id)),
        "erasures": _write_lines(out, ERASURES_FILE, tombstone_records(site_id, erasures)),
    }
    if leaves is not None:
        files["leaves"] = _write_lines(out, LEAVES_FILE, (leaf.hex() for leaf in leaves))
    manifest = build_manifest(
        run.export, site_key, run.checkpoint, count, digest.hexdigest(), files
    )
    run.export.row_count = count
    run.export.manifest = json.dumps(manifest, sort_keys=True)
    db.session.commit()
    _write_json(out / "manifest.json", manifest)
    _write_json(out / "checkpoint.json", run.checkpoint)
    _write_json(out / "public_keys.json", public_key_document(published_keys()))
    return manifest


def _disclosures(site_id: int) -> Iterator[dict[str, Any]]:
    from consent_service.integrations.crm.disclosures import disclosure_records

    return iter(disclosure_records(site_id))


def _captures(site_id: int) -> Iterator[dict[str, Any]]:
    """The banner captures scans took, named by the SHA-256 of each PNG with the banner version
    it shows (the images stay in the service: GET .../banner-versions/{hash}/captures)."""
    from consent_service.scanner.captures import capture_records

    return iter(capture_records(site_id))


def _write_lines(out: Path, name: str, records: Iterable[Any]) -> dict[str, Any]:
    """One JSON value (or bare hex string) per line; its SHA-256 and count go in the manifest."""
    digest = hashlib.sha256()
    count = 0
    with (out / name).open("wb") as handle:
        for record in records:
            text = (
                record
                if isinstance(record, str)
                else json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            )
            line = (text + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    return {"file": name, "row_count": count, "sha256": digest.hexdigest()}


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
