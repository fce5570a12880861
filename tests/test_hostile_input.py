"""The hand corpus of inputs that once answered 500 or slipped through: each is a clear 4xx
(or, for a page URL a browser really sends, a 2xx), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest

from consent_service.models import ConsentEvent
from tests.conftest import count_rows, decision_body

BIG = 2**64


def consent(site: Any, **overrides: Any) -> str:
    return json.dumps(decision_body(site, **overrides))


ACCEPTED_URLS = [
    "https://www.example.com/landing?gclid=" + "Cj0KCQiA" * 400,
    "https://www.example.com/" + "a" * 5000,
    "https://my_intranet.example.com/page",
    "http://localhost:8080/x",
    "file:///C:/Users/page.html",
    "about:srcdoc",
    "javascript:alert(1)",
    "https://例え.テスト/パス",
    "",
]


@pytest.mark.parametrize("url", ACCEPTED_URLS, ids=range(len(ACCEPTED_URLS)))
def test_any_page_url_a_browser_sends_is_recorded(client: Any, site: Any, url: str) -> None:
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents",
        data=consent(site, url=url),
        content_type="application/json",
    )
    assert response.status_code == 201, response.get_json()
    event = ConsentEvent.query.one()
    assert event.page_url is None or len(event.page_url) <= 2048
    if not url.startswith("http"):
        assert event.page_url is None
    elif "?" in url:
        assert event.page_url == url.split("?")[0]
    elif len(url) > 2048:
        assert event.page_url.endswith("...[truncated]")


def bad_bodies(site: Any) -> list[tuple[str, str, int]]:
    raw_surrogate = '{"event_id": "%s", "action": "custom", "policy_version": "\\ud800x",'
    raw_surrogate += ' "banner_version": "%s"}'
    return [
        ("lone surrogate", raw_surrogate % (uuid.uuid4(), site.banner_version_hash), 422),
        ("NUL in a string", consent(site, policy_version="2024\u0000"), 422),
        ("NUL in the URL", consent(site, url="https://www.example.com/\u0000"), 422),
        ("NUL in a choice key", consent(site, choices={"ana\u0000": True}), 422),
        ("nested 1,000 deep", "[" * 1000 + "]" * 1000, 400),
        ("nested 40 deep", '{"a":' * 40 + "1" + "}" * 40, 422),
        ("huge number", consent(site, gpc=BIG), 422),
        ("date offset overflows", consent(site, client_time="9999-12-31T23:59:59-23:59"), 422),
        ("date offset underflows", consent(site, client_time="0001-01-01T00:00:00+23:59"), 422),
        ("1 as a boolean", consent(site, gpc=1), 422),
        ('"yes" as a boolean', consent(site, gpc="yes"), 422),
        ("1 as a choice", consent(site, choices={"analytics": 1}), 422),
        ("language with a newline", consent(site, language="en\n"), 422),
    ]


@pytest.mark.parametrize("index", range(13))
def test_bad_consent_bodies_are_refused(client: Any, site: Any, index: int) -> None:
    name, body, status = bad_bodies(site)[index]
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", data=body, content_type="application/json"
    )
    assert response.status_code == status, (name, response.get_json())
    assert set(response.get_json()) == {"code", "status", "message", "errors"}
    assert count_rows(ConsentEvent) == 0


BAD_REQUESTS = [
    ("GET", "/api/v1/sites/ab%00c/config", 404),
    ("GET", "/c/ab%00c.js", 404),
    ("GET", "/api/v1/sites/{key}/consents/current?visitor_token=a%00b", 422),
    ("GET", "/api/v1/sites/{key}/visitors/a%00b/consent", 404),
    ("GET", "/api/v1/sites/{key}/leads/a%00b", 404),
    ("GET", "/api/v1/sites/{key}/ledger/proof/a%00b", 404),
    ("DELETE", f"/api/v1/sites/{{key}}/webhooks/{BIG}", 404),
    ("POST", f"/api/v1/sites/{{key}}/webhooks/deliveries/{BIG}/retry", 404),
    ("POST", f"/api/v1/sites/{{key}}/subscriptions/messages/{BIG}/retry", 404),
    ("GET", f"/api/v1/sites/{{key}}/ledger/consistency?from={BIG}&to={BIG}", 422),
    ("GET", "/api/v1/sites/{key}/ledger/exports/4294967296/manifest", 404),
    ("DELETE", "/api/v1/sites/{key}/webhooks/4294967296", 404),
    ("GET", "/api/v1/sites/{key}/ledger/export?from=9999-12-31T23:59:59-23:59", 422),
    ("GET", "/api/v1/sites/{key}/ledger/export?from=x%00", 422),
]


@pytest.mark.parametrize(("method", "path", "status"), BAD_REQUESTS)
def test_bad_paths_and_queries_are_refused(
    client: Any, site: Any, admin_token: str, method: str, path: str, status: int
) -> None:
    response = client.open(
        path.format(key=site.site_key),
        method=method,
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == status


@pytest.mark.parametrize("email", ["a,b@example.com", "a b@example.com", '"a"@example.com'])
def test_unmailable_addresses_are_refused(client: Any, site: Any, email: str) -> None:
    response = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions",
        json={"email": email, "locale": "en", "wording_hash": "0" * 64},
    )
    assert response.status_code == 422
    assert "email" in response.get_json()["errors"]


def test_a_chunked_body_over_the_limit_is_refused(client: Any, site: Any) -> None:
    """As gunicorn hands over a chunked body: no Content-Length, a terminated stream."""
    body = consent(site, url="https://www.example.com/" + "a" * 20_000).encode()
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert count_rows(ConsentEvent) == 0


@pytest.mark.parametrize("granted", [1, "yes", "true", 0])
def test_a_separate_consent_is_a_json_boolean(client: Any, site: Any, granted: Any) -> None:
    body = {
        "visitor_token": "not-checked-before-the-shape",
        "fields": {"name": "Li Wei"},
        "separate_consent": {"granted": granted, "wording_hash": "0" * 64},
    }
    response = client.post(f"/api/v1/sites/{site.site_key}/leads", json=body)
    assert response.status_code == 422
    assert "separate_consent" in response.get_json()["errors"]
