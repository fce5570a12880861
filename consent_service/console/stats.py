"""The dashboard's daily counters: decisions by action, GPC signals, and per category how
often it was decided on and granted, so a year of a busy site is 365 rows per metric to read,
never a scan of the ledger.

Events are counted when they are sealed (`batch_sealed`, in the sealing transaction: once
each, by the one sealer of the site), and the dashboard adds the few events still waiting for
their seal as it reads. Counting in the consent write itself made every concurrent write
update the same rows: on PostgreSQL each waited for the one before it to commit, which cost a
quarter of the write throughput.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Integer,
    Row,
    String,
    cast,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from consent_service.extensions import db
from consent_service.models import ConsentEvent, DailyDecisionCount, LedgerQueue, Site
from consent_service.models.consent import ACTIONS
from consent_service.models.types import JsonDocument, UtcDateTime
from consent_service.prepared import Prepared

COUNTERS = DailyDecisionCount.__table__
COUNTER_KEYS = ("site_id", "day", "metric", "count")


def event_metrics(event: Any) -> list[str]:
    metrics = [f"action:{event.action}"]
    if event.gpc:
        metrics.append("gpc")
    for category, granted in sorted((event.choices or {}).items()):
        metrics.append(f"shown:{category}"[:80])
        if granted:
            metrics.append(f"granted:{category}"[:80])
    return metrics


def _upsert(insert: Any) -> Any:
    return insert(COUNTERS).on_conflict_do_update(
        index_elements=[COUNTERS.c.site_id, COUNTERS.c.day, COUNTERS.c.metric],
        set_={"count": COUNTERS.c.count + insert(COUNTERS).excluded.count},
    )


#: Built once per dialect, values bound per call and run on the driver's cursor (prepared.py):
#: building a statement per metric cost half of a consent write, the UPSERTs very little.
UPSERTS = {
    "postgresql": Prepared(_upsert(postgresql.insert), COUNTER_KEYS),
    "sqlite": Prepared(_upsert(sqlite.insert), COUNTER_KEYS),
}


def count_sealed(sender: Any, events: Sequence[ConsentEvent], **_: Any) -> None:
    """`batch_sealed` receiver: add a sealed batch to its days' counters (one executemany)."""
    counts = tally(events)
    if counts:
        rows = [
            {"site_id": site_id, "day": day, "metric": metric, "count": count}
            for (site_id, day, metric), count in sorted(counts.items())
        ]
        UPSERTS[db.session.get_bind().dialect.name].executemany(db.session, rows)


def tally(events: Iterable[Any]) -> Counter[tuple[int, date, str]]:
    """Metric counts per (site, UTC day, metric) of events or rows with their columns."""
    return Counter(
        (event.site_id, event.recorded_at.date(), metric)
        for event in events
        for metric in event_metrics(event)
    )


def counted_and_waiting(site_id: int, start: date, end: date) -> list[Row[Any]]:
    """The site's day counters from `start` to `end`, and its events of those days not sealed
    yet (hence not counted yet), in one statement: read in two, a seal committing between them
    took its events out of the queue after the counters were read, and the page showed too
    little. Counter rows have a `day`; event rows have `day` None and the event's columns."""
    counted = select(
        COUNTERS.c.site_id,
        COUNTERS.c.day,
        COUNTERS.c.metric,
        COUNTERS.c.count,
        cast(null(), UtcDateTime).label("recorded_at"),
        cast(null(), String).label("action"),
        cast(null(), Boolean).label("gpc"),
        cast(null(), JsonDocument).label("choices"),
    ).where(COUNTERS.c.site_id == site_id, COUNTERS.c.day >= start, COUNTERS.c.day <= end)
    waiting = (
        select(
            ConsentEvent.site_id,
            cast(null(), Date),
            cast(null(), String),
            cast(null(), Integer),
            ConsentEvent.recorded_at,
            ConsentEvent.action,
            ConsentEvent.gpc,
            ConsentEvent.choices,
        )
        .join(LedgerQueue, LedgerQueue.consent_event_id == ConsentEvent.id)
        .where(
            LedgerQueue.site_id == site_id,
            ConsentEvent.recorded_at >= datetime.combine(start, time.min, UTC),
            ConsentEvent.recorded_at < datetime.combine(end + timedelta(days=1), time.min, UTC),
        )
    )
    return list(db.session.execute(union_all(counted, waiting)))


def daily(site_id: int, start: date, end: date) -> dict[str, Any]:
    """Per day from `start` to `end` (inclusive): decisions by action, GPC, and the opt-in
    rate per category (granted / decided on, None on a day without decisions)."""
    read = counted_and_waiting(site_id, start, end)
    rows: list[tuple[date, str, int]] = [
        (row.day, row.metric, int(row._mapping["count"]))  # `row.count` is tuple's method
        for row in read
        if row.day is not None
    ]
    waiting = [
        (day, metric, count)
        for (_, day, metric), count in tally(row for row in read if row.day is None).items()
    ]
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    categories: set[str] = set()
    for day, metric, count in [*rows, *waiting]:
        by_day[day][metric] += count
        if metric.startswith("shown:"):
            categories.add(metric.removeprefix("shown:"))
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    series: dict[str, Any] = {
        "days": [day.isoformat() for day in days],
        "actions": {
            action: [by_day[day].get(f"action:{action}", 0) for day in days] for action in ACTIONS
        },
        "gpc": [by_day[day].get("gpc", 0) for day in days],
        "opt_in": {},
    }
    for category in sorted(categories):
        rates: list[float | None] = []
        for day in days:
            shown = by_day[day].get(f"shown:{category}", 0)
            granted = by_day[day].get(f"granted:{category}", 0)
            rates.append(round(granted / shown, 4) if shown else None)
        series["opt_in"][category] = rates
    series["totals"] = {action: sum(values) for action, values in series["actions"].items()}
    series["totals"]["gpc"] = sum(series["gpc"])
    return series


def dashboard(site: Site, start: date, end: date) -> dict[str, Any]:
    """`daily`, with each category's opt-in rates under the name people read in the banner
    (the site's default locale), not its slug; a category since removed keeps its slug."""
    series = daily(site.id, start, end)
    names = {
        category.slug: (category.texts.get(site.default_locale) or {}).get("name") or category.slug
        for category in site.categories
    }
    shown = [names.get(slug, slug) for slug in series["opt_in"]]
    series["opt_in"] = {
        name if shown.count(name) == 1 else f"{name} ({slug})": rates
        for name, (slug, rates) in zip(shown, series["opt_in"].items(), strict=True)
    }
    return series
