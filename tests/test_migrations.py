"""Migrations on a database that already holds data: the ledger queue is backfilled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from consent_service import demo
from consent_service.extensions import db
from consent_service.models import LedgerEntry, LedgerQueue
from consent_service.sealing import seal_all
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL, count_rows, decision_body, make_app


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
        upgrade(revision="0002")
        site, _ = demo.ensure_demo_site("https://www.example.com")
        client = app.test_client()
        for _ in range(3):
            response = client.post(
                f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site)
            )
            assert response.status_code == 201
        upgrade()
        assert count_rows(LedgerQueue) == 3
        assert [result.sealed for result in seal_all()] == [3]
        assert count_rows(LedgerQueue) == 0 and count_rows(LedgerEntry) == 3
        response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
        assert response.status_code == 201 and count_rows(LedgerQueue) == 1  # the trigger

        db.session.commit()
        downgrade(revision="0002")
        upgrade()
        assert count_rows(LedgerQueue) == 1  # backfilled again: only the unsealed one
        db.session.remove()
        db.engine.dispose()
