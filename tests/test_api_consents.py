"""POST /consents and GET /consents/current: recording and reading decisions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.models import ConsentEvent
from tests.conftest import count_rows, decision_body


def post(client: Any, site: Any, body: Any, **kwargs: Any) -> Any:
    return client.post(f"/api/v1/sites/{site.site_key}/consents", json=body, **kwargs)


def test_records_a_decision(client, site):
    response = post(client, site, decision_body(site), environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) >= {"event_id", "visitor_id", "visitor_token", "recorded_at", "state"}
    assert body["state"]["choices"] == {
        "necessary": True,
        "analytics": True,
        "crm": False,
        "media": False,
        "marketing_email": False,
    }
    assert body["state"]["needs_renewal"] is False
    event = db.session.scalar(sa.select(ConsentEvent))
    assert event.ip_prefix == "203.0.113.0/24"
    assert event.page_url == "https://www.example.com/products"
    assert event.recorded_at.tzinfo is not None
    assert event.client_time.isoformat() == "2026-11-22T09:00:00.123000+00:00"


def test_ipv6_is_truncated_to_48_bits(client, site):
    response = post(
        client, site, decision_body(site), environ_base={"REMOTE_ADDR": "2001:db8:abcd:12::1"}
    )
    assert response.status_code == 201
    assert db.session.scalar(sa.select(ConsentEvent.ip_prefix)) == "2001:db8:abcd::/48"


@pytest.mark.parametrize(
    ("action", "choices", "expected"),
    [
        (
            "accept_all",
            {},
            {"analytics": True, "crm": True, "media": True, "marketing_email": True},
        ),
        (
            "reject_all",
            {},
            {"analytics": False, "crm": False, "media": False, "marketing_email": False},
        ),
        (
            "custom",
            {"crm": True},
            {"analytics": False, "crm": True, "media": False, "marketing_email": False},
        ),
        (
            "withdraw",
            {},
            {"analytics": False, "crm": False, "media": False, "marketing_email": False},
        ),
    ],
)
def test_actions_resolve_to_a_full_choice(client, site, action, choices, expected):
    response = post(client, site, decision_body(site, action=action, choices=choices))
    assert response.status_code == 201, response.json
    assert response.json["state"]["choices"] == {"necessary": True, **expected}


def test_gpc_opt_out_denies_gpc_categories(client, site):
    body = decision_body(site, action="gpc_opt_out", choices={"analytics": True}, gpc=True)
    response = post(client, site, body)
    assert response.status_code == 201, response.json
    assert response.json["state"]["choices"]["marketing_email"] is False
    assert response.json["state"]["choices"]["analytics"] is True


def test_replay_answers_the_same_without_writing(client, site):
    body = decision_body(site)
    first = post(client, site, body)
    second = post(client, site, body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json == first.json
    assert count_rows(ConsentEvent) == 1


def test_same_event_id_with_another_body_conflicts(client, site):
    body = decision_body(site)
    assert post(client, site, body).status_code == 201
    response = post(client, site, {**body, "choices": {"analytics": False}})
    assert response.status_code == 409
    assert response.json["status"] == "event_id_conflict"
    assert count_rows(ConsentEvent) == 1


def test_later_decisions_with_the_token_belong_to_the_same_visitor(client, site):
    first = post(client, site, decision_body(site)).json
    body = decision_body(
        site, action="reject_all", choices={}, visitor_token=first["visitor_token"]
    )
    second = post(client, site, body).json
    assert second["visitor_id"] == first["visitor_id"]
    current = client.get(
        f"/api/v1/sites/{site.site_key}/consents/current",
        headers={"X-Visitor-Token": first["visitor_token"]},
    )
    assert current.status_code == 200
    assert current.json["choices"]["analytics"] is False
    assert current.json["event_id"] == second["event_id"]
    by_query = client.get(
        f"/api/v1/sites/{site.site_key}/consents/current",
        query_string={"visitor_token": first["visitor_token"]},
    )
    assert by_query.json == current.json


def test_a_site_page_may_read_the_current_state_with_the_token_in_a_header(client, site):
    """The banner asks with `X-Visitor-Token` from the site's origin (its preflight must allow
    the header), so the token is in no URL and no proxy's log."""
    token = post(client, site, decision_body(site)).json["visitor_token"]
    url = f"/api/v1/sites/{site.site_key}/consents/current"
    preflight = client.options(
        url,
        headers={
            "Origin": "https://www.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-visitor-token",
        },
    )
    assert preflight.status_code == 204
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert "x-visitor-token" in allowed
    current = client.get(
        url, headers={"Origin": "https://www.example.com", "X-Visitor-Token": token}
    )
    assert current.status_code == 200
    assert current.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert current.json["action"] == "custom"


def test_current_state_needs_a_valid_token(client, site):
    url = f"/api/v1/sites/{site.site_key}/consents/current"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-Visitor-Token": "forged.token"}).status_code == 401


def test_material_policy_change_asks_again(client, site):
    from consent_service.sites.versions import publish_policy

    token = post(client, site, decision_body(site)).json["visitor_token"]
    publish_policy(site, "2026-11", text="New terms", material=True)
    current = client.get(
        f"/api/v1/sites/{site.site_key}/consents/current", headers={"X-Visitor-Token": token}
    )
    assert current.json["needs_renewal"] is True


