"""One JSON error shape everywhere, health probes, and the OpenAPI document."""

from __future__ import annotations

ERROR_KEYS = {"code", "status", "message", "errors"}


def test_unknown_url_is_json_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.is_json and set(response.json) == ERROR_KEYS


def test_wrong_method_is_json_405(client, site):
    response = client.delete(f"/api/v1/sites/{site.site_key}/config")
    assert response.status_code == 405
    assert set(response.json) == ERROR_KEYS
    assert "GET" in response.headers["Allow"]


def test_a_failed_statement_does_not_poison_the_next_request(app, site, admin_token):
    """A view that swallows a database error (PostgreSQL then refuses every statement until a
    rollback), or dies of one, must not leave the session broken for the next request."""
    from sqlalchemy import exc, text

    from consent_service.extensions import db

    def swallow() -> dict[str, bool]:
        try:
            db.session.execute(text("SELECT * FROM no_such_table"))
        except exc.DBAPIError:
            return {"swallowed": True}
        return {"swallowed": False}

    def crash() -> dict[str, bool]:
        swallow()
        raise RuntimeError("a bug after a failed statement")

    app.add_url_rule("/test/swallow", view_func=swallow)
    app.add_url_rule("/test/crash", view_func=crash)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {admin_token}"}
    for broken, status in (("/test/swallow", 200), ("/test/crash", 500)):
        assert client.get(broken).status_code == status
        after = client.get(f"/api/v1/sites/{site.site_key}/settings", headers=auth)
        assert after.status_code == 200


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_the_favicon_is_an_empty_cached_answer_not_a_404(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 204 and answer.data == b""
    assert "max-age=604800" in answer.headers["Cache-Control"]


def test_readiness_fails_when_the_database_is_gone(app_factory):
    app = app_factory(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert set(response.json) == ERROR_KEYS
    assert app.test_client().get("/healthz").status_code == 200


def test_openapi_document_describes_the_api(client):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert "/api/v1/sites/{site_key}/consents" in paths
    assert "/api/v1/sites/{site_key}/config" in paths
    schemas = document["components"]["schemas"]
    assert "event_id" in schemas["ConsentDecision"]["properties"]
