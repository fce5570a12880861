"""The auditor's monitor against a live service on loopback: a growing log passes, a fork, a
rollback and a bad signature are reported and exit non-zero. Visitors' own proofs, and the
seal-by time receipts promise."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from click.testing import CliRunner

from consent_service.cli import main
from consent_service.extensions import db
from consent_service.ledger.merkle import CompactRange
from consent_service.ledger.merkle_proofs import verify_inclusion
from consent_service.ledger.records import event_record, record_leaf_hash
from consent_service.ledger.sealing import CHECKPOINT_FIELDS, seal_site
from consent_service.ledger.signing import load_key, new_private_key_b64, verify_signature
from consent_service.models import ConsentEvent
from consent_service.sites import access
from tests.conftest import TEST_LEDGER_KEY, decision_body, ledger_public_key
from tests.test_ledger_bundle import record_many
from tests.test_ledger_tampering import execute, open_tampering


def monitor(service, site, state, token, key=None):
    return CliRunner().invoke(
        main,
        [
            "ledger", "monitor", "--service", service, "--site", site.site_key,
            "--state", str(state), "--public-key", key or ledger_public_key(),
            "--token", token, "--once",
        ],
    )  # fmt: skip


def rewrite_history(site) -> None:
    """An insider changes event 0, recomputes every leaf and root, and re-signs the latest
    checkpoint with the real key: a consistent-looking second history (a fork), committed."""
    open_tampering()
    first = execute("SELECT consent_event_id FROM ledger_entries WHERE seq = 0").scalar_one()
    execute("UPDATE consent_events SET action = 'reject_all' WHERE id = :id", id=first)
    db.session.expire_all()
    changed = db.session.get(ConsentEvent, first)
    execute(
        "UPDATE ledger_entries SET leaf_hash = :leaf WHERE seq = 0",
        leaf=record_leaf_hash(event_record(changed, site.site_key)),
    )
    tree = CompactRange()
    tree.extend(
        bytes.fromhex(value)
        for value in execute("SELECT leaf_hash FROM ledger_entries ORDER BY seq").scalars()
    )
    row = execute(
        "SELECT tree_size, timestamp, key_id FROM ledger_checkpoints ORDER BY tree_size DESC"
    ).first()
    key = load_key(TEST_LEDGER_KEY)
    timestamp = row.timestamp
    if isinstance(timestamp, str):  # SQLite hands back the stored text
        timestamp = datetime.fromisoformat(timestamp)
    message = {
        "site": site.site_key,
        "tree_size": row.tree_size,
        "root_hash": tree.root().hex(),
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_id": row.key_id,
    }
    assert set(message) == set(CHECKPOINT_FIELDS)
    execute(
        "UPDATE ledger_checkpoints SET root_hash = :root, signature = :sig, compact_range = :range "
        "WHERE tree_size = :size",
        root=message["root_hash"],
        sig=key.sign(message),
        range=json.dumps(tree.to_dict()),
        size=row.tree_size,
    )
    db.session.commit()
    db.session.expire_all()


def test_monitor_follows_a_growing_log_and_catches_a_fork(
    client, site, admin_token, service, tmp_path
):
    _, auditor = access.issue_token(site, "auditor")
    state = tmp_path / "state"
    record_many(client, site, 3)
    seal_site(site)
    first = monitor(service, site, state, auditor)
    assert first.exit_code == 0, first.output
    assert "first checkpoint, size 3" in first.output
    record_many(client, site, 2)
    seal_site(site)
    grown = monitor(service, site, state, auditor)
    assert grown.exit_code == 0 and "3 -> 5, consistent" in grown.output
    kept = json.loads((state / "checkpoint.json").read_text())
    assert kept["tree_size"] == 5

    rewrite_history(site)
    record_many(client, site, 2)
    seal_site(site)
    forked = monitor(service, site, state, auditor)
    assert forked.exit_code == 1, forked.output
    assert "ALERT FORK" in forked.output
    # the monitor keeps the history it had verified, not the forged one
    assert json.loads((state / "checkpoint.json").read_text()) == kept


def test_monitor_catches_rollback_and_bad_signature(client, site, admin_token, service, tmp_path):
    state = tmp_path / "state"
    record_many(client, site, 2)
    seal_site(site)
    assert monitor(service, site, state, admin_token).exit_code == 0
    record_many(client, site, 2)
    seal_site(site)
    assert monitor(service, site, state, admin_token).exit_code == 0
    foreign = load_key(new_private_key_b64()).public_b64
    wrong_key = monitor(service, site, tmp_path / "other", admin_token, key=foreign)
    assert wrong_key.exit_code == 1 and "ALERT BAD_SIGNATURE" in wrong_key.output
    open_tampering()
    execute("DELETE FROM ledger_checkpoints WHERE tree_size = 4")
    db.session.commit()
    rolled_back = monitor(service, site, state, admin_token)
    assert rolled_back.exit_code == 1, rolled_back.output
    assert "ALERT ROLLBACK" in rolled_back.output and "from 4 to 2" in rolled_back.output


def test_visitor_fetches_the_proof_of_their_own_event(client, site):
    answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
    mine = answer.json
    other = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site)).json
    url = f"/api/v1/sites/{site.site_key}/consents/{mine['event_id']}/proof"
    headers = {"X-Visitor-Token": mine["visitor_token"]}
    early = client.get(url, headers=headers)
    assert early.status_code == 404 and early.headers["Retry-After"]
    seal_site(site)
    proof = client.get(url, headers=headers).json
    assert proof["leaf_hash"] == mine["receipt"]["leaf_hash"]
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["seq"],
        proof["checkpoint"]["tree_size"],
        [bytes.fromhex(node) for node in proof["proof"]],
        bytes.fromhex(proof["checkpoint"]["root_hash"]),
    )
    theirs = f"/api/v1/sites/{site.site_key}/consents/{other['event_id']}/proof"
    assert client.get(theirs, headers=headers).status_code == 404
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-Visitor-Token": "forged"}).status_code == 401


def test_receipt_promises_a_seal_time_the_sealer_keeps(client, site, app_factory):
    receipt = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site)).json[
        "receipt"
    ]
    recorded = datetime.strptime(receipt["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    seal_by = datetime.strptime(receipt["seal_by"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert seal_by - recorded == timedelta(seconds=60)
    signed = {name: value for name, value in receipt.items() if name != "signature"}
    assert verify_signature(ledger_public_key(), signed, receipt["signature"])
    assert not verify_signature(
        ledger_public_key(), {**signed, "seal_by": receipt["recorded_at"]}, receipt["signature"]
    )
    slow = app_factory(
        LEDGER_AUTOSEAL=True, LEDGER_SEAL_INTERVAL=600.0, LEDGER_MAX_MERGE_DELAY=30.0
    )
    assert slow.extensions["ledger-sealer"].interval == 10.0
    quick = app_factory(LEDGER_AUTOSEAL=True, LEDGER_SEAL_INTERVAL=2.0)
    assert quick.extensions["ledger-sealer"].interval == 2.0


def test_seal_watch_keeps_the_promise_too(runner, site, monkeypatch):
    import time

    waits: list[float] = []

    def stop(seconds: float) -> None:
        waits.append(seconds)
        raise SystemExit(0)

    monkeypatch.setattr(time, "sleep", stop)
    runner.app.config["LEDGER_MAX_MERGE_DELAY"] = 6.0
    result = runner.invoke(args=["ledger", "seal", "--watch", "--interval", "30"])
    assert waits == [2.0]
    assert "sealing every 2 s to keep LEDGER_MAX_MERGE_DELAY" in result.output
