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
