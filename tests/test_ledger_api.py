"""Receipts, sealing, keys, checkpoints, proofs, exports and auditor access."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from consent_service.canonical import canonical_json
from consent_service.extensions import db
from consent_service.ledger import exports
from consent_service.ledger.merkle import leaf_hash
from consent_service.ledger.merkle_proofs import verify_consistency, verify_inclusion
from consent_service.ledger.sealing import seal_site
from consent_service.ledger.signing import verify_signature
from consent_service.models import AuditExport, LedgerEntry
from consent_service.sites import access
from consent_service.sites.settings import create_site
from tests.conftest import count_rows, decision_body


def record(client, site, **overrides):
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site, **overrides)
    )
    assert response.status_code == 201, response.json
    return response.json


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def keys(client):
    return {
        key["key_id"]: key["public_key"]
        for key in client.get("/.well-known/consent-ledger-keys").json["keys"]
    }


def test_receipt_is_signed_and_names_the_leaf(client, site):
    answer = record(client, site)
    receipt = answer["receipt"]
    assert receipt["event_id"] == answer["event_id"]
    assert receipt["site"] == site.site_key
    seal_site(site)
    published = keys(client)
    signed = {name: value for name, value in receipt.items() if name != "signature"}
    assert verify_signature(published[receipt["key_id"]], signed, receipt["signature"])
    assert not verify_signature(
        published[receipt["key_id"]], {**signed, "site": "x"}, receipt["signature"]
    )


def test_proof_before_and_after_sealing(client, site, admin_token):
    answer = record(client, site)
    url = f"/api/v1/sites/{site.site_key}/ledger/proof/{answer['event_id']}"
    early = client.get(url, headers=auth(admin_token))
    assert early.status_code == 404
    assert early.headers["Retry-After"]
    for _ in range(4):
        record(client, site)
    seal_site(site)
    proof = client.get(url, headers=auth(admin_token)).json
    assert proof["leaf_hash"] == answer["receipt"]["leaf_hash"]
    checkpoint = proof["checkpoint"]
    assert checkpoint["tree_size"] == 5
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["seq"],
        checkpoint["tree_size"],
        [bytes.fromhex(node) for node in proof["proof"]],
        bytes.fromhex(checkpoint["root_hash"]),
    )
    message = {k: checkpoint[k] for k in ("site", "tree_size", "root_hash", "timestamp", "key_id")}
    assert verify_signature(keys(client)[checkpoint["key_id"]], message, checkpoint["signature"])
    missing = client.get(
        f"/api/v1/sites/{site.site_key}/ledger/proof/00000000-0000-4000-8000-000000000000",
        headers=auth(admin_token),
    )
    assert missing.status_code == 404 and missing.json["status"] == "event_not_found"


def test_consistency_between_checkpoints(client, site, admin_token):
    for _ in range(3):
        record(client, site)
    seal_site(site)
    for _ in range(4):
        record(client, site)
    seal_site(site)
    base = f"/api/v1/sites/{site.site_key}/ledger"
    latest = client.get(f"{base}/checkpoints/latest", headers=auth(admin_token)).json
    assert latest["tree_size"] == 7
    answer = client.get(f"{base}/consistency?from=3&to=7", headers=auth(admin_token)).json
    verify_consistency(
        3,
        7,
        bytes.fromhex(answer["from"]["root_hash"]),
        bytes.fromhex(answer["to"]["root_hash"]),
        [bytes.fromhex(node) for node in answer["proof"]],
    )
    assert (
        client.get(f"{base}/consistency?from=4&to=7", headers=auth(admin_token)).status_code == 404
    )
    assert (
        client.get(f"{base}/consistency?from=x&to=7", headers=auth(admin_token)).status_code == 422
    )


def test_sequence_is_gapless_and_sealing_is_idempotent(client, site):
    for _ in range(6):
        record(client, site)
    first = seal_site(site)
    again = seal_site(site)
    assert (first.sealed, first.tree_size) == (6, 6)
    assert again.sealed == 0
    seqs = sorted(entry.seq for entry in LedgerEntry.query.all())
    assert seqs == list(range(6))


def test_auditor_reads_and_exports_but_writes_nothing(client, site):
    _, auditor = access.issue_token(site, "auditor")
    answer = record(client, site, choices={"analytics": True})
    record(client, site, action="reject_all", choices={})
    seal_site(site)
    export = client.get(
        f"/api/v1/sites/{site.site_key}/ledger/export?format=jsonl", headers=auth(auditor)
    )
    assert export.status_code == 200
    rows = [json.loads(line) for line in export.data.decode().splitlines()]
    assert [row["seq"] for row in rows] == [0, 1]
    assert rows[0]["event_id"] == answer["event_id"]
    fields = {k: v for k, v in rows[0].items() if k not in ("seq", "leaf_hash")}
    assert leaf_hash(canonical_json(fields)).hex() == rows[0]["leaf_hash"]
    manifest = client.get(
        export.headers["Link"].split(";")[0].strip("<>"), headers=auth(auditor)
    ).json
    assert manifest["row_count"] == 2
    assert manifest["checkpoint"]["tree_size"] == 2
    exported = AuditExport.query.one()
    assert exported.row_count == 2 and exported.actor.endswith(":auditor")
    # the auditor may not act as the site's backend
    visitor = client.get(
        f"/api/v1/sites/{site.site_key}/visitors/{answer['visitor_id']}/consent",
        headers=auth(auditor),
    )
    assert visitor.status_code == 403


def test_export_formats_and_filters(client, site, admin_token):
    granted = record(client, site, choices={"analytics": True})
    record(client, site, action="reject_all", choices={})
    seal_site(site)
    base = f"/api/v1/sites/{site.site_key}/ledger/export"
    as_csv = client.get(f"{base}?format=csv", headers=auth(admin_token))
    table = list(csv.DictReader(io.StringIO(as_csv.data.decode())))
    assert [row["seq"] for row in table] == ["0", "1"]
    assert json.loads(table[0]["choices"])["analytics"] is True
    iso = client.get(f"{base}?format=iso27560&action=custom", headers=auth(admin_token))
    records = [json.loads(line) for line in iso.data.decode().splitlines()]
    assert len(records) == len(site.categories)  # one per purpose of the one visitor
    assert {r["dpv:hasDataSubject"]["dpv:hasIdentifier"] for r in records} == {
        granted["visitor_id"]
    }
    purposes = {r["dpv:hasProcess"][0]["dpv:hasPurpose"][0]["dct:identifier"]: r for r in records}
    analytics = purposes["analytics"]
    state = analytics["dpv:hasProcess"][0]["dpv:hasConsentStatus"][0]
    assert state["@type"][0] == "dpv:ConsentGiven"
    assert state["consent-service:event"]["event_id"] == granted["event_id"]
    by_category = client.get(f"{base}?category=analytics", headers=auth(admin_token))
    assert len(by_category.data.decode().splitlines()) == 1
    for bad in ("format=pdf", "from=yesterday", "action=maybe", "visitor_id=zz", "colour=red"):
        response = client.get(f"{base}?{bad}", headers=auth(admin_token))
        assert response.status_code == 422, bad
    empty = client.get(f"{base}?from=2099-01-01T00:00:00Z", headers=auth(admin_token))
    assert empty.status_code == 200 and empty.data == b""


def test_ledger_access_rules(client, site, admin_token):
    url = f"/api/v1/sites/{site.site_key}/ledger/checkpoints/latest"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth(admin_token)).status_code == 404  # nothing sealed yet
    other = create_site("Other", ["https://other.example"])
    _, foreign = access.issue_token(other, "auditor")
    assert client.get(url, headers=auth(foreign)).status_code == 404
    assert count_rows(AuditExport) == 0


def test_an_export_that_breaks_mid_stream_is_marked_failed(client, site, admin_token, monkeypatch):
    for _ in range(3):
        record(client, site)
    seal_site(site)

    def breaking(rows, fmt, site_name):
        for row in rows:
            yield (json.dumps(row["event_id"]) + "\n").encode()
            raise OSError("disk went away")

    monkeypatch.setattr(exports, "render_rows", breaking)
    response = client.get(
        f"/api/v1/sites/{site.site_key}/ledger/export", headers=auth(admin_token), buffered=False
    )
    assert response.status_code == 200
    with pytest.raises(OSError):
        b"".join(response.response)
    exported = AuditExport.query.one()
    db.session.refresh(exported)
    assert exported.failed_at is not None and exported.manifest is None
    manifest = client.get(
        response.headers["Link"].split(";")[0].strip("<>"), headers=auth(admin_token)
    )
    assert manifest.status_code == 410
    assert manifest.get_json()["status"] == "export_failed"


def test_sealing_takes_the_lock_one_small_batch_at_a_time(client, site):
    from consent_service.ledger.sealing import seal_waiting
    from consent_service.models import LedgerCheckpoint

    for _ in range(7):
        record(client, site)
    result = seal_waiting(site, batch=3)
    assert (result.sealed, result.tree_size) == (7, 7)
    sizes = db.session.scalars(
        sa.select(LedgerCheckpoint.tree_size).order_by(LedgerCheckpoint.tree_size)
    ).all()
    assert sizes == [3, 6, 7]
    assert [entry.seq for entry in db.session.scalars(sa.select(LedgerEntry))] == list(range(7))


class FakeClock:
    """`time` for sealing.py: each batch costs the sealer's thread `batch_cpu` seconds of CPU;
    rests are recorded."""

    def __init__(self, batch_cpu: float) -> None:
        self.cpu = 100.0
        self.batch_cpu = batch_cpu
        self.rests: list[float] = []

    def thread_time(self) -> float:
        return self.cpu

    def sleep(self, seconds: float) -> None:
        self.rests.append(seconds)


def seal_seven_in_batches_of_three(monkeypatch, client, site, wait, batch_cpu=0.03):
    """Seal 7 fresh events (batches of 3, 3, 1); the fake clock's rests and the GIL yields."""
    from consent_service.ledger import sealing

    for _ in range(7):
        record(client, site)
    clock = FakeClock(batch_cpu)
    real_seal_site = sealing.seal_site
    yields = []

    def seal_site_costing_cpu(*args, **kwargs):
        clock.cpu += clock.batch_cpu
        return real_seal_site(*args, **kwargs)

    monkeypatch.setattr(sealing, "time", clock)
    monkeypatch.setattr(sealing, "seal_site", seal_site_costing_cpu)
    monkeypatch.setattr(sealing.os, "sched_yield", lambda: yields.append(1))
    result = sealing.seal_waiting(site, wait=wait, batch=3)
    assert result.sealed == 7
    return clock.rests, len(yields)


