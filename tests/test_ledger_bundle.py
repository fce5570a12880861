"""Bundles from `ledger export`, verified offline by `ledger verify`; concurrent sealers."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from consent_service.cli import main
from consent_service.ledger.sealing import seal_site
from consent_service.models import LedgerCheckpoint, LedgerEntry
from tests.conftest import decision_body, ledger_public_key


def record_many(client, site, count, **overrides):
    for _ in range(count):
        response = client.post(
            f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site, **overrides)
        )
        assert response.status_code == 201


def export_bundle(runner, site, out, *filters):
    """`consent-service ledger export` as the site owner runs it; fails the test if it fails."""
    result = runner.invoke(
        args=["ledger", "export", "--site", site.site_key, "--out", str(out), *filters]
    )
    assert result.exit_code == 0, result.output
    return result


def offline_verify(*args, key=True):
    """The verifier as an auditor runs it: the top-level command, no app, no database, and
    the service's public key obtained beforehand."""
    trust = ["--public-key", ledger_public_key()] if key else []
    return CliRunner().invoke(main, ["ledger", "verify", *map(str, args), *trust])


def test_full_bundle_verifies_and_tampering_fails(client, site, runner, tmp_path):
    record_many(client, site, 5)
    seal_site(site)
    old = tmp_path / "old-checkpoint.json"
    export_bundle(runner, site, tmp_path / "a")
    old.write_text((tmp_path / "a" / "checkpoint.json").read_text())
    record_many(client, site, 4, action="reject_all", choices={})
    assert runner.invoke(args=["ledger", "seal"]).exit_code == 0
    bundle = tmp_path / "b"
    export_bundle(runner, site, bundle)
    good = offline_verify(bundle, "--previous-checkpoint", old)
    assert good.exit_code == 0, good.output
    assert "VERDICT: VERIFIED" in good.output

    lines = (bundle / "events.jsonl").read_text().splitlines()
    edited = json.loads(lines[2])
    edited["choices"]["analytics"] = not edited["choices"]["analytics"]
    (bundle / "events.jsonl").write_text(
        "\n".join([*lines[:2], json.dumps(edited), *lines[3:]]) + "\n"
    )
    bad = offline_verify(bundle)
    assert bad.exit_code == 1
    assert "seq 2" in bad.output and "NOT VERIFIED" in bad.output


def test_filtered_bundle_carries_proofs(client, site, runner, tmp_path):
    record_many(client, site, 3)
    record_many(client, site, 3, action="reject_all", choices={})
    seal_site(site)
    out = tmp_path / "filtered"
    export_bundle(runner, site, out, "--action", "reject_all")
    rows = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [row["seq"] for row in rows] == [3, 4, 5] and all(row["proof"] for row in rows)
    assert offline_verify(out).exit_code == 0
    rows[1]["proof"][0] = "00" * 32
    (out / "events.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert offline_verify(out).exit_code == 1


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text: text + "[1, 2]\n", "not a JSON object"),
        (lambda text: text + "{not json\n", "JSON Lines"),
        (lambda text: text.rsplit("\n", 2)[0] + "\n", "row count"),
    ],
    ids=["array-line", "broken-json", "truncated"],
)
def test_damaged_bundle_is_a_verdict_not_a_crash(client, site, runner, tmp_path, damage, message):
    record_many(client, site, 3)
    seal_site(site)
    out = tmp_path / "bundle"
    export_bundle(runner, site, out)
    events = out / "events.jsonl"
    events.write_text(damage(events.read_text()))
    result = offline_verify(out)
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and message in result.output


def test_empty_range_gives_an_empty_verifiable_bundle(client, site, runner, tmp_path):
    record_many(client, site, 2)
    seal_site(site)
    out = tmp_path / "empty"
    export_bundle(runner, site, out, "--from", "2099-01-01")
    assert (out / "events.jsonl").read_text() == ""
    assert offline_verify(out).exit_code == 0


