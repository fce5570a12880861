"""The NeoCRM stand-in (tests/neocrm_server.py) itself: that it keeps NeoCRM's protocol and
misbehaves exactly as asked. Plain urllib, no database, so not run per backend.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.neocrm_server import LEAD_PATH, XOQL_PATH, FakeNeoCRM

FIRST_ID = 1740000000000001


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def neocrm(clock: FakeClock) -> Iterator[FakeNeoCRM]:
    with FakeNeoCRM(token_ttl=60.0, clock=clock) as server:
        yield server


def call(
    server: FakeNeoCRM,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def grant(server: FakeNeoCRM, **changes: str) -> tuple[int, Any]:
    form = {
        "grant_type": "password",
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "username": server.username,
        "password": server.password,
        **changes,
    }
    content = {"Content-Type": "application/x-www-form-urlencoded"}
    return call(server, "POST", "/oauth2/token", urllib.parse.urlencode(form).encode(), content)


def token(server: FakeNeoCRM) -> str:
    status, document = grant(server)
    assert status == 200
    return str(document["access_token"])


def create(server: FakeNeoCRM, bearer: str, data: Any, timeout: float = 2.0) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    body = json.dumps({"data": data}).encode()
    return call(server, "POST", LEAD_PATH, body, headers, timeout)


def delete(server: FakeNeoCRM, bearer: str, lead_id: int) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"}
    return call(server, "DELETE", f"{LEAD_PATH}/{lead_id}", None, headers)


def test_the_password_grant_needs_the_right_credentials(neocrm: FakeNeoCRM) -> None:
    status, document = grant(neocrm)
    assert status == 200 and document["access_token"]
    assert document["instance_uri"] == neocrm.url and document["token_type"] == "Bearer"
    assert document["issued_at"].isdigit() and document["id"]

    status, document = grant(neocrm, password="wrong")
    assert status == 400 and document["error"] == "invalid_grant"
    assert isinstance(document["error_description"], str)
    assert grant(neocrm, grant_type="client_credentials")[1]["error"] == "unsupported_grant_type"
    json_body = {"Content-Type": "application/json"}
    assert call(neocrm, "POST", "/oauth2/token", b"{}", json_body)[1]["error"] == "invalid_request"
    assert neocrm.token_requests == 4


def test_a_lead_is_created_then_deleted_once(neocrm: FakeNeoCRM) -> None:
    bearer = token(neocrm)
    data = {"name": "Li Wei", "customItem104__c": "lead-1"}
    ok = (200, {"code": 200, "msg": "OK", "data": {"id": FIRST_ID}})
    assert create(neocrm, bearer, data) == ok
    assert create(neocrm, bearer, {"name": "Other"})[1]["data"]["id"] == FIRST_ID + 1
    assert neocrm.leads[FIRST_ID] == data and neocrm.lead_creates == 2

    assert delete(neocrm, bearer, FIRST_ID) == ok
    assert FIRST_ID not in neocrm.leads and neocrm.deleted == {FIRST_ID: data}
    assert delete(neocrm, bearer, FIRST_ID) == (404, {"code": 404, "msg": "not found"})

    assert create(neocrm, bearer, {"name": ""})[0] == 400
    plain = {"Authorization": f"Bearer {bearer}", "Content-Type": "text/plain"}
    assert call(neocrm, "POST", LEAD_PATH, b'{"data": {"name": "x"}}', plain)[0] == 415
    assert call(neocrm, "GET", "/nowhere") == (404, {"code": 404, "msg": "no such endpoint"})
    assert neocrm.lead_creates == 2


def test_tokens_stop_working_when_expired(neocrm: FakeNeoCRM, clock: FakeClock) -> None:
    refused = (401, {"code": 401, "msg": "invalid access token"})
    assert create(neocrm, "made-up", {"name": "A"}) == refused

    bearer = token(neocrm)
    neocrm.expire_tokens()
    assert create(neocrm, bearer, {"name": "A"}) == refused

    bearer = token(neocrm)
    clock.now += 59
    assert create(neocrm, bearer, {"name": "A"})[0] == 200
    clock.now += 2  # 61 s after the grant, past token_ttl=60
    assert create(neocrm, bearer, {"name": "B"}) == refused
    assert delete(neocrm, bearer, FIRST_ID) == refused
    assert list(neocrm.leads) == [FIRST_ID]


def test_fail_next_answers_an_error_and_does_nothing(neocrm: FakeNeoCRM) -> None:
    bearer = token(neocrm)
    neocrm.fail_next(2, status=503, path_prefix=LEAD_PATH)
    assert create(neocrm, bearer, {"name": "A"})[0] == 503
    assert create(neocrm, bearer, {"name": "A"}) == (503, {"code": 503, "msg": "injected failure"})
    assert token(neocrm)  # the token endpoint did not match the prefix
    assert create(neocrm, bearer, {"name": "A"})[0] == 200
    assert neocrm.lead_creates == 1 and len(neocrm.leads) == 1

    neocrm.fail_next(status=500)
    assert grant(neocrm)[0] == 500


def test_slow_next_creates_the_lead_before_the_late_answer(neocrm: FakeNeoCRM) -> None:
    bearer = token(neocrm)
    neocrm.slow_next(1, seconds=0.3, path_prefix=LEAD_PATH)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        create(neocrm, bearer, {"name": "A"}, timeout=0.1)
    assert time.monotonic() - started < 0.3
    assert list(neocrm.leads) == [FIRST_ID]  # NeoCRM has it; the client cannot know

    neocrm.slow_next(1, seconds=0.3, path_prefix=LEAD_PATH, before=True)
    with pytest.raises(TimeoutError):
        create(neocrm, bearer, {"name": "B"}, timeout=0.1)
    assert list(neocrm.leads) == [FIRST_ID]  # not yet: the delay comes first
    deadline = time.monotonic() + 2
    while len(neocrm.leads) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(neocrm.leads) == 2 and neocrm.lead_creates == 2
    assert create(neocrm, bearer, {"name": "C"}, timeout=0.1)[0] == 200  # back to normal


def test_stop_does_not_wait_for_a_held_back_answer(clock: FakeClock) -> None:
    server = FakeNeoCRM(clock=clock).start()
    bearer = token(server)
    server.slow_next(seconds=30)
    with pytest.raises(TimeoutError):
        create(server, bearer, {"name": "A"}, timeout=0.1)
    started = time.monotonic()
    server.stop()
    server.stop()
    assert time.monotonic() - started < 1.0


def test_xoql_finds_stored_leads_by_field(neocrm: FakeNeoCRM) -> None:
    bearer = token(neocrm)
    create(neocrm, bearer, {"name": "A", "customItem104__c": "it's-1"})
    create(neocrm, bearer, {"name": "B", "customItem104__c": "other"})
    create(neocrm, bearer, {"name": "A"})

    def query(xoql: str) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {bearer}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urllib.parse.urlencode({"xoql": xoql}).encode()
        return call(neocrm, "POST", XOQL_PATH, body, headers)

    status, document = query("select id from lead where customItem104__c = 'it\\'s-1'")
    assert status == 200 and document["code"] == 200
    assert document["data"] == {"totalSize": 1, "count": 1, "records": [{"id": FIRST_ID}]}
    records = query("SELECT id FROM lead WHERE name = 'A'")[1]["data"]["records"]
    assert records == [{"id": FIRST_ID}, {"id": FIRST_ID + 2}]
    assert query("select id from lead where name = 'nobody'")[1]["data"]["totalSize"] == 0

    delete(neocrm, bearer, FIRST_ID)
    assert query("select id from lead where name = 'A'")[1]["data"]["count"] == 1
    assert query("select name from lead")[0] == 400

    neocrm.reset()
    assert neocrm.leads == {} and neocrm.requests == [] and neocrm.lead_creates == 0
    assert query("select id from lead where name = 'A'")[0] == 401  # tokens forgotten too
