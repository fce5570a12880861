"""Marketing e-mail: double opt-in, one-click unsubscribe, suppression, imports, the outbox.

Messages go to a real SMTP server on loopback (aiosmtpd) and are parsed back with the email
package; the sender is driven with an explicit clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from consent_service.config import ConfigurationError, load_config
from consent_service.consents.decisions import RequestContext
from consent_service.extensions import db
from consent_service.integrations.mail import opt_in, opt_out, outbox
from consent_service.models import (
    BannerVersion,
    ConsentEvent,
    MailMessage,
    MailRateEvent,
    Subscription,
    Suppression,
)
from consent_service.models.types import utcnow
from consent_service.sites import demo
from consent_service.sites.forms import wording_hash
from consent_service.tokens import issue_unsubscribe_token
from tests.conftest import count_rows
from tests.smtp_support import SmtpServer, free_port, make_certificate

BASE = "https://consent.example.com"
MAIL_FROM = "Example News <news@example.com>"
NEWSLETTER = next(
    form for form in demo.demo_document("http://x")["forms"] if form["slug"] == "newsletter"
)
WORDING_EN = NEWSLETTER["separate_consent"]["en"]
WORDING_ZH = NEWSLETTER["separate_consent"]["zh-CN"]
URL = re.compile(r"https?://[^\s>]+")


@pytest.fixture
def smtp(app) -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        app.config.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=server.port,
            SMTP_SECURITY="none",
            MAIL_FROM=MAIL_FROM,
            PUBLIC_BASE_URL=BASE,
        )
        yield server


@pytest.fixture
def admin(admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


def subscribe(client, site, email: str, **overrides: Any) -> Any:
    body = {"email": email, "locale": "en", "wording_hash": wording_hash(WORDING_EN)}
    body.update(overrides)
    body = {key: value for key, value in body.items() if value is not ...}
    return client.post(f"/api/v1/sites/{site.site_key}/subscriptions", json=body)


def send(now: datetime | None = None) -> outbox.SendReport:
    return outbox.deliver_due(now or utcnow())


def links(message: EmailMessage, marker: str) -> list[str]:
    body = message.get_content()
    return [url for url in URL.findall(body) if marker in url]


def path_of(url: str) -> str:
    return urlsplit(url).path


def confirm_link(server: SmtpServer, index: int = -1) -> str:
    found = links(server.messages[index], "/confirm/")
    assert len(found) == 1
    return found[0]


def make_active(client, site, server: SmtpServer, email: str, **overrides: Any) -> str:
    """Subscribe and confirm; returns the confirmation link's path."""
    assert subscribe(client, site, email, **overrides).status_code == 202
    send()
    path = path_of(confirm_link(server))
    assert client.post(path).status_code == 200
    return path


def status_of(client, site, admin, email: str) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/status",
        query_string={"email": email},
        headers=admin,
    )
    assert response.status_code == 200, response.json
    return dict(response.json)


def email_events(site) -> list[ConsentEvent]:
    return list(
        db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.site_id == site.id, ConsentEvent.source.in_(["email", "api"]))
            .order_by(ConsentEvent.id)
        )
    )


def counts() -> tuple[int, ...]:
    return tuple(
        count_rows(model)
        for model in (Subscription, MailMessage, MailRateEvent, Suppression, ConsentEvent)
    )


