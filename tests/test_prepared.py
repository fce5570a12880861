"""Statements run on the driver's cursor store what SQLAlchemy would, and fail as it would."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from consent_service.consents.decisions import EVENT_COLUMNS, INSERT_EVENT
from consent_service.console.stats import UPSERTS
from consent_service.extensions import db
from consent_service.models import ConsentEvent, DailyDecisionCount
from consent_service.prepared import DriverTransaction, Prepared
from tests.conftest import decision_body

EVENTS = ConsentEvent.__table__


def event_values(site: Any, **overrides: Any) -> dict[str, Any]:
    shown = decision_body(site)
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    values.update(
        site_id=site.id,
        event_id=uuid.uuid4(),
        visitor_id="ab" * 16,
        action="custom",
        choices={"analytics": True, "crm": False, "名前": True},
        policy_version=shown["policy_version"],
        banner_version=shown["banner_version"],
        language="zh-CN",
        source="banner",
        gpc=True,
        recorded_at=datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
        client_time=datetime(2026, 11, 30, 13, 0, 0, 5, tzinfo=UTC),
        page_url="https://www.example.com/产品",
        ip_prefix="203.0.113.0/24",
        user_agent="Mozilla/5.0",
        country="DE",
        rule_set="opt_in",
        request_hash="c" * 64,
    )
    values.update(overrides)
    return values


def stored(event_id: uuid.UUID) -> dict[str, Any]:
    """The row as the database holds it, read without the column types' conversions."""
    columns = [sa.literal_column(column.name) for column in EVENTS.columns if column.key != "id"]
    statement = sa.select(*columns).select_from(EVENTS).where(EVENTS.c.event_id == event_id)
    return dict(db.session.execute(statement).mappings().one())


def test_an_event_inserted_on_the_cursor_is_stored_as_sqlalchemy_stores_it(app, site):
    core, prepared = event_values(site), event_values(site)
    db.session.execute(EVENTS.insert(), core)
    cursor = INSERT_EVENT.execute(db.session, prepared)
    new_id = cursor.fetchall()[0][0]
    cursor.close()
    db.session.commit()
    assert isinstance(new_id, int) and new_id > 0
    by_core, by_cursor = stored(core["event_id"]), stored(prepared["event_id"])
    assert by_core.pop("event_id") != by_cursor.pop("event_id")
    assert by_core == by_cursor
    event = db.session.get(ConsentEvent, new_id)
    assert event.choices == prepared["choices"] and event.page_url.endswith("产品")
    assert event.recorded_at.replace(tzinfo=UTC) == prepared["recorded_at"]


def test_an_upsert_on_the_cursor_counts_like_sqlalchemy(app, site):
    statement = UPSERTS[db.engine.dialect.name]
    row = {"site_id": site.id, "day": date(2026, 11, 30), "metric": "action:custom", "count": 1}
    statement.executemany(db.session, [row, row | {"metric": "gpc"}])
    statement.executemany(db.session, [row])
    db.session.commit()
    counts = dict(
        db.session.execute(
            sa.select(DailyDecisionCount.metric, DailyDecisionCount.count).where(
                DailyDecisionCount.site_id == site.id
            )
        ).all()
    )
    assert counts == {"action:custom": 2, "gpc": 1}


def test_a_driver_error_is_sqlalchemys_and_leaves_nothing_written(app, site):
    values = event_values(site)
    INSERT_EVENT.execute(db.session, values).close()
    db.session.commit()
    again = event_values(site, event_id=values["event_id"])  # the unique (site, event_id)
    with pytest.raises(IntegrityError):
        INSERT_EVENT.execute(db.session, event_values(site)).close()
        INSERT_EVENT.execute(db.session, again).close()
    db.session.rollback()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(EVENTS))
    assert total == 1
    INSERT_EVENT.execute(db.session, event_values(site)).close()  # the session is usable
    db.session.commit()


def test_a_statement_that_needs_a_python_default_is_refused_when_compiled(app):
    missing_recorded_at = Prepared(EVENTS.insert(), [k for k in EVENT_COLUMNS if k != "gpc"])
    with pytest.raises(ValueError, match="gpc"):
        missing_recorded_at.execute(db.session, {})


def test_a_driver_transaction_commits_rolls_back_and_gives_its_connection_back(app, site):
    kept, dropped = event_values(site), event_values(site)
    checked_out = db.engine.pool.checkedout()  # the session's own, if it holds one
    transaction = DriverTransaction(db.engine)
    try:
        INSERT_EVENT.execute(transaction, kept).close()
        transaction.commit()
        INSERT_EVENT.execute(transaction, dropped).close()
        transaction.rollback()
    finally:
        transaction.close()
    assert db.engine.pool.checkedout() == checked_out
    assert stored(kept["event_id"])["action"] == "custom"
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(EVENTS.c.event_id == dropped["event_id"])
        )
        == 0
    )


def test_a_driver_transaction_fails_as_sqlalchemy_does(app, site):
    values = event_values(site)
    transaction = DriverTransaction(db.engine)
    try:
        INSERT_EVENT.execute(transaction, values).close()
        with pytest.raises(IntegrityError):  # the same event id again: what a replay meets
            INSERT_EVENT.execute(transaction, {**values, "action": "reject_all"})
        transaction.rollback()
    finally:
        transaction.close()
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(EVENTS.c.event_id == values["event_id"]))
        == 0
    )
