"""The words a visitor saw, in evidence: bundles carry every banner version and policy their
rows name, the verifier recomputes each hash, auditors read one version by its hash."""

from __future__ import annotations

import hashlib
import json

import rfc8785

from consent_service.ledger.sealing import seal_site
from consent_service.sites import access
from consent_service.sites.versions import banner_document
from tests.test_ledger_bundle import export_bundle, offline_verify, record_many


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bundle_carries_the_hashed_banner_and_policy(client, runner, site, tmp_path):
    record_many(client, site, 2)
    seal_site(site)
    bundle = tmp_path / "b"
    export_bundle(runner, site, bundle)
    (banner,) = read_lines(bundle / "banner_versions.jsonl")
    assert banner["kind"] == "banner" and banner["sha256"] == site.banner_version_hash
    # the document is the RFC 8785 JSON of what banner_document gives, byte for byte
    assert banner["document"].encode() == rfc8785.dumps(banner_document(site))
    assert hashlib.sha256(banner["document"].encode()).hexdigest() == banner["sha256"]
    assert json.loads(banner["document"])["site"]["name"] == site.name
    (policy,) = read_lines(bundle / "policies.jsonl")
    events = read_lines(bundle / "events.jsonl")
    assert {event["policy_version"] for event in events} == {policy["label"]}
    assert (
        policy["text"] and hashlib.sha256(policy["text"].encode()).hexdigest() == policy["sha256"]
    )
    assert offline_verify(bundle).exit_code == 0


def rewrite(path, change):
    records = read_lines(path)
    change(records)
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def test_changed_or_missing_words_are_caught(client, runner, site, tmp_path):
    record_many(client, site, 1)
    seal_site(site)

    def banner_text(records):
        records[0]["document"] = records[0]["document"].replace(site.name, "Someone else", 1)

    def policy_text(records):
        records[0]["text"] = records[0]["text"] + " We also sell your data."

    cases = [
        ("banner_versions.jsonl", banner_text),
        ("policies.jsonl", policy_text),
        ("banner_versions.jsonl", lambda records: records.clear()),
        ("policies.jsonl", lambda records: records.clear()),
    ]
    for number, (name, change) in enumerate(cases):
        bundle = tmp_path / f"b{number}"
        export_bundle(runner, site, bundle)
        rewrite(bundle / name, change)
        result = offline_verify(bundle)
        assert result.exit_code == 1, (name, result.output)
        assert f"{name} matches manifest" in result.output
        # even with the manifest's hash fixed up, the document no longer matches its hash
        manifest = json.loads((bundle / "manifest.json").read_text())
        key = name.removesuffix(".jsonl")
        data = (bundle / name).read_bytes()
        manifest[key].update(
            sha256=hashlib.sha256(data).hexdigest(), row_count=len(data.splitlines())
        )
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        assert offline_verify(bundle).exit_code == 1


def test_auditor_reads_a_banner_version(client, site, admin_token):
    _, auditor = access.issue_token(site, "auditor")
    url = f"/api/v1/sites/{site.site_key}/ledger/banner-versions/{site.banner_version_hash}"
    for token in (admin_token, auditor):
        answer = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert hashlib.sha256(answer.json["document"].encode()).hexdigest() == (
            site.banner_version_hash
        )
    assert client.get(url).status_code == 401
    base = f"/api/v1/sites/{site.site_key}/ledger/banner-versions/"
    headers = {"Authorization": f"Bearer {auditor}"}
    assert client.get(base + "ab" * 32, headers=headers).status_code == 404
    bad = client.get(base + "xyz", headers=headers)
    assert bad.status_code == 422 and bad.json["errors"] == {"hash": ["64 hex digits."]}


def test_live_check_recomputes_stored_words(client, site, app):
    from consent_service.extensions import db
    from consent_service.ledger import verify
    from tests.conftest import trusted_keys
    from tests.test_ledger_tampering import execute, open_tampering

    record_many(client, site, 2)
    seal_site(site)
    clean = verify.verify_live(site.id, site.site_key, trusted_keys())
    assert clean.ok and not clean.notes
    for statement in (
        "UPDATE banner_versions SET canonical_json = replace(canonical_json, 'Demo', 'Fake')",
        "UPDATE policy_versions SET text = text || ' We sell your data.'",
    ):
        open_tampering()
        execute(statement)
        verdict = verify.verify_live(site.id, site.site_key, trusted_keys())
        assert not verdict.ok and any("no longer hashes" in f for f in verdict.failures)
        db.session.rollback()
    # a seal later than receipts promised is reported (here: a promise of zero seconds)
    app.config["LEDGER_MAX_MERGE_DELAY"] = 0.0
    late = verify.verify_live(site.id, site.site_key, trusted_keys())
    assert late.ok and late.notes == [
        "2 event(s) were sealed after the time their receipt promised"
    ]


def test_policy_text_is_served_exactly_as_hashed(client, site):
    from consent_service.sites.versions import current_policy, publish_policy

    policy = current_policy(site)
    answer = client.get(f"/api/v1/sites/{site.site_key}/policies/{policy.label}.txt")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert hashlib.sha256(answer.data).hexdigest() == policy.sha256
    assert answer.headers["ETag"] == f'"{policy.sha256}"'
    page = client.get("/demo/privacy").get_data(as_text=True)
    assert f"/api/v1/sites/{site.site_key}/policies/{policy.label}.txt" in page
    assert policy.sha256 in page
    publish_policy(site, "url-only", url="https://www.example.com/p", sha256="ab" * 32)
    missing = client.get(f"/api/v1/sites/{site.site_key}/policies/url-only.txt")
    assert missing.status_code == 404 and missing.is_json
    assert client.get(f"/api/v1/sites/{site.site_key}/policies/nope.txt").status_code == 404