def test_double_opt_in_records_the_consent_only_on_confirmation(client, site, admin, smtp):
    response = subscribe(client, site, "Ada@Example.com")
    assert response.status_code == 202
    assert response.json["status"] == "accepted"
    assert email_events(site) == []
    assert status_of(client, site, admin, "ada@example.com")["status"] == "pending"

    assert send().sent == 1
    [message] = smtp.messages
    assert message["From"] == MAIL_FROM
    assert message["To"] == "Ada@Example.com"
    assert message["Subject"] == f"Please confirm your subscription to {site.name}"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] and re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message["Message-ID"])
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert WORDING_EN in " ".join(message.get_content().split())
    assert "List-Unsubscribe" not in message  # not a marketing message
    assert smtp.collector.envelopes[0] == ("news@example.com", ["Ada@Example.com"])
    link = confirm_link(smtp)
    assert link.startswith(f"{BASE}/confirm/")

    page = client.get(path_of(link))  # what a mail scanner does: nothing happens
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b'<form method="post"' in page.data and b"<button" in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert email_events(site) == []

    confirmed = client.post(path_of(link), headers={"Accept": "application/json"})
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["status"] == "confirmed"
    [event] = email_events(site)
    subscription = db.session.scalars(sa.select(Subscription)).one()
    assert event.source == "email" and event.action == "custom"
    assert event.choices == {"necessary": True, "marketing_email": True}
    assert event.banner_version == wording_hash(WORDING_EN)
    assert event.policy_version == demo.DEMO_POLICY_LABEL
    assert event.language == "en"
    assert re.fullmatch(r"[0-9a-f]{32}", event.visitor_id)
    assert event.visitor_id == subscription.subject_id
    assert str(event.event_id) == confirmed.json["event_id"]
    assert subscription.status == "active" and subscription.email_encrypted
    assert "ada" not in subscription.email_encrypted.lower()  # encrypted at rest
    assert "ada" not in db.session.scalars(sa.select(MailMessage.recipient_encrypted)).one()

    state = status_of(client, site, admin, " ADA@example.com ".strip())
    assert state["may_send"] is True and state["status"] == "active"
    assert state["consent_event"]["event_id"] == str(event.event_id)
    assert state["consent_event"]["source"] == "email"
    assert state["consent_event"]["wording_hash"] == wording_hash(WORDING_EN)

    again = client.post(path_of(link), headers={"Accept": "application/json"})
    assert again.status_code == 409 and again.json["status"] == "used"
    assert client.get(path_of(link)).status_code == 409
    assert len(email_events(site)) == 1


def test_messages_speak_the_subscribers_language(client, site, smtp):
    assert (
        subscribe(
            client, site, "li@example.com", locale="zh-CN", wording_hash=wording_hash(WORDING_ZH)
        ).status_code
        == 202
    )
    assert subscribe(client, site, "jean@example.com", locale="fr-FR").status_code == 202
    send()
    chinese, french = smtp.messages
    assert chinese["Subject"] == f"请确认订阅 {site.name} 的邮件"
    assert WORDING_ZH in chinese.get_content()
    assert "Please confirm" in french["Subject"]  # no French texts: English
    page = smtp.messages[0]
    response_page = client.get(path_of(confirm_link(smtp, 0)))
    assert "确认订阅" in response_page.get_data(as_text=True)
    assert page.get_content_charset() == "utf-8"


def test_the_confirmation_link_expires_after_seven_days(app, client, site, smtp, monkeypatch):
    subscribe(client, site, "late@example.com")
    send()
    token = path_of(confirm_link(smtp)).rsplit("/", 1)[1]
    context = RequestContext()
    soon = utcnow() + timedelta(days=6, hours=23)
    assert opt_in.check_confirmation(token, soon).status == "valid"
    late = utcnow() + timedelta(days=7, minutes=1)
    assert opt_in.confirm_subscription(token, context, late).status == "expired"
    assert email_events(site) == []

    monkeypatch.setattr(opt_in, "utcnow", lambda: late)  # the web page's clock too
    response = client.post(f"/confirm/{token}", headers={"Accept": "application/json"})
    assert response.status_code == 410 and response.json == {"status": "expired"}
    assert "expired" in client.post(f"/confirm/{token}").get_data(as_text=True)
    assert email_events(site) == []


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJzIjoiYSJ9.AAAA.BBBB",
        "x" * 2000,
        "a/b/c",
    ],
)
def test_bad_links_answer_clearly_and_never_500(client, site, token):
    for path in (f"/confirm/{token}", f"/u/{token}"):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 404, (path, response.status_code)
            assert b"not valid" in response.data
    response = client.post(f"/u/{token}", headers={"Accept": "application/json"})
    assert response.json == {"status": "invalid"}


