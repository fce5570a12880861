"""The site's backend asks "may I?" with its admin token."""

from __future__ import annotations

from consent_service.sites import access
from consent_service.sites.settings import create_site
from tests.conftest import decision_body


def visitor_url(site, visitor_id):
    return f"/api/v1/sites/{site.site_key}/visitors/{visitor_id}/consent"


def test_admin_reads_a_visitors_consent(client, site, admin_token):
    recorded = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site)).json
    response = client.get(
        visitor_url(site, recorded["visitor_id"]),
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200
    assert response.json["choices"] == recorded["state"]["choices"]


def test_tokens_are_checked(client, site, admin_token):
    url = visitor_url(site, "0" * 32)
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {admin_token}"}).status_code == 404
    other = create_site("Other", ["https://other.example"])
    _, other_token = access.issue_token(other, "admin")
    foreign = client.get(url, headers={"Authorization": f"Bearer {other_token}"})
    assert foreign.status_code == 404
    assert foreign.json["status"] == "site_not_found"
    _, auditor = access.issue_token(site, "auditor")
    assert client.get(url, headers={"Authorization": f"Bearer {auditor}"}).status_code == 403


def test_revoked_token_is_refused(client, site):
    token, secret = access.issue_token(site, "admin", label="old")
    access.revoke_tokens(site, token_id=token.id)
    response = client.get(visitor_url(site, "x"), headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
