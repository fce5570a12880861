"""The sealed ledger: sequence numbers, signed checkpoints, signing keys and export records.

Consent events stay untouched (append-only); sealing appends a `LedgerEntry` that gives an
event its place in the site's Merkle log, and a `LedgerCheckpoint` that signs the tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.site import ImmutableRowError
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow


class LedgerEntry(db.Model):  # type: ignore[name-defined]
    """Event number `seq` (0-based, gapless per site) of the site's Merkle log."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("site_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    seq: Mapped[int] = mapped_column(BigId)
    consent_event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerQueue(db.Model):  # type: ignore[name-defined]
    """Events waiting for their seal. A database trigger adds every new consent event in the
    inserting transaction; the seal that numbers an event deletes its row. So a seal reads
    only what waits, never a scan of every event the site ever had."""

    __tablename__ = "ledger_queue"
    __table_args__ = (Index("ix_ledger_queue_site_event", "site_id", "consent_event_id"),)

    consent_event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consent_events.id"), primary_key=True, autoincrement=False
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))


class LedgerCheckpoint(db.Model):  # type: ignore[name-defined]
    """A signed statement "the site's log has `tree_size` events and this root"."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (UniqueConstraint("site_id", "tree_size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    tree_size: Mapped[int] = mapped_column(BigId)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))
    # The compact range at this size, so the next seal extends the tree without a rebuild.
    compact_range: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class LedgerKey(db.Model):  # type: ignore[name-defined]
    """Every public key that ever signed, so checkpoints stay verifiable after rotation."""

    __tablename__ = "ledger_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditExport(db.Model):  # type: ignore[name-defined]
    """Who exported what, when, and what the export contained (its manifest)."""

    __tablename__ = "audit_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), default=None)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    format: Mapped[str] = mapped_column(String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    row_count: Mapped[int | None] = mapped_column(BigId, default=None)
    manifest: Mapped[str | None] = mapped_column(Text, default=None)
    # Set when the stream broke before its end: such an export never gets a manifest.
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(LedgerCheckpoint, "before_update")
@event.listens_for(LedgerEntry, "before_delete")
@event.listens_for(LedgerCheckpoint, "before_delete")
def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError(f"{type(target).__name__} rows are append-only")
