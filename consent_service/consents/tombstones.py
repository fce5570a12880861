"""Erasing the personal payload of consent events while their leaves stay.

An event's leaf holds pseudonymous fields and, in format 2, a salted commitment to the
evidence stored beside it (`ledger.evidence`). Erasure sets that evidence (page URL, user
agent, address prefix, client time), its salt and the country to NULL and points the event at
a tombstone; the leaf, and with it every checkpoint and proof, is untouched. A trigger lets an
UPDATE of `consent_events` do exactly that and nothing else. Format 1 events (no commitment)
are erased the same way: their evidence was never sealed, so nothing that verifies changes.

Used by a visitor's erasure request (`consents.erasure`) and by retention
(`consents.retention`); neither commits here, so each decides its own transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import client_hash
from consent_service.models import (
    ConsentEvent,
    ConsentWriteCounter,
    ErasureTombstone,
    MailRateEvent,
)

#: The event columns an erasure sets to NULL (the migration's trigger allows only these).
ERASED_EVENT_FIELDS = (
    "page_url",
    "user_agent",
    "ip_prefix",
    "client_time",
    "country",
    "evidence_salt",
)
EVENTS = ConsentEvent.__table__
#: Bound parameters per statement stay well under SQLite's limit.
ID_CHUNK = 500


def new_tombstone(
    site_id: int,
    reason: str,
    *,
    request_id: int | None = None,
    subject: str | None = None,
) -> ErasureTombstone:
    """Add (and flush, for its id) the tombstone that erased rows will name."""
    tombstone = ErasureTombstone(
        site_id=site_id,
        request_id=request_id,
        reason=reason,
        subject=subject,
        fields=list(ERASED_EVENT_FIELDS),
        counts={},
    )
    db.session.add(tombstone)
    db.session.flush()
    return tombstone


def _chunks(values: Sequence[Any], size: int = ID_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def erase_event_ids(event_ids: Sequence[int], tombstone_id: int) -> int:
    """Erase these events' evidence (those not erased before); how many were erased.

    A Core UPDATE: the ORM's append-only guard on `ConsentEvent` stays for every other path."""
    erased = 0
    for chunk in _chunks(list(event_ids)):
        result: Any = db.session.execute(
            update(EVENTS)
            .where(EVENTS.c.id.in_(chunk), EVENTS.c.erasure_id.is_(None))
            .values({**dict.fromkeys(ERASED_EVENT_FIELDS), "erasure_id": tombstone_id})
            .execution_options(synchronize_session=False)
        )
        erased += int(result.rowcount or 0)
    return erased


def erase_subject_events(site_id: int, site_key: str, subjects: set[str], tombstone_id: int) -> int:
    """Erase every event of these pseudonymous subjects, and the rate counters keyed by their
    address prefixes (a prefix's write counter, a hash of it in the mail counters)."""
    if not subjects:
        return 0
    rows = db.session.execute(
        select(ConsentEvent.id, ConsentEvent.ip_prefix).where(
            ConsentEvent.site_id == site_id,
            ConsentEvent.visitor_id.in_(sorted(subjects)),
            ConsentEvent.erasure_id.is_(None),
        )
    ).all()
    forget_prefixes(site_id, site_key, {row.ip_prefix for row in rows if row.ip_prefix})
    return erase_event_ids([row.id for row in rows], tombstone_id)


def forget_prefixes(site_id: int, site_key: str, prefixes: set[str]) -> None:
    """Counters hold an address prefix (or its hash) only to limit rates for a minute or an
    hour: forgetting one early costs at most a fresh allowance for that network."""
    for chunk in _chunks(sorted(prefixes)):
        db.session.execute(
            delete(ConsentWriteCounter).where(
                ConsentWriteCounter.site_id == site_id, ConsentWriteCounter.client.in_(chunk)
            )
        )
        db.session.execute(
            delete(MailRateEvent).where(
                MailRateEvent.site_id == site_id,
                MailRateEvent.key_hash.in_([client_hash(site_key, prefix) for prefix in chunk]),
            )
        )


def tombstone_records(site_id: int, ids: set[int]) -> list[dict[str, Any]]:
    """The tombstones these ids name, as exports carry them (no personal data: the subject is
    the pseudonymous visitor id every leaf of theirs holds anyway)."""
    records = []
    for chunk in _chunks(sorted(ids)):
        for tombstone in db.session.scalars(
            select(ErasureTombstone)
            .where(ErasureTombstone.site_id == site_id, ErasureTombstone.id.in_(chunk))
            .order_by(ErasureTombstone.id)
        ):
            records.append(tombstone_record(tombstone))
    return records


def tombstone_record(tombstone: ErasureTombstone) -> dict[str, Any]:
    from consent_service.ledger.records import utc_timestamp

    return {
        "id": tombstone.id,
        "reason": tombstone.reason,
        "request_id": tombstone.request_id,
        "subject": tombstone.subject,
        "fields": list(tombstone.fields),
        "counts": dict(tombstone.counts),
        "erased_at": utc_timestamp(tombstone.created_at),
    }
