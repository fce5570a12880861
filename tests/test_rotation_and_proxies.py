"""Secret rotation keeps visitor tokens valid; trusted proxies decide the recorded address."""

from __future__ import annotations

import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.models import ConsentEvent
from tests.conftest import TEST_SECRET, decision_body


def test_rotated_secret_still_reads_old_visitor_tokens(client, site, app_factory):
    token = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site)).json[
        "visitor_token"
    ]
    new_secret = "a-brand-new-secret-key-of-enough-length"
    rotated = app_factory(SECRET_KEY=new_secret, SECRET_KEY_FALLBACKS=[TEST_SECRET])
    url = f"/api/v1/sites/{site.site_key}/consents/current"
    assert rotated.test_client().get(url, headers={"X-Visitor-Token": token}).status_code == 200
    forgotten = app_factory(SECRET_KEY=new_secret)
    assert forgotten.test_client().get(url, headers={"X-Visitor-Token": token}).status_code == 401


def test_forwarded_for_is_used_only_behind_a_trusted_proxy(site, app_factory):
    headers = {"X-Forwarded-For": "198.51.100.23", "CF-IPCountry": "DE"}
    direct = app_factory(COUNTRY_HEADER=None)
    proxied = app_factory(TRUSTED_PROXIES=1, COUNTRY_HEADER="CF-IPCountry")
    for app in (direct, proxied):
        response = app.test_client().post(
            f"/api/v1/sites/{site.site_key}/consents",
            json=decision_body(site),
            headers=headers,
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )
        assert response.status_code == 201
    rows = db.session.execute(
        sa.select(ConsentEvent.ip_prefix, ConsentEvent.country).order_by(ConsentEvent.id)
    ).all()
    assert [tuple(row) for row in rows] == [("10.1.2.0/24", None), ("198.51.100.0/24", "DE")]
