"""Proof for auditors: checkpoints, inclusion and consistency proofs, exports and verification.

Everything an auditor needs to check the ledger without trusting whoever runs the server:
exports carry every hashed field of every event with its sequence number and leaf hash, a
manifest names the signed checkpoint they are consistent with, and `verify_bundle` checks a
bundle with nothing but the files in it (and, if given, an older checkpoint and a public key).
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
from consent_service.ledger import (
    MerkleTree,
    ProofError,
    canonical_event_bytes,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from consent_service.ledger_records import RECORD_FIELDS, event_record
from consent_service.models import AuditExport, ConsentEvent, LedgerCheckpoint, LedgerEntry
from consent_service.sealing import CHECKPOINT_FIELDS, checkpoint_message, latest_checkpoint
from consent_service.signing import (
    current_key,
    public_key_document,
    published_keys,
    verify_signature,
)

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


def checkpoint_document(site_key: str, checkpoint: LedgerCheckpoint | None) -> dict[str, Any]:
    """A checkpoint as published: the signed message plus its signature."""
    if checkpoint is None:
        return {
            "site": site_key,
            "tree_size": 0,
            "root_hash": root_hash([]).hex(),
            "timestamp": None,
            "key_id": None,
            "signature": None,
        }
    return {**checkpoint_message(site_key, checkpoint), "signature": checkpoint.signature}


def require_checkpoint(site_id: int) -> LedgerCheckpoint:
    checkpoint = latest_checkpoint(site_id)
    if checkpoint is None:
        raise ApiError(
            404, "Nothing is sealed yet.", error="not_sealed", headers={"Retry-After": "10"}
        )
    return checkpoint


def leaf_hashes(site_id: int, tree_size: int) -> list[bytes]:
    rows = db.session.execute(
        select(LedgerEntry.leaf_hash)
        .where(LedgerEntry.site_id == site_id, LedgerEntry.seq < tree_size)
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=10000)
    )
    return [bytes.fromhex(value) for (value,) in rows]


def inclusion_proof_for(site_id: int, site_key: str, event_id: Any) -> dict[str, Any]:
    """The inclusion proof of one event in the latest checkpoint (404 + Retry-After before)."""
    entry = db.session.execute(
        select(LedgerEntry.seq, LedgerEntry.leaf_hash)
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.event_id == event_id)
    ).first()
    checkpoint = latest_checkpoint(site_id)
    if entry is None or checkpoint is None or entry.seq >= checkpoint.tree_size:
        known = db.session.scalar(
            select(ConsentEvent.id).where(
                ConsentEvent.site_id == site_id, ConsentEvent.event_id == event_id
            )
        )
        if known is None:
            raise ApiError(404, "No such event.", error="event_not_found")
        raise ApiError(
            404,
            "The event is recorded but not sealed yet; try again shortly.",
            error="not_sealed",
            headers={"Retry-After": "10"},
        )
    tree = MerkleTree(leaf_hashes(site_id, checkpoint.tree_size))
    return {
        "event_id": str(event_id),
        "seq": entry.seq,
        "leaf_hash": entry.leaf_hash,
        "proof": [node.hex() for node in tree.inclusion_proof(entry.seq)],
        "checkpoint": checkpoint_document(site_key, checkpoint),
    }


def consistency_between(site_id: int, site_key: str, old: int, new: int) -> dict[str, Any]:
    """Proof that the log at size `new` extends the log at size `old` (both checkpointed)."""
    if old < 0 or new < old:
        raise ApiError(
            422, "Need 0 <= from <= to.", error="validation_failed", errors={"from": ["Bad range."]}
        )
    checkpoints = {
        checkpoint.tree_size: checkpoint
        for checkpoint in db.session.scalars(
            select(LedgerCheckpoint).where(
                LedgerCheckpoint.site_id == site_id, LedgerCheckpoint.tree_size.in_([old, new])
            )
        )
    }
    missing = [size for size in (old, new) if size and size not in checkpoints]
    if missing:
        raise ApiError(404, f"No checkpoint of size {missing[0]}.", error="checkpoint_not_found")
    tree = MerkleTree(leaf_hashes(site_id, new))
    return {
        "from": checkpoint_document(site_key, checkpoints.get(old)) if old else None,
        "to": checkpoint_document(site_key, checkpoints.get(new)) if new else None,
        "proof": [node.hex() for node in tree.consistency_proof(old, new)] if old else [],
    }


def _export_rows(
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
        "ledger": {"seq": row["seq"], "leaf_hash": row["leaf_hash"], "record": _record(row)},
    }


def _record(row: dict[str, Any]) -> dict[str, Any]:
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
            for row in _export_rows(site_id, site_key, tree_size, filters):
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


# --- bundles: the same export as files, verifiable offline --------------------------------


def write_bundle(
    site_id: int, site_key: str, site_name: str, out: Path, filters: ExportFilters, actor: str
) -> dict[str, Any]:
    """events.jsonl + disclosures.jsonl + manifest.json + checkpoint.json + public_keys.json.

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
        for row in _export_rows(site_id, site_key, tree_size, filters):
            if tree is not None:
                row["proof"] = [node.hex() for node in tree.inclusion_proof(row["seq"])]
            line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    disclosures = _write_disclosures(site_id, out / DISCLOSURES_FILE)
    manifest = build_manifest(
        run.export,
        site_key,
        run.checkpoint,
        count,
        digest.hexdigest(),
        {"disclosures": disclosures},
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
    from consent_service.crm import disclosure_records

    digest = hashlib.sha256()
    count = 0
    with path.open("wb") as handle:
        for record in disclosure_records(site_id):
            line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            digest.update(line)
            handle.write(line)
            count += 1
    return {"file": DISCLOSURES_FILE, "row_count": count, "sha256": digest.hexdigest()}


def _verify_disclosures(bundle: Path, expected: dict[str, Any], verdict: Verdict) -> None:
    digest = hashlib.sha256()
    count = 0
    try:
        with (bundle / DISCLOSURES_FILE).open("rb") as handle:
            for line in handle:
                digest.update(line)
                count += 1 if line.strip() else 0
    except OSError as exc:
        verdict.check(False, f"disclosures readable: {exc}")
        return
    verdict.check(
        digest.hexdigest() == expected.get("sha256") and count == expected.get("row_count"),
        "disclosure records match manifest",
    )


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class Verdict:
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, passed: bool, what: str) -> bool:
        (self.checks if passed else self.failures).append(what)
        return passed


