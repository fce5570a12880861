"""Webhooks: registered by admins, written with the consent, signed, retried, dead, retried again.

Deliveries go to a real HTTP receiver on loopback; the sender is driven with an explicit clock.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.integrations import outbox, webhooks
from consent_service.models import WebhookDelivery
from consent_service.models.types import utcnow
from consent_service.sites import access
from tests.conftest import count_rows, decision_body


class Receiver:
    """A site backend: records what it is sent, answers with the statuses it is told."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/consent"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def admin(site) -> dict[str, str]:
    _, secret = access.issue_token(site, "admin", label="test")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def hooked(app, site, receiver) -> tuple[Any, str]:
    app.config["WEBHOOK_ALLOW_HTTP"] = True  # the receiver is plain http on loopback
    webhook, secret = webhooks.add_webhook(site, receiver.url, allow_http=True)
    return webhook, secret


def record(client, site, **overrides: Any) -> Any:
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site, **overrides)
    )
    assert response.status_code == 201, response.json
    return response


def test_admins_register_list_and_remove_webhooks(client, site, admin):
    url = f"/api/v1/sites/{site.site_key}/webhooks"
    created = client.post(url, json={"url": "https://backend.example.com/consent"}, headers=admin)
    assert created.status_code == 201, created.json
    assert created.json["secret"].startswith("whsec_")
    listed = client.get(url, headers=admin).json
    assert [hook["url"] for hook in listed] == ["https://backend.example.com/consent"]
    assert "secret" not in listed[0]

    for bad in ({"url": "http://backend.example.com/x"}, {"url": "https://u:p@example.com/x"}):
        response = client.post(url, json=bad, headers=admin)
        assert response.status_code == 422 and "url" in response.json["errors"]
    unknown = client.post(url, json={"url": "https://a.example/x", "x": 1}, headers=admin)
    assert unknown.status_code == 422

    _, auditor = access.issue_token(site, "auditor", label="audit")
    forbidden = client.get(url, headers={"Authorization": f"Bearer {auditor}"})
    assert forbidden.status_code == 403

    removed = client.delete(f"{url}/{created.json['id']}", headers=admin)
    assert removed.status_code == 204
    assert client.get(url, headers=admin).json == []
    assert client.delete(f"{url}/{created.json['id']}", headers=admin).status_code == 404


def test_a_consent_change_is_delivered_once_and_signed(client, site, receiver, hooked):
    _, secret = hooked
    response = record(client, site)
    assert count_rows(WebhookDelivery) == 1  # written with the consent

    now = utcnow()
    report = webhooks.deliver_due(now)
    assert (report.delivered, report.failed, report.dead) == (1, 0, 0)
    headers, body = receiver.received[0]
    assert webhooks.verify(secret, headers[webhooks.SIGNATURE_HEADER], body, now)
    assert not webhooks.verify(secret, headers[webhooks.SIGNATURE_HEADER], body + b" ", now)
    assert not webhooks.verify("whsec_other", headers[webhooks.SIGNATURE_HEADER], body, now)
    assert not webhooks.verify(
        secret, headers[webhooks.SIGNATURE_HEADER], body, now + timedelta(minutes=10)
    )
    message = json.loads(body)
    assert message["type"] == "consent.changed" and message["site"] == site.site_key
    assert message["data"]["event_id"] == response.json["event_id"]
    assert message["data"]["choices"]["analytics"] is True
    assert headers["X-Consent-Message-Id"] == message["id"]

    assert webhooks.deliver_due(now + timedelta(hours=1)).delivered == 0
    assert len(receiver.received) == 1


def test_failures_back_off_die_and_can_be_sent_again(app, client, site, admin, receiver, hooked):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 3
    receiver.statuses = [500, 503, 500]
    record(client, site)
    start = utcnow()
    assert webhooks.deliver_due(start).failed == 1
    assert webhooks.deliver_due(start + timedelta(seconds=20)).failed == 0  # backing off
    assert webhooks.deliver_due(start + timedelta(seconds=31)).failed == 1
    assert webhooks.deliver_due(start + timedelta(seconds=31 + 59)).failed == 0
    assert webhooks.deliver_due(start + timedelta(seconds=31 + 61)).dead == 1
    assert len(receiver.received) == 3

    dead = client.get(f"/api/v1/sites/{site.site_key}/webhooks/dead", headers=admin).json
    assert [(item["attempts"], item["last_error"]) for item in dead] == [(3, "HTTP 500")]
    again = client.post(
        f"/api/v1/sites/{site.site_key}/webhooks/deliveries/{dead[0]['id']}/retry",
        headers=admin,
    )
    assert again.status_code == 200 and again.json["status"] == "pending"
    assert webhooks.deliver_due(utcnow()).delivered == 1
    assert len(receiver.received) == 4


