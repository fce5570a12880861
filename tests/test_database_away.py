"""When the database is away, full or read-only: the last good banner, 503 with Retry-After for
writes, and a readiness probe that says so."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from tests.conftest import decision_body


def unreachable_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/missing-directory/consent.sqlite"
    return database_url.rsplit("/", 1)[0] + f"/consent_missing_{uuid.uuid4().hex[:8]}"


def test_the_last_good_banner_is_served_and_writes_answer_503(
    app, client, site, app_factory, database_url, tmp_path
):
    good = client.get(f"/c/{site.site_key}.js")
    assert good.status_code == 200
    body = decision_body(site)
    away = app_factory(database_url=unreachable_url(database_url, tmp_path))
    away.extensions["consent_site_cache"] = app.extensions["consent_site_cache"]
    with away.app_context():
        visitor = away.test_client()
        script = visitor.get(f"/c/{site.site_key}.js")
        assert script.status_code == 200
        assert script.data == good.data
        write = visitor.post(f"/api/v1/sites/{site.site_key}/consents", json=body)
        assert write.status_code == 503
        assert write.headers["Retry-After"] == "5"
        assert write.get_json()["status"] == "database_unavailable"
        assert visitor.get("/c/nosuchsite.js").status_code == 503
        assert visitor.get("/readyz").status_code == 503


def test_readyz_fails_when_a_write_cannot_be_committed(sqlite_template, app_factory, tmp_path):
    path = tmp_path / "consent.sqlite"
    shutil.copyfile(sqlite_template, path)
    read_only = app_factory(database_url=f"sqlite:///file:{path}?mode=ro&uri=true")
    with read_only.app_context():
        probe = read_only.test_client().get("/readyz")
    assert probe.status_code == 503
    assert probe.get_json()["status"] == "database_unreachable"
    writable = app_factory(database_url=f"sqlite:///{path}")
    with writable.app_context():
        assert writable.test_client().get("/readyz").status_code == 200


@pytest.mark.parametrize("sqlite_only", ["sqlite"])
def test_a_read_only_database_refuses_writes_with_503(
    sqlite_only: str, sqlite_template: Path, app_factory: Any, tmp_path: Path
) -> None:
    from consent_service.sites import demo

    path = tmp_path / "consent.sqlite"
    shutil.copyfile(sqlite_template, path)
    writable = app_factory(database_url=f"sqlite:///{path}")
    with writable.app_context():
        site, _ = demo.ensure_demo_site("https://www.example.com")
        body = decision_body(site)
        key = site.site_key
    read_only = app_factory(database_url=f"sqlite:///file:{path}?mode=ro&uri=true")
    with read_only.app_context():
        answer = read_only.test_client().post(f"/api/v1/sites/{key}/consents", json=body)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


def test_the_last_good_banner_follows_the_sites_own_region_rules(
    app, client, site, app_factory, database_url, tmp_path
):
    """A country the site gives other rules than the built-in map keeps them while the
    database is away (the rules are kept with the last good scripts)."""
    from consent_service.sites import settings

    document = settings.current_document(site)
    document["regions"] = {"rules": {"DE": "opt_out", "BR": "notice_only"}}
    settings.apply_settings(document, site=site)
    app.config["COUNTRY_HEADER"] = "X-Country"
    served = {
        country: client.get(f"/c/{site.site_key}.js", headers={"X-Country": country})
        for country in ("DE", "BR")
    }
    assert '"rules":"opt_out"' in served["DE"].get_data(as_text=True)
    away = app_factory(
        database_url=unreachable_url(database_url, tmp_path), COUNTRY_HEADER="X-Country"
    )
    away.extensions["consent_site_cache"] = app.extensions["consent_site_cache"]
    with away.app_context():
        visitor = away.test_client()
        for country, good in served.items():
            script = visitor.get(f"/c/{site.site_key}.js", headers={"X-Country": country})
            assert script.status_code == 200, country
            assert script.data == good.data
        # The built-in map would have given DE opt_in, a script never served: none is made up.
        never = visitor.get(f"/c/{site.site_key}.js", headers={"X-Country": "CN"})
        assert never.status_code == 503


def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced(
    app, site, client, monkeypatch
):
    """After a database restart the pooled connections are dead: the one handed out after an
    idle spell is pinged first and replaced, so the request still succeeds."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from consent_service import database

    path = f"/api/v1/sites/{site.site_key}/consents"
    assert client.post(path, json=decision_body(site)).status_code == 201
    db.session.remove()  # the app context's session gives its connection back to the pool
    pinged: list[int] = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pinged.append(1) or real_ping(c))
    assert client.post(path, json=decision_body(site)).status_code == 201
    db.session.remove()
    assert pinged == []  # back a moment ago: no ping, no round trip
    admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with admin.connect() as other:  # what a restart does to every pooled connection
        other.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert client.post(path, json=decision_body(site)).status_code == 201
    assert pinged