def _public_keys(document: dict[str, Any]) -> dict[str, str]:
    return {key["key_id"]: key["public_key"] for key in document.get("keys", [])}


def verify_checkpoint_signature(
    checkpoint: dict[str, Any], keys: dict[str, str], verdict: Verdict, label: str
) -> None:
    if checkpoint.get("tree_size", 0) == 0 and checkpoint.get("signature") is None:
        verdict.check(checkpoint["root_hash"] == root_hash([]).hex(), f"{label}: empty log")
        return
    message = {name: checkpoint.get(name) for name in CHECKPOINT_FIELDS}
    public = keys.get(str(checkpoint.get("key_id")))
    verdict.check(public is not None, f"{label}: signing key {checkpoint.get('key_id')} known")
    if public is not None:
        verdict.check(
            verify_signature(public, message, str(checkpoint.get("signature"))),
            f"{label}: signature valid",
        )


def verify_rows(
    rows: Iterable[dict[str, Any]],
    checkpoint: dict[str, Any],
    previous: dict[str, Any] | None,
    full: bool,
    verdict: Verdict,
) -> int:
    """Recompute every leaf from its fields; then the whole tree (full) or each proof.

    Rows are consumed as they come and only leaf hashes are kept; returns how many rows."""
    leaves: list[bytes] = []
    position = -1
    for position, row in enumerate(rows):
        label = f"row {position + 1} (seq {row.get('seq')}, event {row.get('event_id')})"
        try:
            leaf = leaf_hash(canonical_event_bytes(_record(row)))
        except (KeyError, ValueError, TypeError):
            verdict.check(False, f"{label}: fields missing or malformed")
            continue
        if not verdict.check(leaf.hex() == row.get("leaf_hash"), f"{label}: leaf hash") and full:
            continue
        leaves.append(leaf)
        if full:
            verdict.check(row.get("seq") == position, f"{label}: sequence number {position}")
        else:
            try:
                verify_inclusion(
                    leaf,
                    int(row["seq"]),
                    int(checkpoint["tree_size"]),
                    [bytes.fromhex(node) for node in row.get("proof", [])],
                    bytes.fromhex(checkpoint["root_hash"]),
                )
                verdict.check(True, f"{label}: inclusion proof")
            except (ProofError, ValueError, KeyError):
                verdict.check(False, f"{label}: inclusion proof")
    if not full:
        return position + 1
    size = int(checkpoint["tree_size"])
    if verdict.check(len(leaves) == size, f"row count {len(leaves)} equals tree size {size}"):
        verdict.check(root_hash(leaves).hex() == checkpoint["root_hash"], "root hash of all rows")
    if previous is not None:
        old = int(previous["tree_size"])
        if verdict.check(old <= len(leaves), f"previous checkpoint size {old} is covered"):
            verdict.check(
                root_hash(leaves[:old]).hex() == previous["root_hash"],
                "nothing in the previous checkpoint is gone or changed (consistency)",
            )
    return position + 1


