"""The site aggregate: a site, its categories (purposes), services (third parties), and the
published policy and banner versions that consent events point at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_service.extensions import db
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

JURISDICTION_MODES = ("opt_in", "opt_out")
GA4_MODES = ("basic", "advanced")


class Site(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    allowed_origins: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    default_locale: Mapped[str] = mapped_column(String(16), default="en")
    # The locales the banner is offered in, default first; [] on sites made before settings.
    locales: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    lifetime_days: Mapped[int] = mapped_column(Integer, default=180)
    # opt_in: nothing non-necessary before a choice (GDPR, PIPL); opt_out: notice + opt-out (CCPA)
    jurisdiction: Mapped[str] = mapped_column(String(16), default="opt_in")
    honour_gpc: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rule sets per region: {"builtin": true, "rules": {"US-CA": "opt_out"}, "fallback": ...}
    regions: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # After "Reject all" the banner asks again only after this many days.
    reask_after_reject_days: Mapped[int] = mapped_column(Integer, default=182)
    cookie_name: Mapped[str] = mapped_column(String(64), default="cs_consent")
    # A parent domain (example.com) so that www. and shop. share one choice; None: host only.
    cookie_domain: Mapped[str | None] = mapped_column(String(253), default=None)
    # Banner chrome per locale: {"en": {"title": ..., "description": ..., ...}, ...}
    texts: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # Google Consent Mode: {"wait_for_update": 500, "regions": [{"region": [...], ...}]}
    consent_mode: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    ga4_measurement_id: Mapped[str | None] = mapped_column(String(32), default=None)
    ga4_mode: Mapped[str] = mapped_column(String(16), default="basic")
    # The BannerVersion currently shown; replaced whenever texts, categories or services change.
    banner_version_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # SHA-256 of the canonical settings document last applied (the ETag of its settings).
    settings_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    categories: Mapped[list[Category]] = relationship(
        back_populates="site", order_by="Category.position", cascade="all, delete-orphan"
    )
    services: Mapped[list[Service]] = relationship(
        back_populates="site", order_by="Service.position", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Site {self.name!r} {self.site_key}>"


class Category(db.Model):  # type: ignore[name-defined]
    """A purpose a visitor can grant or refuse (necessary is always granted)."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("site_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    necessary: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # {"en": {"name": ..., "description": ...}, "zh-CN": {...}}
    texts: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # Denied by default when the visitor sends Global Privacy Control (sale/marketing-like).
    gpc_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Google Consent Mode signals this category controls, e.g. ["analytics_storage"].
    consent_mode_signals: Mapped[list[str]] = mapped_column(JsonDocument, default=list)

    site: Mapped[Site] = relationship(back_populates="categories")


class Service(db.Model):  # type: ignore[name-defined]
    """A third party (or own service) that processes data under one category."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("site_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(300))
    privacy_policy_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    storage_location: Mapped[str] = mapped_column(String(200), default="")
    cross_border: Mapped[bool] = mapped_column(Boolean, default=False)
    third_party: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"name": "_ga", "pattern": "^_ga(_.*)?$", "domain": "", "lifetime": "2 years"}]
    cookies: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    # What the dialog shows per locale: {"en": {"name", "provider", "purpose", ...}, ...}
    texts: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # The rest of the resolved settings entry (provider contact and address, purposes, links,
    # storage locations, retention, Consent Mode signals, hosts), each text per locale.
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    site: Mapped[Site] = relationship(back_populates="services")
    category: Mapped[Category] = relationship()


class PolicyVersion(db.Model):  # type: ignore[name-defined]
    """A published privacy policy. Immutable: a change is a new version."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("site_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    sha256: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Material changes require every visitor to consent again.
    material: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BannerVersion(db.Model):  # type: ignore[name-defined]
    """Exactly what a visitor was shown, addressed by its SHA-256.

    kind "banner": the canonical JSON of the banner (texts, categories, services). kind
    "wording:<form>": the exact text of a form's consent checkbox or subscription wording, so
    a consent given on a form names what it was given to, as a banner consent does.
    """

    __tablename__ = "banner_versions"
    __table_args__ = (UniqueConstraint("site_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    canonical_json: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(80), default="banner", server_default="banner")
    # The rule set a banner was drawn under (opt_in, opt_out, ...); None: a site's base version.
    rule_set: Mapped[str | None] = mapped_column(String(20), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SettingsChange(db.Model):  # type: ignore[name-defined]
    """One applied settings document: who applied it, when, and what the banner became.

    Append-only, so that "what did this banner say on 12 March?" has an answer: the change in
    effect then names its document and its banner version.
    """

    __tablename__ = "settings_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # "token:<id>" for the admin API, "cli" for the command line.
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    hash_before: Mapped[str | None] = mapped_column(String(64), default=None)
    hash_after: Mapped[str] = mapped_column(String(64))
    banner_version: Mapped[str] = mapped_column(String(64))
    banner_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The canonical JSON of the document applied (its SHA-256 is hash_after).
    document: Mapped[str] = mapped_column(Text)


class ImmutableRowError(RuntimeError):
    """Raised when code tries to change a row that is part of the consent record."""


@event.listens_for(PolicyVersion, "before_update")
@event.listens_for(BannerVersion, "before_update")
@event.listens_for(SettingsChange, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError(f"{type(target).__name__} rows are immutable once published")
