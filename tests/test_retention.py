"""Retention: the rules from a site's settings (with a fake clock), the Chinese-law floor,
dry runs that change nothing, and the command."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from consent_service.consents import retention
from consent_service.consents.retention_rules import CN_LOG_FLOOR_DAYS, rules_for
from consent_service.extensions import db
from consent_service.models import ConsentEvent, ErasureTombstone, MailMessage, Subscription
from consent_service.models.types import utcnow
from consent_service.sites import settings
from tests.erasure_support import add_personal_links, event_row, seed_visitors, values_of

NOW = datetime(2031, 6, 1, 12, 0, 0).astimezone()
NO_CN = {"builtin": False, "rules": {"DE": "opt_in"}, "fallback": "opt_out"}


def test_rules_default_and_floor():
    rules = rules_for({"regions": NO_CN})
    assert (rules.consent_records_years, rules.unconfirmed_subscriptions_days) == (5, 7)
    assert rules.floor_days == 0
    short = rules_for({"regions": NO_CN, "retention": {"dead_letter_days": 10}})
    assert short.days("dead_letter_days") == 10
    cutoffs = short.cutoffs(NOW)
    assert cutoffs["dead_letters"] == NOW - timedelta(days=10)
    assert cutoffs["consent_records"] < NOW - timedelta(days=5 * 365)
    # Under Chinese law (the built-in map sends CN to opt_in_separate) the floor holds.
    china = rules_for({"regions": {}, "retention": {"dead_letter_days": 10}})
    assert china.floor_days == CN_LOG_FLOOR_DAYS
    assert china.days("dead_letter_days") == CN_LOG_FLOOR_DAYS
    assert china.cutoffs(NOW)["dead_letters"] == NOW - timedelta(days=CN_LOG_FLOOR_DAYS)
    assert china.days("unconfirmed_subscriptions_days") == 7  # not a log: no floor


def test_the_linter_flags_a_period_below_the_floor_and_no_banner_version_changes(app, site):
    document = settings.export_document(site)
    assert document["retention"]["consent_records_years"] == 5
    document["retention"] = {**document["retention"], "delivered_outbox_days": 30}
    _, findings = settings.check(document)
    flagged = [item for item in findings if item.rule == "retention-below-floor"]
    assert [item.pointer for item in flagged] == ["/retention/delivered_outbox_days"]
    result = settings.apply_settings(document, site=site)
    assert result.applied and not result.new_banner_version
    assert result.banner_version_before == result.banner_version_after
    document["regions"] = NO_CN
    _, findings = settings.check(document)
    assert not [item for item in findings if item.rule == "retention-below-floor"]


def test_consent_records_go_years_after_the_last_event(app, site):
    start = utcnow() - timedelta(days=10)
    (quiet,) = seed_visitors(site, "quiet", 1, 2, start)
    (busy,) = seed_visitors(site, "busy", 1, 1, start)
    later = start + timedelta(days=3 * 365)
    db.session.execute(
        sa.insert(ConsentEvent), [event_row(site, busy, later, values_of("busy", 1, later))]
    )
    db.session.commit()
    four_years = retention.run_retention(site.site_key, start + timedelta(days=4 * 365))
    assert four_years[0].counts["consent_events"] == 0
    (report,) = retention.run_retention(site.site_key, start + timedelta(days=5 * 366), batch=1)
    assert report.counts["consent_events"] == 2 and report.transactions == 2
    erased = db.session.scalars(
        sa.select(ConsentEvent.visitor_id).where(ConsentEvent.erasure_id.is_not(None))
    ).all()
    assert erased == [quiet, quiet]  # the busy visitor's last event is recent: all kept
    tombstone = db.session.get(ErasureTombstone, report.tombstone_id)
    assert tombstone.reason == "retention" and tombstone.counts == {"events": 2}


def test_a_dry_run_changes_nothing_and_the_command_reports(app, site, runner):
    visitors = seed_visitors(site, "old", 3, 1, utcnow() - timedelta(days=6 * 366))
    add_personal_links(site, visitors, "old")
    old = utcnow() - timedelta(days=30)
    db.session.execute(sa.update(Subscription).values(requested_at=old))
    db.session.execute(sa.update(MailMessage).values(status="dead", created_at=old))
    db.session.commit()

    def snapshot():
        return [
            db.session.execute(sa.select(table)).all()
            for table in (ConsentEvent.__table__, Subscription.__table__, MailMessage.__table__)
        ]

    before = snapshot()
    result = runner.invoke(
        args=["retention", "run", "--site", site.site_key, "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(text) for text in result.output.splitlines()]
    assert line["dry_run"] and line["purged"]["consent_events"] == 3
    assert line["purged"]["unconfirmed_subscriptions"] == 3
    assert line["purged"]["dead_mail"] == 0  # 30 days: under the Chinese-law floor
    db.session.rollback()
    assert snapshot() == before
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert f"{site.site_key}: purged consent_events 3" in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscription)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0
    again = runner.invoke(args=["retention", "run", "--site", site.site_key])
    assert "purged nothing" in again.output
    missing = runner.invoke(args=["retention", "run", "--site", "nope"])
    assert missing.exit_code != 0


def test_the_schedule_runs_in_process_only_when_configured(app, app_factory, site):
    assert "retention" not in app.extensions  # off in tests
    scheduled = app_factory(RETENTION_AUTORUN=True, RETENTION_INTERVAL=120)
    job = scheduled.extensions["retention"]
    assert job.interval == 120.0
    seed_visitors(site, "sched", 2, 1, utcnow() - timedelta(days=6 * 366))
    with scheduled.app_context():
        job.work()  # what the thread runs each interval
        db.session.remove()
    erased = db.session.scalars(sa.select(ConsentEvent.erasure_id)).all()
    assert len(erased) == 2 and all(erased)


def test_outbox_rows_and_dead_letters_go_after_their_days_without_the_floor(app, site):
    from consent_service.models import Lead

    document = settings.export_document(site)
    document["regions"] = NO_CN
    document["retention"] = {**document["retention"], "delivered_outbox_days": 10}
    document["retention"]["dead_letter_days"] = 15
    assert settings.apply_settings(document, site=site).applied
    visitors = seed_visitors(site, "outbox", 3, 1, utcnow())
    add_personal_links(site, visitors, "outbox")  # one delivered lead, two pending
    db.session.execute(sa.update(Lead).values(delivered_at=utcnow() - timedelta(days=11)))
    db.session.execute(
        sa.update(MailMessage).values(status="dead", created_at=utcnow() - timedelta(days=12))
    )
    db.session.commit()
    (early,) = retention.run_retention(site.site_key)
    assert early.counts["delivered_leads"] == 1 and early.counts["dead_mail"] == 0
    delivered = db.session.scalars(sa.select(Lead).where(Lead.status == "delivered")).one()
    assert delivered.fields_encrypted is None and delivered.erased_at is not None
    pending = db.session.scalars(sa.select(Lead).where(Lead.status == "pending")).all()
    assert len(pending) == 2 and all(lead.fields_encrypted for lead in pending)
    (later,) = retention.run_retention(site.site_key, utcnow() + timedelta(days=4))
    assert later.counts["dead_mail"] == 3 and later.counts["delivered_leads"] == 0
