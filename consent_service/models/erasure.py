"""Tombstones: what an erasure (a visitor's request, or retention) removed, when and why.

The ledger keeps every leaf; what goes is the personal payload beside it (evidence values and
salt, leads' fields, subscribers' addresses). A tombstone is the record that it went: which
fields and kinds, how many, when, and under which data subject request (if any). Events point
at the tombstone that erased them (`ConsentEvent.erasure_id`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

ERASURE_REASONS = ("request", "retention")


class ErasureTombstone(db.Model):  # type: ignore[name-defined]
    __tablename__ = "erasure_tombstones"
    __table_args__ = (Index("ix_erasure_tombstones_site", "site_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    # The data subject request it answers; None for retention and for erasures asked directly.
    request_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("subject_requests.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str] = mapped_column(String(16))
    # The pseudonymous visitor id the request named (a leaf field anyway); None for retention.
    subject: Mapped[str | None] = mapped_column(String(32), default=None)
    # Event columns set to NULL, e.g. ["page_url", "user_agent", ...].
    fields: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    # How many of each kind were erased: {"events": 3, "leads": 1, "subscriptions": 0, ...}.
    counts: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
