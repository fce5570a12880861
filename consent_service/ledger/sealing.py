"""Sealing: giving recorded events their place in the site's Merkle log and signing it.

Requests insert events without a sequence number, in parallel. A sealer takes a per-site lock
(a PostgreSQL transaction-level advisory lock; on SQLite the database write lock, taken with
BEGIN IMMEDIATE), numbers the unsealed events in insertion order, extends the tree from the
compact range stored with the last checkpoint (O(log n) per event), and stores a new signed
checkpoint, all in one transaction. The unique (site, seq) constraint is the backstop: two
sealers can never both commit the same number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from blinker import signal
from sqlalchemy import delete, select, text

from consent_service.database import sqlite_writer
from consent_service.extensions import db
from consent_service.ledger.merkle import CompactRange
from consent_service.ledger.records import event_record, record_leaf_hash, utc_timestamp
from consent_service.ledger.signing import register_current_key
from consent_service.models import (
    ConsentEvent,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerQueue,
    Site,
)
from consent_service.models.types import utcnow

#: Events numbered per transaction. On SQLite a sealer holds the database's only write lock for
#: the whole batch, and every consent write waits behind it: 5,000 at a time put the writes' p99
#: at 400 ms. A few hundred keep the wait to a few milliseconds and cost one checkpoint each.
SEAL_BATCH = 250
#: On SQLite a batch of 250 held the lock for about 45 ms on a busy machine (bench/api.py
#: `sealing` row: write p99 750 ms while a backlog was sealed). 50 hold it a few milliseconds,
#: and a pause between batches lets the writers queued meanwhile (one group commit) go first.
SQLITE_SEAL_BATCH = 50
SQLITE_SEAL_PAUSE = 0.002
#: One executemany for a batch's entries, not the ORM's unit of work (the lock is held meanwhile).
INSERT_ENTRY = LedgerEntry.__table__.insert()

#: Sent in the sealing transaction, before its commit, with the Site as sender and `events=`
#: the batch just sealed: each event once (the dashboard's counters count them here).
batch_sealed = signal("ledger-batch-sealed")
ADVISORY_LOCK_CLASS = 0x6C6564  # "led": keeps our advisory locks apart from anyone else's


@dataclass(frozen=True)
class SealResult:
    site_key: str
    sealed: int
    tree_size: int


#: The fields a checkpoint signature covers, in the published document and the verifier alike.
CHECKPOINT_FIELDS = ("site", "tree_size", "root_hash", "timestamp", "key_id")


def checkpoint_message(site_key: str, checkpoint: LedgerCheckpoint) -> dict[str, object]:
    """What a checkpoint signature covers (RFC 8785 JSON of this object)."""
    return {
        "site": site_key,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "timestamp": utc_timestamp(checkpoint.timestamp),
        "key_id": checkpoint.key_id,
    }


def signed_checkpoint(site: Site, tree: CompactRange, now: datetime) -> LedgerCheckpoint:
    """The checkpoint of `tree` as it stands, signed with the current key (not added)."""
    key = register_current_key()
    checkpoint = LedgerCheckpoint(
        site_id=site.id,
        tree_size=tree.size,
        root_hash=tree.root().hex(),
        timestamp=now,
        key_id=key.key_id,
        signature="",
        compact_range=tree.to_dict(),
    )
    checkpoint.signature = key.sign(checkpoint_message(site.site_key, checkpoint))
    return checkpoint


def latest_checkpoint(site_id: int) -> LedgerCheckpoint | None:
    return db.session.scalar(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.site_id == site_id)
        .order_by(LedgerCheckpoint.tree_size.desc())
        .limit(1)
    )


def _lock_site(site_id: int, wait: bool) -> bool:
    """Take the per-site sealing lock for the rest of this transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        result = db.session.execute(
            text(f"SELECT {function}(:kind, :site)"), {"kind": ADVISORY_LOCK_CLASS, "site": site_id}
        ).scalar()
        return wait or bool(result)
    # SQLite has one writer at a time: holding the write lock is holding every site's lock.
    db.session.execute(text("BEGIN IMMEDIATE"))
    return True


