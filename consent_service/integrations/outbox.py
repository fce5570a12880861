"""What every outbox here shares (webhook deliveries, CRM leads): when to try again.

An outbox row is written in the transaction that decided to send it and sent later by a
worker that claims it for a while, so several workers never send the same row at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update

from consent_service.extensions import db

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
#: How long a worker holds a row it took; another may take it after (the first one died).
CLAIM = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most 6 h between attempts."""
    return min(FIRST_RETRY * (2 ** (max(attempts, 1) - 1)), LONGEST_WAIT)


def claim(
    model: Any, row_ids: Sequence[int], now: datetime, statuses: Collection[str]
) -> list[int]:
    """Take the rows among `row_ids` that are in `statuses` and free, for CLAIM, in one
    committed statement; the ids taken (another worker may have taken the rest)."""
    if not row_ids:
        return []
    result = db.session.execute(
        update(model)
        .where(
            model.id.in_(row_ids),
            model.status.in_(statuses),
            or_(model.claimed_until.is_(None), model.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM)
        .returning(model.id)
    )
    taken = sorted(result.scalars().all())
    db.session.commit()
    return taken
