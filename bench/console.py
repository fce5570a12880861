"""The console's dashboard over a year of a busy site: it reads the daily counters, never the
ledger, so its cost depends on days and categories, not on how many decisions there were.

Seeds a year of counters (as a site with a million decisions a day would leave them: one row
per day and metric) and times the series for a year and the whole dashboard page (signed in,
through the Flask app as a request would be). The target is under a second.

    python bench/console.py [--only sqlite|postgresql] [--categories 6]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta

from support import backend

ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc_opt_out")


def run(name: str, categories: int) -> None:
    with backend(name) as env:
        os.environ.update(env)
        from flask_migrate import upgrade

        from consent_service import create_app
        from consent_service.console import accounts, stats
        from consent_service.extensions import db
        from consent_service.models import DailyDecisionCount
        from consent_service.sites import settings

        app = create_app()
        with app.app_context():
            upgrade()
            site = settings.create_site("Busy", ["https://busy.example"])
            today = datetime.now(UTC).date()
            metrics = [f"action:{a}" for a in ACTIONS] + ["gpc"]
            for n in range(categories):
                metrics += [f"shown:c{n}", f"granted:c{n}"]
            rows = [
                {"site_id": site.id, "day": today - timedelta(days=d), "metric": m, "count": 10**6}
                for d in range(366)
                for m in metrics
            ]
            db.session.execute(DailyDecisionCount.__table__.insert(), rows)
            db.session.commit()
            accounts.create_account("bench@example.com", "a long bench password", "operator")
            start = time.perf_counter()
            series = stats.daily(site.id, today - timedelta(days=365), today)
            series_s = time.perf_counter() - start
            assert len(series["days"]) == 366
            client = app.test_client()
            with client.session_transaction("/console/") as session:
                session["account_id"] = 1
            start = time.perf_counter()
            answer = client.get(
                f"/console/sites/{site.site_key}/?start={today - timedelta(days=365)}&end={today}"
            )
            page_s = time.perf_counter() - start
            assert answer.status_code == 200
            print(
                f"{name:10} {len(rows):6} counter rows  series {series_s * 1000:7.1f} ms"
                f"  dashboard page {page_s * 1000:7.1f} ms  (target < 1000 ms)"
            )
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--categories", type=int, default=6)
    args = parser.parse_args()
    for name in ("sqlite", "postgresql"):
        if args.only in (None, name):
            run(name, args.categories)


if __name__ == "__main__":
    main()
