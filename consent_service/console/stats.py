"""The dashboard's daily counters: decisions by action, GPC signals, and per category how
often it was decided on and granted. Kept as events arrive (one UPSERT per metric in the
consent write's own transaction, through `decision_recorded`), so a year of a busy site is
365 rows per metric to read, never a scan of the ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from consent_service.extensions import db
from consent_service.models import ConsentEvent, DailyDecisionCount, Site
from consent_service.models.consent import ACTIONS
from consent_service.prepared import Prepared

COUNTERS = DailyDecisionCount.__table__
COUNTER_KEYS = ("site_id", "day", "metric", "count")


def event_metrics(event: ConsentEvent) -> list[str]:
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
        set_={"count": COUNTERS.c.count + 1},
    )


#: Built once per dialect, values bound per call and run on the driver's cursor (prepared.py):
#: building a statement per metric cost half of a consent write, the UPSERTs very little.
UPSERTS = {
    "postgresql": Prepared(_upsert(postgresql.insert), COUNTER_KEYS),
    "sqlite": Prepared(_upsert(sqlite.insert), COUNTER_KEYS),
}


def count_event(sender: Any, event: ConsentEvent, **_: Any) -> None:
    """`decision_recorded` receiver: add the event to its day's counters (one executemany)."""
    day = event.recorded_at.date()
    rows = [
        {"site_id": event.site_id, "day": day, "metric": metric, "count": 1}
        for metric in event_metrics(event)
    ]
    UPSERTS[db.session.get_bind().dialect.name].executemany(db.session, rows)


def daily(site_id: int, start: date, end: date) -> dict[str, Any]:
    """Per day from `start` to `end` (inclusive): decisions by action, GPC, and the opt-in
    rate per category (granted / decided on, None on a day without decisions)."""
    rows = db.session.execute(
        select(DailyDecisionCount.day, DailyDecisionCount.metric, DailyDecisionCount.count).where(
            DailyDecisionCount.site_id == site_id,
            DailyDecisionCount.day >= start,
            DailyDecisionCount.day <= end,
        )
    ).all()
    by_day: dict[date, dict[str, int]] = defaultdict(dict)
    categories: set[str] = set()
    for day, metric, count in rows:
        by_day[day][metric] = int(count)
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
