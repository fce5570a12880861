"""No personal data in stored errors or logs: addresses, tokens, lead fields, client addresses,
query strings."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from gunicorn.config import Config

from consent_service.extensions import db
from consent_service.gunicorn_conf import PrivateLogger
from consent_service.integrations.crm import delivery
from consent_service.integrations.crm.neocrm import forget_tokens
from consent_service.integrations.mail import outbox
from consent_service.models import Lead, MailMessage
from consent_service.models.types import utcnow
from consent_service.redact import get_logger, redact
from tests.neocrm_server import FakeNeoCRM
from tests.smtp_support import SmtpServer
from tests.test_crm import FIELDS, connect, lead_body, submit, visitor
from tests.test_subscriptions import MAIL_FROM, subscribe


@pytest.fixture
def neocrm(app) -> Iterator[FakeNeoCRM]:
    app.config["WEBHOOK_ALLOW_HTTP"] = True  # the stand-in is plain http on loopback
    forget_tokens()
    with FakeNeoCRM() as server:
        yield server
    forget_tokens()


def test_an_smtp_refusal_is_stored_without_the_address(app, client, site):
    with SmtpServer() as server:
        app.config.update(
            SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="none", MAIL_FROM=MAIL_FROM
        )
        assert subscribe(client, site, "refused.person@example.com").status_code == 202
        outbox.deliver_due(utcnow())
    error = db.session.scalars(sa.select(MailMessage.last_error)).one()
    assert "550" in error and "refused.person" not in error and "example.com" not in error


def test_a_crm_error_quoting_the_lead_is_stored_without_it_and_erased(app, client, site, neocrm):
    connect(site, neocrm, field_map={"name": "name"})
    person = visitor(client, site)
    fields = {**FIELDS, "name": "li.wei@example.com"}
    response = submit(client, site, lead_body(client, site, person["visitor_token"], fields=fields))
    assert response.status_code == 202, response.json
    assert delivery.deliver_until_idle().dead == 1
    lead = db.session.scalar(sa.select(Lead))
    assert "400" in lead.last_error
    for value in ("li.wei", "Li Wei", "1234 5678", "sensors.example.com"):
        assert value not in lead.last_error
    erased = client.post(
        f"/api/v1/sites/{site.site_key}/erasure", json={"visitor_token": person["visitor_token"]}
    )
    assert erased.status_code == 202
    delivery.deliver_until_idle(now=lambda: utcnow() + timedelta(minutes=1))
    db.session.refresh(lead)
    assert lead.last_error is None


def test_redact_removes_what_identifies_a_person() -> None:
    text = redact(
        "refused <a.b@example.com> from 203.0.113.7 and 2001:db8::1, token "
        "eyJhbGciOiJIUzI1NiJ9.abcdefgh.ijklmnop, call +86 10 1234 5678, /x?email=c@d.io",
        known=["Li Wei"],
    )
    for secret in ("a.b@", "203.0.113.7", "2001:db8", "eyJhbGci", "1234 5678", "c@d.io"):
        assert secret not in text
    assert redact("Li Wei asked", known=["Li Wei"]) == "[redacted] asked"
    assert redact("at 10:30:00 it failed") == "at 10:30:00 it failed"


def test_the_service_log_is_redacted(caplog) -> None:
    log = get_logger("consent_service.test")
    with caplog.at_level(logging.INFO, logger="consent_service.test"):
        try:
            raise ValueError("bad address x.y@example.com")
        except ValueError:
            log.exception("sending to %s failed", "x.y@example.com")
    assert "x.y@example.com" not in caplog.text
    assert "[address]" in caplog.text


def access_line(path: str, query: str) -> str:
    config = Config()
    config.set("accesslog", "-")
    logger = PrivateLogger(config)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]

    class Response:
        status = "200 OK"
        sent = 10
        headers: list[Any] = []

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{path}?{query}",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_REFERER": "https://www.example.com/?email=z@example.com",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    logger.access(Response(), [], environ, timedelta(milliseconds=3))
    return stream.getvalue()


def test_the_access_log_has_no_query_token_or_client_address() -> None:
    line = access_line("/u/InR4LTE0Ig.Zx9aQw.abcdefghijklmnopqrstu", "email=z@example.com")
    assert "GET /u/[token] HTTP/1.1" in line
    for secret in ("z@example.com", "203.0.113.7", "InR4LTE0Ig", "email="):
        assert secret not in line
    assert '"GET /api/v1/sites/abc/config HTTP/1.1" 200' in access_line(
        "/api/v1/sites/abc/config", "visitor_token=secret"
    )


def test_gunicorns_error_log_names_no_client() -> None:
    logger = PrivateLogger(Config())
    stream = io.StringIO()
    for handler in logger.error_log.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    logger.error("Invalid request from ip=%s: %s", "198.51.100.23", "bad header")
    assert "198.51.100.23" not in stream.getvalue()
    assert "Invalid request from ip=[ip]" in stream.getvalue()


def test_the_listening_address_is_not_redacted_but_other_addresses_are(caplog) -> None:
    log = get_logger("consent_service.test")
    with caplog.at_level(logging.INFO, logger="consent_service.test"):
        log.info("Listening at: %s (%s)", "http://127.0.0.1:8731", 28425)
        log.info("client %s at %s", "10.1.2.3", "http://127.0.0.1:8731")
    assert "Listening at: http://127.0.0.1:8731 (28425)" in caplog.text
    assert "10.1.2.3" not in caplog.text
