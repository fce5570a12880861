"""The per-client limit on consent writes: how many decisions one network may record on one
site per window, counted in the database so every worker and host shares the count.

A client is the truncated network address the event keeps anyway (IPv4 /24, IPv6 /48), so an
office behind one NAT counts as one client: the default allowance (600 a minute) is far above
what its people can click, and far below what a script can post into a ledger that is never
trimmed. One UPSERT per write, in the write's own transaction; over the limit: 429 with
`Retry-After` (the banner keeps the decision and sends it then).
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from consent_service.errors import ApiError
from consent_service.extensions import db
from consent_service.models import ConsentWriteCounter
from consent_service.prepared import Prepared

COUNTERS = ConsentWriteCounter.__table__


def _upsert(insert: Any) -> Any:
    return (
        insert(COUNTERS)
        .on_conflict_do_update(
            index_elements=[COUNTERS.c.site_id, COUNTERS.c.client, COUNTERS.c.window_start],
            set_={"count": COUNTERS.c.count + 1},
        )
        .returning(COUNTERS.c.count)
    )


#: Built once per dialect and run on the driver's cursor (prepared.py).
KEYS = ("site_id", "client", "window_start", "count")
UPSERTS = {
    "postgresql": Prepared(_upsert(postgresql.insert), KEYS),
    "sqlite": Prepared(_upsert(sqlite.insert), KEYS),
}


def count_write(site_id: int, client: str | None, now: float | None = None) -> None:
    """Count one write of `client` on the site; 429 once it is over its allowance."""
    limit = int(current_app.config["CONSENT_WRITES_PER_CLIENT"])
    window = max(1, int(current_app.config["CONSENT_WRITE_WINDOW"]))
    if limit <= 0 or not client:
        return
    now = time.time() if now is None else now
    start = int(now // window) * window
    statement = UPSERTS[db.session.get_bind().dialect.name]
    values = {"site_id": site_id, "client": client, "window_start": start, "count": 1}
    cursor = statement.execute(db.session, values)
    try:
        count = int(cursor.fetchall()[0][0])
    finally:
        cursor.close()
    if count == 1:  # a new window: the client's older ones are of no use any more
        db.session.execute(
            delete(ConsentWriteCounter).where(
                ConsentWriteCounter.site_id == site_id,
                ConsentWriteCounter.client == client,
                ConsentWriteCounter.window_start < start,
            )
        )
    if count > limit:
        raise ApiError(
            429,
            "Too many consent decisions from this network; try again later.",
            error="rate_limited",
            headers={"Retry-After": str(max(1, math.ceil(start + window - now)))},
        )
