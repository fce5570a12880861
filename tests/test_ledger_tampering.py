"""Every kind of tampering with a sealed ledger is caught against a checkpoint kept elsewhere.

The tampering is done the way an insider with database access would: raw SQL, with the
append-only triggers out of the way (PostgreSQL: `session_replication_role = replica`;
SQLite: the triggers dropped inside the transaction). Each trial runs in a transaction that is
rolled back, so the next trial starts from the untouched ledger.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.ledger import proofs, verify
from consent_service.ledger.records import event_record, record_leaf_hash
from consent_service.ledger.sealing import latest_checkpoint, seal_waiting
from consent_service.models import ConsentEvent
from tests.conftest import decision_body

EVENTS = 1000
TRIALS = 20
APPEND_ONLY = ("consent_events", "ledger_entries", "ledger_checkpoints")


@pytest.fixture
def sealed_ledger(app, client, site):
    app.config["CONSENT_WRITES_PER_CLIENT"] = 0  # one test client writes the whole ledger
    for index in range(EVENTS):
        action = ("accept_all", "reject_all", "custom")[index % 3]
        body = decision_body(site, action=action, choices={} if action != "custom" else None)
        if body.get("choices") is None:
            body["choices"] = {"analytics": True}
        response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=body)
        assert response.status_code == 201
    seal_waiting(site)
    trusted = proofs.checkpoint_document(site.site_key, latest_checkpoint(site.id))
    assert trusted["tree_size"] == EVENTS
    # kept outside the database, as an auditor would keep it
    return site, json.loads(json.dumps(trusted))


def execute(statement: str, **params) -> sa.Result:
    return db.session.execute(sa.text(statement), params)


def open_tampering() -> None:
    db.session.rollback()
    if db.session.get_bind().dialect.name == "postgresql":
        execute("SET LOCAL session_replication_role = replica")
    else:
        execute("BEGIN")
        names = execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all()
        for name in names:
            execute(f'DROP TRIGGER "{name}"')


def event_at(seq: int):
    return execute(
        "SELECT e.id, e.action FROM consent_events e JOIN ledger_entries l "
        "ON l.consent_event_id = e.id WHERE l.seq = :seq",
        seq=seq,
    ).one()


def shift_from(seq: int, by: int) -> None:
    execute("UPDATE ledger_entries SET seq = seq + 1000000 WHERE seq >= :seq", seq=seq)
    execute("UPDATE ledger_entries SET seq = seq - 1000000 + :by WHERE seq >= 1000000", by=by)


def edit_field(rng, site):
    event = event_at(rng.randrange(EVENTS))
    other = "withdraw" if event.action != "withdraw" else "accept_all"
    execute("UPDATE consent_events SET action = :a WHERE id = :id", a=other, id=event.id)


def delete_row(rng, site):
    seq = rng.randrange(EVENTS)
    event = event_at(seq)
    execute("DELETE FROM ledger_entries WHERE seq = :seq", seq=seq)
    execute("DELETE FROM consent_events WHERE id = :id", id=event.id)
    shift_from(seq + 1, -1)  # and close the gap, as a careful forger would


def swap_rows(rng, site):
    a, b = rng.sample(range(EVENTS), 2)
    execute("UPDATE ledger_entries SET seq = -1 WHERE seq = :a", a=a)
    execute("UPDATE ledger_entries SET seq = :a WHERE seq = :b", a=a, b=b)
    execute("UPDATE ledger_entries SET seq = :b WHERE seq = -1", b=b)


def insert_forged(rng, site):
    seq = rng.randrange(EVENTS)
    template = db.session.get(ConsentEvent, event_at(seq).id)
    event_id = uuid.uuid4()
    execute(
        "INSERT INTO consent_events (site_id, event_id, visitor_id, action, choices, "
        "policy_version, banner_version, language, source, gpc, recorded_at, request_hash) "
        "SELECT site_id, :event_id, visitor_id, 'accept_all', choices, policy_version, "
        "banner_version, language, source, gpc, recorded_at, request_hash "
        "FROM consent_events WHERE id = :id",
        event_id=event_id if db.session.get_bind().dialect.name == "postgresql" else event_id.hex,
        id=template.id,
    )
    forged_id = execute("SELECT id FROM consent_events ORDER BY id DESC LIMIT 1").scalar_one()
    forged = db.session.get(ConsentEvent, forged_id)
    shift_from(seq, 1)
    execute(
        "INSERT INTO ledger_entries (site_id, seq, consent_event_id, leaf_hash, sealed_at) "
        "SELECT site_id, :seq, :event, :leaf, sealed_at FROM ledger_entries WHERE seq = :next",
        seq=seq,
        event=forged_id,
        leaf=record_leaf_hash(event_record(forged, site.site_key)),
        next=seq + 1,
    )


def cut_tail(rng, site):
    keep = rng.randrange(EVENTS - 50, EVENTS)
    execute("DELETE FROM ledger_entries WHERE seq >= :keep", keep=keep)


def rewrite_and_rehash(rng, site):
    """Change one event, recompute its leaf and every later hash, and store a new root."""
    seq = rng.randrange(EVENTS)
    event = event_at(seq)
    execute("UPDATE consent_events SET action = 'withdraw' WHERE id = :id", id=event.id)
    db.session.expire_all()
    changed = db.session.get(ConsentEvent, event.id)
    leaf = record_leaf_hash(event_record(changed, site.site_key))
    execute("UPDATE ledger_entries SET leaf_hash = :leaf WHERE seq = :seq", leaf=leaf, seq=seq)
    leaves = [
        bytes.fromhex(value)
        for value in execute("SELECT leaf_hash FROM ledger_entries ORDER BY seq").scalars()
    ]
    from consent_service.ledger.merkle import root_hash

    execute(
        "UPDATE ledger_checkpoints SET root_hash = :root WHERE tree_size = :size",
        root=root_hash(leaves).hex(),
        size=EVENTS,
    )


TAMPERINGS = [edit_field, delete_row, swap_rows, insert_forged, cut_tail, rewrite_and_rehash]


@pytest.mark.slow
def test_every_tampering_is_detected_and_untouched_ledgers_pass(sealed_ledger):
    site, trusted = sealed_ledger
    rng = random.Random(20261122)
    clean = verify.verify_live(site.id, site.site_key, trusted)
    assert clean.ok, clean.failures
    missed: list[str] = []
    for tamper in TAMPERINGS:
        for trial in range(TRIALS):
            open_tampering()
            tamper(rng, site)
            verdict = verify.verify_live(site.id, site.site_key, trusted)
            if verdict.ok:
                missed.append(f"{tamper.__name__} trial {trial}")
            db.session.rollback()
            db.session.expire_all()
        untouched = verify.verify_live(site.id, site.site_key, trusted)
        assert untouched.ok, (tamper.__name__, untouched.failures)
    assert missed == []
