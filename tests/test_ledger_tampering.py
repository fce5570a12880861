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
from tests.conftest import decision_body, trusted_keys

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
    clean = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
    assert clean.ok, clean.failures
    missed: list[str] = []
    for tamper in TAMPERINGS:
        for trial in range(TRIALS):
            open_tampering()
            tamper(rng, site)
            verdict = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
            if verdict.ok:
                missed.append(f"{tamper.__name__} trial {trial}")
            db.session.rollback()
            db.session.expire_all()
        untouched = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
        assert untouched.ok, (tamper.__name__, untouched.failures)
    assert missed == []


@pytest.mark.parametrize(
    "column, value",
    [
        ("page_url", "https://www.example.com/other"),
        ("user_agent", "Forged/1.0"),
        ("ip_prefix", "10.0.0.0/24"),
        ("client_time", "2020-01-01 00:00:00"),
    ],
)
def test_changed_evidence_is_detected_and_erased_evidence_still_verifies(
    client, site, column, value
):
    for _ in range(3):
        body = decision_body(site)
        response = client.post(
            f"/api/v1/sites/{site.site_key}/consents",
            json=body,
            headers={"User-Agent": "Browser/1.0", "X-Forwarded-For": "192.0.2.7"},
        )
        assert response.status_code == 201
    seal_waiting(site)
    trusted = proofs.checkpoint_document(site.site_key, latest_checkpoint(site.id))
    assert verify.verify_live(site.id, site.site_key, trusted_keys(), trusted).ok
    open_tampering()
    target = execute("SELECT consent_event_id FROM ledger_entries WHERE seq = 1").scalar_one()
    execute(f"UPDATE consent_events SET {column} = :value WHERE id = :id", value=value, id=target)
    changed = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
    assert not changed.ok
    assert any("seq 1" in failure and "evidence" in failure for failure in changed.failures)
    db.session.rollback()
    # erasure: values and salt go under a tombstone, the sealed commitment stays
    from consent_service.consents import tombstones

    tombstone = tombstones.new_tombstone(site.id, "request")
    assert tombstones.erase_event_ids([target], tombstone.id) == 1
    erased = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
    assert erased.ok, erased.failures
    db.session.rollback()
    # the same without a tombstone is evidence destroyed, not erased
    open_tampering()
    execute(
        "UPDATE consent_events SET evidence_salt = NULL, page_url = NULL WHERE id = :id", id=target
    )
    destroyed = verify.verify_live(site.id, site.site_key, trusted_keys(), trusted)
    assert any("seq 1" in failure and "tombstone" in failure for failure in destroyed.failures)
    db.session.rollback()


# The same six kinds done to an exported bundle, checked by the offline verifier with every
# source of trusted keys. The last one is by an insider holding the signing key, so only the
# checkpoint the auditor kept catches it.

BUNDLE_EVENTS = 40


def _rows(bundle):
    return [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]


def _write(bundle, rows, resign: bool = False):
    import hashlib

    from consent_service.ledger.merkle import root_hash
    from consent_service.ledger.sealing import CHECKPOINT_FIELDS
    from consent_service.ledger.signing import load_key
    from tests.conftest import TEST_LEDGER_KEY

    data = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    (bundle / "events.jsonl").write_text(data)
    if not resign:
        return
    key = load_key(TEST_LEDGER_KEY)
    checkpoint = json.loads((bundle / "checkpoint.json").read_text())
    checkpoint["root_hash"] = root_hash([bytes.fromhex(row["leaf_hash"]) for row in rows]).hex()
    checkpoint["tree_size"] = len(rows)
    checkpoint["signature"] = key.sign({name: checkpoint[name] for name in CHECKPOINT_FIELDS})
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.pop("manifest_signature")
    manifest.update(
        checkpoint=checkpoint,
        row_count=len(rows),
        data_sha256=hashlib.sha256(data.encode()).hexdigest(),
    )
    manifest["manifest_signature"] = key.sign(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "checkpoint.json").write_text(json.dumps(checkpoint))


def _relabel(row, seq):
    row["seq"] = seq
    return row


