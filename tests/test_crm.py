"""NeoCRM lead capture: consent gates, the encrypted outbox, delivery exactly once, deletion on
withdrawal and erasure, disclosure records.

Leads go to a local NeoCRM stand-in (tests/neocrm_server.py) speaking NeoCRM's protocol; the
worker is driven with an explicit clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.integrations import outbox
from consent_service.integrations.crm import connection as crm_connection
from consent_service.integrations.crm import delivery, disclosures
from consent_service.integrations.crm.neocrm import forget_tokens
from consent_service.ledger import exports, verify
from consent_service.models import Disclosure, Lead
from consent_service.models.types import utcnow
from tests.conftest import count_rows, decision_body, trusted_keys
from tests.neocrm_server import FakeNeoCRM

LEAD_ID_FIELD = "customItem104__c"
FIELD_MAP = {
    "website": "customItem101__c",
    "postal_code": "customItem102__c",
    "message": "customItem103__c",
    "lead_id": LEAD_ID_FIELD,
}
FIELDS = {
    "name": "Li Wei",
    "company": "Example Sensors Ltd.",
    "email": "li.wei@example.com",
    "phone": "+86 10 1234 5678",
    "website": "https://sensors.example.com",
    "postal_code": "100080",
    "message": "Please call me about the X200 series.\nThanks!",
}


@pytest.fixture
def neocrm(app) -> Iterator[FakeNeoCRM]:
    app.config["WEBHOOK_ALLOW_HTTP"] = True  # the stand-in is plain http on loopback
    forget_tokens()
    with FakeNeoCRM() as server:
        yield server
    forget_tokens()


def connect(site: Any, server: FakeNeoCRM, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "auth_url": server.url,
        "instance_url": server.url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "username": server.username,
        "password": server.password,
        "field_map": FIELD_MAP,
        "fixed": {"entityType": 11010000100001},
        **overrides,
    }
    return crm_connection.configure(site, **options)


@pytest.fixture
def connected(app, site, neocrm) -> Any:
    return connect(site, neocrm)


def visitor(client, site, **choices: bool) -> dict[str, Any]:
    """A visitor who made a choice on the banner: their token and event id."""
    body = decision_body(
        site, choices={"analytics": False, "crm": True, "marketing_email": False, **choices}
    )
    response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=body)
    assert response.status_code == 201, response.json
    return response.json


def crm_form(client, site) -> dict[str, Any]:
    config = client.get(f"/api/v1/sites/{site.site_key}/config").json
    return next(form for form in config["forms"] if form["slug"] == "crm")


def lead_body(client, site, token: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "visitor_token": token,
        "fields": dict(FIELDS),
        "separate_consent": {
            "granted": True,
            "wording_hash": crm_form(client, site)["separate_consent"]["hash"],
        },
        **overrides,
    }
    return {key: value for key, value in body.items() if value is not ...}


def submit(client, site, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/sites/{site.site_key}/leads", json=body)


def accepted_lead(client, site) -> tuple[Lead, dict[str, Any]]:
    person = visitor(client, site)
    response = submit(client, site, lead_body(client, site, person["visitor_token"]))
    assert response.status_code == 202, response.json
    return db.session.scalar(sa.select(Lead)), person


def test_a_lead_needs_the_crm_category(client, site, connected):
    person = visitor(client, site, crm=False)
    response = submit(client, site, lead_body(client, site, person["visitor_token"]))
    assert response.status_code == 403
    assert response.json["status"] == "crm_consent_missing"
    assert response.json["errors"] == {"consent": ["crm"]}
    stranger = submit(client, site, lead_body(client, site, "not-a-token"))
    assert stranger.status_code == 401
    assert count_rows(Lead) == 0


@pytest.mark.parametrize(
    "separate",
    [
        None,
        {"granted": False, "wording_hash": "WORDING"},
        {"granted": True, "wording_hash": "0" * 64},  # a wording this form never showed
    ],
)
def test_a_cross_border_lead_needs_its_separate_consent(client, site, connected, separate):
    person = visitor(client, site)
    body = lead_body(client, site, person["visitor_token"])
    if separate is None:
        del body["separate_consent"]
    else:
        if separate["wording_hash"] == "WORDING":
            separate["wording_hash"] = body["separate_consent"]["wording_hash"]
        body["separate_consent"] = separate
    response = submit(client, site, body)
    assert response.status_code == 403
    assert response.json["status"] == "separate_consent_missing"
    assert count_rows(Lead) == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**FIELDS, "fax": "123"}, "fax"),
        ({**FIELDS, "name": "Li\r\nBcc: x@example.com"}, "name"),
        ({**FIELDS, "email": "not-an-address"}, "email"),
        ({**FIELDS, "company": "x" * 201}, "company"),
        ({**FIELDS, "phone": "call me"}, "phone"),
        ({key: value for key, value in FIELDS.items() if key != "name"}, "name"),
        ({**FIELDS, "name": 42}, "name"),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_stored(client, site, connected, fields, field):
    person = visitor(client, site)
    response = submit(client, site, lead_body(client, site, person["visitor_token"], fields=fields))
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["fields"]
    assert count_rows(Lead) == 0


def test_unknown_top_level_fields_are_refused(client, site, connected):
    person = visitor(client, site)
    body = lead_body(client, site, person["visitor_token"], utm_source="mail")
    response = submit(client, site, body)
    assert response.status_code == 422 and "utm_source" in response.json["errors"]
    assert count_rows(Lead) == 0


def test_an_accepted_lead_is_encrypted_delivered_once_and_disclosed(
    app, client, site, neocrm, connected
):
    lead, person = accepted_lead(client, site)
    raw = db.session.execute(sa.text("SELECT fields_encrypted FROM leads")).scalar_one()
    assert "Li Wei" not in raw and "example.com" not in raw  # encrypted at rest

    report = delivery.deliver_until_idle()
    assert (report.delivered, report.failed, report.dead) == (1, 0, 0)
    ((crm_id, data),) = neocrm.leads.items()
    assert data == {
        "name": "Li Wei",
        "companyName": "Example Sensors Ltd.",
        "email": "li.wei@example.com",
        "phone": "+86 10 1234 5678",
        "customItem101__c": "https://sensors.example.com",
        "customItem102__c": "100080",
        "customItem103__c": "Please call me about the X200 series.\nThanks!",
        LEAD_ID_FIELD: str(lead.lead_id),
        "entityType": 11010000100001,
    }
    db.session.refresh(lead)
    assert (lead.status, lead.crm_id) == ("delivered", str(crm_id))

    assert delivery.deliver_until_idle().done == 0
    assert neocrm.lead_creates == 1  # a second run creates nothing

    (record,) = list(disclosures.disclosure_records(site.id))
    assert record["action"] == "disclosed"
    assert record["lead_id"] == str(lead.lead_id)
    assert record["recipient"].startswith("NeoCRM (") and record["recipient_location"] == "China"
    assert record["fields"] == sorted(FIELDS)
    assert record["consent_event_id"] == person["event_id"]
    assert record["separate_consent_hash"] == crm_form(client, site)["separate_consent"]["hash"]
    assert "PIPL Art. 23, 39" in record["legal_basis"] and record["crm_id"] == str(crm_id)


def test_server_errors_back_off_and_the_lead_arrives_once(app, client, site, neocrm, connected):
    lead, _ = accepted_lead(client, site)
    neocrm.fail_next(2, status=503)
    now = utcnow()
    first = delivery.deliver_due(now)
    assert (first.delivered, first.failed) == (0, 1)
    db.session.refresh(lead)
    assert lead.status == "pending" and lead.last_error
    assert lead.next_attempt_at == now + timedelta(seconds=30)
    assert delivery.deliver_due(now + timedelta(seconds=10)).done == 0  # not due yet
    assert delivery.deliver_due(now + timedelta(seconds=31)).failed == 1
    db.session.refresh(lead)
    assert lead.next_attempt_at == now + timedelta(seconds=31 + 60)
    assert delivery.deliver_due(now + timedelta(seconds=92)).delivered == 1
    assert neocrm.lead_creates == 1 and len(neocrm.leads) == 1


def test_an_expired_token_is_renewed_once(app, client, site, neocrm, connected):
    accepted_lead(client, site)
    delivery.deliver_until_idle()
    assert neocrm.token_requests == 1
    person = visitor(client, site)
    assert submit(client, site, lead_body(client, site, person["visitor_token"])).status_code == 202
    neocrm.expire_tokens()
    assert delivery.deliver_until_idle().delivered == 1
    assert neocrm.token_requests == 2 and len(neocrm.leads) == 2


def test_a_create_that_timed_out_is_found_not_repeated(app, client, site, neocrm, connected):
    app.config["CRM_TIMEOUT"] = 1.0
    lead, _ = accepted_lead(client, site)
    neocrm.slow_next(1, seconds=30.0, path_prefix="/rest/data/v2.0/xobjects/lead")
    now = utcnow()
    assert delivery.deliver_due(now).failed == 1
    db.session.refresh(lead)
    assert lead.status == "pending" and lead.outcome_unknown
    assert len(neocrm.leads) == 1  # NeoCRM did create it; the answer came too late

    assert delivery.deliver_due(now + timedelta(seconds=31)).delivered == 1
    db.session.refresh(lead)
    assert lead.crm_id == str(next(iter(neocrm.leads)))
    assert neocrm.lead_creates == 1


def test_without_a_lookup_field_a_timed_out_lead_waits_for_an_admin(
    app, client, site, neocrm, admin_token
):
    connect(site, neocrm, field_map={key: v for key, v in FIELD_MAP.items() if key != "lead_id"})
    app.config["CRM_TIMEOUT"] = 1.0
    lead, _ = accepted_lead(client, site)
    neocrm.slow_next(1, seconds=30.0, path_prefix="/rest/data/v2.0/xobjects/lead")
    now = utcnow()
    delivery.deliver_due(now)
    assert delivery.deliver_due(now + timedelta(seconds=31)).dead == 1
    assert neocrm.lead_creates == 1  # not created a second time behind anyone's back

    admin = {"Authorization": f"Bearer {admin_token}"}
    dead = client.get(f"/api/v1/sites/{site.site_key}/leads/dead", headers=admin)
    assert [item["lead_id"] for item in dead.json] == [str(lead.lead_id)]
    assert "Check NeoCRM" in dead.json[0]["last_error"]
    # The admin deleted it in NeoCRM (or found it missing) and asks for it again.
    neocrm.leads.clear()
    retried = client.post(
        f"/api/v1/sites/{site.site_key}/leads/{lead.lead_id}/retry", headers=admin
    )
    assert retried.status_code == 200 and retried.json["status"] == "pending"
    assert delivery.deliver_until_idle().delivered == 1 and len(neocrm.leads) == 1


def test_a_lead_dies_after_its_attempts_and_can_be_retried(
    app, client, site, neocrm, connected, admin_token
):
    app.config["CRM_MAX_ATTEMPTS"] = 2
    lead, _ = accepted_lead(client, site)
    neocrm.fail_next(2, status=500)
    now = utcnow()
    delivery.deliver_due(now)
    assert delivery.deliver_due(now + timedelta(hours=1)).dead == 1
    admin = {"Authorization": f"Bearer {admin_token}"}
    url = f"/api/v1/sites/{site.site_key}/leads/{lead.lead_id}"
    assert client.get(url, headers=admin).json["status"] == "dead"
    assert client.post(f"{url}/retry", headers=admin).status_code == 200
    assert client.post(f"{url}/retry", headers=admin).status_code == 409  # pending now
    assert delivery.deliver_until_idle().delivered == 1
    assert client.get(url, headers=admin).json["crm_id"] == str(next(iter(neocrm.leads)))


def test_a_rejected_lead_dies_at_once(app, client, site, neocrm):
    connect(site, neocrm, field_map={**FIELD_MAP, "name": None})  # NeoCRM requires a name
    lead, _ = accepted_lead(client, site)
    assert delivery.deliver_until_idle().dead == 1
    db.session.refresh(lead)
    assert lead.status == "dead" and "400" in (lead.last_error or "")


def test_withdrawing_crm_deletes_the_lead_in_neocrm(app, client, site, neocrm, connected):
    lead, person = accepted_lead(client, site)
    delivery.deliver_until_idle()
    crm_id = next(iter(neocrm.leads))
    withdrawn = decision_body(
        site,
        action="withdraw",
        choices={"analytics": False, "crm": False, "marketing_email": False},
        visitor_token=person["visitor_token"],
    )
    assert client.post(f"/api/v1/sites/{site.site_key}/consents", json=withdrawn).status_code == 201
    db.session.refresh(lead)
    assert lead.status == "deleting" and lead.fields_encrypted is None  # erased with the withdrawal

    assert delivery.deliver_until_idle().deleted == 1
    assert neocrm.leads == {} and crm_id in neocrm.deleted
    db.session.refresh(lead)
    assert lead.status == "deleted" and lead.deleted_at is not None
    actions = [record["action"] for record in disclosures.disclosure_records(site.id)]
    assert actions == ["disclosed", "erased", "deleted_at_recipient"]


def test_withdrawal_before_delivery_erases_the_outbox_copy(app, client, site, neocrm, connected):
    lead, person = accepted_lead(client, site)
    other = decision_body(
        site,
        choices={"analytics": True, "crm": False, "marketing_email": False},
        visitor_token=person["visitor_token"],
    )
    assert client.post(f"/api/v1/sites/{site.site_key}/consents", json=other).status_code == 201
    db.session.refresh(lead)
    assert (lead.status, lead.fields_encrypted) == ("withdrawn", None)
    assert delivery.deliver_until_idle().done == 0
    assert neocrm.lead_creates == 0
    assert [record["action"] for record in disclosures.disclosure_records(site.id)] == ["erased"]


def test_granting_other_categories_leaves_leads_alone(app, client, site, neocrm, connected):
    lead, person = accepted_lead(client, site)
    more = decision_body(
        site,
        choices={"analytics": True, "crm": True, "marketing_email": False},
        visitor_token=person["visitor_token"],
    )
    assert client.post(f"/api/v1/sites/{site.site_key}/consents", json=more).status_code == 201
    db.session.refresh(lead)
    assert lead.status == "pending" and lead.fields_encrypted is not None


def test_an_erasure_request_deletes_the_visitors_leads(app, client, site, neocrm, connected):
    _, person = accepted_lead(client, site)
    delivery.deliver_until_idle()
    response = client.post(
        f"/api/v1/sites/{site.site_key}/erasure", json={"visitor_token": person["visitor_token"]}
    )
    assert response.status_code == 202 and response.json["leads"] == 1
    assert delivery.deliver_until_idle().deleted == 1
    assert neocrm.leads == {}
    bad = client.post(f"/api/v1/sites/{site.site_key}/erasure", json={"visitor_token": "x"})
    assert bad.status_code == 401


def test_a_crm_that_is_down_never_loses_a_lead(app, client, site, neocrm):
    port = neocrm.url.rsplit(":", 1)[1]
    neocrm.stop()
    connect(site, neocrm)
    lead, _ = accepted_lead(client, site)
    now = utcnow()
    report = delivery.deliver_due(now)
    assert report.failed == 1
    db.session.refresh(lead)
    assert lead.status == "pending" and not lead.outcome_unknown  # never reached: no doubt
    assert f":{port}" in (lead.last_error or "")
    assert client.get("/readyz").status_code == 200
    with FakeNeoCRM(port=int(port)) as back:
        assert delivery.deliver_due(now + timedelta(minutes=1)).delivered == 1
        assert len(back.leads) == 1


def test_leads_wait_until_the_site_connects_its_crm(app, client, site, neocrm):
    accepted_lead(client, site)
    assert delivery.deliver_until_idle().due == 0
    connect(site, neocrm)
    assert delivery.deliver_until_idle().delivered == 1


def test_two_workers_never_take_the_same_lead(app, client, site, neocrm, connected):
    lead, _ = accepted_lead(client, site)
    now = utcnow()
    assert delivery._claim(lead.id, now) is True
    assert delivery._claim(lead.id, now) is False
    assert delivery.deliver_due(now).delivered == 0  # claimed by the other worker
    assert delivery.deliver_due(now + outbox.CLAIM + timedelta(seconds=1)).delivered == 1


def test_connection_secrets_are_encrypted_and_settings_checked(app, site, neocrm):
    connection = connect(site, neocrm)
    row = db.session.execute(
        sa.text("SELECT client_secret_encrypted, password_encrypted FROM crm_connections")
    ).one()
    assert neocrm.client_secret not in row[0] and neocrm.password not in row[1]
    assert crm_connection.settings_of(connection).password == neocrm.password
    for bad in (
        {"auth_url": "ftp://crm.example.com"},
        {"field_map": {"fax": "fax__c"}},
        {"field_map": {"name": "bad name"}},
        {"fixed": {"entityType": [1]}},
    ):
        with pytest.raises(ValueError):
            connect(site, neocrm, **bad)


def test_crm_commands_configure_and_deliver(app, client, site, neocrm, runner, tmp_path):
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(neocrm.client_secret + "\n")
    configured = runner.invoke(
        args=[
            "crm", "configure", "--site", site.site_key,
            "--auth-url", neocrm.url, "--instance-url", neocrm.url,
            "--client-id", neocrm.client_id, "--client-secret-file", str(secret_file),
            "--username", neocrm.username, "--password-file", "-",
            "--field-map", json.dumps({"website": "customItem101__c"}),
            "--fixed", '{"entityType": 1}',
        ],
        input=neocrm.password + "\n",
    )  # fmt: skip
    assert configured.exit_code == 0, configured.output
    assert "website -> customItem101__c" in configured.output
    assert "collected but not sent (no mapping): message, postal_code" in configured.output
    accepted_lead(client, site)
    worked = runner.invoke(args=["crm", "worker", "--once"])
    assert worked.exit_code == 0 and "delivered 1" in worked.output
    status = runner.invoke(args=["crm", "status", "--site", site.site_key])
    assert "delivered 1" in status.output
    bad = runner.invoke(
        args=["crm", "configure", "--site", site.site_key, "--auth-url", neocrm.url,
              "--instance-url", neocrm.url, "--client-id", "c", "--client-secret-file", "-",
              "--username", "u", "--password-file", "-", "--field-map", "{not json"],
        input="s\np\n",
    )  # fmt: skip
    assert bad.exit_code != 0 and "not JSON" in bad.output
    argv = runner.invoke(
        args=["crm", "configure", "--site", site.site_key, "--auth-url", neocrm.url,
              "--instance-url", neocrm.url, "--client-id", "c", "--client-secret", "s",
              "--username", "u", "--password", "p"]
    )  # fmt: skip
    assert argv.exit_code == 2  # secrets on the command line are not taken
    missing = runner.invoke(args=["crm", "retry", "--site", site.site_key, "--lead", "nope"])
    assert missing.exit_code != 0


def test_disclosures_are_exported_to_auditors(app, client, site, neocrm, connected):
    from consent_service.sites import access

    accepted_lead(client, site)
    delivery.deliver_until_idle()
    _, auditor = access.issue_token(site, "auditor", label="audit")
    response = client.get(
        f"/api/v1/sites/{site.site_key}/disclosures", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert response.status_code == 200
    assert [record["action"] for record in response.json] == ["disclosed"]
    assert client.get(f"/api/v1/sites/{site.site_key}/disclosures").status_code == 401
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(sa.text("DELETE FROM disclosures"))
    db.session.rollback()
    assert count_rows(Disclosure) == 1


def test_unknown_lead_ids_are_404(client, site, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    for lead_id in ("nope", str(uuid.uuid4())):
        response = client.get(f"/api/v1/sites/{site.site_key}/leads/{lead_id}", headers=admin)
        assert response.status_code == 404 and response.json["status"] == "not_found"


def test_only_the_sites_backend_erases_an_address(client, site, admin_token, neocrm, connected):
    lead, person = accepted_lead(client, site)
    public = client.post(
        f"/api/v1/sites/{site.site_key}/erasure",
        json={"visitor_token": person["visitor_token"], "email": "someone@example.com"},
    )
    assert public.status_code == 422 and "email" in public.json["errors"]
    url = f"/api/v1/sites/{site.site_key}/erasure-requests"
    assert client.post(url, json={"visitor_id": person["visitor_id"]}).status_code == 401
    admin = {"Authorization": f"Bearer {admin_token}"}
    assert client.post(url, json={}, headers=admin).status_code == 422
    erased = client.post(
        url,
        json={"visitor_id": person["visitor_id"], "email": "nobody@example.com"},
        headers=admin,
    )
    assert erased.status_code == 202
    assert erased.json == {"leads": 1, "subscriptions": 0}
    db.session.refresh(lead)
    assert lead.status == "withdrawn" and lead.fields_encrypted is None


def test_bundles_carry_the_disclosures_under_the_signed_manifest(
    app, client, site, neocrm, connected, tmp_path
):
    from consent_service.ledger.sealing import seal_all

    accepted_lead(client, site)
    delivery.deliver_until_idle()
    seal_all()
    manifest = exports.write_bundle(
        site.id, site.site_key, site.name, tmp_path, exports.ExportFilters(), actor="test"
    )
    assert manifest["disclosures"]["row_count"] == 1
    (record,) = [
        json.loads(line) for line in (tmp_path / "disclosures.jsonl").read_text().splitlines()
    ]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert record["consent_event_id"] in {event["event_id"] for event in events}
    assert verify.verify_bundle(tmp_path, trusted_keys()).ok
    (tmp_path / "disclosures.jsonl").write_text("")  # a record removed
    verdict = verify.verify_bundle(tmp_path, trusted_keys())
    assert not verdict.ok and "disclosures.jsonl matches manifest" in verdict.failures


def test_crm_secrets_come_from_the_environment(app, site, neocrm, runner, monkeypatch):
    monkeypatch.setenv("NEOCRM_CLIENT_SECRET", neocrm.client_secret)
    monkeypatch.delenv("NEOCRM_PASSWORD", raising=False)
    args = [
        "crm", "configure", "--site", site.site_key, "--auth-url", neocrm.url,
        "--instance-url", neocrm.url, "--client-id", neocrm.client_id,
        "--username", neocrm.username,
    ]  # fmt: skip
    missing = runner.invoke(args=args)
    assert missing.exit_code == 2 and "NEOCRM_PASSWORD" in missing.output
    monkeypatch.setenv("NEOCRM_PASSWORD", neocrm.password)
    assert runner.invoke(args=args).exit_code == 0
