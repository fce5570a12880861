"""Sealing the evidence stored beside an event without sealing personal data.

The page URL, user agent, address prefix and client time are personal data that a visitor may
have erased, so they cannot be leaf fields. Instead a leaf of format version 2 holds a salted
commitment to them: `evidence = SHA-256(JCS({"salt", "page_url", "user_agent", "ip_prefix",
"client_time"}))`, the salt 32 random bytes (hex) stored beside the values. Changing any value
then no longer matches the sealed commitment; erasing value and salt leaves the commitment, so
the leaf and every proof still verify while nothing of the value can be recovered from it.
Events recorded before version 2 keep their version 1 leaves and verify as before.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from consent_service.canonical import canonical_json
from consent_service.extensions import db
from consent_service.models import ConsentEvent, ErasureTombstone, LedgerEntry

LEAF_VERSION = 2
EVIDENCE_FIELDS = ("page_url", "user_agent", "ip_prefix", "client_time")


def evidence_document(
    salt: str,
    page_url: str | None,
    user_agent: str | None,
    ip_prefix: str | None,
    client_time: datetime | None,
) -> dict[str, Any]:
    return {
        "salt": salt,
        "page_url": page_url,
        "user_agent": user_agent,
        "ip_prefix": ip_prefix,
        "client_time": client_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if client_time
        else None,
    }


def commitment(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def commit_evidence(event: ConsentEvent) -> None:
    """Give a new event its salt and commitment (before it is inserted and hashed)."""
    event.evidence_salt = secrets.token_hex(32)
    event.evidence_commitment = commitment(
        evidence_document(
            event.evidence_salt,
            event.page_url,
            event.user_agent,
            event.ip_prefix,
            event.client_time,
        )
    )


def evidence_failures(site_id: int, tree_size: int) -> Iterator[str]:
    """Sealed events whose stored evidence no longer matches the commitment in their leaf.

    An event whose salt was erased has nothing left to check; its commitment stays sealed."""
    rows = db.session.execute(
        select(
            LedgerEntry.seq,
            ConsentEvent.event_id,
            ConsentEvent.evidence_salt,
            ConsentEvent.evidence_commitment,
            ConsentEvent.page_url,
            ConsentEvent.user_agent,
            ConsentEvent.ip_prefix,
            ConsentEvent.client_time,
        )
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .where(
            LedgerEntry.site_id == site_id,
            LedgerEntry.seq < tree_size,
            ConsentEvent.evidence_salt.is_not(None),
        )
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=5000)
    )
    for row in rows:
        document = evidence_document(
            row.evidence_salt, row.page_url, row.user_agent, row.ip_prefix, row.client_time
        )
        if commitment(document) != row.evidence_commitment:
            yield f"seq {row.seq} (event {row.event_id}): stored evidence matches its commitment"


def erasure_failures(site_id: int, tree_size: int) -> Iterator[str]:
    """Sealed events whose evidence went without a tombstone (a format 2 salt missing, or a
    tombstone named that does not exist), or that a tombstone erased but still hold some."""
    rows = db.session.execute(
        select(
            LedgerEntry.seq,
            ConsentEvent.event_id,
            ConsentEvent.erasure_id,
            ErasureTombstone.id.label("tombstone"),
        )
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .outerjoin(ErasureTombstone, ErasureTombstone.id == ConsentEvent.erasure_id)
        .where(
            LedgerEntry.site_id == site_id,
            LedgerEntry.seq < tree_size,
            (
                (ConsentEvent.evidence_commitment.is_not(None))
                & ConsentEvent.evidence_salt.is_(None)
                & ConsentEvent.erasure_id.is_(None)
            )
            | (
                ConsentEvent.erasure_id.is_not(None)
                & (
                    ErasureTombstone.id.is_(None)
                    | ConsentEvent.evidence_salt.is_not(None)
                    | ConsentEvent.page_url.is_not(None)
                    | ConsentEvent.user_agent.is_not(None)
                    | ConsentEvent.ip_prefix.is_not(None)
                    | ConsentEvent.client_time.is_not(None)
                )
            ),
        )
        .order_by(LedgerEntry.seq)
    )
    for row in rows:
        if row.erasure_id is None:
            yield f"seq {row.seq} (event {row.event_id}): evidence salt gone without a tombstone"
        elif row.tombstone is None:
            yield f"seq {row.seq} (event {row.event_id}): names tombstone {row.erasure_id}, absent"
        else:
            yield f"seq {row.seq} (event {row.event_id}): erased, yet holds evidence"
