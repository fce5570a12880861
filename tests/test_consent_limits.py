"""The per-client limit on consent writes, shared by every app on one database."""

from __future__ import annotations

from typing import Any

from consent_service.models import ConsentEvent
from tests.conftest import count_rows, decision_body


def post(client: Any, site: Any, address: str = "203.0.113.7") -> Any:
    return client.post(
        f"/api/v1/sites/{site.site_key}/consents",
        json=decision_body(site),
        environ_base={"REMOTE_ADDR": address},
    )


def test_over_the_limit_is_429_with_retry_after_across_workers(app_factory, site):
    worker_a = app_factory(CONSENT_WRITES_PER_CLIENT=3, CONSENT_WRITE_WINDOW=3600)
    worker_b = app_factory(CONSENT_WRITES_PER_CLIENT=3, CONSENT_WRITE_WINDOW=3600)
    with worker_a.app_context():
        assert [post(worker_a.test_client(), site).status_code for _ in range(2)] == [201, 201]
    with worker_b.app_context():
        assert post(worker_b.test_client(), site).status_code == 201
        refused = post(worker_b.test_client(), site, "203.0.113.99")  # same /24
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused.get_json()["status"] == "rate_limited"
        # another network is another client
        assert post(worker_b.test_client(), site, "198.51.100.1").status_code == 201
    assert count_rows(ConsentEvent) == 4


def test_the_default_is_generous_for_an_office_behind_one_nat(client, site):
    assert all(post(client, site).status_code == 201 for _ in range(40))
