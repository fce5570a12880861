"""The console's accounts, their roles per site, the activity log, the sign-in failure counters
and the daily decision counters the dashboard draws from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.extensions import db
from consent_service.models.consent import BigId
from consent_service.models.types import JsonDocument, UtcDateTime, utcnow

CONSOLE_ROLES = ("owner", "editor", "auditor")


class ConsoleAccount(db.Model):  # type: ignore[name-defined]
    """A person who signs in to the console; the password only as a werkzeug scrypt hash.

    An operator creates sites and accounts; everyone else acts through roles per site."""

    __tablename__ = "console_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ConsoleRole(db.Model):  # type: ignore[name-defined]
    """One account's role on one site: owner, editor or auditor."""

    __tablename__ = "console_roles"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("console_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class ConsoleActivity(db.Model):  # type: ignore[name-defined]
    """Every sign-in (and failed one) and every change made through the console."""

    __tablename__ = "console_activity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_accounts.id", ondelete="SET NULL"), index=True, default=None
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True, default=None
    )
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SigninFailureCounter(db.Model):  # type: ignore[name-defined]
    """Failed sign-ins of one account (hashed e-mail) or one network per window, counted in the
    database so that every worker and host shares the limit."""

    __tablename__ = "console_signin_failures"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigId, primary_key=True)  # Unix seconds
    count: Mapped[int] = mapped_column(Integer, default=0)


class DailyDecisionCount(db.Model):  # type: ignore[name-defined]
    """How many decisions of a kind a site recorded on one UTC day, kept as events arrive.

    `metric` is `action:<action>`, `gpc`, `shown:<category>` or `granted:<category>`."""

    __tablename__ = "console_daily_counts"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