def test_a_token_of_one_kind_or_site_does_not_open_another(app, client, site, smtp):
    subscribe(client, site, "mixed@example.com")
    send()
    token = path_of(confirm_link(smtp)).rsplit("/", 1)[1]
    assert client.post(f"/u/{token}").status_code == 404  # a confirmation is no unsubscribe
    foreign = issue_unsubscribe_token("another-site", 1, "0" * 32)
    assert client.post(f"/u/{foreign}").status_code == 404
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/confirm/{tampered}").status_code == 404
    app.config["SECRET_KEY"] = "another-secret-key-that-is-long-enough-987654"
    assert client.post(f"/confirm/{token}").status_code == 404
    assert count_rows(Suppression) == 0 and email_events(site) == []


def test_the_answer_says_nothing_about_the_address(client, site, admin, smtp):
    make_active(client, site, smtp, "known@example.com")
    client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/suppressions",
        json={"email": "bounced@example.com", "reason": "bounced"},
        headers=admin,
    )
    answers = [
        subscribe(client, site, address)
        for address in ("unknown@example.com", "known@example.com", "bounced@example.com")
    ]
    assert {response.status_code for response in answers} == {202}
    assert len({response.get_data() for response in answers}) == 1


def test_too_many_requests_from_one_network_get_429(app, client, site, smtp):
    app.config["MAIL_REQUESTS_PER_CLIENT"] = 3
    for number in range(3):
        assert subscribe(client, site, f"n{number}@example.com").status_code == 202
    before = counts()
    refused = subscribe(client, site, "n4@example.com")
    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert set(refused.json) == {"code", "status", "message", "errors"}
    assert refused.json["status"] == "rate_limited"
    assert counts() == before  # nothing stored
    other_network = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions",
        json={"email": "n4@example.com", "locale": "en", "wording_hash": wording_hash(WORDING_EN)},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert other_network.status_code == 202
    hour_later = utcnow() + timedelta(hours=1, seconds=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opt_in, "utcnow", lambda: hour_later)
        assert subscribe(client, site, "n5@example.com").status_code == 202


def test_too_many_confirmations_to_one_address_are_silently_not_sent(app, client, site, smtp):
    app.config["MAIL_CONFIRMATIONS_PER_ADDRESS"] = 2
    answers = [subscribe(client, site, address) for address in ("a@x.example", "A@X.example") * 2]
    assert {response.status_code for response in answers} == {202}
    assert len({response.get_data() for response in answers}) == 1
    assert count_rows(MailMessage) == 2
    assert send().sent == 2 and len(smtp.messages) == 2
    assert count_rows(Subscription) == 1


def test_smtp_down_keeps_the_confirmation_until_it_is_back(app, client, site):
    port = free_port()
    app.config.update(
        SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none", MAIL_FROM=MAIL_FROM
    )
    subscribe(client, site, "patient@example.com")
    start = utcnow()
    assert send(start).failed == 1
    message = db.session.scalars(sa.select(MailMessage)).one()
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    assert client.get("/readyz").status_code == 200  # readiness does not depend on SMTP

    with SmtpServer(port=port) as server:
        assert send(start + timedelta(seconds=10)).sent == 0  # backing off
        assert send(start + timedelta(seconds=31)).sent == 1
        assert [msg["To"] for msg in server.messages] == ["patient@example.com"]


def test_no_smtp_host_means_messages_wait(app, client, site):
    subscribe(client, site, "wait@example.com")
    assert send() == outbox.SendReport()
    message = db.session.scalars(sa.select(MailMessage)).one()
    assert message.status == "pending" and message.attempts == 0


