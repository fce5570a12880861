"""The consent event: one decision of one visitor, append-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.site import ImmutableRowError
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc_opt_out")
SOURCES = ("banner", "preference_center", "api", "email", "form")

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ConsentEvent(db.Model):  # type: ignore[name-defined]
    """Append-only: no row is deleted, and an UPDATE may only erase the personal evidence
    (`consents.tombstones`, a Core UPDATE); triggers on both databases enforce it."""

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint("site_id", "event_id"),
        Index("ix_consent_events_visitor", "site_id", "visitor_id", "id"),
        # The versions shown are referenced by their natural keys, so the record reads alone.
        ForeignKeyConstraint(
            ["site_id", "policy_version"],
            ["policy_versions.site_id", "policy_versions.label"],
            name="fk_consent_events_policy_version",
        ),
        ForeignKeyConstraint(
            ["site_id", "banner_version"],
            ["banner_versions.site_id", "banner_versions.sha256"],
            name="fk_consent_events_banner_version",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    visitor_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    # The resulting choice per category slug, necessary included.
    choices: Mapped[dict[str, bool]] = mapped_column(JsonDocument)
    policy_version: Mapped[str] = mapped_column(String(64))
    banner_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(24))
    gpc: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    client_time: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    page_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # IPv4 truncated to /24, IPv6 to /48, at ingest; the full address is never stored.
    ip_prefix: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    # Leaf format 2: a salted commitment to page_url, user_agent, ip_prefix and client_time is
    # sealed; erasing those later removes value and salt and keeps the commitment.
    evidence_salt: Mapped[str | None] = mapped_column(String(64), default=None)
    evidence_commitment: Mapped[str | None] = mapped_column(String(64), default=None)
    # The tombstone of the erasure that removed the evidence (the only columns, with the
    # evidence and country, that a trigger lets an UPDATE touch: set to NULL, or this set once).
    erasure_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # The rule set the visitor was shown (from the banner version it names), e.g. opt_out.
    rule_set: Mapped[str | None] = mapped_column(String(20), default=None)
    # SHA-256 of the canonical request, to tell a replay from a conflicting reuse of event_id.
    request_hash: Mapped[str] = mapped_column(String(64))

    @classmethod
    def transient(cls, **values: Any) -> ConsentEvent:
        """A new event that a plain INSERT stores (`consents.decisions.insert_event`) and no
        session ever holds: its values set without the ORM's attribute events, which cost a
        twentieth of a consent write. Unknown names raise, as the constructor's do."""
        unknown = values.keys() - cls.__mapper__.attrs.keys()
        if unknown:
            raise TypeError(f"{sorted(unknown)} are not attributes of ConsentEvent")
        event: ConsentEvent = cls.__mapper__.class_manager.new_instance()
        event.__dict__.update(values)
        return event


@event.listens_for(ConsentEvent, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError("consent events are append-only")


@event.listens_for(ConsentEvent, "before_delete")
def _refuse_delete(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError("consent events are append-only")


class ConsentWriteCounter(db.Model):  # type: ignore[name-defined]
    """Consent writes one client network made to one site in one fixed window.

    Counted in the database, not in a process, so the per-client limit holds across every
    worker and host. `client` is the truncated network address the event keeps anyway.
    """

    __tablename__ = "consent_write_counters"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigId, primary_key=True)  # Unix seconds
    count: Mapped[int] = mapped_column(Integer, default=0)
