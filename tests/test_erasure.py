"""Erasure that keeps the proof, and retention: a ledger of 1,000 events in which 100 visitors
are erased and 200 events purged still verifies in full (every checkpoint, every inclusion and
consistency proof, a bundle offline, the live database), and no erased value is left anywhere.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent_service.consents import request_handling, requests, retention, tombstones
from consent_service.consents.erasure import request_erasure
from consent_service.extensions import db
from consent_service.integrations.mail.subscribers import address_hash, client_hash
from consent_service.ledger import exports, proofs, verify
from consent_service.ledger.merkle_proofs import verify_consistency, verify_inclusion
from consent_service.ledger.records import event_record, record_leaf_hash
from consent_service.ledger.sealing import seal_all
from consent_service.models import (
    ConsentEvent,
    ErasureTombstone,
    Lead,
    LedgerCheckpoint,
    LedgerEntry,
)
from consent_service.models.types import utcnow
from tests import docs_verifier
from tests.conftest import ledger_public_key, trusted_keys
from tests.erasure_support import add_personal_links, database_text, seed_visitors, values_of


def checkpoints(site):
    return db.session.scalars(
        sa.select(LedgerCheckpoint)
        .where(LedgerCheckpoint.site_id == site.id)
        .order_by(LedgerCheckpoint.tree_size)
    ).all()


def verify_everything(site) -> None:
    """Every checkpoint's root from the leaves recomputed out of the rows, every consistency
    proof between them, every event's inclusion proof, and the live verifier."""
    rows = db.session.execute(
        sa.select(LedgerEntry.seq, ConsentEvent)
        .join(ConsentEvent, ConsentEvent.id == LedgerEntry.consent_event_id)
        .where(LedgerEntry.site_id == site.id)
        .order_by(LedgerEntry.seq)
    ).all()
    leaves = [bytes.fromhex(record_leaf_hash(event_record(row[1], site.site_key))) for row in rows]
    from consent_service.ledger.merkle import root_hash

    signed = checkpoints(site)
    assert len(signed) >= 3
    for older, newer in itertools.pairwise(signed):
        assert root_hash(leaves[: older.tree_size]).hex() == older.root_hash
        proof = proofs.consistency_between(site.id, site.site_key, older.tree_size, newer.tree_size)
        verify_consistency(
            older.tree_size,
            newer.tree_size,
            bytes.fromhex(older.root_hash),
            bytes.fromhex(newer.root_hash),
            [bytes.fromhex(node) for node in proof["proof"]],
        )
    latest = signed[-1]
    assert root_hash(leaves).hex() == latest.root_hash
    for seq, event in rows:
        answer = proofs.inclusion_proof_for(site.id, site.site_key, event.event_id)
        verify_inclusion(
            leaves[seq],
            seq,
            latest.tree_size,
            [bytes.fromhex(node) for node in answer["proof"]],
            bytes.fromhex(latest.root_hash),
        )
    first = proofs.checkpoint_document(site.site_key, signed[0])
    live = verify.verify_live(site.id, site.site_key, trusted_keys(), first)
    assert live.ok, live.failures


