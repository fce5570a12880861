"""The fast lane answers the banner's hottest requests exactly as Flask's views would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder, run_wsgi_app

from consent_service.extensions import db
from consent_service.models import ConsentEvent, Site
from tests.conftest import decision_body, make_app


@pytest.fixture
def lane_app(database_url: str) -> Any:
    """The app with a COUNTRY_HEADER, so answers vary on the visitor's place too."""
    from consent_service.sites import demo

    app = make_app(database_url, COUNTRY_HEADER="CF-IPCountry", SITE_CACHE_SECONDS=60)
    with app.app_context():
        site, _ = demo.ensure_demo_site("https://www.example.com")
        app.config["TEST_SITE_KEY"] = site.site_key
    app.test_client().get("/healthz")  # a first request through Flask opens the lane
    return app


def answer(wsgi: Any, path: str, headers: dict[str, str], host: str) -> tuple[Any, ...]:
    environ = EnvironBuilder(path=path, headers=headers, base_url=f"http://{host}").get_environ()
    body, status, response_headers = run_wsgi_app(wsgi, environ)
    return status, sorted(response_headers.to_wsgi_list()), b"".join(body)


@contextmanager
def passes_noted(lane: Any) -> Iterator[list[str]]:
    """The paths the lane passes on to Flask while the block runs."""
    passed: list[str] = []
    behind = lane.behind

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        passed.append(environ["PATH_INFO"])
        return behind(environ, start_response)

    lane.behind = counting
    try:
        yield passed
    finally:
        lane.behind = behind


def both(app: Any, path: str, headers: dict[str, str], host: str = "127.0.0.1:8000") -> Any:
    """(lane's answer, Flask's answer, whether Flask was asked by the lane)."""
    lane = app.extensions["fast_lane"]
    with passes_noted(lane) as passed:
        by_lane = answer(lane, path, headers, host)
    return by_lane, answer(lane.behind, path, headers, host), bool(passed)


def test_the_config_is_answered_by_the_lane_as_flask_answers_it(lane_app):
    key = lane_app.config["TEST_SITE_KEY"]
    path = f"/api/v1/sites/{key}/config"
    by_lane, by_flask, passed = both(lane_app, path, {})
    assert not passed and by_lane == by_flask and by_lane[0] == "200 OK"
    etag = dict(by_lane[1])["ETag"]
    variants = [
        {"Origin": "https://www.example.com", "Accept-Language": "zh-CN,zh;q=0.9"},
        {"If-None-Match": etag},
        {"If-None-Match": f'W/"x", {etag}', "Origin": "http://127.0.0.1:8000"},
        {"If-None-Match": '"other"'},
        {"CF-IPCountry": "US", "Accept-Language": "de"},
        {"CF-IPCountry": "CN", "Origin": "https://WWW.EXAMPLE.COM"},
    ]
    for headers in variants:
        by_lane, by_flask, passed = both(lane_app, path, headers)
        assert not passed, headers
        assert by_lane == by_flask, headers
    assert both(lane_app, path, {"If-None-Match": etag})[0][0] == "304 NOT MODIFIED"


def test_the_script_is_answered_by_the_lane_as_flask_answers_it(lane_app):
    key = lane_app.config["TEST_SITE_KEY"]
    path = f"/c/{key}.js"
    by_lane, by_flask, passed = both(lane_app, path, {"Accept-Encoding": "gzip, br"})
    assert not passed and by_lane == by_flask
    assert dict(by_lane[1])["Content-Encoding"] == "gzip"
    etag = dict(by_lane[1])["ETag"]
    variants = [
        {},
        {"Accept-Encoding": "gzip;q=0, identity"},
        {"Accept-Encoding": "gzip", "If-None-Match": etag},
        {"If-None-Match": etag},  # the compressed copy's tag does not match the plain one
        {"CF-IPCountry": "DE", "Accept-Encoding": "gzip"},
    ]
    for headers in variants:
        by_lane, by_flask, passed = both(lane_app, path, headers)
        assert not passed, headers
        assert by_lane == by_flask, headers
    localhost = both(lane_app, path, {}, host="LOCALHOST:5000")
    assert not localhost[2] and localhost[0] == localhost[1]


