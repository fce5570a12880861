"""Group commit: concurrent consent writes of one process share a transaction on SQLite, and
each still gets exactly its own answer (a replay, a conflict) with nothing of a failed one kept."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa

from consent_service import database
from consent_service.extensions import db
from consent_service.models import ConsentEvent
from consent_service.prepared import DriverTransaction, Prepared
from tests.conftest import count_rows, decision_body


def post_together(client: Any, site: Any, bodies: list[dict[str, Any]]) -> list[int]:
    """Post every body from its own thread while this thread holds the writer lock, so that on
    SQLite all of them are waiting when it is released: one of them then writes them all."""
    statuses: list[int] = [0] * len(bodies)

    def post(index: int) -> None:
        response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=bodies[index])
        statuses[index] = response.status_code

    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(bodies))]
    path = database._writer_path(db.engine)
    with database.sqlite_writer(db.engine):
        for thread in threads:
            thread.start()
        if path is not None:
            while len(database._pending.get((path, id(db.engine)), ())) < len(bodies):
                time.sleep(0.01)
    for thread in threads:
        thread.join()
    return statuses


def count_commits(monkeypatch: Any) -> list[int]:
    """Commits of consent writes (they run on the driver, not through the session)."""
    commits = [0]
    real = DriverTransaction.commit

    def counted(transaction: DriverTransaction) -> None:
        commits[0] += 1
        real(transaction)

    monkeypatch.setattr(DriverTransaction, "commit", counted)
    return commits


def test_concurrent_writes_share_one_commit_on_sqlite(client, site, monkeypatch):
    bodies = [decision_body(site) for _ in range(5)]
    client.get(f"/api/v1/sites/{site.site_key}/config")  # the first request publishes the key
    commits = count_commits(monkeypatch)
    assert post_together(client, site, bodies) == [201] * 5
    stored = set(db.session.scalars(sa.select(ConsentEvent.event_id)).all())
    assert {str(event_id) for event_id in stored} == {body["event_id"] for body in bodies}
    assert commits[0] == (1 if db.engine.dialect.name == "sqlite" else 5)


def test_a_write_already_committed_by_the_leader_does_not_take_the_file_lock(
    client, site, monkeypatch
):
    """Only the thread that writes the batch queues on the lock file that other processes
    share; the others find their work done once they have their process's turn."""
    client.get(f"/api/v1/sites/{site.site_key}/config")  # the first request publishes the key
    taken_by_posts = []
    real_flock = database.fcntl.flock

    def flock(descriptor: int, operation: int) -> None:
        if operation == database.fcntl.LOCK_EX and threading.current_thread() is not main:
            taken_by_posts.append(threading.current_thread().name)
        real_flock(descriptor, operation)

    main = threading.current_thread()
    monkeypatch.setattr(database.fcntl, "flock", flock)
    bodies = [decision_body(site) for _ in range(4)]
    assert post_together(client, site, bodies) == [201] * 4
    assert count_rows(ConsentEvent) == 4
    expected = 1 if database._writer_path(db.engine) is not None else 0
    assert len(taken_by_posts) == expected


def test_a_failing_write_costs_the_others_nothing(client, site):
    recorded = decision_body(site)
    assert client.post(f"/api/v1/sites/{site.site_key}/consents", json=recorded).status_code == 201
    conflicting = {**recorded, "action": "reject_all", "choices": {}}
    fresh = [decision_body(site) for _ in range(3)]
    statuses = post_together(client, site, [fresh[0], recorded, fresh[1], conflicting, fresh[2]])
    assert statuses == [201, 200, 201, 409, 201]
    assert count_rows(ConsentEvent) == 4
    kept = db.session.scalar(
        sa.select(ConsentEvent.action).where(
            ConsentEvent.event_id == uuid.UUID(recorded["event_id"])
        )
    )
    assert kept == "custom"


def test_more_waiting_writes_than_a_batch_takes_are_all_written(client, site, monkeypatch):
    monkeypatch.setattr(database, "GROUP_COMMIT_MAX", 2)
    bodies = [decision_body(site) for _ in range(5)]
    client.get(f"/api/v1/sites/{site.site_key}/config")
    commits = count_commits(monkeypatch)
    assert post_together(client, site, bodies) == [201] * 5
    assert count_rows(ConsentEvent) == 5
    assert commits[0] == (3 if db.engine.dialect.name == "sqlite" else 5)


COUNTER_KEYS = ("site_id", "client", "window_start", "count")


def test_a_leader_interrupted_mid_batch_leaves_nothing_and_the_others_retry(app, site):
    """A worker's timeout (SystemExit) in the thread writing a batch: nothing of the batch is
    kept, the interrupted thread stops, and every other write of it is told to send again."""
    from consent_service.errors import ApiError
    from consent_service.models import ConsentWriteCounter

    outcomes: list[str] = []

    counter = Prepared(ConsentWriteCounter.__table__.insert(), COUNTER_KEYS)

    def write(window: int, interrupt: bool) -> None:
        def work(transaction: DriverTransaction) -> None:
            values = (site.id, "192.0.2.0/24", window, 1)
            counter.execute(transaction, dict(zip(COUNTER_KEYS, values, strict=True))).close()
            if interrupt:
                raise SystemExit(1)

        with app.app_context():
            try:
                database.write_together(db.engine, work)
                outcomes.append("written")
            except SystemExit:
                outcomes.append("interrupted")
            except ApiError as exc:
                outcomes.append(f"{exc.code} {exc.error}")

    threads = [
        threading.Thread(target=write, args=(1, False)),
        threading.Thread(target=write, args=(2, True)),
    ]
    path = database._writer_path(db.engine)
    with database.sqlite_writer(db.engine):
        for thread in threads:
            thread.start()
        if path is not None:
            while len(database._pending.get((path, id(db.engine)), ())) < 2:
                time.sleep(0.01)
    for thread in threads:
        thread.join()
    if path is not None:
        assert sorted(outcomes) == ["503 write_interrupted", "interrupted"]
        assert count_rows(ConsentWriteCounter) == 0
    else:
        assert sorted(outcomes) == ["interrupted", "written"]
        assert count_rows(ConsentWriteCounter) == 1