def test_a_thousand_events_erased_and_purged_still_verify(app, site, runner, tmp_path):
    now = utcnow()
    erased = seed_visitors(site, "erase", 100, 3, now - timedelta(days=30), v1_every=10)
    expired = seed_visitors(site, "expire", 100, 2, now - timedelta(days=6 * 366))
    kept = seed_visitors(site, "keep", 250, 2, now - timedelta(days=20))
    personal = add_personal_links(site, erased, "erase")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 1000
    seal_all()
    seed_visitors(site, "late", 10, 1, now - timedelta(days=1))
    seal_all()
    before = proofs.checkpoint_document(site.site_key, checkpoints(site)[-1])

    reports = [request_erasure(site.id, visitor) for visitor in erased]
    assert sum(report.events for report in reports) == 300
    assert sum(report.leads for report in reports) == 30
    assert sum(report.subscriptions for report in reports) == 10
    # An erasure request made with an address, handled and closed as staff would.
    asked = requests.open_request(
        site, "erasure", channel="site_backend", actor="test", email=personal["emails"][1]
    )
    request_handling.handle(site.id, asked.id, "test")
    requests.close(site.id, asked.id, "test", "fulfilled")
    tombstone = db.session.scalars(
        sa.select(ErasureTombstone).where(ErasureTombstone.request_id == asked.id)
    ).one()
    assert tombstone.reason == "request" and tombstone.counts["subscriptions"] == 1
    for email in personal["emails"][3::2]:
        request_erasure(site.id, None, email)
    (purge,) = retention.run_retention(site.site_key)
    assert purge.counts["consent_events"] == 200
    assert purge.longest_transaction > 0 and purge.transactions >= 1
    seed_visitors(site, "after", 5, 1, now)
    seal_all()

    verify_everything(site)
    live = verify.verify_live(site.id, site.site_key, trusted_keys(), before)
    assert live.ok, live.failures
    leads = db.session.scalars(sa.select(Lead)).all()
    assert {lead.status for lead in leads} == {"deleting", "withdrawn"}
    assert all(lead.fields_encrypted is None for lead in leads)

    # No erased value anywhere: every column of every table, encrypted ones decrypted.
    values: set[str] = set(personal["lead_fields"]) | set(personal["emails"])
    hashes: set[str] = set()
    for tag, visitors in (("erase", erased), ("expire", expired)):
        for index in range(len(visitors)):
            item = values_of(tag, index, now)
            values |= {item["page_url"], item["user_agent"], item["ip_prefix"]}
            hashes.add(client_hash(site.site_key, item["ip_prefix"]))
    hashes |= {address_hash(site.site_key, email) for email in personal["emails"]}
    suppressed = set()
    for table, column, text in database_text():
        assert not any(value in text for value in values), (table, column, text)
        if text in hashes:
            # By design: the suppression list keeps the salted hash, so the address is
            # never mailed again (docs/ledger.md, "Erasure"); the erasure request made with an
            # address keeps it as the record that the request was answered (its address
            # itself is not kept).
            kept_by = {("mail_suppressions", "address_hash"), ("subject_requests", "address_hash")}
            assert (table, column) in kept_by, (table, column)
            if table == "mail_suppressions":
                suppressed.add(text)
    assert len(suppressed) == len(personal["emails"])
    kept_values = values_of("keep", 0, now)
    assert any(kept_values["user_agent"] == text for _, _, text in database_text())
    assert kept

    # Bundles show the erasure and verify offline, with the CLI as an auditor runs it.
    bundle = tmp_path / "bundle"
    exports.write_bundle(
        site.id, site.site_key, site.name, bundle, exports.ExportFilters(), actor="test"
    )
    rows = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    marked = [row for row in rows if "erased" in row]
    assert len(marked) == 500
    assert {row["erased"]["tombstone"] for row in marked} <= {
        record["id"]
        for record in map(json.loads, (bundle / "erasures.jsonl").read_text().splitlines())
    }
    assert any("evidence" not in row for row in marked)  # format 1 events, erased too
    result = runner.invoke(
        args=["ledger", "verify", str(bundle), "--public-key", ledger_public_key()]
    )
    assert result.exit_code == 0 and "VERDICT: VERIFIED" in result.output, result.output
    assert docs_verifier.verify(bundle, ledger_public_key()) == []
    filtered = tmp_path / "filtered"
    exports.write_bundle(
        site.id,
        site.site_key,
        site.name,
        filtered,
        exports.ExportFilters(visitor_id=erased[0]),
        actor="test",
    )
    assert verify.verify_bundle(filtered, trusted_keys()).ok

    # A tampered erased row is refused: its commitment changed, or its tombstone not there.
    target = next(index for index, row in enumerate(rows) if "evidence" in row and "erased" in row)
    for change in ({"evidence": "0" * 64}, {"erased": {"tombstone": 10**9, "at": None}}):
        forged = [dict(row) for row in rows]
        forged[target].update(change)
        (bundle / "events.jsonl").write_text(
            "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in forged)
        )
        verdict = verify.verify_bundle(bundle, trusted_keys())
        assert not verdict.ok
        assert docs_verifier.verify(bundle, ledger_public_key())


def test_only_evidence_may_be_erased_in_place(app, site):
    """The triggers let an UPDATE set erasable columns to NULL and name a tombstone; any other
    change, and any DELETE, is refused by the database itself."""
    now = utcnow()
    (visitor,) = seed_visitors(site, "trigger", 1, 1, now)
    event_id = db.session.scalar(
        sa.select(ConsentEvent.id).where(ConsentEvent.visitor_id == visitor)
    )
    table = ConsentEvent.__table__
    refused = [
        sa.update(table).where(table.c.id == event_id).values(visitor_id="f" * 32),
        sa.update(table)
        .where(table.c.id == event_id)
        .values(page_url="https://elsewhere.example/"),
        sa.update(table).where(table.c.id == event_id).values(evidence_commitment=None),
        sa.delete(table).where(table.c.id == event_id),
    ]
    for statement in refused:
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(statement)
        db.session.rollback()
    tombstone = tombstones.new_tombstone(site.id, "request", subject=visitor)
    assert tombstones.erase_event_ids([event_id], tombstone.id) == 1
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.update(table).where(table.c.id == event_id).values(erasure_id=0))
    db.session.rollback()
    event = db.session.get(ConsentEvent, event_id)
    assert event.page_url is None and event.evidence_salt is None
    assert event.evidence_commitment is not None and event.erasure_id == tombstone.id


def test_the_erasure_api_keeps_its_answer_and_erases_the_events(client, site, admin_token):
    from tests.conftest import decision_body

    body = decision_body(site, url="https://www.example.com/private-page?x=1")
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents",
        json=body,
        headers={"User-Agent": "PrivateAgent/1.0"},
    )
    assert response.status_code == 201
    token = response.json["visitor_token"]
    answer = client.post(f"/api/v1/sites/{site.site_key}/erasure", json={"visitor_token": token})
    assert answer.status_code == 202
    assert (answer.json["leads"], answer.json["subscriptions"]) == (0, 0)
    event = db.session.scalars(sa.select(ConsentEvent)).one()
    assert event.user_agent is None and event.page_url is None and event.erasure_id
    from consent_service.console.activity import recent

    assert [entry.action for entry, _ in recent(site.id)] == ["erasure"]