def test_dead_messages_are_listed_and_sent_again(app, client, site, admin):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM=MAIL_FROM)
    app.config.update(SMTP_SECURITY="none", MAIL_MAX_ATTEMPTS=2)
    subscribe(client, site, "dead@example.com")
    start = utcnow()
    assert send(start).failed == 1
    assert send(start + timedelta(seconds=31)).dead == 1
    url = f"/api/v1/sites/{site.site_key}/subscriptions/messages"
    dead = client.get(f"{url}/dead", headers=admin).json
    assert [(item["kind"], item["attempts"]) for item in dead] == [("confirmation", 2)]
    assert "recipient" not in json.dumps(dead) and "dead@" not in json.dumps(dead)
    with SmtpServer(port=port) as server:
        again = client.post(f"{url}/{dead[0]['id']}/retry", headers=admin)
        assert again.status_code == 200 and again.json["status"] == "pending"
        assert send().sent == 1 and len(server.messages) == 1
    assert client.post(f"{url}/{dead[0]['id']}/retry", headers=admin).status_code == 409


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_to_the_smtp_server_is_verified(app, client, site, tmp_path, security):
    certificate = make_certificate(tmp_path)
    login = ("mailer", "s3cret-password")
    with SmtpServer(security, certificate, login=login) as server:
        app.config.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=server.port,
            SMTP_SECURITY=security,
            SMTP_USERNAME=login[0],
            SMTP_PASSWORD=login[1],
            MAIL_FROM=MAIL_FROM,
            SMTP_TIMEOUT=5.0,
        )
        subscribe(client, site, "secure@example.com")
        start = utcnow()
        untrusted = send(start)  # the self-signed certificate is not trusted by default
        assert untrusted.failed == 1 and server.messages == []
        assert (
            "CERTIFICATE_VERIFY_FAILED"
            in db.session.scalars(sa.select(MailMessage.last_error)).one()
        )
        app.config["SMTP_CA_FILE"] = str(certificate.cert_file)
        assert send(start + timedelta(minutes=1)).sent == 1
        assert server.logins == ["mailer"]
        assert server.messages[0]["To"] == "secure@example.com"


def test_one_click_unsubscribe_withdraws_and_suppresses(app, client, site, admin, smtp):
    make_active(client, site, smtp, "reader@example.com")
    make_active(client, site, smtp, "other@example.com")
    queued = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/messages",
        json={"subject": "Product news: version 2", "text": "Version 2 is out.\nRead more."},
        headers=admin,
    )
    assert queued.status_code == 202 and queued.json == {"queued": 2}
    assert send().sent == 2
    news = [msg for msg in smtp.messages if msg["Subject"] == "Product news: version 2"]
    assert sorted(msg["To"] for msg in news) == ["other@example.com", "reader@example.com"]
    message = next(msg for msg in news if msg["To"] == "reader@example.com")
    header = message["List-Unsubscribe"]
    assert re.fullmatch(rf"<{re.escape(BASE)}/u/[^>\s]+>", header)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Auto-Submitted" not in message
    url = header[1:-1]
    assert links(message, "/u/") == [url]
    assert "Version 2 is out." in message.get_content()
    other_url = next(msg for msg in news if msg["To"] == "other@example.com")["List-Unsubscribe"]
    assert other_url[1:-1] != url

    subscriber = status_of(client, site, admin, "reader@example.com")
    bare = app.test_client(use_cookies=False)
    response = bare.post(
        path_of(url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    events = email_events(site)
    withdrawal = events[-1]
    assert withdrawal.action == "withdraw" and withdrawal.source == "email"
    assert withdrawal.choices == {"necessary": True, "marketing_email": False}
    confirmed = next(
        event for event in events if str(event.event_id) == subscriber["consent_event"]["event_id"]
    )
    assert withdrawal.visitor_id == confirmed.visitor_id
    entry = db.session.scalars(sa.select(Suppression)).one()
    assert entry.reason == "unsubscribed" and "reader" not in entry.address_hash
    state = status_of(client, site, admin, "reader@example.com")
    assert state["status"] == "unsubscribed" and state["may_send"] is False

    assert bare.post(path_of(url)).status_code == 200  # empty body, again: idempotent
    assert len(email_events(site)) == len(events)
    assert count_rows(Suppression) == 1
    assert b"unsubscribed" in bare.get(path_of(url)).data
    headers = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "reader@example.com"},
        headers=admin,
    )
    assert headers.status_code == 404
    again = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/messages",
        json={"subject": "More news", "text": "…"},
        headers=admin,
    )
    assert again.json == {"queued": 1}