def test_a_connection_found_dead_in_use_makes_the_pool_start_afresh(app_factory, monkeypatch):
    """Connections back in the pool a moment ago are not pinged: when a write finds its own
    dead, every connection of that time is replaced, so one write fails (503), not one per
    pooled connection."""
    from consent_service import database
    from consent_service.sites import demo

    app = app_factory(SITE_CACHE_SECONDS=600)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no server connection to lose")
        site, _ = demo.ensure_demo_site("https://www.example.com")
        client = app.test_client()
        path = f"/api/v1/sites/{site.site_key}/consents"
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 600.0)
        bodies = [decision_body(site) for _ in range(7)]
        held = [db.engine.connect() for _ in range(4)]  # four connections in the pool
        for connection in held:
            connection.close()
        assert client.post(path, json=bodies.pop()).status_code == 201
        db.session.remove()
        admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
        with admin.connect() as other:
            other.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        admin.dispose()
        statuses = []
        for body in bodies:
            statuses.append(client.post(path, json=body).status_code)
            db.session.remove()
        assert statuses.count(201) >= 5 and set(statuses) <= {201, 503}


def terminate(pid: int) -> None:
    """End one server backend, as a database restart or a network cut would."""
    admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with admin.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_a_write_whose_own_connection_dies_answers_503(app, client, site, monkeypatch):
    """The consent write's driver connection is lost mid-transaction: 503 (the banner sends
    again), the connection is dropped once and given back, nothing is written."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from consent_service.consents import decisions
    from consent_service.models import ConsentEvent
    from tests.conftest import count_rows

    real = decisions.count_write

    def dying(site_id: int, client_prefix: Any, now: Any = None, into: Any = None) -> None:
        cursor = into.driver.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        terminate(cursor.fetchone()[0])
        cursor.close()
        real(site_id, client_prefix, now=now, into=into)

    monkeypatch.setattr(decisions, "count_write", dying)
    before = count_rows(ConsentEvent)
    answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
    assert answer.status_code == 503
    assert count_rows(ConsentEvent) == before


def test_a_lost_driver_connection_is_an_operational_error_and_goes_back(app, site):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from sqlalchemy.exc import OperationalError

    from consent_service.consents.decisions import INSERT_EVENT
    from consent_service.prepared import DriverTransaction
    from tests.test_prepared import event_values

    values = event_values(site)
    db.session.remove()
    checked_out = db.engine.pool.checkedout()
    transaction = DriverTransaction(db.engine)
    try:
        cursor = transaction.driver.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        terminate(cursor.fetchone()[0])
        cursor.close()
        with pytest.raises(OperationalError) as raised:
            INSERT_EVENT.execute(transaction, values)
        assert raised.value.connection_invalidated
        transaction.rollback()  # what write_together does next: nothing to roll back, no error
    finally:
        transaction.close()
    assert db.engine.pool.checkedout() == checked_out


def test_a_lost_session_connection_is_an_operational_error(app, site):
    """The same through the session (a write that may stop leads, a mail subscription)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    from sqlalchemy.exc import OperationalError

    from consent_service.consents.decisions import INSERT_EVENT
    from tests.test_prepared import event_values

    values = event_values(site)
    terminate(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
    with pytest.raises(OperationalError) as raised:
        INSERT_EVENT.execute(db.session, values)
    assert raised.value.connection_invalidated
    db.session.rollback()