def test_live_verification(client, site, runner):
    record_many(client, site, 3)
    seal_site(site)
    result = runner.invoke(
        args=["ledger", "verify", "--site", site.site_key, "--public-key", ledger_public_key()]
    )
    assert result.exit_code == 0, result.output
    unauthenticated = runner.invoke(args=["ledger", "verify", "--site", site.site_key])
    assert unauthenticated.exit_code == 2
    assert "VERDICT: UNAUTHENTICATED" in unauthenticated.output


def test_concurrent_sealers_never_duplicate_or_skip(app, client, site, app_factory):
    record_many(client, site, 40)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    # Apps are built here: app construction is not meant to run in parallel, sealing is.
    apps = [app_factory() for _ in range(4)]

    def sealer(other) -> None:
        with other.app_context():
            from consent_service.sites.registry import get_site

            mine = get_site(site.site_key)
            barrier.wait()
            try:
                for _ in range(3):
                    seal_site(mine, batch=7)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

    threads = [threading.Thread(target=sealer, args=(other,)) for other in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    seqs = sorted(entry.seq for entry in LedgerEntry.query.all())
    assert seqs == list(range(40))
    sizes = sorted(checkpoint.tree_size for checkpoint in LedgerCheckpoint.query.all())
    assert sizes[-1] == 40 and len(set(sizes)) == len(sizes)


def test_a_batch_sealed_on_paper_is_written_only_if_the_log_has_not_moved(
    client, site, monkeypatch
):
    """SQLite seals a batch on paper before it takes the write lock; the paper is written
    only if it still fits the log and is fresh. A stale one is sealed again under the lock by
    a sealer that waits, and left to the other sealer by one that may not (the app's own)."""
    from datetime import timedelta

    from consent_service.extensions import db
    from consent_service.ledger import sealing, verify
    from tests.conftest import trusted_keys

    def write(paper, wait=True):
        db.session.rollback()  # as `seal_site`: the paper's reads end before the lock
        with sealing.sqlite_writer(db.engine):
            return sealing._seal_batch(ref, wait, 4, paper)

    def stored_signature(tree_size):
        return db.session.scalar(
            sa.select(LedgerCheckpoint.signature).filter_by(site_id=site.id, tree_size=tree_size)
        )

    record_many(client, site, 14)
    ref = sealing._SiteRef(site, site.id, site.site_key)
    stale = sealing._on_paper(ref, 4)  # the first four, on a log of size 0
    db.session.rollback()
    assert seal_site(site, batch=4).tree_size == 4  # another sealer writes them first
    assert write(stale, wait=False) == sealing.SealResult(site.site_key, 0, -1)
    assert write(stale) == sealing.SealResult(site.site_key, 4, 8)  # sealed again, under lock
    assert stored_signature(8) != stale.checkpoint.signature
    fresh = sealing._on_paper(ref, 4)  # nothing moved since: written as it is
    assert write(fresh) == sealing.SealResult(site.site_key, 4, 12)
    assert stored_signature(12) == fresh.checkpoint.signature
    old = sealing._on_paper(ref, 4)  # the last two, but their paper waited too long
    later = old.checkpoint.timestamp + sealing.PAPER_FRESH_FOR + timedelta(milliseconds=1)
    monkeypatch.setattr(sealing, "utcnow", lambda: later)
    assert write(old) == sealing.SealResult(site.site_key, 2, 14)
    assert stored_signature(14) != old.checkpoint.signature
    assert sorted(entry.seq for entry in LedgerEntry.query.all()) == list(range(14))
    sizes = [checkpoint.tree_size for checkpoint in LedgerCheckpoint.query.all()]
    assert sorted(sizes) == [4, 8, 12, 14]
    assert verify.verify_live(site.id, site.site_key, trusted_keys()).ok


def test_a_tampered_row_is_named_not_left_out_of_the_count(client, site, runner, tmp_path):
    record_many(client, site, 6)
    seal_site(site)
    bundle = tmp_path / "bundle"
    export_bundle(runner, site, bundle)
    lines = (bundle / "events.jsonl").read_text().splitlines()
    edited = json.loads(lines[4])
    edited["language"] = "xx"
    lines[4] = json.dumps(edited)
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = offline_verify(bundle)
    assert result.exit_code == 1
    assert "rows: 6 rows, 1 does not match its leaf hash" in result.output
    assert "count 5" not in result.output