@pytest.mark.parametrize("wait", [False, True])
def test_the_apps_own_sealer_rests_as_long_as_each_batch_cost_it(client, site, monkeypatch, wait):
    """The app's sealer shares its worker's GIL with the request threads: it gives the GIL
    away after each event, and between batches rests as long as the batch cost its thread in
    CPU. `ledger seal` (wait=True) does neither, and only pauses on SQLite."""
    from consent_service.ledger import sealing

    rests, yields = seal_seven_in_batches_of_three(monkeypatch, client, site, wait)
    on_sqlite = db.engine.dialect.name == "sqlite"
    if not wait:
        assert rests == pytest.approx([0.03, 0.03])
        assert yields == 7
    else:
        assert rests == ([sealing.SQLITE_SEAL_PAUSE] * 2 if on_sqlite else [])
        assert yields == 0


def test_a_rest_is_capped_and_a_sealer_behind_does_not_rest(client, site, monkeypatch):
    from consent_service.ledger import sealing

    rests, _ = seal_seven_in_batches_of_three(monkeypatch, client, site, False, batch_cpu=3.0)
    assert rests == [sealing.BACKGROUND_REST_MAX] * 2
    db.session.rollback()
    monkeypatch.setattr(sealing, "max_merge_delay", lambda: 0.0)  # every event is late
    rests, _ = seal_seven_in_batches_of_three(monkeypatch, client, site, False)
    on_sqlite = db.engine.dialect.name == "sqlite"
    assert rests == ([sealing.SQLITE_SEAL_PAUSE] * 2 if on_sqlite else [])
