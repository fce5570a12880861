"""The dashboard counts an event when it is sealed, no longer when it is written.

Nothing changes in the schema. The events still waiting for their seal were counted when they
were written; from now on the sealer counts them: their metrics are taken back out of the
daily counters here, so each is counted once (and put back on a downgrade). Upgrade every
app host together (stop, `db upgrade`, start): an old host still running would count its
events twice, once as it writes them and once when they are sealed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 13:20:00.000000

"""

import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COUNTS = sa.table(
    "console_daily_counts",
    sa.column("site_id", sa.Integer),
    sa.column("day", sa.Date),
    sa.column("metric", sa.String),
    sa.column("count", sa.Integer),
)
WAITING = sa.text(
    "SELECT e.site_id, e.recorded_at, e.action, e.gpc, e.choices FROM consent_events e "
    "JOIN ledger_queue q ON q.consent_event_id = e.id"
)


def utc_day(value: Any) -> date:
    if isinstance(value, str):  # SQLite keeps UTC as text
        return date.fromisoformat(value[:10])
    assert isinstance(value, datetime)
    return (value.astimezone(UTC) if value.tzinfo else value).date()


def metrics(action: str, gpc: Any, choices: Any) -> list[str]:
    """As the application's `console.stats.event_metrics` of this revision."""
    if isinstance(choices, str):
        choices = json.loads(choices)
    found = [f"action:{action}"] + (["gpc"] if gpc else [])
    for category, granted in sorted((choices or {}).items()):
        found.append(f"shown:{category}"[:80])
        if granted:
            found.append(f"granted:{category}"[:80])
    return found


def shift(sign: int) -> None:
    connection = op.get_bind()
    tally: Counter[tuple[int, date, str]] = Counter()
    for site_id, recorded_at, action, gpc, choices in connection.execute(WAITING):
        for metric in metrics(action, gpc, choices):
            tally[(site_id, utc_day(recorded_at), metric)] += 1
    for (site_id, day, metric), count in sorted(tally.items()):
        where = (COUNTS.c.site_id == site_id) & (COUNTS.c.day == day) & (COUNTS.c.metric == metric)
        changed = connection.execute(
            sa.update(COUNTS).where(where).values(count=COUNTS.c.count + sign * count)
        )
        if changed.rowcount == 0 and sign > 0:
            connection.execute(
                sa.insert(COUNTS).values(site_id=site_id, day=day, metric=metric, count=count)
            )


def upgrade() -> None:
    shift(-1)


def downgrade() -> None:
    shift(+1)
