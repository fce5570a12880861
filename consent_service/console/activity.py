"""The console's activity log: every sign-in (failed ones too) and every change, with who and
when. Written in the transaction of what it records, so a change never lands unlogged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from consent_service.extensions import db
from consent_service.models import ConsoleAccount, ConsoleActivity


def log(
    action: str,
    *,
    account: ConsoleAccount | None = None,
    site_id: int | None = None,
    **detail: Any,
) -> None:
    """Add an entry to the session; the caller's operation commits it."""
    db.session.add(
        ConsoleActivity(
            account_id=account.id if account else None,
            site_id=site_id,
            action=action,
            detail=detail,
        )
    )


def record(
    action: str,
    *,
    account: ConsoleAccount | None = None,
    site_id: int | None = None,
    **detail: Any,
) -> None:
    """Log and commit: for what happened in an operation that committed on its own."""
    log(action, account=account, site_id=site_id, **detail)
    db.session.commit()


def recent(site_id: int | None = None, limit: int = 200) -> Sequence[tuple[ConsoleActivity, str]]:
    """The newest entries (of one site, or all), with the e-mail of who acted ('' if gone)."""
    query = select(ConsoleActivity, ConsoleAccount.email).outerjoin(
        ConsoleAccount, ConsoleAccount.id == ConsoleActivity.account_id
    )
    if site_id is not None:
        query = query.where(ConsoleActivity.site_id == site_id)
    rows = db.session.execute(query.order_by(ConsoleActivity.id.desc()).limit(limit)).all()
    return [(row[0], row[1] or "") for row in rows]