def verify_bundle(
    bundle: Path, previous_file: Path | None = None, public_key_file: Path | None = None
) -> Verdict:
    """Check a bundle offline: no database, no network."""
    verdict = Verdict()
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        checkpoint = json.loads((bundle / "checkpoint.json").read_text(encoding="utf-8"))
        keys_file = public_key_file or bundle / "public_keys.json"
        keys = _public_keys(json.loads(keys_file.read_text(encoding="utf-8")))
        data = (bundle / "events.jsonl").open("rb")
    except (OSError, ValueError) as exc:
        verdict.check(False, f"bundle readable: {exc}")
        return verdict
    verdict.check(manifest.get("checkpoint") == checkpoint, "manifest names this checkpoint")
    signed = {k: v for k, v in manifest.items() if not k.startswith("manifest_")}
    public = keys.get(str(manifest.get("manifest_key_id")))
    verdict.check(
        public is not None
        and verify_signature(public, signed, str(manifest.get("manifest_signature"))),
        "manifest signature valid",
    )
    verify_checkpoint_signature(checkpoint, keys, verdict, "checkpoint")
    previous = None
    if previous_file is not None:
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        verify_checkpoint_signature(previous, keys, verdict, "previous checkpoint")
    digest = hashlib.sha256()

    def rows() -> Iterator[dict[str, Any]]:
        for line in data:
            digest.update(line)
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"a line is not a JSON object: {line[:80]!r}")
                yield row

    full = not any((manifest.get("filters") or {}).values())
    with data:
        try:
            count = verify_rows(rows(), checkpoint, previous, full, verdict)
        except (UnicodeDecodeError, ValueError) as exc:
            verdict.check(False, f"events.jsonl is JSON Lines: {exc}")
            return verdict
    verdict.check(digest.hexdigest() == manifest.get("data_sha256"), "data matches manifest")
    verdict.check(count == manifest.get("row_count"), "row count matches manifest")
    if isinstance(manifest.get("disclosures"), dict):
        _verify_disclosures(bundle, manifest["disclosures"], verdict)
    return verdict


def verify_live(site_id: int, site_key: str, trusted: dict[str, Any] | None = None) -> Verdict:
    """Check the database: every sealed event against the latest checkpoint, each stored
    checkpoint's signature, and, if given, a checkpoint kept elsewhere (the one that counts
    against someone able to rewrite the database)."""
    verdict = Verdict()
    keys = _public_keys(public_key_document(published_keys()))
    latest = checkpoint_document(site_key, latest_checkpoint(site_id))
    verify_checkpoint_signature(latest, keys, verdict, "latest checkpoint")
    rows = list(_export_rows(site_id, site_key, None, ExportFilters()))
    sealed = [row for row in rows if row["seq"] < int(latest["tree_size"])]
    verify_rows(sealed, latest, trusted, True, verdict)
    if trusted is not None:
        verify_checkpoint_signature(trusted, keys, verdict, "trusted checkpoint")
        old = int(trusted["tree_size"])
        prefix = [
            leaf_hash(canonical_event_bytes(_record(row))) for row in rows[:old] if "seq" in row
        ]
        verdict.check(
            len(prefix) == old and [row["seq"] for row in rows[:old]] == list(range(old)),
            f"the {old} events of the trusted checkpoint are all present, in order",
        )
        verdict.check(
            root_hash(prefix).hex() == trusted["root_hash"],
            "events match the trusted checkpoint's root",
        )
        if int(latest["tree_size"]) >= old and old:
            try:
                tree = MerkleTree([bytes.fromhex(row["leaf_hash"]) for row in sealed])
                verify_consistency(
                    old,
                    int(latest["tree_size"]),
                    bytes.fromhex(trusted["root_hash"]),
                    bytes.fromhex(latest["root_hash"]),
                    tree.consistency_proof(old),
                )
                verdict.check(True, "latest checkpoint is consistent with the trusted one")
            except (ProofError, ValueError):
                verdict.check(False, "latest checkpoint is consistent with the trusted one")
        else:
            verdict.check(old == 0, "latest checkpoint is not shorter than the trusted one")
    return verdict