def test_the_unsubscribe_page_asks_before_it_acts(client, site, admin, smtp):
    make_active(client, site, smtp, "careful@example.com")
    found = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "careful@example.com"},
        headers=admin,
    )
    url = found.json["List-Unsubscribe"][1:-1]
    page = client.get(path_of(url))
    assert page.status_code == 200 and b"<button" in page.data
    assert b'name="List-Unsubscribe" value="One-Click"' in page.data
    assert status_of(client, site, admin, "careful@example.com")["status"] == "active"


def test_an_unsubscribe_between_queueing_and_sending_wins(client, site, admin, smtp):
    make_active(client, site, smtp, "quick@example.com")
    client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/messages",
        json={"subject": "Sale", "text": "Everything must go."},
        headers=admin,
    )
    url = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "quick@example.com"},
        headers=admin,
    ).json["List-Unsubscribe"][1:-1]
    assert client.post(path_of(url)).status_code == 200
    report = send()
    assert (report.sent, report.cancelled) == (0, 1)
    assert all(msg["Subject"] != "Sale" for msg in smtp.messages)


def test_resubscribing_after_unsubscribing_needs_a_new_confirmation(client, site, admin, smtp):
    first = make_active(client, site, smtp, "back@example.com")
    url = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "back@example.com"},
        headers=admin,
    ).json["List-Unsubscribe"][1:-1]
    client.post(path_of(url))

    assert subscribe(client, site, "back@example.com").status_code == 202
    state = status_of(client, site, admin, "back@example.com")
    assert state["may_send"] is False and state["status"] == "pending"
    assert count_rows(Suppression) == 1  # still suppressed until confirmed
    assert client.post(first).status_code == 409  # the old link stays used
    send()
    assert client.post(path_of(confirm_link(smtp))).status_code == 200
    state = status_of(client, site, admin, "back@example.com")
    assert state["may_send"] is True and state["status"] == "active"
    assert count_rows(Suppression) == 0
    actions = [event.action for event in email_events(site)]
    assert actions == ["custom", "withdraw", "custom"]
    assert len({event.visitor_id for event in email_events(site)}) == 1


def import_item(**overrides: Any) -> dict[str, Any]:
    item = {
        "email": "fair@example.com",
        "source": "trade-show form 2024",
        "consented_at": "2024-05-14T10:30:00+02:00",
        "wording": "Yes, e-mail me product news. (Paper form, Hannover Messe 2024.)",
        "locale": "de-DE",
    }
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not ...}


def test_import_keeps_the_proof_and_records_the_consent(client, site, admin, smtp):
    client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/suppressions",
        json={"email": "complainer@example.com", "reason": "complaint"},
        headers=admin,
    )
    batch = [import_item(), import_item(email="Complainer@example.com")]
    response = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/import", json=batch, headers=admin
    )
    assert response.status_code == 200, response.json
    assert response.json == {"imported": 1, "skipped_suppressed": 1, "skipped_active": 0}
    [event] = email_events(site)
    assert event.source == "api" and event.action == "custom"
    assert event.client_time == datetime(2024, 5, 14, 8, 30, tzinfo=UTC)
    assert event.banner_version == wording_hash(import_item()["wording"])
    kept = db.session.scalars(
        sa.select(BannerVersion).where(BannerVersion.sha256 == event.banner_version)
    ).one()
    assert kept.canonical_json == import_item()["wording"] and kept.kind == "import:newsletter"
    subscription = db.session.scalars(sa.select(Subscription)).one()
    assert subscription.proof["source"] == "trade-show form 2024"
    assert subscription.proof["consented_at"] == "2024-05-14T10:30:00+02:00"  # as given
    state = status_of(client, site, admin, "fair@example.com")
    assert state["may_send"] is True and state["consent_event"]["source"] == "api"
    complainer = status_of(client, site, admin, "complainer@example.com")
    assert complainer["status"] == "suppressed" and complainer["may_send"] is False
    assert smtp.messages == [] and count_rows(MailMessage) == 0  # no mail on import

    repeated = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/import", json=batch[:1], headers=admin
    )
    assert repeated.json == {"imported": 0, "skipped_suppressed": 0, "skipped_active": 1}
    # a public request cannot cite a wording that only an import brought in
    cited = subscribe(client, site, "x@example.com", wording_hash=event.banner_version)
    assert cited.status_code == 422


