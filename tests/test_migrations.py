"""Migrations on a database that already holds data: the ledger queue is backfilled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from consent_service.extensions import db
from consent_service.ledger import verify
from consent_service.ledger.exports import ExportFilters, export_rows
from consent_service.ledger.sealing import seal_all
from consent_service.models import ConsentEvent, DailyDecisionCount, LedgerEntry, LedgerQueue
from consent_service.models.types import utcnow
from consent_service.sites import demo
from consent_service.sites.versions import current_policy
from tests.conftest import (
    BACKENDS,
    POSTGRES_ADMIN_URL,
    count_rows,
    decision_body,
    make_app,
    trusted_keys,
)

LATER_COLUMNS = (
    "id",
    "evidence_salt",
    "evidence_commitment",
    "rule_set",
    "erasure_id",
)  # 0010, 0013, 0016


def insert_old_event(event: ConsentEvent) -> None:
    """INSERT an event as the code before leaf format 2 wrote it: no evidence commitment."""
    table = ConsentEvent.__table__
    values = {c.key: getattr(event, c.key) for c in table.columns if c.key not in LATER_COLUMNS}
    db.session.execute(table.insert().values(values))


def old_event(site: Any) -> ConsentEvent:
    return ConsentEvent(
        site_id=site.id,
        event_id=uuid.uuid4(),
        visitor_id=uuid.uuid4().hex,
        action="accept_all",
        choices={"necessary": True, "analytics": True},
        policy_version=current_policy(site).label,
        banner_version=site.banner_version_hash,
        language="en",
        source="banner",
        gpc=False,
        recorded_at=utcnow(),
        request_hash="0" * 64,
    )


@pytest.fixture(params=BACKENDS)
def blank_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.sqlite'}"
        return
    name = f"consent_migrate_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_events_recorded_before_the_queue_existed_are_sealed(blank_database):
    app = make_app(blank_database)
    with app.app_context():
        upgrade()  # the site as today's code makes it, then back to before the queue
        site, _ = demo.ensure_demo_site("https://www.example.com")
        events = [old_event(site) for _ in range(3)]
        db.session.commit()
        downgrade(revision="0002")
        for event in events:  # as the 0002 code wrote them: the event row alone
            insert_old_event(event)
        db.session.commit()
        upgrade()
        client = app.test_client()
        assert count_rows(LedgerQueue) == 3
        assert [result.sealed for result in seal_all()] == [3]
        assert count_rows(LedgerQueue) == 0 and count_rows(LedgerEntry) == 3
        response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
        assert response.status_code == 201 and count_rows(LedgerQueue) == 1  # the trigger
        # format 1 leaves (before the evidence commitment) and format 2 ones verify together
        seal_all()
        rows = list(export_rows(site.id, site.site_key, None, ExportFilters()))
        assert ["leaf_version" in row for row in rows] == [False, False, False, True]
        assert verify.verify_live(site.id, site.site_key, trusted_keys()).ok
        client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))

        db.session.commit()
        downgrade(revision="0002")
        upgrade()
        assert count_rows(LedgerQueue) == 1  # backfilled again: only the unsealed one
        db.session.remove()
        db.engine.dispose()


def test_events_counted_when_written_are_not_counted_again_when_sealed(blank_database):
    """0017: before it, the dashboard counted an event as it was written; after it, as it is
    sealed. What was waiting for its seal at the upgrade is taken out of the counters once."""
    from consent_service.console import stats

    app = make_app(blank_database)
    with app.app_context():
        upgrade()
        site, _ = demo.ensure_demo_site("https://www.example.com")
        client = app.test_client()
        path = f"/api/v1/sites/{site.site_key}/consents"
        for _ in range(2):
            assert client.post(path, json=decision_body(site)).status_code == 201
        today = utcnow().date()
        expected = stats.daily(site.id, today, today)
        assert expected["actions"]["custom"] == [2]
        db.session.commit()
        downgrade(revision="0016")  # as the code before 0017 kept them: counted when written
        assert count_rows(DailyDecisionCount) > 0
        db.session.commit()
        upgrade()
        assert stats.daily(site.id, today, today) == expected
        seal_all()
        assert stats.daily(site.id, today, today) == expected
        db.session.commit()
        downgrade(revision="0016")
        db.session.commit()
        upgrade()  # nothing waits: nothing is taken out
        assert stats.daily(site.id, today, today) == expected
        db.session.remove()
        db.engine.dispose()