def test_an_unreachable_endpoint_is_a_failure_not_a_crash(app, client, site):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    webhooks.add_webhook(site, f"http://127.0.0.1:{closed_port}/x", allow_http=True)
    record(client, site)
    report = webhooks.deliver_due(utcnow())
    assert report.failed == 1
    delivery = webhooks.db.session.query(WebhookDelivery).one()
    assert delivery.status == "pending" and delivery.last_error


def test_a_refused_consent_write_announces_nothing(client, site, hooked):
    body = decision_body(site)
    assert client.post(f"/api/v1/sites/{site.site_key}/consents", json=body).status_code == 201
    conflicting = {**body, "action": "reject_all", "choices": {}}
    response = client.post(f"/api/v1/sites/{site.site_key}/consents", json=conflicting)
    assert response.status_code == 409
    assert count_rows(WebhookDelivery) == 1


def test_a_delivery_is_taken_by_one_sender_only(client, site, hooked):
    record(client, site)
    delivery = webhooks.db.session.query(WebhookDelivery).one()
    now = utcnow()
    assert webhooks._claim(delivery.id, now) is True
    assert webhooks._claim(delivery.id, now) is False  # another sender, same moment
    assert webhooks._claim(delivery.id, now + outbox.CLAIM + timedelta(seconds=1)) is True


def test_removed_webhook_gets_nothing_more(client, site, receiver, hooked):
    webhook, _ = hooked
    record(client, site)
    webhooks.remove_webhook(site.id, webhook.id)
    record(client, site)  # after removal: not queued at all
    report = webhooks.deliver_due(utcnow())
    assert (report.delivered, report.dead) == (0, 1)
    assert receiver.received == []


def test_cli(runner, site, receiver, app):
    app.config["WEBHOOK_ALLOW_HTTP"] = True
    added = runner.invoke(
        args=["webhooks", "add", "--site", site.site_key, "--url", receiver.url, "--json"]
    )
    assert added.exit_code == 0, added.output
    hook = json.loads(added.output)
    assert receiver.url in runner.invoke(args=["webhooks", "list", "--site", site.site_key]).output
    app.config["WEBHOOK_ALLOW_HTTP"] = False
    refused = runner.invoke(
        args=["webhooks", "add", "--site", site.site_key, "--url", "http://x.example/"]
    )
    assert refused.exit_code == 2
    idle = runner.invoke(args=["webhooks", "worker", "--once"])
    assert idle.exit_code == 0 and idle.output == ""
    removed = runner.invoke(
        args=["webhooks", "remove", "--site", site.site_key, "--id", str(hook["id"])]
    )
    assert removed.exit_code == 0


def test_an_endpoint_added_a_moment_ago_gets_the_next_event(app_factory, site, receiver):
    cached = app_factory(SITE_CACHE_SECONDS=60, WEBHOOK_ALLOW_HTTP=True)
    with cached.app_context():
        client = cached.test_client()
        assert record(client, site).status_code == 201  # the site is now in the cache
        webhooks.add_webhook(site, receiver.url, allow_http=True)
        assert record(client, site).status_code == 201
        assert count_rows(WebhookDelivery) == 1


def test_the_banner_script_is_stale_for_a_minute_at_most(client, site):
    cache_control = client.get(f"/c/{site.site_key}.js").headers["Cache-Control"]
    # private: without COUNTRY_HEADER the rule set comes from the address, not a header a
    # shared cache could vary on.
    assert cache_control == "private, max-age=300, stale-while-revalidate=60"


def test_a_site_without_endpoints_costs_no_lookup_of_its_own(client, site, receiver, monkeypatch):
    """The consent's INSERT counts the active endpoints: only a site that has one pays for
    reading them."""
    lookups: list[dict[str, Any]] = []
    real = webhooks.ACTIVE_ENDPOINTS

    class Counted:
        def execute(self, session: Any, values: dict[str, Any]) -> Any:
            lookups.append(values)
            return real.execute(session, values)

    monkeypatch.setattr(webhooks, "ACTIVE_ENDPOINTS", Counted())
    record(client, site)
    assert lookups == [] and count_rows(WebhookDelivery) == 0
    webhook, _ = webhooks.add_webhook(site, receiver.url, allow_http=True)
    record(client, site)
    assert lookups == [{"site_id": site.id}] and count_rows(WebhookDelivery) == 1
    webhooks.remove_webhook(site.id, webhook.id)  # inactive: counted out by the INSERT too
    record(client, site)
    assert len(lookups) == 1 and count_rows(WebhookDelivery) == 1


def test_a_delivery_written_with_the_consent_is_a_fresh_pending_one(client, site, hooked):
    """Deliveries are inserted on the driver (no ORM defaults run): every column as the model's
    defaults would have made it."""
    before = utcnow()
    record(client, site)
    delivery = db.session.scalars(sa.select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert before <= delivery.created_at == delivery.next_attempt_at <= utcnow()
    assert (delivery.claimed_until, delivery.last_error, delivery.delivered_at) == (None,) * 3
    assert json.loads(delivery.body)["id"] == delivery.message_id
