"""Live proofs for auditors and visitors: the latest signed checkpoint, and inclusion and
consistency proofs computed from the sealed log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.ledger.merkle import root_hash
from consent_service.ledger.merkle_proofs import MerkleTree
from consent_service.ledger.notes import checkpoint_text, origin_for, sign_note, verifier_key
from consent_service.ledger.sealing import checkpoint_message, latest_checkpoint
from consent_service.ledger.signing import current_key
from consent_service.models import ConsentEvent, LedgerCheckpoint, LedgerEntry


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


def log_origin(site_key: str) -> str:
    """The site's log origin: the host of PUBLIC_BASE_URL (or `consent-service`) and the key."""
    host = urlsplit(current_app.config.get("PUBLIC_BASE_URL") or "").netloc
    return origin_for(host or "consent-service", site_key)


def checkpoint_note(site_key: str, checkpoint: LedgerCheckpoint) -> str:
    """The checkpoint as a C2SP tlog-checkpoint signed note, signed by the current key under
    the log's origin as key name."""
    key = current_key()
    origin = log_origin(site_key)
    text = checkpoint_text(origin, checkpoint.tree_size, checkpoint.root_hash)
    return sign_note(text, origin, key.private_key, key.public_raw)


def note_verifier_key(site_key: str, public_raw: bytes | None = None) -> str:
    """What a note verifier needs for this site's log (the current key unless one is given)."""
    return verifier_key(log_origin(site_key), public_raw or current_key().public_raw)


def require_checkpoint(site_id: int) -> LedgerCheckpoint:
    checkpoint = latest_checkpoint(site_id)
    if checkpoint is None:
        raise ApiError(
            404, "Nothing is sealed yet.", error="not_sealed", headers={"Retry-After": "10"}
        )
    return checkpoint


def checkpoint_at(site_id: int, tree_size: int) -> LedgerCheckpoint:
    checkpoint = db.session.scalar(
        select(LedgerCheckpoint).where(
            LedgerCheckpoint.site_id == site_id, LedgerCheckpoint.tree_size == tree_size
        )
    )
    if checkpoint is None:
        raise ApiError(404, f"No checkpoint of size {tree_size}.", error="checkpoint_not_found")
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


def visitor_inclusion_proof(
    site_id: int, site_key: str, visitor_id: str, event_id: Any
) -> dict[str, Any]:
    """A visitor's own event's inclusion proof: another visitor's event is "not found"."""
    owner = db.session.scalar(
        select(ConsentEvent.visitor_id).where(
            ConsentEvent.site_id == site_id, ConsentEvent.event_id == event_id
        )
    )
    if owner != visitor_id:
        raise ApiError(404, "No such event.", error="event_not_found")
    return inclusion_proof_for(site_id, site_key, event_id)


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
