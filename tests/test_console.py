"""The console over HTTP: signing in (limited), sessions only under /console/, CSRF on every
form, roles (an auditor reads and exports, never writes), the settings editor's plan and
linter, policies, the activity log, and the dashboard's counters kept as consents arrive."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from consent_service.console import stats
from consent_service.extensions import db
from consent_service.models import ConsentEvent, ConsoleActivity, DailyDecisionCount, PolicyVersion
from tests.conftest import count_rows, decision_body
from tests.console_support import PASSWORD, csrf_token, make_account, post, sign_in


@pytest.fixture(autouse=True)
def no_wait(app):
    app.config["CONSOLE_SIGNIN_DELAY"] = 0


@pytest.fixture
def owner(site):
    return make_account("owner@example.com", "owner", site)


@pytest.fixture
def auditor(site):
    return make_account("auditor@example.com", "auditor", site)


def test_sign_in_page_has_email_and_password_and_strict_csp(client):
    page = client.get("/console/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="email"' in html and 'name="password"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "default-src 'self'" in csp


def test_pages_need_a_sign_in(client, site):
    answer = client.get(f"/console/sites/{site.site_key}/")
    assert answer.status_code == 302
    assert "/console/login" in answer.headers["Location"]


def test_sign_in_sets_a_console_only_cookie_and_signs_out(client, owner, site):
    answer = sign_in(client, "Owner@Example.com")
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    index = client.get("/console/").get_data(as_text=True)
    assert "Create a site" not in index and "consent-service sites create" in index
    # The API never opens a session.
    assert "Set-Cookie" not in client.get(f"/api/v1/sites/{site.site_key}/config").headers
    out = post(client, "/console/logout", {}, page="/console/")
    assert out.status_code == 302, out.get_data(as_text=True)
    assert client.get("/console/").status_code == 302
    actions = db.session.scalars(select(ConsoleActivity.action)).all()
    assert "signin" in actions and "signout" in actions


def test_the_session_cookie_is_secure_over_https(client, owner):
    token = csrf_token(client)
    data = {"email": "owner@example.com", "password": PASSWORD, "csrf_token": token}
    # Over https a post must also come from one of our own pages (Flask-WTF's strict check).
    elsewhere = client.post("/console/login", data=data, base_url="https://localhost")
    assert elsewhere.status_code == 400
    answer = client.post(
        "/console/login",
        data=data,
        base_url="https://localhost",
        headers={"Referer": "https://localhost/console/login"},
    )
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_form_without_its_csrf_token_is_refused(client, owner):
    answer = client.post(
        "/console/login", data={"email": "owner@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)
    assert sign_in(client, "owner@example.com").status_code == 302
    refused = client.post("/console/logout", data={})
    assert refused.status_code == 400


def test_failed_sign_ins_are_limited_per_account(app, client, owner):
    app.config["CONSOLE_SIGNIN_FAILURES_PER_ACCOUNT"] = 3
    for _ in range(3):
        assert sign_in(client, "owner@example.com", "wrong password!!").status_code == 401
    # Over the limit even the right password is refused, without being checked.
    answer = sign_in(client, "owner@example.com")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"]
    failed = db.session.scalars(
        select(ConsoleActivity).where(ConsoleActivity.action == "signin.failed")
    ).all()
    assert len(failed) == 3


def test_failed_sign_ins_are_limited_per_network(app, client, owner):
    app.config["CONSOLE_SIGNIN_FAILURES_PER_NETWORK"] = 2
    assert sign_in(client, "nobody@example.com", "x" * 12).status_code == 401
    assert sign_in(client, "other@example.com", "x" * 12).status_code == 401
    assert sign_in(client, "owner@example.com").status_code == 429


def test_auditor_sees_no_edit_control_gets_403_on_writes_and_exports(client, auditor, site):
    sign_in(client, "auditor@example.com")
    settings_page = client.get(f"/console/sites/{site.site_key}/settings")
    html = settings_page.get_data(as_text=True)
    assert settings_page.status_code == 200
    assert "<textarea" not in html and 'value="save"' not in html
    for path in ("", "settings", "policies", "install", "ledger", "history", "activity"):
        html = client.get(f"/console/sites/{site.site_key}/{path}").get_data(as_text=True)
        assert html.count('method="post"') == 1, path  # signing out, nothing else
    token = csrf_token(client, "/console/")
    for path, data in (
        ("settings", {"action": "save", "document": "name: x", "hash": "*"}),
        ("policies", {"label": "evil", "text": "x"}),
    ):
        crafted = client.post(
            f"/console/sites/{site.site_key}/{path}", data={**data, "csrf_token": token}
        )
        assert crafted.status_code == 403
        assert client.put(f"/console/sites/{site.site_key}/{path}").status_code in (403, 405)
    assert count_rows(PolicyVersion) == 1
    export = client.get(f"/console/sites/{site.site_key}/ledger/export.jsonl")
    assert export.status_code == 200
    export.get_data()
    assert "ledger.exported" in db.session.scalars(select(ConsoleActivity.action)).all()


def test_an_operator_opens_every_site(client, site):
    make_account("op@example.com", "operator")
    sign_in(client, "op@example.com")
    assert client.get(f"/console/sites/{site.site_key}/").status_code == 200


def test_an_account_without_a_role_on_the_site_gets_403(client, site):
    from consent_service.sites import settings

    elsewhere = settings.create_site("Elsewhere", ["https://elsewhere.example"])
    make_account("owner2@example.com", "owner", elsewhere)
    sign_in(client, "owner2@example.com")
    assert client.get(f"/console/sites/{site.site_key}/").status_code == 403
    assert client.get(f"/console/sites/{elsewhere.site_key}/").status_code == 200


def test_settings_editor_shows_plan_and_linter_error_and_errors_block_the_save(client, owner, site):
    sign_in(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings"
    text = client.get(path).get_data(as_text=True)
    assert "No findings." in text or "finding" in text
    before = site.settings_hash
    # An origin over plain http is an error the linter points at.
    from consent_service.console import editing

    document = editing.current_text(site).replace(
        "https://www.example.com", "http://www.example.com", 1
    )
    checked = post(client, path, {"action": "check", "document": document, "hash": before})
    html = checked.get_data(as_text=True)
    assert checked.status_code == 422
    assert "/origins/0" in html and "Errors block the save." in html
    saved = post(client, path, {"action": "save", "document": document, "hash": before})
    assert saved.status_code == 422
    db.session.refresh(site)
    assert site.settings_hash == before


def test_add_a_service_from_the_catalogue_then_save(client, owner, site):
    sign_in(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/settings"
    added = post(client, path, {"catalogue": "hotjar", "hash": site.settings_hash or "*"})
    html = added.get_data(as_text=True)
    assert added.status_code == 200, html
    assert "catalogue: hotjar" in html and "/services/" in html
    from html import unescape

    from tests.console_support import CSRF

    document = unescape(
        html.split('name="document"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    )
    token = CSRF.search(html).group(1)
    saved = client.post(
        path,
        data={
            "action": "save",
            "document": document,
            "hash": site.settings_hash,
            "csrf_token": token,
        },
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert "Saved." in saved.get_data(as_text=True)
    history = client.get(f"/console/sites/{site.site_key}/history").get_data(as_text=True)
    assert "console:" in history and "hotjar" in history
    actions = db.session.scalars(select(ConsoleActivity.action)).all()
    assert "settings.applied" in actions


def test_publish_a_material_policy(client, owner, site):
    sign_in(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/policies"
    answer = post(
        client, path, {"label": "2027-01", "text": "We changed things.", "material": "on"}
    )
    assert answer.status_code == 302
    published = db.session.scalar(select(PolicyVersion).where(PolicyVersion.label == "2027-01"))
    assert published is not None and published.material
    page = client.get(f"{path}/{published.id}").get_data(as_text=True)
    assert "We changed things." in page

    pasted = "A long policy <pasted> by hand & kept."
    again = post(client, path, {"label": "2027-01", "text": pasted, "material": "on"})
    assert again.status_code == 409
    html = again.get_data(as_text=True)
    assert "already published" in html and 'role="alert"' in html
    assert "A long policy &lt;pasted&gt; by hand &amp; kept.</textarea>" in html
    assert 'value="2027-01"' in html and 'name="material" type="checkbox" checked' in html
    empty = post(client, path, {"label": "2027-02", "text": ""})
    assert empty.status_code == 422 and "needs its text or its URL" in empty.get_data(as_text=True)


def test_operator_creates_site_and_account(client, runner):
    make_account("op@example.com", "operator")
    sign_in(client, "op@example.com")
    created = post(
        client,
        "/console/sites",
        {"name": "New shop", "origins": "https://shop.example"},
        page="/console/",
    )
    assert created.status_code == 302
    site_key = created.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    account = post(
        client,
        "/console/accounts",
        {"email": "ed@example.com", "password": PASSWORD, "role": "editor", "site_key": site_key},
        page="/console/",
    )
    assert account.status_code == 302
    short = post(
        client,
        "/console/accounts",
        {"email": "x@example.com", "password": "short", "role": "editor", "site_key": site_key},
        page="/console/",
    )
    assert short.status_code == 422


def test_users_create_reads_the_password_from_stdin(runner, site):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "cli@example.com",
            "--role",
            "auditor",
            "--site",
            site.site_key,
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    result = runner.invoke(
        args=["users", "create", "--email", "root@example.com", "--role", "operator"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    bad = runner.invoke(
        args=["users", "create", "--email", "x@example.com", "--role", "owner"],
        input=PASSWORD + "\n",
    )
    assert bad.exit_code != 0
    from consent_service.console import signin

    assert (
        signin.sign_in("cli@example.com", PASSWORD, None, sleep=lambda _: None).email
        == "cli@example.com"
    )


def test_dashboard_counts_decisions_as_they_arrive(client, owner, site):
    from consent_service.ledger.sealing import seal_all

    for action, choices, gpc in (
        ("accept_all", {}, False),
        ("reject_all", {}, True),
        ("custom", {"analytics": True, "crm": False, "marketing_email": False}, False),
    ):
        answer = client.post(
            f"/api/v1/sites/{site.site_key}/consents",
            json=decision_body(site, action=action, choices=choices, gpc=gpc),
        )
        assert answer.status_code == 201, answer.get_json()
    today = datetime.now(UTC).date()
    series = stats.daily(site.id, today, today)
    assert series["actions"]["accept_all"] == [1]
    assert series["actions"]["reject_all"] == [1]
    assert series["gpc"] == [1]
    assert series["opt_in"]["analytics"] == [pytest.approx(2 / 3, abs=1e-3)]
    assert count_rows(DailyDecisionCount) == 0  # waiting for their seal, counted as read
    seal_all()
    assert count_rows(DailyDecisionCount) > 0  # counted once sealed, and only once:
    assert stats.daily(site.id, today, today) == series
    seal_all()
    assert stats.daily(site.id, today, today) == series
    sign_in(client, "owner@example.com")
    page = client.get(f"/console/sites/{site.site_key}/").get_data(as_text=True)
    assert 'data-total="accept_all">1<' in page
    assert "opt-in Analytics</th>" in page and "opt-in analytics" not in page
    assert (
        stats.dashboard(site, today, today)["opt_in"]["Analytics"] == series["opt_in"]["analytics"]
    )
    bad = client.get(f"/console/sites/{site.site_key}/?start=2026-13-01")
    assert bad.status_code == 422


def test_a_seal_committing_while_the_dashboard_reads_hides_no_decision(client, site, app_factory):
    """The counters and the events still waiting are one read: a seal that commits right after
    the counters were read (another process's sealer) moved its events out of the queue and
    into counters this read did not see, and the page showed too little."""
    import threading

    from sqlalchemy import event

    from consent_service.ledger.sealing import seal_site
    from consent_service.sites.registry import get_site

    for _ in range(4):
        answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
        assert answer.status_code == 201
    elsewhere = app_factory()
    sealed: list[int] = []

    errors: list[BaseException] = []

    def seal_elsewhere() -> None:
        with elsewhere.app_context():
            try:
                sealed.append(seal_site(get_site(site.site_key)).sealed)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

    def after_the_counters_are_read(connection, cursor, statement, *_) -> None:
        if not sealed and "console_daily_counts" in statement:
            sealer = threading.Thread(target=seal_elsewhere)
            sealer.start()
            sealer.join(30)

    today = datetime.now(UTC).date()
    event.listen(db.engine, "after_cursor_execute", after_the_counters_are_read)
    try:
        series = stats.daily(site.id, today, today)
    finally:
        event.remove(db.engine, "after_cursor_execute", after_the_counters_are_read)
    assert not errors, errors
    assert sealed == [4]
    assert sum(series["actions"][action][0] for action in series["actions"]) == 4
    assert stats.daily(site.id, today, today) == series


def test_ledger_finds_an_event_shows_its_receipt_banner_and_seal_and_verifies(client, owner, site):
    from consent_service.ledger.sealing import seal_all

    body = decision_body(site, action="accept_all", choices={})
    recorded = client.post(f"/api/v1/sites/{site.site_key}/consents", json=body).get_json()
    sign_in(client, "owner@example.com")
    base = f"/console/sites/{site.site_key}/ledger"
    by_event = client.get(f"{base}?event_id={body['event_id']}").get_data(as_text=True)
    assert body["event_id"] in by_event
    visitor = db.session.scalar(select(ConsentEvent.visitor_id))
    assert body["event_id"] in client.get(f"{base}?visitor_id={visitor}").get_data(as_text=True)
    none = client.get(f"{base}?visitor_id=nobody").get_data(as_text=True)
    assert "No event matches." in none
    assert client.get(f"{base}?event_id=not-a-uuid").status_code == 422
    event = client.get(f"{base}/events/{body['event_id']}").get_data(as_text=True)
    assert "not sealed yet" in event
    assert recorded["receipt"]["signature"] in event
    assert site.banner_version_hash[:16] in event
    seal_all(wait=False)
    sealed = client.get(f"{base}/events/{body['event_id']}").get_data(as_text=True)
    assert "Sealed as event 0" in sealed
    verified = client.get(f"{base}?verify=1").get_data(as_text=True)
    assert "The live ledger verifies" in verified


def test_the_tag_check_fetches_only_the_sites_own_origins(client, owner, site):
    sign_in(client, "owner@example.com")
    base = f"/console/sites/{site.site_key}/install"
    page = client.get(base).get_data(as_text=True)
    assert f"/c/{site.site_key}.js" in page and "integrity=" in page and "/c/stub.js" in page
    assert "FORM_NAME" not in page
    assert 'data-consent-form="crm"' in page and 'data-consent-form="newsletter"' in page
    assert client.get(f"{base}?url=https://elsewhere.example/").status_code == 422


def test_outboxes_show_dead_deliveries_and_retry_them(client, owner, auditor, site):
    from consent_service.integrations.webhooks import add_webhook
    from consent_service.models import WebhookDelivery

    add_webhook(site, "http://127.0.0.1:9/hook", allow_http=True)
    answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
    assert answer.status_code == 201
    delivery = db.session.scalar(select(WebhookDelivery))
    delivery.status, delivery.attempts, delivery.last_error = "dead", 12, "connection refused"
    db.session.commit()
    sign_in(client, "auditor@example.com")
    path = f"/console/sites/{site.site_key}/outboxes"
    seen = client.get(path).get_data(as_text=True)
    assert "connection refused" in seen and "Retry" not in seen
    token = csrf_token(client, path)
    data = {"kind": "webhook", "id": str(delivery.id), "csrf_token": token}
    assert client.post(f"{path}/retry", data=data).status_code == 403
    client.post("/console/logout", data={"csrf_token": token})
    sign_in(client, "owner@example.com")
    assert (
        post(
            client, f"{path}/retry", {"kind": "webhook", "id": str(delivery.id)}, page=path
        ).status_code
        == 302
    )
    db.session.refresh(delivery)
    assert delivery.status == "pending" and delivery.attempts == 0
    assert (
        post(client, f"{path}/retry", {"kind": "lead", "id": "nope"}, page=path).status_code == 404
    )


def test_each_failed_sign_in_waits_longer_than_the_last(app, owner):
    from consent_service.console import signin
    from consent_service.errors import ApiError

    app.config["CONSOLE_SIGNIN_DELAY"] = 0.5
    waits: list[float] = []
    for _ in range(3):
        with pytest.raises(ApiError):
            signin.sign_in("owner@example.com", "wrong password!!", "192.0.2.0", sleep=waits.append)
    assert waits == [0.5, 1.0, 1.5]
    signin.sign_in("owner@example.com", PASSWORD, "192.0.2.0", sleep=waits.append)
    assert len(waits) == 3  # a good sign-in never waits


def test_outboxes_say_what_pending_items_wait_for(app, client, owner, site):
    sign_in(client, "owner@example.com")
    path = f"/console/sites/{site.site_key}/outboxes"
    app.config["SMTP_HOST"] = None
    seen = client.get(path).get_data(as_text=True)
    assert "NeoCRM is not configured for this site" in seen and "No SMTP server" in seen
    app.config["SMTP_HOST"] = "smtp.example.com"
    assert "No SMTP server" not in client.get(path).get_data(as_text=True)


def test_users_password_replaces_a_lost_password_and_logs_it(runner, owner):
    from consent_service.console import signin
    from consent_service.errors import ApiError

    new = "a brand new passphrase"
    result = runner.invoke(
        args=["users", "password", "--email", "Owner@Example.com"], input=new + "\n"
    )
    assert result.exit_code == 0, result.output
    assert new not in result.output
    assert signin.sign_in("owner@example.com", new, None, sleep=lambda _: None) is not None
    with pytest.raises(ApiError):
        signin.sign_in("owner@example.com", PASSWORD, None, sleep=lambda _: None)
    entries = db.session.scalars(
        select(ConsoleActivity).where(ConsoleActivity.action == "account.password_set")
    ).all()
    assert len(entries) == 1 and new not in str(entries[0].detail)
    short = runner.invoke(args=["users", "password", "--email", "owner@example.com"], input="x\n")
    assert short.exit_code == 1 and "12 characters" in short.output
    unknown = runner.invoke(
        args=["users", "password", "--email", "nobody@example.com"], input=new + "\n"
    )
    assert unknown.exit_code == 1 and "No console account" in unknown.output
    assert "--password" not in runner.invoke(args=["users", "password", "--help"]).output
