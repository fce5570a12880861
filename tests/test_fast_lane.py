"""The fast lane answers the banner's hottest requests exactly as Flask's views would."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.conftest import make_app


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


def both(app: Any, path: str, headers: dict[str, str], host: str = "127.0.0.1:8000") -> Any:
    """(lane's answer, Flask's answer, whether Flask was asked by the lane)."""
    lane = app.extensions["fast_lane"]
    passed: list[str] = []
    behind = lane.behind

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        passed.append(environ["PATH_INFO"])
        return behind(environ, start_response)

    lane.behind = counting
    try:
        by_lane = answer(lane, path, headers, host)
    finally:
        lane.behind = behind
    return by_lane, answer(behind, path, headers, host), bool(passed)


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


def test_the_lane_opens_after_a_first_request_through_flask(database_url):
    app = make_app(database_url)
    lane = app.extensions["fast_lane"]
    assert not lane.open
    app.test_client().get("/api/v1/sites/NoSuchSiteKey123/config")
    assert lane.open


def test_without_the_lane_flask_answers_everything(database_url):
    app = make_app(database_url, FAST_LANE=False)
    assert "fast_lane" not in app.extensions