@pytest.mark.parametrize(
    ("path", "headers", "host", "status"),
    [
        ("/api/v1/sites/{key}/config?locale=zh-CN", {}, "127.0.0.1", "200 OK"),
        ("/api/v1/sites/{key}/config", {"Origin": "https://evil.example"}, "127.0.0.1", "403"),
        ("/api/v1/sites/NoSuchSiteKey123/config", {}, "127.0.0.1", "404"),
        ("/api/v1/sites/{key}/config/", {}, "127.0.0.1", "404"),
        ("/c/{key}.js", {}, "www.attacker.example", "421"),
        ("/c/NoSuchSiteKey123.js", {}, "127.0.0.1", "404"),
        ("/c/stub.js", {}, "127.0.0.1", "200 OK"),
    ],
)
def test_what_is_not_plain_goes_on_to_flask(lane_app, path, headers, host, status):
    path = path.format(key=lane_app.config["TEST_SITE_KEY"])
    by_lane, by_flask, passed = both(lane_app, path, headers, host)
    assert passed and by_lane == by_flask
    assert by_lane[0].startswith(status)


def test_a_host_outside_trusted_hosts_goes_on_to_flask(lane_app):
    key = lane_app.config["TEST_SITE_KEY"]
    lane_app.config.update(TRUSTED_HOSTS=["127.0.0.1"], PUBLIC_BASE_URL="http://127.0.0.1")
    for path in (f"/api/v1/sites/{key}/config", f"/c/{key}.js"):
        by_lane, by_flask, passed = both(lane_app, path, {}, host="evil.example")
        assert passed and by_lane == by_flask and by_lane[0].startswith("400")
    with lane_app.app_context():
        site = db.session.scalar(sa.select(Site).filter_by(site_key=key))
        body = decision_body(site)
    lane = lane_app.extensions["fast_lane"]
    path = f"/api/v1/sites/{key}/consents"
    environ = EnvironBuilder(
        path=path, method="POST", json=body, base_url="http://evil.example"
    ).get_environ()
    _, status, _ = run_wsgi_app(lane, environ)
    assert status.startswith("400")
    with lane_app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(ConsentEvent)
                .filter_by(event_id=uuid.UUID(body["event_id"]))
            )
            == 0
        )


def test_the_lane_opens_after_a_first_request_through_flask(database_url):
    app = make_app(database_url)
    lane = app.extensions["fast_lane"]
    assert not lane.open
    app.test_client().get("/api/v1/sites/NoSuchSiteKey123/config")
    assert lane.open


def test_without_the_lane_flask_answers_everything(database_url):
    app = make_app(database_url, FAST_LANE=False)
    assert "fast_lane" not in app.extensions


