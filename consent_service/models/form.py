"""A site's forms that carry personal data to a recipient under a consent (lead, newsletter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

FORM_PURPOSES = ("lead", "subscription")


class SiteForm(db.Model):  # type: ignore[name-defined]
    """Which fields a form may send, the category it needs, and the wording of the separate
    consent shown beside it (per locale). Each wording ever shown is also kept, immutable, as a
    `BannerVersion` of kind `wording:<slug>`, so a lead or a subscription can name it by hash."""

    __tablename__ = "site_forms"
    __table_args__ = (UniqueConstraint("site_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    # The category the visitor must have granted, e.g. "crm" or "marketing_email".
    category: Mapped[str] = mapped_column(String(64))
    # The service (recipient) the data goes to, e.g. "neocrm"; None for the site itself.
    service: Mapped[str | None] = mapped_column(String(64), default=None)
    # [{"name": "email", "required": true}, ...] from the field catalogue in forms.py
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    # {"en": "I agree that ...", "zh-CN": "..."}: the checkbox text; empty when none is needed.
    wording: Mapped[dict[str, str]] = mapped_column(JsonDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