def unsealed_events(site_id: int, limit: int) -> list[ConsentEvent]:
    """The oldest events waiting in the site's queue (an index range, however long the log)."""
    return list(
        db.session.scalars(
            select(ConsentEvent)
            .join(LedgerQueue, LedgerQueue.consent_event_id == ConsentEvent.id)
            .where(LedgerQueue.site_id == site_id)
            .order_by(LedgerQueue.consent_event_id)
            .limit(limit)
        )
    )


def seal_site(site: Site, wait: bool = True, batch: int = SEAL_BATCH) -> SealResult:
    """Seal what is waiting for one site; one transaction, committed here."""
    db.session.commit()  # start from a fresh transaction so the lock guards all we read
    with sqlite_writer(db.session.get_bind()):
        return _seal_batch(site, wait, batch)


def _seal_batch(site: Site, wait: bool, batch: int) -> SealResult:
    try:
        if not _lock_site(site.id, wait):
            db.session.rollback()
            return SealResult(site.site_key, 0, -1)
        previous = latest_checkpoint(site.id)
        tree = CompactRange.from_dict(previous.compact_range) if previous else CompactRange()
        events = unsealed_events(site.id, batch)
        if not events:
            db.session.rollback()
            return SealResult(site.site_key, 0, tree.size)
        now = utcnow()
        entries = []
        for event in events:
            leaf = record_leaf_hash(event_record(event, site.site_key))
            entries.append(
                {
                    "site_id": site.id,
                    "seq": tree.size,
                    "consent_event_id": event.id,
                    "leaf_hash": leaf,
                    "sealed_at": now,
                }
            )
            tree.append(bytes.fromhex(leaf))
        db.session.execute(INSERT_ENTRY, entries)
        db.session.execute(
            delete(LedgerQueue).where(
                LedgerQueue.consent_event_id.in_([event.id for event in events])
            )
        )
        db.session.add(signed_checkpoint(site, tree, now))
        if batch_sealed.receivers:
            batch_sealed.send(site, events=events)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return SealResult(site.site_key, len(events), tree.size)


def late_seals(site_id: int, max_delay_seconds: float) -> int:
    """How many events were sealed later than receipts promised (`seal_by`)."""
    rows = db.session.execute(
        select(ConsentEvent.recorded_at, LedgerEntry.sealed_at)
        .join(LedgerEntry, LedgerEntry.consent_event_id == ConsentEvent.id)
        .where(LedgerEntry.site_id == site_id)
        .execution_options(yield_per=10000)
    )
    return sum(
        1
        for recorded_at, sealed_at in rows
        if (sealed_at - recorded_at).total_seconds() > max_delay_seconds
    )


def seal_waiting(site: Site, wait: bool = True, batch: int | None = None) -> SealResult:
    """Seal one site batch after batch until nothing waits; each batch its own transaction,
    so consent writes get the lock between batches (on SQLite smaller ones, and a pause)."""
    on_sqlite = db.session.get_bind().dialect.name == "sqlite"
    if batch is None:
        batch = SQLITE_SEAL_BATCH if on_sqlite else SEAL_BATCH
    result = seal_site(site, wait=wait, batch=batch)
    sealed = result.sealed
    while result.sealed == batch:
        if on_sqlite:
            time.sleep(SQLITE_SEAL_PAUSE)
        result = seal_site(site, wait=wait, batch=batch)
        sealed += result.sealed
    return SealResult(site.site_key, sealed, result.tree_size)


def seal_all(wait: bool = True) -> list[SealResult]:
    return [
        seal_waiting(site, wait=wait)
        for site in db.session.scalars(select(Site).order_by(Site.id)).all()
    ]