def post(wsgi: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[Any, ...]:
    environ = EnvironBuilder(
        path=path,
        method="POST",
        data=body,
        headers=headers,
        base_url="http://127.0.0.1:8000",
        environ_overrides={"REMOTE_ADDR": "203.0.113.9"},
    ).get_environ()
    answer_body, status, response_headers = run_wsgi_app(wsgi, environ)
    return status, dict(response_headers.to_wsgi_list()), b"".join(answer_body)


def posted_both(app: Any, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """(lane's answer, whether the lane passed it on) for one decision; then Flask's answer
    to the same decision with another event id."""
    lane = app.extensions["fast_lane"]
    path = f"/api/v1/sites/{app.config['TEST_SITE_KEY']}/consents"
    headers = {"Content-Type": "application/json", **headers}
    with passes_noted(lane) as passed:
        by_lane = post(lane, path, json.dumps(body).encode(), headers)
    other = json.dumps(body | {"event_id": str(uuid.uuid4())}).encode()
    return by_lane, post(lane.behind, path, other, headers), bool(passed)


def shape(answer: tuple[Any, ...]) -> tuple[Any, ...]:
    """Status, headers but the length, and the body's keys (ids and signatures differ)."""
    status, headers, body = answer
    document = json.loads(body)
    keys = sorted(document) if isinstance(document, dict) else None
    return status, {k: v for k, v in headers.items() if k != "Content-Length"}, keys


def test_a_decision_is_recorded_by_the_lane_as_flask_records_it(lane_app):
    with lane_app.app_context():
        site = db.session.scalar(
            sa.select(Site).filter_by(site_key=lane_app.config["TEST_SITE_KEY"])
        )
        body = decision_body(site)
    for headers in ({}, {"Origin": "https://www.example.com", "Sec-GPC": "1"}):
        by_lane, by_flask, passed = posted_both(
            lane_app, body | {"event_id": str(uuid.uuid4())}, headers
        )
        assert not passed and by_lane[0] == "201 CREATED"
        assert shape(by_lane) == shape(by_flask)
    by_lane, _, _ = posted_both(lane_app, body, {"User-Agent": "Mozilla/5.0 (X11)"})
    replay, _, passed = posted_both(lane_app, body, {"User-Agent": "Mozilla/5.0 (X11)"})
    assert not passed and replay[0] == "200 OK" and replay[2] == by_lane[2]
    with lane_app.app_context():
        event = db.session.scalar(
            sa.select(ConsentEvent).filter_by(event_id=uuid.UUID(body["event_id"]))
        )
        assert event.user_agent == "Mozilla/5.0 (X11)" and event.ip_prefix == "203.0.113.0/24"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 7


@pytest.mark.parametrize(
    ("change", "headers", "status"),
    [
        ({"action": "maybe"}, {}, "422"),
        ({"choices": {"necessary": False}}, {}, "422"),
        ({"policy_version": "never-published"}, {}, "422"),
        ({"event_id": "reused"}, {}, "409"),
        ({}, {"Origin": "https://evil.example"}, "403"),
        ({}, {"Content-Type": "text/plain"}, "415"),
        ({"url": "https://www.example.com/\u0000"}, {}, "422"),
    ],
)
def test_what_the_service_refuses_goes_on_to_flask_and_writes_nothing(
    lane_app, change, headers, status
):
    with lane_app.app_context():
        site = db.session.scalar(
            sa.select(Site).filter_by(site_key=lane_app.config["TEST_SITE_KEY"])
        )
        body = decision_body(site)
    if change.get("event_id") == "reused":
        posted_both(lane_app, body, {})
        change = {"action": "accept_all", "choices": {}}
    with lane_app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
    by_lane, by_flask, passed = posted_both(lane_app, body | change, headers)
    assert passed and by_lane[0].startswith(status)
    if status != "409":  # Flask had another event id: no conflict there
        assert shape(by_lane) == shape(by_flask)
    assert "message" in json.loads(by_lane[2])
    with lane_app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
    assert after == before + (1 if status == "409" else 0)  # Flask took the other event id


@pytest.mark.parametrize("origin", [{}, {"Origin": "https://www.example.com"}])
@pytest.mark.parametrize("failing", ["the write", "the site's snapshot"])
def test_a_write_the_lane_found_the_database_away_for_is_not_tried_again(
    lane_app, monkeypatch, origin, failing
):
    """Flask answers it with the lane's error: trying the database a second time would make
    the banner wait twice (a connect timeout, SQLite's busy timeout) for the same 503. Only an
    origin the lane checked before the database failed gets CORS headers."""
    from sqlalchemy.exc import OperationalError

    from consent_service.consents import decisions

    with lane_app.app_context():
        site = db.session.scalar(
            sa.select(Site).filter_by(site_key=lane_app.config["TEST_SITE_KEY"])
        )
        body = decision_body(site)
    tries: list[str] = []

    def away(*_: Any, **__: Any) -> None:
        tries.append(failing)
        raise OperationalError("SELECT", {}, Exception("the database is away"))

    if failing == "the write":
        monkeypatch.setattr(decisions, "write_together", away)
    else:
        monkeypatch.setattr(lane_app.extensions["consent_site_cache"], "snapshot", away)
    lane = lane_app.extensions["fast_lane"]
    path = f"/api/v1/sites/{lane_app.config['TEST_SITE_KEY']}/consents"
    headers = {"Content-Type": "application/json", **origin}
    with passes_noted(lane) as passed:
        status, answered_headers, answered = post(lane, path, json.dumps(body).encode(), headers)
    assert passed and status == "503 SERVICE UNAVAILABLE"
    assert answered_headers["Retry-After"] == "5"
    assert json.loads(answered)["status"] == "database_unavailable"
    assert tries == [failing]
    if origin and failing == "the write":  # the banner can read the answer
        assert answered_headers["Access-Control-Allow-Origin"] == origin["Origin"]
    else:
        assert "Access-Control-Allow-Origin" not in answered_headers
    monkeypatch.undo()  # the database back: the same decision is recorded, by the lane
    with passes_noted(lane) as passed:
        status, _, _ = post(lane, path, json.dumps(body).encode(), headers)
    assert status == "201 CREATED" and not passed
