"""Generated bodies thrown at the consent endpoint: only 2xx or 4xx, never a partial write."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_service.models import ConsentEvent
from tests.conftest import count_rows, decision_body

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = [
    "event_id",
    "visitor_token",
    "action",
    "choices",
    "policy_version",
    "banner_version",
    "language",
    "source",
    "gpc",
    "url",
    "client_time",
]
FIELD_VALUES = {
    "action": st.sampled_from(
        ["accept_all", "reject_all", "custom", "withdraw", "gpc_opt_out", "x"]
    ),
    "choices": st.dictionaries(
        st.sampled_from(["necessary", "analytics", "crm", "marketing_email", "ads", ""]),
        st.booleans() | JSON_SCALARS,
        max_size=5,
    ),
    "event_id": st.uuids().map(str) | st.text(max_size=40),
}


def mutations() -> st.SearchStrategy[dict[str, Any]]:
    value_for = {name: FIELD_VALUES.get(name, JSON_VALUES) for name in FIELDS}
    changed = st.fixed_dictionaries(
        {}, optional={name: strategy for name, strategy in value_for.items()}
    )
    removed = st.sets(st.sampled_from(FIELDS), max_size=3)
    extra = st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUES, max_size=2)
    return st.tuples(changed, removed, extra).map(
        lambda parts: {"changed": parts[0], "removed": parts[1], "extra": parts[2]}
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=mutations(), whole=JSON_VALUES)
def test_generated_bodies_get_2xx_or_4xx(client, site, mutation, whole):
    body = decision_body(site, event_id=str(uuid.uuid4()))
    body.update(mutation["changed"])
    for name in mutation["removed"]:
        body.pop(name, None)
    body.update(mutation["extra"])
    before = count_rows(ConsentEvent)
    response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=body)
    assert response.status_code < 500, response.json
    after = count_rows(ConsentEvent)
    if response.status_code == 201:
        assert after == before + 1
    else:
        assert 400 <= response.status_code < 500 or response.status_code == 200
        assert after == before
        assert (
            set(response.json) >= {"code", "status", "message", "errors"}
            or response.status_code == 200
        )

    non_object = client.post(f"/api/v1/sites/{site.site_key}/consents", json=whole)
    assert 400 <= non_object.status_code < 500
    assert count_rows(ConsentEvent) == after