def bundle_edit(bundle, rng):
    rows = _rows(bundle)
    row = rows[rng.randrange(len(rows))]
    row["action"] = "accept_all" if row["action"] != "accept_all" else "withdraw"
    _write(bundle, rows)


def bundle_delete(bundle, rng):
    rows = _rows(bundle)
    del rows[rng.randrange(len(rows))]
    _write(bundle, [_relabel(row, seq) for seq, row in enumerate(rows)])


def bundle_swap(bundle, rng):
    rows = _rows(bundle)
    a, b = rng.sample(range(len(rows)), 2)
    rows[a], rows[b] = rows[b], rows[a]
    _write(bundle, [_relabel(row, seq) for seq, row in enumerate(rows)])


def bundle_insert(bundle, rng):
    rows = _rows(bundle)
    forged = dict(rows[rng.randrange(len(rows))], event_id=str(uuid.uuid4()), action="accept_all")
    forged["leaf_hash"] = record_leaf_hash(
        {k: v for k, v in forged.items() if k not in ("seq", "leaf_hash")}
    )
    rows.insert(rng.randrange(len(rows)), forged)
    _write(bundle, [_relabel(row, seq) for seq, row in enumerate(rows)])


def bundle_cut(bundle, rng):
    rows = _rows(bundle)
    _write(bundle, rows[: rng.randrange(len(rows) - 5, len(rows))])


def bundle_rewrite_resigned(bundle, rng):
    """The key holder rewrites one event, recomputes everything and signs it all again."""
    rows = _rows(bundle)
    row = rows[rng.randrange(5)]  # inside the checkpoint the auditor kept
    row["action"] = "accept_all" if row["action"] != "accept_all" else "reject_all"
    row["leaf_hash"] = record_leaf_hash(
        {k: v for k, v in row.items() if k not in ("seq", "leaf_hash")}
    )
    _write(bundle, rows, resign=True)


BUNDLE_TAMPERINGS = [
    bundle_edit,
    bundle_delete,
    bundle_swap,
    bundle_insert,
    bundle_cut,
    bundle_rewrite_resigned,
]


def test_every_tampering_of_a_bundle_fails_every_verify_mode(
    client, site, runner, tmp_path, service, keys_file
):
    import shutil

    from click.testing import CliRunner

    from consent_service.cli import main
    from tests.conftest import ledger_public_key
    from tests.test_ledger_bundle import export_bundle, record_many

    record_many(client, site, 5, action="accept_all", choices={})
    seal_waiting(site)
    export_bundle(runner, site, tmp_path / "early")
    kept = tmp_path / "kept.json"
    kept.write_text((tmp_path / "early" / "checkpoint.json").read_text())
    record_many(client, site, BUNDLE_EVENTS - 5)
    seal_waiting(site)
    clean = tmp_path / "clean"
    export_bundle(runner, site, clean)
    modes = [
        ["--public-key", ledger_public_key()],
        ["--keys", str(keys_file)],
        ["--service", service],
    ]

    def verify_with(bundle, mode):
        args = ["ledger", "verify", str(bundle), "--previous-checkpoint", str(kept), *mode]
        return CliRunner().invoke(main, args)

    for mode in modes:
        assert verify_with(clean, mode).exit_code == 0
    rng = random.Random(20261130)
    missed = []
    for tamper in BUNDLE_TAMPERINGS:
        bundle = tmp_path / tamper.__name__
        shutil.copytree(clean, bundle)
        tamper(bundle, rng)
        for mode in modes:
            result = verify_with(bundle, mode)
            if result.exit_code != 1 or "VERDICT: NOT VERIFIED" not in result.output:
                missed.append((tamper.__name__, mode[0], result.output[-300:]))
    assert missed == []
    # the key holder's rewrite is a valid log on its own: the kept checkpoint is what catches it
    alone = CliRunner().invoke(
        main, ["ledger", "verify", str(tmp_path / "bundle_rewrite_resigned"), *modes[0]]
    )
    assert alone.exit_code == 0, alone.output
