"""The ISO/IEC TS 27560 export conforms to the W3C DPV `dpv-27560` record profile: every record
validates against tests/data/dpv-27560-record.schema.json (written from the public spec), one
record per visitor and purpose with its history, filled from the site's settings."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from consent_service.ledger import iso27560
from consent_service.ledger.sealing import seal_site
from tests.conftest import decision_body

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "dpv-27560-record.schema.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def conforms(record: dict) -> None:
    """The schema, plus the two cross-references JSON Schema cannot express."""
    VALIDATOR.validate(record)
    entities = record["dpv:hasEntity"]
    assert record["dct:creator"] in entities
    for process in record["dpv:hasProcess"]:
        assert set(process["dpv:hasDataController"]) <= set(entities)
        assert set(process.get("dpv:hasRecipient", [])) <= set(entities)


def post(client, site, **overrides):
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site, **overrides)
    )
    assert response.status_code == 201, response.json
    return response.json


def export(client, site, token, query=""):
    response = client.get(
        f"/api/v1/sites/{site.site_key}/ledger/export?format=iso27560{query}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    return [json.loads(line) for line in response.data.decode().splitlines()]


def history(record):
    (process,) = record["dpv:hasProcess"]
    return [state["@type"][0] for state in process.get("dpv:hasConsentStatus", [])]


def test_records_per_visitor_and_purpose_conform(client, site, admin_token):
    first = post(client, site, action="accept_all", choices={})
    post(
        client,
        site,
        action="withdraw",
        choices={},
        visitor_token=first["visitor_token"],
        language="zh-CN",
    )
    refuser = post(client, site, action="reject_all", choices={})
    seal_site(site)
    records = export(client, site, admin_token)
    for record in records:
        conforms(record)
    by_key = {
        (
            r["dpv:hasDataSubject"]["dpv:hasIdentifier"],
            r["dpv:hasProcess"][0]["dpv:hasPurpose"][0]["dct:identifier"],
        ): r
        for r in records
    }
    slugs = [category.slug for category in site.categories]
    assert len(records) == 2 * len(slugs) and len(by_key) == len(records)
    withdrawn = by_key[(first["visitor_id"], "analytics")]
    assert history(withdrawn) == ["dpv:ConsentGiven", "dpv:ConsentWithdrawn"]
    assert withdrawn["dct:language"] == "zh"
    assert history(by_key[(refuser["visitor_id"], "analytics")]) == ["dpv:ConsentRefused"]
    necessary = by_key[(first["visitor_id"], "necessary")]["dpv:hasProcess"][0]
    assert "dpv:hasConsentStatus" not in necessary
    assert "dpv:LegitimateInterest" in necessary["dpv:hasLegalBasis"]
    analytics = withdrawn["dpv:hasProcess"][0]
    assert analytics["dpv:hasLegalBasis"][0] == "dpv:ExpressedConsent"
    # filled from the site's settings
    entities = withdrawn["dpv:hasEntity"]
    assert entities[withdrawn["dct:creator"]]["dpv:hasName"] == site.name
    recipients = [entities[key] for key in analytics["dpv:hasRecipient"]]
    assert recipients and recipients[0]["dpv:hasName"] == "Google LLC"
    storage = analytics["dpv:hasStorageCondition"]
    assert storage[0]["dpv:hasLocation"] == ["United States"]
    assert storage[1]["dpv:hasDuration"]["rdf:value"] == f"P{site.lifetime_days}D"
    assert analytics["dpv:hasConsentControl"]["dpv:isExercisedAt"]
    crm = by_key[(first["visitor_id"], "crm")]["dpv:hasProcess"][0]
    assert crm["dpv:hasJurisdiction"][0]["dpv:hasThirdCountry"] == ["China"]
    # the notice names the banner and policy versions, and each state its ledger event
    state = analytics["dpv:hasConsentStatus"][0]
    assert state["dpv:hasNotice"]["dpv:hasIdentifier"] == site.banner_version_hash
    assert state["consent-service:event"]["event_id"] == first["event_id"]
    assert state["consent-service:event"]["leaf_hash"] == first["receipt"]["leaf_hash"]
    # filters still apply: only the refuser's events
    only = export(client, site, admin_token, "&action=reject_all")
    assert {r["dpv:hasDataSubject"]["dpv:hasIdentifier"] for r in only} == {refuser["visitor_id"]}


def test_expiry_is_part_of_the_history(client, site, admin_token):
    post(client, site, action="accept_all", choices={})
    seal_site(site)
    (record,) = [
        r
        for r in export(client, site, admin_token)
        if r["dpv:hasProcess"][0]["dpv:hasPurpose"][0]["dct:identifier"] == "analytics"
    ]
    states = record["dpv:hasProcess"][0]["dpv:hasConsentStatus"]
    rows = [state["consent-service:event"] for state in states]
    profile = iso27560.SiteProfile(
        site.site_key, site.name, ("https://www.example.com",), 30, "opt_in", {}, {}
    )
    later = datetime.strptime(rows[0]["recorded_at"], iso27560.TIMESTAMP) + timedelta(days=31)
    expired = iso27560.consent_history(rows, "analytics", profile, later)
    assert [state["@type"][0] for state in expired] == ["dpv:ConsentGiven", "dpv:ConsentExpired"]
    record["dpv:hasProcess"][0]["dpv:hasConsentStatus"] = expired
    conforms(record)


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("dct:creator"),
        lambda r: r.update({"dct:conformsTo": "dpv-27560:record-1"}),
        lambda r: r.update({"dct:language": "en-GB"}),
        lambda r: r["dpv:hasProcess"][0].pop("dpv:hasConsentStatus"),
        lambda r: r["dpv:hasProcess"][0]["dpv:hasStorageCondition"].pop(1),
        lambda r: r["dpv:hasProcess"][0]["dpv:hasConsentStatus"][0].update({"@type": ["x"]}),
    ],
    ids=["creator", "version", "language", "status", "duration", "state-type"],
)
def test_the_schema_rejects_what_the_spec_forbids(client, site, admin_token, damage):
    post(client, site, action="accept_all", choices={})
    seal_site(site)
    record = next(
        r
        for r in export(client, site, admin_token)
        if r["dpv:hasProcess"][0]["dpv:hasPurpose"][0]["dct:identifier"] == "analytics"
    )
    conforms(record)
    broken = copy.deepcopy(record)
    damage(broken)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)
