"""Data subject requests: opened by the visitor's token or a confirmed address, each type and
each state transition through the admin API, the status page, overdue flags and the CLI, the
console queue, and what lists never show."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from consent_service.consents import request_handling, request_mail, requests
from consent_service.encryption import encrypt_text
from consent_service.extensions import db
from consent_service.integrations.mail import outbox
from consent_service.integrations.mail.subscribers import address_hash
from consent_service.models import (
    ErasureTombstone,
    MailMessage,
    SubjectRequest,
    SubjectRequestStep,
    Subscription,
)
from consent_service.models.types import utcnow
from consent_service.sites import access, settings
from consent_service.tokens import issue_visitor_token
from tests.conftest import count_rows, decision_body
from tests.console_support import csrf_token, make_account, sign_in
from tests.smtp_support import SmtpServer

BASE = "https://consent.example.com"
URL = re.compile(r"https?://[^\s>]+")
KINDS = ("access", "correction", "erasure", "portability", "objection")


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def auditor(site: Any) -> dict[str, str]:
    _, secret = access.issue_token(site, "auditor", label="audit")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def visitor(client: Any, site: Any) -> dict[str, Any]:
    """A visitor who made one choice: their id and token."""
    answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
    assert answer.status_code == 201
    return {"id": answer.json["visitor_id"], "token": answer.json["visitor_token"]}


def submit(client: Any, site: Any, **body: Any) -> Any:
    return client.post(f"/api/v1/sites/{site.site_key}/requests", json=body)


def url(site: Any, tail: str = "") -> str:
    return f"/api/v1/sites/{site.site_key}/requests{tail}"


def opened(client: Any, site: Any, visitor: dict[str, Any], kind: str) -> tuple[int, str]:
    answer = submit(client, site, type=kind, visitor_token=visitor["token"])
    assert answer.status_code == 202 and answer.json["status"] == "open"
    listed = client.get(url(site), headers=admin_headers(site))
    return listed.json[0]["id"], answer.json["reference"]


def admin_headers(site: Any) -> dict[str, str]:
    _, secret = access.issue_token(site, "admin", label="helper")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("kind", ["access", "erasure", "portability", "objection"])
def test_a_visitor_opens_each_type_and_follows_it_on_the_status_page(
    client, site, visitor, admin, kind
):
    answer = submit(client, site, type=kind, visitor_token=visitor["token"], locale="zh-CN")
    assert answer.status_code == 202
    body = answer.json
    assert body["status"] == "open" and body["status_url"].endswith(body["reference"])
    request = db.session.scalars(db.select(SubjectRequest)).one()
    assert request.kind == kind and request.visitor_id == visitor["id"]
    assert request.due_at - request.received_at == timedelta(days=15)

    page = client.get(f"/rights/{body['reference']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="zh-CN">' in html
    assert "已收到" in html and visitor["id"] not in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing from another host
    english = client.get(f"/rights/{body['reference']}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Received" in english

    handled = client.post(url(site, f"/{request.id}/handle"), json={}, headers=admin)
    assert handled.status_code == 200 and handled.json["status"] == "in_progress"
    closed = client.post(
        url(site, f"/{request.id}/close"),
        json={"outcome": "fulfilled", "note": "Done as you asked."},
        headers=admin,
    )
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    actions = [step["action"] for step in closed.json["steps"]]
    expected = ["opened", "started", *(["erased"] if kind == "erasure" else []), "closed"]
    assert actions == expected
    status = client.get(f"/rights/{body['reference']}", headers={"Accept": "application/json"})
    assert status.json["status"] == "closed" and status.json["outcome"] == "fulfilled"
    assert status.json["steps"][-1]["note"] == "Done as you asked."
    assert {step["by"] for step in status.json["steps"]} == {"requester", "site"}


def test_bad_transitions_are_409_and_bad_bodies_422(client, site, visitor, admin):
    request_id, _ = opened(client, site, visitor, "objection")
    path = url(site, f"/{request_id}")
    assert client.post(path + "/close", json={"outcome": "maybe"}, headers=admin).status_code == 422
    assert client.post(path + "/reject", json={}, headers=admin).status_code == 422
    assert client.post(path + "/handle", json={"x": 1}, headers=admin).status_code == 422
    assert client.post(path + "/handle", json={}, headers=admin).status_code == 200
    again = client.post(path + "/handle", json={}, headers=admin)
    assert again.status_code == 409 and again.json["status"] == "bad_transition"
    assert client.post(path + "/export", headers=admin).json["status"] == "wrong_kind"
    corrected = client.post(path + "/correct", json={"email": "a@example.com"}, headers=admin)
    assert corrected.status_code == 409
    rejected = client.post(path + "/reject", json={"reason": "Not ours."}, headers=admin)
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    for action, body in (
        ("handle", {}),
        ("close", {"outcome": "fulfilled"}),
        ("reject", {"reason": "again"}),
        ("notes", {"note": "late note"}),
    ):
        answer = client.post(f"{path}/{action}", json=body, headers=admin)
        assert answer.status_code == 409, action
    steps = [step.action for step in requests.steps_of(request_id)]
    assert steps == ["opened", "started", "rejected"]
    assert client.get(url(site, "/999999"), headers=admin).status_code == 404


def test_bad_public_input_is_a_clear_4xx_and_writes_nothing(client, site, visitor):
    cases = [
        ({"type": "everything", "visitor_token": visitor["token"]}, 422),
        ({"type": "access"}, 422),
        ({"type": "access", "visitor_token": "forged"}, 422),
        ({"type": "correction", "visitor_token": visitor["token"]}, 422),
        ({"type": "access", "visitor_token": visitor["token"], "extra": 1}, 422),
        ({"type": "access", "email": "not an address"}, 422),
    ]
    for body, status in cases:
        answer = submit(client, site, **body)
        assert answer.status_code == status, body
        assert set(answer.json) >= {"code", "status", "message", "errors"}
    foreign = client.post(
        url(site),
        json={"type": "access", "visitor_token": visitor["token"]},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    other_site_token = issue_visitor_token("another-site", visitor["id"])
    assert submit(client, site, type="access", visitor_token=other_site_token).status_code == 422
    assert count_rows(SubjectRequest) == 0
    assert client.get("/rights/forged").status_code == 404
    assert client.get("/rights/" + "x" * 2000).status_code == 404


def test_access_export_holds_the_visitors_events_and_is_recorded(client, site, visitor, admin):
    request_id, _ = opened(client, site, visitor, "access")
    exported = client.post(url(site, f"/{request_id}/export"), headers=admin)
    assert exported.status_code == 200
    document = exported.json
    assert document["format"] == "consent-service.visitor-data.v1"
    assert document["visitor_id"] == visitor["id"] and len(document["events"]) == 1
    assert document["events"][0]["choices"]["analytics"] is True
    shown = client.get(url(site, f"/{request_id}"), headers=admin).json
    assert shown["status"] == "in_progress"
    assert [step["action"] for step in shown["steps"]] == ["opened", "started", "exported"]


def test_lists_hold_no_personal_data_and_auditors_only_read(client, site, visitor, admin, auditor):
    request_id, _ = opened(client, site, visitor, "access")
    listed = client.get(url(site), headers=auditor)
    assert listed.status_code == 200
    assert set(listed.json[0]) == {
        "id", "type", "status", "channel", "created_at", "received_at", "due_at",
        "closed_at", "outcome", "overdue",
    }  # fmt: skip
    assert visitor["id"] not in listed.get_data(as_text=True)
    shown = client.get(url(site, f"/{request_id}"), headers=auditor).json
    assert shown["visitor_id"] is None and shown["email"] is None
    assert (
        client.get(url(site, f"/{request_id}"), headers=admin).json["visitor_id"] == visitor["id"]
    )
    for action, body in (
        ("handle", {}),
        ("close", {"outcome": "fulfilled"}),
        ("reject", {"reason": "no"}),
        ("notes", {"note": "x"}),
        ("export", None),
        ("correct", {"email": "a@example.com"}),
    ):
        answer = client.post(url(site, f"/{request_id}/{action}"), json=body, headers=auditor)
        assert answer.status_code == 403, action
    assert client.get(url(site)).status_code == 401
    assert client.get(url(site, "?overdue=maybe"), headers=admin).status_code == 422
    assert client.get(url(site, "?status=lost"), headers=admin).status_code == 422


def test_overdue_requests_are_flagged_and_the_cli_exits_1(app, runner, client, site, admin):
    def overdue(*args: str) -> Any:
        return runner.invoke(args=["requests", "overdue", *args])

    assert overdue().exit_code == 0
    past = utcnow() - timedelta(days=16)
    late = requests.open_request(
        db.session.get(type(site), site.id),
        "access",
        channel="site_backend",
        actor="test",
        visitor_id="v" * 32,
        now=past,
    )
    fresh = requests.open_request(
        site, "objection", channel="site_backend", actor="t", visitor_id="w"
    )
    result = overdue()
    assert result.exit_code == 1 and f"{late.id}  {site.site_key}" in result.output
    as_json = json.loads(overdue("--json", "--site", site.site_key).output)
    assert [row["id"] for row in as_json] == [late.id] and as_json[0]["overdue"] is True
    assert "v" * 32 not in result.output
    only_late = client.get(url(site, "?overdue=true"), headers=admin).json
    assert [row["id"] for row in only_late] == [late.id]
    flags = {row["id"]: row["overdue"] for row in client.get(url(site), headers=admin).json}
    assert flags == {late.id: True, fresh.id: False}
    # with a clock 20 days on, the fresh one is late too; closing both clears the list
    assert len(requests.overdue_requests(site.id, utcnow() + timedelta(days=20))) == 2
    closed = runner.invoke(
        args=["requests", "close", "--site", site.site_key, "--id", str(late.id),
              "--outcome", "nothing_held"]
    )  # fmt: skip
    assert closed.exit_code == 0, closed.output
    assert overdue().exit_code == 0
    listing = runner.invoke(args=["requests", "list", "--json"])
    assert {row["status"] for row in json.loads(listing.output)} == {"closed", "open"}
    again = runner.invoke(
        args=["requests", "close", "--site", site.site_key, "--id", str(late.id),
              "--outcome", "fulfilled"]
    )  # fmt: skip
    assert again.exit_code == 1 and "closed" in again.output


def test_the_due_days_setting_moves_due_dates_without_a_new_banner_version(client, site, visitor):
    document = settings.current_document(site)
    assert document["rights"] == {"due_days": 15}
    before = site.banner_version_hash
    plan = settings.apply_settings({**document, "rights": {"due_days": 3}}, site=site, actor="t")
    assert plan.changed and not plan.new_banner_version and site.banner_version_hash == before
    answer = submit(client, site, type="access", visitor_token=visitor["token"])
    request = db.session.scalars(db.select(SubjectRequest)).one()
    assert request.due_at - request.received_at == timedelta(days=3)
    assert answer.json["due_at"].startswith(request.due_at.date().isoformat())
    with pytest.raises(settings.SettingsRejected):
        settings.apply_settings({**document, "rights": {"due_days": 0}}, site=site, actor="t")


def test_the_public_erasure_endpoint_records_a_closed_erasure_request(client, site, visitor):
    answer = client.post(
        f"/api/v1/sites/{site.site_key}/erasure", json={"visitor_token": visitor["token"]}
    )
    assert answer.status_code == 202
    assert answer.json["leads"] == 0 and answer.json["subscriptions"] == 0
    request = db.session.scalars(db.select(SubjectRequest)).one()
    assert (request.kind, request.status, request.outcome) == ("erasure", "closed", "fulfilled")
    actions = [step.action for step in requests.steps_of(request.id)]
    assert actions == ["opened", "started", "erased", "closed"]
    tombstone = db.session.scalars(db.select(ErasureTombstone)).one()
    assert tombstone.request_id == request.id and tombstone.subject == visitor["id"]
    erased = [step.note for step in requests.steps_of(request.id) if step.action == "erased"]
    assert erased == [f"events: 1, leads: 0, subscriptions: 0, tombstone: {tombstone.id}"]
    status = client.get(answer.json["status_url"].split("localhost", 1)[-1])
    assert status.status_code == 200 and "Erasure" in status.get_data(as_text=True)


def test_a_correction_moves_the_subscription_to_the_corrected_address(site, admin, client):
    old, new = "Old.Address@example.com", "new.address@example.com"
    subscription = Subscription(
        site_id=site.id, form="newsletter", category="marketing_email", status="active",
        subject_id="s" * 32, address_hash=address_hash(site.site_key, old),
        email_encrypted=encrypt_text(old), locale="en", wording_hash="0" * 64,
    )  # fmt: skip
    db.session.add(subscription)
    db.session.commit()
    request = requests.open_request(
        site, "correction", channel="site_backend", actor="t", email=old
    )
    answer = client.post(url(site, f"/{request.id}/correct"), json={"email": new}, headers=admin)
    assert answer.status_code == 200 and answer.json["email"] == new
    db.session.refresh(subscription)
    assert subscription.address_hash == address_hash(site.site_key, new)
    assert [s["action"] for s in answer.json["steps"]] == ["opened", "started", "corrected"]
    bad = client.post(url(site, f"/{request.id}/correct"), json={"email": "x"}, headers=admin)
    assert bad.status_code == 422


@pytest.fixture
def smtp(app) -> Any:
    with SmtpServer() as server:
        app.config.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=server.port,
            SMTP_SECURITY="none",
            MAIL_FROM="Example <privacy@example.com>",
            PUBLIC_BASE_URL=BASE,
        )
        yield server


def test_a_request_by_address_waits_for_the_link_in_the_message(client, site, smtp, admin):
    address = "person@example.com"
    answer = submit(client, site, type="erasure", email=address, locale="en")
    unknown = submit(client, site, type="erasure", email="other@example.com")
    assert answer.status_code == unknown.status_code == 202
    assert answer.json == unknown.json and "reference" not in answer.json
    request = db.session.scalars(
        db.select(SubjectRequest).where(
            SubjectRequest.address_hash == address_hash(site.site_key, address)
        )
    ).one()
    assert request.status == "awaiting_confirmation" and request.due_at is None
    assert address not in (request.email_encrypted or "")
    listed = client.get(url(site), headers=admin)
    assert address not in listed.get_data(as_text=True)
    assert not any(row["overdue"] for row in listed.json)

    assert outbox.deliver_due(utcnow()).sent == 2
    message = next(m for m in smtp.messages if m["To"] == address)
    link = next(
        found for found in URL.findall(message.get_content()) if "/rights/confirm/" in found
    )
    path = link.removeprefix(BASE)
    shown = client.get(path)
    assert shown.status_code == 200 and "<button" in shown.get_data(as_text=True)
    db.session.refresh(request)
    assert request.status == "awaiting_confirmation"  # a GET confirms nothing

    confirmed = client.post(path, headers={"Accept": "application/json"})
    assert confirmed.status_code == 200 and confirmed.json["status"] == "confirmed"
    assert client.post(path, headers={"Accept": "application/json"}).status_code == 409
    assert client.get("/rights/confirm/nonsense").status_code == 404
    db.session.refresh(request)
    assert request.status == "open" and request.due_at - request.received_at == timedelta(days=15)
    page = client.get(f"/rights/{confirmed.json['reference']}")
    assert page.status_code == 200 and address not in page.get_data(as_text=True)

    request_handling.handle(site.id, request.id, "test")
    requests.close(site.id, request.id, "test", "fulfilled")
    db.session.refresh(request)
    assert request.email_encrypted is None  # an erasure forgets the address when it closes
    assert count_rows(SubjectRequestStep) >= 5
    # the request for other@example.com was never confirmed: forgotten after its link expired
    assert request_mail.forget_unconfirmed(utcnow() + timedelta(days=7)) == 0
    assert request_mail.forget_unconfirmed(utcnow() + timedelta(days=9)) == 1
    assert db.session.scalars(db.select(SubjectRequest.id)).all() == [request.id]
    assert count_rows(MailMessage) == 0


def test_the_console_queue_shows_due_dates_and_auditors_get_403(client, site, visitor):
    make_account("owner@example.com", "owner", site)
    make_account("auditor@example.com", "auditor", site)
    late = requests.open_request(
        site, "access", channel="site_backend", actor="t",
        visitor_id="vis-hidden-from-auditors", now=utcnow() - timedelta(days=30),
    )  # fmt: skip
    page_url = f"/console/sites/{site.site_key}/requests/"
    sign_in(client, "auditor@example.com")
    listing = client.get(page_url)
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and 'class="overdue"' in html and "1 overdue" in html
    detail = client.get(f"{page_url}{late.id}").get_data(as_text=True)
    assert 'value="handle"' not in detail and "vis-hidden-from-auditors" not in detail
    token = csrf_token(client, "/console/")
    crafted = client.post(f"{page_url}{late.id}", data={"action": "handle", "csrf_token": token})
    assert crafted.status_code == 403
    client.post("/console/logout", data={"csrf_token": token})

    sign_in(client, "owner@example.com")
    detail_page = f"{page_url}{late.id}"
    token = csrf_token(client, detail_page)
    handled = client.post(detail_page, data={"action": "handle", "csrf_token": token})
    assert handled.status_code == 302
    closed = client.post(
        detail_page, data={"action": "close", "outcome": "fulfilled", "csrf_token": token}
    )
    assert closed.status_code == 302
    db.session.refresh(late)
    assert late.status == "closed"
    bad = client.post(detail_page, data={"action": "close", "outcome": "x", "csrf_token": token})
    assert bad.status_code in (409, 422)
    assert "None overdue" in client.get(page_url).get_data(as_text=True)


def test_the_console_downloads_an_access_request_s_data_as_a_step(client, site, visitor):
    make_account("owner@example.com", "owner", site)
    asked = requests.open_request(
        site, "access", channel="visitor_token", actor="visitor", visitor_id=visitor["id"]
    )
    erasure = requests.open_request(
        site, "erasure", channel="site_backend", actor="t", visitor_id="v2"
    )
    sign_in(client, "owner@example.com")
    page_url = f"/console/sites/{site.site_key}/requests/{asked.id}"
    assert 'value="export"' in client.get(page_url).get_data(as_text=True)
    token = csrf_token(client, page_url)
    answer = client.post(page_url, data={"action": "export", "csrf_token": token})
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    document = json.loads(answer.get_data(as_text=True))
    assert document["visitor_id"] == visitor["id"] and document["events"]
    db.session.refresh(asked)
    assert asked.status == "in_progress"
    assert "exported" in client.get(page_url).get_data(as_text=True)  # a step, with who
    other = f"/console/sites/{site.site_key}/requests/{erasure.id}"
    assert 'value="export"' not in client.get(other).get_data(as_text=True)
    refused = client.post(other, data={"action": "export", "csrf_token": token})
    assert refused.status_code == 409


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_the_console_corrects_the_address_of_a_correction_request(client, site, role):
    old, new = "old.address@example.com", "new.address@example.com"
    subscription = Subscription(
        site_id=site.id, form="newsletter", category="marketing_email", status="active",
        subject_id="s" * 32, address_hash=address_hash(site.site_key, old),
        email_encrypted=encrypt_text(old), locale="en", wording_hash="0" * 64,
    )  # fmt: skip
    db.session.add(subscription)
    db.session.commit()
    asked = requests.open_request(site, "correction", channel="site_backend", actor="t", email=old)
    make_account("auditor@example.com", "auditor", site)
    make_account(f"{role}@example.com", role, site)
    page_url = f"/console/sites/{site.site_key}/requests/{asked.id}"

    sign_in(client, "auditor@example.com")
    assert 'value="correct"' not in client.get(page_url).get_data(as_text=True)
    token = csrf_token(client, "/console/")
    crafted = {"action": "correct", "email": new, "csrf_token": token}
    assert client.post(page_url, data=crafted).status_code == 403
    client.post("/console/logout", data={"csrf_token": token})

    sign_in(client, f"{role}@example.com")
    assert 'value="correct"' in client.get(page_url).get_data(as_text=True)
    no_token = client.post(page_url, data={"action": "correct", "email": new})
    assert no_token.status_code == 400
    token = csrf_token(client, page_url)
    bad = client.post(page_url, data={"action": "correct", "email": "x", "csrf_token": token})
    assert bad.status_code == 422
    done = client.post(page_url, data={"action": "correct", "email": new, "csrf_token": token})
    assert done.status_code == 302
    db.session.refresh(subscription)
    assert subscription.address_hash == address_hash(site.site_key, new)
    assert [s.action for s in requests.steps_of(asked.id)] == ["opened", "started", "corrected"]

    access_request = requests.open_request(
        site, "access", channel="site_backend", actor="t", visitor_id="v3"
    )
    other = f"/console/sites/{site.site_key}/requests/{access_request.id}"
    assert 'value="correct"' not in client.get(other).get_data(as_text=True)
    refused = client.post(other, data={"action": "correct", "email": new, "csrf_token": token})
    assert refused.status_code == 409
