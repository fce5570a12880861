"""`ledger verify` trusts only keys the auditor brings: a bundle rewritten and re-signed with
another key fails in every mode, with or without the real key id; unsigned manifest fields,
stale filtered bundles and keys whose id does not match are caught; keys are published when
they are made."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent_service.cli import main
from consent_service.extensions import db
from consent_service.ledger import trust, verify
from consent_service.ledger.merkle import root_hash
from consent_service.ledger.records import record_leaf_hash
from consent_service.ledger.sealing import CHECKPOINT_FIELDS, seal_site
from consent_service.ledger.signing import load_key, new_private_key_b64
from consent_service.ledger.trust import key_id_for
from consent_service.models import ConsentEvent, LedgerKey
from tests.conftest import TEST_LEDGER_KEY, decision_body, ledger_public_key
from tests.test_ledger_bundle import export_bundle, record_many
from tests.test_ledger_tampering import execute, open_tampering

REAL = load_key(TEST_LEDGER_KEY)


def run_verify(*args: object) -> object:
    return CliRunner().invoke(main, ["ledger", "verify", *map(str, args)])


def ledger_with_withdrawal(client, runner, site, tmp_path) -> tuple[Path, Path]:
    """A sealed ledger whose last event is a withdrawal; the auditor kept an early checkpoint."""
    record_many(client, site, 3)
    seal_site(site)
    export_bundle(runner, site, tmp_path / "early")
    kept = tmp_path / "kept-checkpoint.json"
    kept.write_text((tmp_path / "early" / "checkpoint.json").read_text())
    record_many(client, site, 1, action="withdraw", choices={})
    seal_site(site)
    bundle = tmp_path / "bundle"
    export_bundle(runner, site, bundle)
    return bundle, kept


def forge(bundle: Path, claim_real_id: bool) -> str:
    """Turn the withdrawal into accept_all and re-sign everything with a foreign key.

    Returns the foreign public key. With `claim_real_id` the forgery keeps the real key id and
    pairs it with the foreign key in public_keys.json."""
    foreign = load_key(new_private_key_b64())
    key_id = REAL.key_id if claim_real_id else foreign.key_id
    rows = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert last["action"] == "withdraw"
    last["action"] = "accept_all"
    last["choices"] = {slug: True for slug in last["choices"]}
    fields = {k: v for k, v in last.items() if k not in ("seq", "leaf_hash")}
    last["leaf_hash"] = record_leaf_hash(fields)
    data = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    (bundle / "events.jsonl").write_text(data)
    checkpoint = json.loads((bundle / "checkpoint.json").read_text())
    checkpoint["root_hash"] = root_hash([bytes.fromhex(row["leaf_hash"]) for row in rows]).hex()
    checkpoint["key_id"] = key_id
    checkpoint["signature"] = foreign.sign({name: checkpoint[name] for name in CHECKPOINT_FIELDS})
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest.pop("manifest_signature")
    manifest.update(
        checkpoint=checkpoint,
        data_sha256=hashlib.sha256(data.encode()).hexdigest(),
        manifest_key_id=key_id,
    )
    manifest["manifest_signature"] = foreign.sign(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "checkpoint.json").write_text(json.dumps(checkpoint))
    document = {
        "keys": [{"key_id": key_id, "algorithm": "Ed25519", "public_key": foreign.public_b64}]
    }
    (bundle / "public_keys.json").write_text(json.dumps(document))
    return foreign.public_b64


@pytest.mark.parametrize("claim_real_id", [False, True], ids=["foreign-id", "real-id"])
def test_rewrite_signed_with_a_foreign_key_fails_every_mode(
    client, runner, site, tmp_path, service, keys_file, claim_real_id
):
    bundle, kept = ledger_with_withdrawal(client, runner, site, tmp_path)
    for source in (
        ["--public-key", ledger_public_key()],
        ["--keys", keys_file],
        ["--service", service],
    ):
        honest = run_verify(bundle, "--previous-checkpoint", kept, *source)
        assert honest.exit_code == 0, (source, honest.output)
        assert "VERDICT: VERIFIED" in honest.output
    foreign = forge(bundle, claim_real_id)
    for source in (
        ["--public-key", ledger_public_key()],
        ["--keys", keys_file],
        ["--service", service],
    ):
        for previous in ([], ["--previous-checkpoint", kept]):
            result = run_verify(bundle, *previous, *source)
            assert result.exit_code == 1, (source, previous, result.output)
            assert "VERDICT: NOT VERIFIED" in result.output
    alone = run_verify(bundle)
    assert alone.exit_code != 0 and "VERDICT: VERIFIED" not in alone.output
    # trusting the forger's key is the only way to pass, and it is the auditor's choice
    if not claim_real_id:
        assert run_verify(bundle, "--public-key", foreign).exit_code == 0


def test_no_key_source_is_unauthenticated(client, runner, site, tmp_path):
    record_many(client, site, 2)
    seal_site(site)
    export_bundle(runner, site, tmp_path / "b")
    result = run_verify(tmp_path / "b")
    assert result.exit_code == 2
    assert "VERDICT: UNAUTHENTICATED" in result.output
    assert "--public-key" in result.output and "--service" in result.output


def test_every_manifest_field_is_signed(client, runner, site, tmp_path):
    record_many(client, site, 2)
    seal_site(site)
    bundle = tmp_path / "b"
    export_bundle(runner, site, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name, value in (("manifest_note", "added"), ("row_count", 99), ("comment", "x")):
        (bundle / "manifest.json").write_text(json.dumps({**manifest, name: value}))
        result = run_verify(bundle, "--public-key", ledger_public_key())
        assert result.exit_code == 1, (name, result.output)
        assert "manifest signature valid" in result.output


def test_previous_checkpoint_counts_for_filtered_bundles(client, runner, site, tmp_path):
    record_many(client, site, 3, action="reject_all", choices={})
    seal_site(site)
    stale = tmp_path / "stale"
    export_bundle(runner, site, stale, "--action", "reject_all")
    record_many(client, site, 2, action="reject_all", choices={})
    seal_site(site)
    fresh = tmp_path / "fresh"
    export_bundle(runner, site, fresh, "--action", "reject_all")
    newer = tmp_path / "newer-checkpoint.json"
    newer.write_text((fresh / "checkpoint.json").read_text())
    older = tmp_path / "older-checkpoint.json"
    older.write_text((stale / "checkpoint.json").read_text())
    key = ["--public-key", ledger_public_key()]
    good = run_verify(fresh, "--previous-checkpoint", older, *key)
    assert good.exit_code == 0, good.output
    assert "not that no matching row was left out" in good.output
    outdated = run_verify(stale, "--previous-checkpoint", newer, *key)
    assert outdated.exit_code == 1 and "is covered" in outdated.output
    # a forked history: the leaf list no longer starts with what the auditor holds
    forked = json.loads(older.read_text())
    forked["root_hash"] = "00" * 32
    forked["signature"] = REAL.sign({name: forked[name] for name in CHECKPOINT_FIELDS})
    older.write_text(json.dumps(forked))
    fork = run_verify(fresh, "--previous-checkpoint", older, *key)
    assert fork.exit_code == 1 and "consistency" in fork.output


def test_a_key_id_must_belong_to_its_key(client, runner, site, tmp_path, keys_file):
    record_many(client, site, 1)
    seal_site(site)
    export_bundle(runner, site, tmp_path / "b")
    document = json.loads(keys_file.read_text())
    other = base64.b64encode(load_key(new_private_key_b64()).public_raw).decode()
    document["keys"][0]["public_key"] = other
    keys_file.write_text(json.dumps(document))
    result = run_verify(tmp_path / "b", "--keys", keys_file)
    assert result.exit_code != 0 and "does not belong" in result.output
    bad = run_verify(tmp_path / "b", "--public-key", "bm90IGEga2V5")
    assert bad.exit_code != 0 and "32 bytes" in bad.output
    both = run_verify(tmp_path / "b", "--public-key", ledger_public_key(), "--keys", keys_file)
    assert both.exit_code != 0 and "only one" in both.output


def test_key_is_published_before_it_signs(client, site, app_factory):
    assert LedgerKey.query.count() == 0
    client.get("/.well-known/consent-ledger-keys")  # the process's first request
    listed = client.get("/.well-known/consent-ledger-keys").json["keys"]
    assert [key["key_id"] for key in listed] == [REAL.key_id]
    rotated = new_private_key_b64()
    other = app_factory(LEDGER_SIGNING_KEY=rotated)
    with other.app_context():
        body = decision_body(site)
        assert (
            other.test_client()
            .post(f"/api/v1/sites/{site.site_key}/consents", json=body)
            .status_code
            == 201
        )
    ids = {key["key_id"] for key in client.get("/.well-known/consent-ledger-keys").json["keys"]}
    assert ids == {REAL.key_id, key_id_for(load_key(rotated).public_raw)}


def test_keygen_publishes_the_new_key(runner):
    result = runner.invoke(args=["ledger", "keygen"])
    assert result.exit_code == 0, result.output
    secret = result.output.splitlines()[0]
    made = load_key(secret)
    assert LedgerKey.query.filter_by(key_id=made.key_id).one().public_key == made.public_b64


@pytest.mark.parametrize("claim_real_id", [False, True], ids=["foreign-id", "real-id"])
def test_live_rewrite_signed_with_a_foreign_key_fails(
    client, runner, site, tmp_path, service, keys_file, claim_real_id
):
    """The same forgery made in the database, keys table included, against every key source
    the auditor obtained beforehand."""
    record_many(client, site, 3)
    seal_site(site)
    from consent_service.ledger.proofs import checkpoint_document
    from consent_service.ledger.sealing import latest_checkpoint

    kept = json.loads(json.dumps(checkpoint_document(site.site_key, latest_checkpoint(site.id))))
    record_many(client, site, 1, action="withdraw", choices={})
    seal_site(site)
    sources = [
        trust.from_public_key(ledger_public_key()),
        trust.from_file(keys_file),
        trust.from_service(service),
    ]
    for keys in sources:
        assert verify.verify_live(site.id, site.site_key, keys, kept).ok
    foreign = load_key(new_private_key_b64())
    key_id = REAL.key_id if claim_real_id else foreign.key_id
    open_tampering()
    withdrawal = execute("SELECT id FROM consent_events WHERE action = 'withdraw'").scalar_one()
    execute("UPDATE consent_events SET action = 'accept_all' WHERE id = :id", id=withdrawal)
    db.session.expire_all()
    from consent_service.ledger.records import event_record

    changed = db.session.get(ConsentEvent, withdrawal)
    execute(
        "UPDATE ledger_entries SET leaf_hash = :leaf WHERE consent_event_id = :id",
        leaf=record_leaf_hash(event_record(changed, site.site_key)),
        id=withdrawal,
    )
    leaves = [
        bytes.fromhex(value)
        for value in execute("SELECT leaf_hash FROM ledger_entries ORDER BY seq").scalars()
    ]
    forged = checkpoint_document(site.site_key, latest_checkpoint(site.id))
    forged.update(root_hash=root_hash(leaves).hex(), key_id=key_id)
    execute(
        "UPDATE ledger_checkpoints SET root_hash = :root, key_id = :key, signature = :sig "
        "WHERE tree_size = :size",
        root=forged["root_hash"],
        key=key_id,
        sig=foreign.sign({name: forged[name] for name in CHECKPOINT_FIELDS}),
        size=forged["tree_size"],
    )
    if claim_real_id:
        execute("UPDATE ledger_keys SET public_key = :p", p=foreign.public_b64)
    else:
        execute(
            "INSERT INTO ledger_keys (key_id, public_key, created_at) "
            "SELECT :k, :p, created_at FROM ledger_keys",
            k=key_id,
            p=foreign.public_b64,
        )
    db.session.expire_all()
    for keys in sources:
        for previous in (None, kept):
            verdict = verify.verify_live(site.id, site.site_key, keys, previous)
            assert not verdict.ok, (keys.source, previous)
            assert any(
                "trusted" in failure or "signature" in failure for failure in verdict.failures
            )
    db.session.rollback()


def test_without_a_key_even_a_broken_bundle_is_unauthenticated(client, runner, site, tmp_path):
    record_many(client, site, 2)
    seal_site(site)
    bundle = tmp_path / "b"
    export_bundle(runner, site, bundle)
    (bundle / "events.jsonl").write_text("")
    result = run_verify(bundle)
    assert result.exit_code == 2
    assert "FAIL" in result.output and "VERDICT: UNAUTHENTICATED" in result.output


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.pop("tree_size"),
        lambda c: c.update(root_hash="zz"),
        lambda c: c.update(tree_size="3"),
    ],
    ids=["no-size", "bad-root", "size-as-text"],
)
def test_a_malformed_kept_checkpoint_is_a_verdict(client, runner, site, tmp_path, damage):
    record_many(client, site, 2)
    seal_site(site)
    bundle = tmp_path / "b"
    export_bundle(runner, site, bundle)
    kept = json.loads((bundle / "checkpoint.json").read_text())
    damage(kept)
    path = tmp_path / "kept.json"
    path.write_text(json.dumps(kept))
    result = run_verify(bundle, "--previous-checkpoint", path, "--public-key", ledger_public_key())
    assert result.exit_code == 1 and "VERDICT: NOT VERIFIED" in result.output
    assert "checkpoints have a tree_size" in result.output