@pytest.mark.parametrize(
    "bad",
    [
        import_item(wording=...),
        import_item(source=...),
        import_item(consented_at=...),
        import_item(locale=...),
        import_item(wording="   "),
        import_item(consented_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
        import_item(email="not an address"),
        import_item(source="fair\r\nBcc: x@example.com"),
        import_item(extra="field"),
        import_item(email="fair2@example.com"),  # fine alone; the duplicate below is not
    ],
)
def test_an_import_without_proof_is_refused_whole(client, site, admin, bad):
    batch = [import_item(email="good@example.com"), bad]
    if bad["email"] == "fair2@example.com":
        batch.append(dict(bad, email="FAIR2@example.com"))
    before = counts()
    response = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/import", json=batch, headers=admin
    )
    assert response.status_code == 422, response.json
    assert response.json["errors"] and "0" not in response.json["errors"]
    assert counts() == before


def test_suppressed_addresses_are_never_reimported(client, site, admin, smtp, runner, tmp_path):
    make_active(client, site, smtp, "gone@example.com")
    url = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "gone@example.com"},
        headers=admin,
    ).json["List-Unsubscribe"][1:-1]
    client.post(path_of(url))
    events = len(email_events(site))

    source = tmp_path / "subscribers.json"
    source.write_text(
        json.dumps([import_item(email="gone@example.com"), import_item(email="new@example.com")])
    )
    result = runner.invoke(args=["subscriptions", "import", "--site", site.site_key, str(source)])
    assert result.exit_code == 0, result.output
    assert "imported 1, skipped 1 suppressed" in result.output
    assert status_of(client, site, admin, "gone@example.com")["status"] == "unsubscribed"
    assert status_of(client, site, admin, "new@example.com")["status"] == "active"
    assert len(email_events(site)) == events + 1

    source.write_text(json.dumps([import_item(email="proofless@example.com", wording=...)]))
    before = counts()
    failed = runner.invoke(args=["subscriptions", "import", "--site", site.site_key, str(source)])
    assert failed.exit_code != 0 and "wording" in failed.output
    assert counts() == before


