"""Sealing: giving recorded events their place in the site's Merkle log and signing it.

Requests insert events without a sequence number, in parallel. A sealer takes a per-site lock
(a PostgreSQL transaction-level advisory lock; on SQLite the database write lock, taken with
BEGIN IMMEDIATE), numbers the unsealed events in insertion order, extends the tree from the
compact range stored with the last checkpoint (O(log n) per event), and stores a new signed
checkpoint, all in one transaction. The unique (site, seq) constraint is the backstop: two
sealers can never both commit the same number.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from blinker import signal
from sqlalchemy import Row, bindparam, delete, func, select, text

from consent_service.database import sqlite_writer
from consent_service.extensions import db
from consent_service.ledger.merkle import CompactRange
from consent_service.ledger.records import (
    LEAF_COLUMNS,
    event_record,
    max_merge_delay,
    record_leaf_hash,
    utc_timestamp,
)
from consent_service.ledger.signing import current_key, register_current_key
from consent_service.models import (
    ConsentEvent,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerKey,
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
#: The app's own sealer (`wait=False`) is a thread of a web worker and shares that process's
#: GIL with its request threads. Sealing on paper is pure Python, and a request thread that
#: waits for the GIL behind it waits a whole switch interval (5 ms) at each of its turns: the
#: writes' p99 rose from about 40 to about 68 ms with the sealer on. So that sealer gives the
#: GIL away after every event it seals on paper, and after each full batch rests as long as
#: the batch cost its own thread in CPU (at most BACKGROUND_REST_MAX): it holds the GIL at most
#: about half of the time it seals (p99 about 50 ms, the same writes/s; docs/scaling.md). It
#: does not rest once it is behind: when a batch's oldest event waited longer than a third of
#: the maximum merge delay that receipts promise (`seal_by`), it seals on at full speed.
BACKGROUND_REST_PER_CPU_SECOND = 1.0
BACKGROUND_REST_MAX = 0.05
#: One executemany for a batch's entries, not the ORM's unit of work (the lock is held meanwhile).
INSERT_ENTRY = LedgerEntry.__table__.insert()
#: The batch's queue rows, by id (one list parameter: not a statement built per batch).
DELETE_QUEUED = delete(LedgerQueue).where(
    LedgerQueue.consent_event_id.in_(bindparam("ids", expanding=True))
)

#: Sent in the sealing transaction, before its commit, with the Site as sender and `events=`
#: the batch just sealed (rows of `SEALED_COLUMNS`): each event once (the dashboard's counters
#: count them here).
batch_sealed = signal("ledger-batch-sealed")
ADVISORY_LOCK_CLASS = 0x6C6564  # "led": keeps our advisory locks apart from anyone else's


@dataclass(frozen=True)
class SealResult:
    site_key: str
    sealed: int
    tree_size: int
    #: When the oldest event this batch sealed was recorded (None: nothing sealed here); for
    #: the app's sealer to know it is behind, not part of what a result is.
    oldest_recorded_at: datetime | None = field(default=None, compare=False)


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


def signed_checkpoint(
    site_id: int, site_key: str, tree: CompactRange, now: datetime
) -> LedgerCheckpoint:
    """The checkpoint of `tree` as it stands, signed with the current key (neither it nor the
    key added to the session: the sealing transaction does both)."""
    key = current_key()
    checkpoint = LedgerCheckpoint(
        site_id=site_id,
        tree_size=tree.size,
        root_hash=tree.root().hex(),
        timestamp=now,
        key_id=key.key_id,
        signature="",
        compact_range=tree.to_dict(),
    )
    checkpoint.signature = key.sign(checkpoint_message(site_key, checkpoint))
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


#: What sealing reads of an event: the leaf's fields (`event_record`) and the dashboard's
#: (`tally`). Plain rows, not ORM objects: loading and reading those cost more than hashing.
SEALED_COLUMNS = (ConsentEvent.id, ConsentEvent.site_id, *LEAF_COLUMNS)


def unsealed_events(site_id: int, limit: int) -> list[Row[Any]]:
    """The oldest events waiting in the site's queue (an index range, however long the log),
    as rows of `SEALED_COLUMNS`."""
    return list(
        db.session.execute(
            select(*SEALED_COLUMNS)
            .join(LedgerQueue, LedgerQueue.consent_event_id == ConsentEvent.id)
            .where(LedgerQueue.site_id == site_id)
            .order_by(LedgerQueue.consent_event_id)
            .limit(limit)
        )
    )


def seal_site(site: Site, wait: bool = True, batch: int = SEAL_BATCH) -> SealResult:
    """Seal what is waiting for one site; one transaction, committed here.

    On SQLite the sealing transaction holds the database's only write lock, and every consent
    write waits behind it. So the batch is first sealed on paper before the lock is taken (the
    leaves hashed, the tree extended, the checkpoint signed: most of a batch's time), and the
    locked transaction only checks that the log still ends where the paper began, that the
    same events head the queue and that the paper is fresh, then writes. If another sealer got
    there first, a sealer that may not wait (`wait=False`, the app's own) leaves the site to
    it, as on PostgreSQL; one that waits seals the batch again under the lock."""
    db.session.commit()  # start from a fresh transaction so the lock guards all we read
    ref = _SiteRef(site, site.id, site.site_key)  # read now: under the lock `site` is expired
    bind = db.session.get_bind()
    paper = None
    if bind.dialect.name == "sqlite":
        try:
            paper = _on_paper(ref, batch, give_way=not wait)
        finally:
            db.session.rollback()  # whatever the reads began ends: no snapshot held
        if not paper.events:
            return SealResult(ref.key, 0, paper.tree.size)
    with sqlite_writer(bind):
        return _seal_batch(ref, wait, batch, paper)


@dataclass(frozen=True)
class _SiteRef:
    site: Site
    id: int
    key: str


#: A paper older than this is sealed again: its seal time (`sealed_at`, the checkpoint's
#: signed timestamp) must not run behind the commit by more than the wait for the lock.
PAPER_FRESH_FOR = timedelta(seconds=1)


@dataclass
class _Paper:
    """A batch sealed but not written: the log's size it extends, the events (rows of
    `SEALED_COLUMNS`), their entries, the tree after them, its signed checkpoint, and whether
    the signing key is published already."""

    size_before: int
    events: list[Row[Any]]
    entries: list[dict[str, Any]]
    tree: CompactRange
    checkpoint: LedgerCheckpoint | None = None
    key_published: bool = False


def _on_paper(site: _SiteRef, batch: int, give_way: bool = False) -> _Paper:
    """Seal the next `batch` events on paper; `give_way`: the GIL to a request thread after
    each event (the app's own sealer: BACKGROUND_REST_PER_CPU_SECOND)."""
    previous = latest_checkpoint(site.id)
    tree = CompactRange.from_dict(previous.compact_range) if previous else CompactRange()
    size_before = tree.size
    events = unsealed_events(site.id, batch)
    if not events:
        return _Paper(size_before, [], [], tree)
    now = utcnow()
    entries = []
    for event in events:
        if give_way:
            os.sched_yield()  # CPython lets the GIL go around it (measured on 3.11.7)
        leaf = record_leaf_hash(event_record(event, site.key))
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
    checkpoint = signed_checkpoint(site.id, site.key, tree, now)
    published = db.session.get(LedgerKey, checkpoint.key_id) is not None  # never unpublished
    return _Paper(size_before, events, entries, tree, checkpoint, published)


#: What the locked transaction reads to know that a paper batch still fits the log.
LOG_SIZE = select(func.max(LedgerCheckpoint.tree_size)).where(
    LedgerCheckpoint.site_id == bindparam("site_id")
)
QUEUE_HEAD = (
    select(LedgerQueue.consent_event_id)
    .where(LedgerQueue.site_id == bindparam("site_id"))
    .order_by(LedgerQueue.consent_event_id)
    .limit(bindparam("events"))
)


def _still_current(site: _SiteRef, paper: _Paper) -> bool:
    """In the locked transaction: nothing was sealed since `paper` was made (the log only
    grows, so its size then and now says so even if the paper's reads saw two snapshots), its
    events still head the queue, it is fresh, and the key that signed it is the current one."""
    size = db.session.scalar(LOG_SIZE, {"site_id": site.id})
    head = db.session.scalars(QUEUE_HEAD, {"site_id": site.id, "events": len(paper.events)})
    return (
        (size or 0) == paper.size_before
        and list(head) == [event.id for event in paper.events]
        and paper.checkpoint is not None
        and utcnow() - paper.checkpoint.timestamp < PAPER_FRESH_FOR
        and paper.checkpoint.key_id == current_key().key_id
    )


def _seal_batch(site: _SiteRef, wait: bool, batch: int, paper: _Paper | None = None) -> SealResult:
    try:
        if not _lock_site(site.id, wait):
            db.session.rollback()
            return SealResult(site.key, 0, -1)
        if paper is not None and not _still_current(site, paper):
            if not wait:  # another sealer is at it: leave the site to it, as on PostgreSQL
                db.session.rollback()
                return SealResult(site.key, 0, -1)
            paper = None
        if paper is None:
            paper = _on_paper(site, batch, give_way=not wait)
        if not paper.events:
            db.session.rollback()
            return SealResult(site.key, 0, paper.tree.size)
        if not paper.key_published:
            register_current_key()
        db.session.execute(INSERT_ENTRY, paper.entries)
        db.session.execute(DELETE_QUEUED, {"ids": [event.id for event in paper.events]})
        db.session.add(paper.checkpoint)
        if batch_sealed.receivers:
            batch_sealed.send(site.site, events=paper.events)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return SealResult(site.key, len(paper.events), paper.tree.size, paper.events[0].recorded_at)


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
    so consent writes get the lock between batches (on SQLite smaller ones, and a pause). The
    app's own sealer (`wait=False`) rests after each full batch unless it is behind
    (BACKGROUND_REST_PER_CPU_SECOND)."""
    on_sqlite = db.session.get_bind().dialect.name == "sqlite"
    if batch is None:
        batch = SQLITE_SEAL_BATCH if on_sqlite else SEAL_BATCH
    behind = timedelta(seconds=max_merge_delay() / 3)
    cpu_before = time.thread_time()
    result = seal_site(site, wait=wait, batch=batch)
    sealed = result.sealed
    while result.sealed == batch:
        rest = SQLITE_SEAL_PAUSE if on_sqlite else 0.0
        oldest = result.oldest_recorded_at
        if not wait and oldest is not None and utcnow() - oldest < behind:
            own_cpu = time.thread_time() - cpu_before
            rest = max(rest, min(BACKGROUND_REST_MAX, own_cpu * BACKGROUND_REST_PER_CPU_SECOND))
        if rest:
            time.sleep(rest)
        cpu_before = time.thread_time()
        result = seal_site(site, wait=wait, batch=batch)
        sealed += result.sealed
    return SealResult(site.site_key, sealed, result.tree_size)


def seal_all(wait: bool = True) -> list[SealResult]:
    return [
        seal_waiting(site, wait=wait)
        for site in db.session.scalars(select(Site).order_by(Site.id)).all()
    ]