def test_non_material_policy_change_does_not_ask_again(client, site):
    from consent_service.sites.versions import publish_policy

    token = post(client, site, decision_body(site)).json["visitor_token"]
    publish_policy(site, "2026-11", text="Typo fixed", material=False)
    current = client.get(
        f"/api/v1/sites/{site.site_key}/consents/current", headers={"X-Visitor-Token": token}
    )
    assert current.json["needs_renewal"] is False


def test_lifetime_passing_asks_again(client, site):
    from datetime import timedelta

    from consent_service.consents import decisions
    from consent_service.sites.snapshot import load_snapshot

    visitor_id = post(client, site, decision_body(site)).json["visitor_id"]
    snapshot = load_snapshot(site.site_key, 0)
    event = decisions.latest_event(site.id, visitor_id)
    just_before = event.recorded_at + timedelta(days=site.lifetime_days) - timedelta(seconds=1)
    assert decisions.current_state(snapshot, visitor_id, now=just_before).needs_renewal is False
    after = event.recorded_at + timedelta(days=site.lifetime_days)
    assert decisions.current_state(snapshot, visitor_id, now=after).needs_renewal is True


REJECTED_BODIES: list[tuple[str, Any, int, str | None]] = [
    ("unknown field", {"extra": 1}, 422, "extra"),
    ("malformed uuid", {"event_id": "not-a-uuid"}, 422, "event_id"),
    ("unknown category", {"choices": {"ads": True}}, 422, "choices"),
    ("necessary refused", {"choices": {"necessary": False}}, 422, "choices"),
    ("contradiction", {"action": "accept_all", "choices": {"analytics": False}}, 422, "choices"),
    ("unknown action", {"action": "maybe"}, 422, "action"),
    ("unknown policy", {"policy_version": "1999-01"}, 422, "policy_version"),
    ("unknown banner", {"banner_version": "0" * 64}, 422, "banner_version"),
    ("bad banner hash", {"banner_version": "xyz"}, 422, "banner_version"),
    ("string boolean", {"choices": {"analytics": "yes"}}, 422, "choices"),
    ("missing action", {"action": ...}, 422, "action"),
    ("bad time", {"client_time": "yesterday"}, 422, "client_time"),
    ("foreign token", {"visitor_token": "abc.def"}, 422, "visitor_token"),
    ("bad source", {"source": "carrier-pigeon"}, 422, "source"),
]


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [case[1:] for case in REJECTED_BODIES],
    ids=[case[0] for case in REJECTED_BODIES],
)
def test_bad_decisions_are_rejected_without_writing(client, site, overrides, status, field):
    response = post(client, site, decision_body(site, **overrides))
    assert response.status_code == status, response.json
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert field in response.json["errors"]
    assert count_rows(ConsentEvent) == 0


def test_a_body_that_is_not_an_object_is_422(client, site):
    response = post(client, site, ["a", "list"])
    assert response.status_code == 422
    assert count_rows(ConsentEvent) == 0


def test_token_of_another_site_is_not_accepted(client, site):
    from consent_service.sites.settings import create_site

    other = create_site("Other", ["https://other.example"])
    token = post(client, site, decision_body(site)).json["visitor_token"]
    response = client.get(
        f"/api/v1/sites/{other.site_key}/consents/current", headers={"X-Visitor-Token": token}
    )
    assert response.status_code == 401


def test_non_json_body_is_415(client, site):
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", data="event_id=1", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json["code"] == 415
    assert count_rows(ConsentEvent) == 0


def test_invalid_json_is_400(client, site):
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert set(response.json) == {"code", "status", "message", "errors"}


def test_oversized_body_is_413(client, site):
    body = decision_body(site, url="https://www.example.com/" + "a" * 20000)
    response = post(client, site, body)
    assert response.status_code == 413
    assert response.json["code"] == 413
    assert count_rows(ConsentEvent) == 0


def test_unknown_site_is_404(client, site):
    response = post(client, site, decision_body(site))
    assert response.status_code == 201
    response = client.post(
        "/api/v1/sites/no-such-site/consents", json=decision_body(site, event_id=str(uuid.uuid4()))
    )
    assert response.status_code == 404
    assert response.json["status"] == "site_not_found"
    assert count_rows(ConsentEvent) == 1


def test_foreign_origin_is_403_and_allowed_origin_gets_cors(client, site):
    url = f"/api/v1/sites/{site.site_key}/consents"
    denied = client.post(url, json=decision_body(site), headers={"Origin": "https://evil.example"})
    assert denied.status_code == 403
    assert count_rows(ConsentEvent) == 0
    allowed = client.post(
        url, json=decision_body(site), headers={"Origin": "https://www.example.com"}
    )
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    preflight = client.options(
        url,
        headers={
            "Origin": "https://www.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://www.example.com"


def test_events_cannot_be_updated_or_deleted_in_the_database(app, client, site):
    post(client, site, decision_body(site))
    for statement in (
        "UPDATE consent_events SET action = 'accept_all'",
        "DELETE FROM consent_events",
    ):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert count_rows(ConsentEvent) == 1
