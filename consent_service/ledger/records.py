"""What of a consent event goes into the ledger, and the receipt a visitor gets for it.

`event_record` is the one definition of a leaf: the canonical JSON of these fields is hashed,
so none of them can change unnoticed. Exports carry exactly these fields, which is what lets
an auditor recompute every leaf without trusting us.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from consent_service.ledger.merkle import canonical_event_bytes, leaf_hash
from consent_service.ledger.signing import SigningKey
from consent_service.models import ConsentEvent

RECORD_FIELDS = (
    "site",
    "event_id",
    "visitor_id",
    "action",
    "choices",
    "policy_version",
    "banner_version",
    "language",
    "source",
    "gpc",
    "recorded_at",
)


#: Leaf format 2 adds these two after the fields above (absent: format 1).
LEAF_V2_FIELDS = ("leaf_version", "evidence")

#: The event columns `event_record` reads (a query selecting them gives rows it takes).
LEAF_COLUMNS = (
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
    ConsentEvent.evidence_commitment,
)


def utc_timestamp(value: Any) -> str:
    """ISO 8601 in UTC with microseconds and a Z, the only spelling that is hashed."""
    if value.year < 1000:  # strftime writes such years without their leading zeros
        return str(value.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    # The same characters as that strftime, at a third of its cost (twice in every write).
    return f"{value.replace(tzinfo=None).isoformat(timespec='microseconds')}Z"


def event_record(event: ConsentEvent | Any, site_key: str) -> dict[str, Any]:
    """The leaf fields of an event, or of a result row with the same column names: format 2
    when the event has an evidence commitment, format 1 otherwise."""
    record = {
        "site": site_key,
        "event_id": str(event.event_id),
        "visitor_id": event.visitor_id,
        "action": event.action,
        "choices": dict(event.choices),
        "policy_version": event.policy_version,
        "banner_version": event.banner_version,
        "language": event.language,
        "source": event.source,
        "gpc": bool(event.gpc),
        "recorded_at": utc_timestamp(event.recorded_at),
    }
    commitment = getattr(event, "evidence_commitment", None)
    if commitment:
        record["leaf_version"] = 2
        record["evidence"] = commitment
    return record


def record_leaf_hash(record: dict[str, Any]) -> str:
    return leaf_hash(canonical_event_bytes(record)).hex()


def max_merge_delay() -> float:
    """Seconds within which every acknowledged event is sealed (LEDGER_MAX_MERGE_DELAY)."""
    return float(current_app.config.get("LEDGER_MAX_MERGE_DELAY", 60.0))


def seal_interval(configured: float, merge_delay: float) -> float:
    """The sealing interval: as configured, but at most a third of the maximum merge delay, so
    that a missed run or two still keeps the promise receipts make."""
    return min(configured, merge_delay / 3)


def issue_receipt(record: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """Signed by the service: proof for the visitor that this exact decision was taken in, and
    the time by which it will be in a signed checkpoint (`seal_by`, like the maximum merge delay
    of a certificate transparency SCT).

    The signature is Ed25519 over the RFC 8785 JSON of the receipt without `signature`.
    """
    recorded = datetime.fromisoformat(record["recorded_at"])  # the Z form; strptime: 6x slower
    receipt = {
        "event_id": record["event_id"],
        "leaf_hash": record_leaf_hash(record),
        "recorded_at": record["recorded_at"],
        "seal_by": utc_timestamp(recorded + timedelta(seconds=max_merge_delay())),
        "site": record["site"],
        "key_id": key.key_id,
    }
    return {**receipt, "signature": key.sign(receipt)}
