"""The preference center's pages and the portability document, over HTTP on both databases.

The Chromium tests (test_preference_center_browser.py) drive the same pages as a visitor does;
these check what the server records and answers, including refusals.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.ledger.sealing import seal_site
from consent_service.models import ConsentEvent, Lead
from tests.conftest import decision_body


def consent(client, site, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site, **overrides)
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def events_of(site) -> list[ConsentEvent]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.site_id == site.id).order_by(ConsentEvent.id)
        )
    )


def open_page(client, site, token: str, **form: Any) -> Any:
    return client.post(f"/p/{site.site_key}", data={"token": token, **form})


def form_value(html: str, do: str, name: str) -> str:
    """A hidden field of the form whose `do` is `do`."""
    form = html.split(f'name="do" value="{do}"', 1)[1].split("</form>", 1)[0]
    found = re.search(rf'name="{name}" value="([^"]*)"', form)
    assert found is not None
    return found.group(1)


def test_the_page_is_served_under_the_strict_csp_and_knows_nobody_without_a_token(client, site):
    response = client.get(f"/p/{site.site_key}")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in csp and "'unsafe-inline'" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert 'id="open-form"' in html and "Open this page from the link" in html
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []  # nothing from another host
    assert client.get("/p/no-such-site").status_code == 404


def test_the_page_shows_the_choice_and_every_event_with_its_versions_and_seal(client, site):
    first = consent(client, site, action="accept_all", choices={})
    token = first["visitor_token"]
    consent(client, site, visitor_token=token)  # custom: analytics only
    response = open_page(client, site, token)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = re.findall(r'<tr data-event-id="([^"]+)"', html)
    recorded = events_of(site)
    assert rows == [str(event.event_id) for event in reversed(recorded)]  # newest first
    assert re.search(r'id="c-analytics"[^>]*checked', html)
    assert not re.search(r'id="c-crm"[^>]*checked', html)
    assert html.count('data-seal="waiting"') == 2
    assert recorded[0].policy_version in html and recorded[0].banner_version[:12] in html
    assert "We value your privacy" in html  # the banner text the choice rested on
    seal_site(site)
    sealed = open_page(client, site, token).get_data(as_text=True)
    assert sealed.count('data-seal="sealed"') == 2 and "entry 0" in sealed


def test_a_change_is_recorded_with_source_preference_center_once(client, site):
    token = consent(client, site)["visitor_token"]
    html = open_page(client, site, token).get_data(as_text=True)
    event_id = form_value(html, "save", "event_id")
    form = {"do": "save", "event_id": event_id, "allow": ["crm", "marketing_email"]}
    saved = open_page(client, site, token, **form)
    assert saved.status_code == 200 and "Your choices were saved." in saved.get_data(as_text=True)
    again = open_page(client, site, token, **form)  # a reload resubmits the same form
    assert again.status_code == 200
    recorded = events_of(site)
    assert len(recorded) == 2
    change = recorded[-1]
    assert (change.source, change.action, str(change.event_id)) == (
        "preference_center",
        "custom",
        event_id,
    )
    assert change.visitor_id == recorded[0].visitor_id
    assert {slug: change.choices[slug] for slug in ("analytics", "crm", "marketing_email")} == {
        "analytics": False,
        "crm": True,
        "marketing_email": True,
    }
    assert change.banner_version == recorded[0].banner_version or change.rule_set


def test_withdraw_records_one_withdraw_event_that_refuses_every_optional_category(client, site):
    token = consent(client, site, action="accept_all", choices={})["visitor_token"]
    html = open_page(client, site, token).get_data(as_text=True)
    form = {"do": "withdraw", "event_id": form_value(html, "withdraw", "event_id")}
    response = open_page(client, site, token, **form)
    assert "Your consent is withdrawn." in response.get_data(as_text=True)
    withdrawal = events_of(site)[-1]
    assert (withdrawal.action, withdrawal.source) == ("withdraw", "preference_center")
    optional = [c.slug for c in site.categories if not c.necessary]
    assert [withdrawal.choices[slug] for slug in optional] == [False] * len(optional)


def test_a_foreign_or_forged_token_sees_nothing_and_changes_nothing(client, site, app):
    token = consent(client, site)["visitor_token"]
    from consent_service.sites import settings

    other = settings.create_site("Other", ["https://other.example"])
    foreign = client.post(f"/p/{other.site_key}", data={"token": token})
    assert foreign.status_code == 401 and "This link is not valid" in foreign.get_data(True)
    forged = open_page(client, site, token + "x", do="withdraw", event_id=str(uuid.uuid4()))
    assert forged.status_code == 401 and "data-event-id" not in forged.get_data(as_text=True)
    assert len(events_of(site)) == 1
    bad = open_page(client, site, token, do="save")  # no event id: nothing to record under
    assert bad.status_code == 422 and bad.json["errors"] == {
        "event_id": ["Required to record a change."]
    }
    assert open_page(client, site, token, do="delete").status_code == 422
    assert len(events_of(site)) == 1


def test_the_download_and_the_api_give_everything_held_without_decrypting(client, site):
    token = consent(client, site)["visitor_token"]
    visitor_id = events_of(site)[0].visitor_id
    db.session.add(
        Lead(
            site_id=site.id,
            form="contact",
            category="crm",
            visitor_id=visitor_id,
            consent_event_id=events_of(site)[0].event_id,
            field_names=["name", "email"],
            fields_encrypted="gAAAA-secret-ciphertext",
        )
    )
    db.session.commit()
    download = client.post(f"/p/{site.site_key}/export", data={"token": token})
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    document = json.loads(download.data)
    assert document["format"] == "consent-service.visitor-data.v1"
    assert document["visitor_id"] == visitor_id
    [event] = document["events"]
    assert event["source"] == "banner" and event["seal"]["status"] == "waiting"
    assert event["page_url"] == "https://www.example.com/products"
    assert event["receipt"]["event_id"] == event["event_id"] and event["receipt"]["signature"]
    [lead] = document["leads"]
    assert lead["fields_held"] == ["name", "email"] and lead["status"] == "pending"
    assert "secret-ciphertext" not in download.get_data(as_text=True)
    assert document["subscriptions"] == []

    url = f"/api/v1/sites/{site.site_key}/portability"
    answer = client.get(url, headers={"X-Visitor-Token": token})
    assert answer.status_code == 200
    assert {**answer.json, "generated_at": None} == {**document, "generated_at": None}
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-Visitor-Token": token + "x"}).json["code"] == 401
    assert client.post(f"/p/{site.site_key}/export", data={"token": "x"}).status_code == 401


def test_erasure_is_asked_from_the_service_s_own_pages(client, site):
    token = consent(client, site)["visitor_token"]
    url = f"/api/v1/sites/{site.site_key}/erasure"
    own = client.post(url, json={"visitor_token": token}, headers={"Origin": "http://localhost"})
    assert own.status_code == 202
    foreign = client.post(
        url, json={"visitor_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403


def test_the_page_speaks_zh_cn(client, site):
    token = consent(client, site)["visitor_token"]
    html = open_page(client, site, token, lang="zh-CN").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "您当前的选择" in html and "撤回全部同意" in html and "下载我的数据（JSON）" in html
    blank = client.get(f"/p/{site.site_key}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in blank.get_data(as_text=True)