def test_headers_answer_only_for_subscribed_addresses(client, site, admin, smtp):
    url = f"/api/v1/sites/{site.site_key}/subscriptions/headers"
    make_active(client, site, smtp, "on@example.com")
    subscribe(client, site, "pending@example.com")
    found = client.get(url, query_string={"email": "on@example.com"}, headers=admin)
    assert found.status_code == 200
    assert set(found.json) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert re.fullmatch(rf"<{re.escape(BASE)}/u/[A-Za-z0-9_.\-]+>", found.json["List-Unsubscribe"])
    assert found.json["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for address in ("pending@example.com", "nobody@example.com"):
        missing = client.get(url, query_string={"email": address}, headers=admin)
        assert missing.status_code == 404 and missing.json["status"] == "not_subscribed"
    assert client.get(url, query_string={"email": "on@example.com"}).status_code == 401
    bad = client.get(url, query_string={"email": "on@example.com\r\nX: y"}, headers=admin)
    assert bad.status_code == 422 and "email" in bad.json["errors"]


def test_bounces_and_complaints_suppress(client, site, admin, smtp):
    make_active(client, site, smtp, "bouncy@example.com")
    url = f"/api/v1/sites/{site.site_key}/subscriptions/suppressions"
    added = client.post(
        url, json={"email": "bouncy@example.com", "reason": "bounced"}, headers=admin
    )
    assert added.status_code == 201 and added.json["reason"] == "bounced"
    state = status_of(client, site, admin, "bouncy@example.com")
    assert state["status"] == "suppressed" and state["may_send"] is False
    assert state["suppression"]["reason"] == "bounced"
    for bad in (
        {"email": "bouncy@example.com", "reason": "unsubscribed"},
        {"email": "bouncy@example.com"},
        {"email": "nope", "reason": "bounced"},
    ):
        assert client.post(url, json=bad, headers=admin).status_code == 422


BAD_BODIES = [
    {"email": "not-an-address"},
    {"email": "ada@example.com\r\nBcc: victim@example.com"},
    {"email": "ada@example.com\n"},
    {"email": "a" * 250 + "@example.com"},
    {"email": 42},
    {"locale": "en\r\nBcc: victim@example.com"},
    {"locale": "x" * 40},
    {"locale": ...},
    {"wording_hash": "not-a-hash"},
    {"wording_hash": "0" * 64},  # well formed, but never shown
    {"wording_hash": ...},
    {"form": "no-such-form"},
    {"form": "crm"},  # a lead form, not a subscription form
    {"visitor_token": "forged"},
    {"visitor_token": "a\nb"},
    {"unexpected": "field"},
]


@pytest.mark.parametrize("override", BAD_BODIES)
def test_bad_input_is_refused_and_nothing_stored_or_sent(client, site, smtp, override):
    override = dict(override)
    before = counts()
    response = subscribe(client, site, override.pop("email", "ada@example.com"), **override)
    assert response.status_code == 422, response.json
    assert response.json["errors"], response.json
    assert counts() == before
    assert send() == outbox.SendReport() and smtp.messages == []


def test_admin_messages_refuse_header_injection(client, site, admin, smtp):
    make_active(client, site, smtp, "safe@example.com")
    url = f"/api/v1/sites/{site.site_key}/subscriptions/messages"
    before = counts()
    for body in (
        {"subject": "Hi\r\nBcc: everyone@example.com", "text": "x"},
        {"subject": "x" * 201, "text": "x"},
        {"subject": "Hi", "text": "bell \x07"},
        {"subject": "Hi"},
        {"subject": "Hi", "text": "x", "to": "someone@example.com"},
    ):
        response = client.post(url, json=body, headers=admin)
        assert response.status_code == 422, body
    assert counts() == before


def test_browsers_are_held_to_the_sites_origins(client, site):
    url = f"/api/v1/sites/{site.site_key}/subscriptions"
    body = {"email": "a@example.com", "locale": "en", "wording_hash": wording_hash(WORDING_EN)}
    foreign = client.post(url, json=body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    own = client.post(url, json=body, headers={"Origin": "https://www.example.com"})
    assert own.status_code == 202
    assert own.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    preflight = client.options(url, headers={"Origin": "https://www.example.com"})
    assert preflight.status_code == 204
    assert client.post(url, data="email=a@example.com").status_code == 415
    assert client.post("/api/v1/sites/nope/subscriptions", json=body).status_code == 404


def test_links_fall_back_to_a_loopback_host_only(app, client, site, smtp):
    app.config["PUBLIC_BASE_URL"] = None
    subscribe(client, site, "local@example.com")
    send()
    assert confirm_link(smtp).startswith("http://localhost/confirm/")
    forged = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions",
        json={
            "email": "forged@example.com",
            "locale": "en",
            "wording_hash": wording_hash(WORDING_EN),
        },
        headers={"Host": "evil.example"},
    )
    assert forged.status_code == 421
    assert count_rows(MailMessage) == 1


def test_erasure_forgets_the_address_but_keeps_it_suppressed(client, site, admin, smtp):
    make_active(client, site, smtp, "erase.me@example.com")
    client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/messages",
        json={"subject": "Pending news", "text": "Not sent yet."},
        headers=admin,
    )
    assert count_rows(MailMessage) == 2
    erased = opt_out.erase_subscriber(site.id, " Erase.Me@example.com")
    db.session.rollback()  # the caller commits; without that, nothing happened
    assert erased == 1 and count_rows(MailMessage) == 2

    assert opt_out.erase_subscriber(site.id, "erase.me@example.com") == 1
    db.session.commit()
    assert count_rows(MailMessage) == 0
    subscription = db.session.scalars(sa.select(Subscription)).one()
    assert subscription.email_encrypted is None and subscription.address_hash is None
    assert subscription.status == "erased"
    state = status_of(client, site, admin, "erase.me@example.com")
    assert state["may_send"] is False and state["status"] == "suppressed"
    assert email_events(site)[-1].action == "withdraw"
    reimport = client.post(
        f"/api/v1/sites/{site.site_key}/subscriptions/import",
        json=[import_item(email="erase.me@example.com")],
        headers=admin,
    )
    assert reimport.json["skipped_suppressed"] == 1
    assert opt_out.erase_subscriber(site.id, "never@example.com") == 0


