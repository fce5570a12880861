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
from sqlalchemy import bindparam
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
#: A client's windows before the current one: of no use once a new window starts.
OLDER_WINDOWS = Prepared(
    COUNTERS.delete().where(
        COUNTERS.c.site_id == bindparam("site_id"),
        COUNTERS.c.client == bindparam("client"),
        COUNTERS.c.window_start < bindparam("window_start"),
    )
)


def count_write(
    site_id: int, client: str | None, now: float | None = None, into: Any = None
) -> None:
    """Count one write of `client` on the site in `into` (a `DriverTransaction`; the session
    if None); 429 once it is over its allowance."""
    limit = int(current_app.config["CONSENT_WRITES_PER_CLIENT"])
    window = max(1, int(current_app.config["CONSENT_WRITE_WINDOW"]))
    if limit <= 0 or not client:
        return
    now = time.time() if now is None else now
    start = int(now // window) * window
    statement = UPSERTS[db.engine.dialect.name]
    values = {"site_id": site_id, "client": client, "window_start": start, "count": 1}
    cursor = statement.execute(into, values)
    try:
        count = int(cursor.fetchall()[0][0])
    finally:
        cursor.close()
    if count == 1:  # a new window: the client's older ones are of no use any more
        current = {"site_id": site_id, "client": client, "window_start": start}
        OLDER_WINDOWS.execute(into, current).close()
    if count > limit:
        raise ApiError(
            429,
            "Too many consent decisions from this network; try again later.",
            error="rate_limited",
            headers={"Retry-After": str(max(1, math.ceil(start + window - now)))},
        )
