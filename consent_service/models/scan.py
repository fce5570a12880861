"""Captures of the banner as a scan rendered it: evidence of the interface a visitor saw,
kept by the banner version it showed. Immutable once stored, like the version itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_service.extensions import db
from consent_service.models.site import BannerVersion, ImmutableRowError
from consent_service.models.types import UtcDateTime, utcnow

CAPTURE_KINDS = ("first_layer", "preferences")


class BannerCapture(db.Model):  # type: ignore[name-defined]
    """A PNG of the first layer or the preferences dialog at one width, in one locale."""

    __tablename__ = "banner_captures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    banner_version_id: Mapped[int] = mapped_column(
        ForeignKey("banner_versions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    png: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    # The page it was taken on (the site's own URL; a scan carries no visitor data).
    page_url: Mapped[str] = mapped_column(String(2048))
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    banner_version: Mapped[BannerVersion] = relationship()


@event.listens_for(BannerCapture, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError("BannerCapture rows are immutable once stored")