def test_unconfirmed_requests_are_forgotten(client, site, smtp):
    subscribe(client, site, "undecided@example.com")
    send()
    assert opt_in.forget_stale(utcnow() + timedelta(days=7)) == 0
    assert opt_in.forget_stale(utcnow() + timedelta(days=9)) == 1
    assert count_rows(Subscription) == count_rows(MailMessage) == count_rows(MailRateEvent) == 0


def test_the_mail_worker_command_sends(runner, client, site, smtp):
    subscribe(client, site, "cli@example.com")
    result = runner.invoke(args=["mail", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output and len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, {"SMTP_HOST": None, "SMTP_SECURITY": "starttls", "SMTP_PORT": 587}),
        (
            {"SMTP_HOST": "mail.example.com", "SMTP_SECURITY": "tls", "MAIL_FROM": "a@b.example"},
            {"SMTP_HOST": "mail.example.com", "SMTP_PORT": 465, "MAIL_FROM": "a@b.example"},
        ),
        ({"SMTP_SECURITY": "none", "SMTP_PORT": "2525"}, {"SMTP_PORT": 2525}),
    ],
)
def test_smtp_settings_come_from_the_environment(monkeypatch, tmp_path, environment, expected):
    for name in ("DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = load_config(str(tmp_path))
    assert {key: config[key] for key in expected} == expected
    assert config["MAIL_CONFIRMATIONS_PER_ADDRESS"] == 3
    assert config["MAIL_REQUESTS_PER_CLIENT"] == 20


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY"),
        ({"SMTP_HOST": "mail.example.com"}, "MAIL_FROM"),
        ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE"),
    ],
)
def test_bad_smtp_settings_stop_the_start(monkeypatch, tmp_path, environment, message):
    for name in ("DATABASE_URL", "SMTP_HOST", "SMTP_SECURITY", "MAIL_FROM", "SMTP_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        load_config(str(tmp_path))


def test_webhooks_hear_of_confirmations_and_withdrawals(client, site, admin, smtp):
    from consent_service.integrations import webhooks
    from consent_service.models import WebhookDelivery

    webhooks.add_webhook(site, "https://backend.example.com/hooks", allow_http=False)
    make_active(client, site, smtp, "hooked@example.com")
    url = client.get(
        f"/api/v1/sites/{site.site_key}/subscriptions/headers",
        query_string={"email": "hooked@example.com"},
        headers=admin,
    ).json["List-Unsubscribe"][1:-1]
    client.post(path_of(url))
    bodies = [json.loads(body) for body in db.session.scalars(sa.select(WebhookDelivery.body))]
    assert [(body["data"]["action"], body["data"]["source"]) for body in bodies] == [
        ("custom", "email"),
        ("withdraw", "email"),
    ]
    assert "hooked@" not in json.dumps(bodies)  # the ledger's subject id only
