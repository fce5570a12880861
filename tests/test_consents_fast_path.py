"""The lean consent write: the same answers as the documented schema, for less work."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from consent_service.api import public
from consent_service.consents import decisions
from consent_service.schemas.consent import (
    DECISION_SCHEMA,
    ConsentRecordedSchema,
    dump_recorded,
    load_decision_fast,
)
from consent_service.sites.snapshot import load_snapshot
from tests.conftest import decision_body

BANNER = "a" * 64
VALID = {
    "event_id": "6f1c2a4e-9a55-4c1e-8a8f-0f2f3c4d5e6f",
    "action": "custom",
    "choices": {"analytics": True, "crm": False},
    "policy_version": "2026-01",
    "banner_version": BANNER,
    "language": "en",
    "source": "banner",
    "gpc": False,
    "url": "https://www.example.com/products",
    "client_time": "2026-11-22T10:00:00.123+01:00",
}


def schema_load(body: Any) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = DECISION_SCHEMA.load(body)
    except ValidationError:
        return None
    return loaded


@pytest.mark.parametrize(
    "body",
    [
        VALID,
        {k: v for k, v in VALID.items() if k in ("event_id", "action", "policy_version")}
        | {"banner_version": BANNER},
        VALID | {"visitor_token": "t" * 512, "language": None, "url": None, "client_time": None},
        VALID | {"choices": {}, "action": "accept_all", "source": "api", "gpc": True},
        VALID | {"event_id": "6F1C2A4E9A554C1E8A8F0F2F3C4D5E6F", "language": "zh-Hans-CN"},
    ],
)
def test_fast_check_takes_well_formed_decisions_as_the_schema_loads_them(body):
    fast = load_decision_fast(copy.deepcopy(body))
    assert fast is not None
    assert fast == DECISION_SCHEMA.load(copy.deepcopy(body))


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": "not-a-uuid"},
        {"event_id": 12},
        {"action": "maybe"},
        {"choices": None},
        {"choices": {"Analytics": True}},
        {"choices": {"analytics": 1}},
        {"choices": {f"c{i}": True for i in range(65)}},
        {"policy_version": ""},
        {"policy_version": "p" * 65},
        {"banner_version": "A" * 64},
        {"banner_version": BANNER + "\n"},
        {"visitor_token": "t" * 513},
        {"language": "en\n"},
        {"source": "robot"},
        {"gpc": "false"},
        {"gpc": 0},
        {"url": 5},
        {"client_time": "yesterday"},
        {"unexpected": 1},
    ],
)
def test_fast_check_leaves_every_mistake_to_the_schema(change):
    body = VALID | change
    assert load_decision_fast(body) is None
    assert schema_load(body) is None


def test_fast_check_leaves_missing_fields_and_non_objects_to_the_schema():
    for field in ("event_id", "action", "policy_version", "banner_version"):
        assert load_decision_fast({k: v for k, v in VALID.items() if k != field}) is None
    for body in (None, [], "x", 1, [VALID]):
        assert load_decision_fast(body) is None


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70)
)
FIELD_VALUES = JSON_SCALARS | st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*VALID, "other"]), FIELD_VALUES, max_size=4))
def test_fast_check_never_accepts_what_the_schema_refuses(changes):
    body = VALID | changes
    fast = load_decision_fast(copy.deepcopy(body))
    if fast is not None:
        assert fast == schema_load(copy.deepcopy(body))


def post(client: Any, site: Any, body: Any) -> Any:
    return client.post(f"/api/v1/sites/{site.site_key}/consents", json=body)


def test_fast_and_documented_views_answer_alike(client, site, monkeypatch):
    body = decision_body(site)
    fast = post(client, site, body)
    assert fast.status_code == 201
    fast_replay = post(client, site, body)
    monkeypatch.setattr(public, "load_decision_fast", lambda body: None)
    documented_replay = post(client, site, body)
    assert fast_replay.status_code == documented_replay.status_code == 200
    assert fast_replay.data == documented_replay.data
    assert fast_replay.headers["Content-Type"] == documented_replay.headers["Content-Type"]
    assert fast_replay.json == fast.json


@pytest.mark.parametrize("change", [{"action": "maybe"}, {"choices": {"x": 1}}, {"other": 1}])
def test_errors_are_the_documented_schema_errors(client, site, change):
    response = post(client, site, decision_body(site, **change))
    assert response.status_code == 422
    body = response.json
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == 422
    assert set(body["errors"]) == set(change)


def test_written_out_dump_equals_the_schema_dump(app, site):
    snapshot = load_snapshot(site.site_key, 0.0)
    decision = DECISION_SCHEMA.load(decision_body(site, event_id=str(uuid.uuid4())))
    recorded = decisions.record_decision(snapshot, decision, decisions.RequestContext())
    raw = {
        "event_id": str(recorded.event.event_id),
        "visitor_id": recorded.event.visitor_id,
        "visitor_token": recorded.visitor_token,
        "recorded_at": recorded.event.recorded_at,
        "state": recorded.state,
        "receipt": recorded.receipt,
    }
    written = dump_recorded(recorded.event, recorded.visitor_token, recorded.state, raw["receipt"])
    assert written == ConsentRecordedSchema().dump(raw)
    assert list(written) == list(ConsentRecordedSchema().dump(raw))


def test_openapi_still_documents_the_consent_post(client):
    document = client.get("/api/openapi.json").json
    operation = document["paths"]["/api/v1/sites/{site_key}/consents"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConsentDecision"
    }
    assert {"200", "201", "422"} <= set(operation["responses"])


def test_a_transient_event_reads_as_one_the_constructor_built():
    from datetime import UTC, datetime

    from sqlalchemy import inspect

    from consent_service.models import ConsentEvent

    values = {
        "site_id": 3,
        "event_id": uuid.uuid4(),
        "visitor_id": "ab" * 16,
        "action": "custom",
        "choices": {"necessary": True, "analytics": False},
        "policy_version": "2026-01",
        "banner_version": BANNER,
        "language": "en",
        "source": "banner",
        "gpc": False,
        "recorded_at": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        "page_url": None,
        "request_hash": "f" * 64,
    }
    fast, built = ConsentEvent.transient(**values), ConsentEvent(**values)
    for column in ConsentEvent.__table__.columns:
        assert getattr(fast, column.key) == getattr(built, column.key), column.key
    assert inspect(fast).transient
    fast.id, fast.evidence_salt = 7, "0" * 64  # set later by the write, as on any event
    assert (fast.id, fast.evidence_salt) == (7, "0" * 64)
    with pytest.raises(TypeError, match="choises"):
        ConsentEvent.transient(**values, choises={})
