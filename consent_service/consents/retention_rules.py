"""A site's retention rules, from its settings document: pure, no database, no clock of its own
(the runner passes `now`), so the rules are tested with any date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from consent_service.sites.regions import rule_sets_used

#: Records of processing kept at least 6 months where Chinese law applies.
CN_LOG_FLOOR_DAYS = 183
#: The periods that keep records of processing (the floor applies to these).
LOG_PERIODS = ("delivered_outbox_days", "dead_letter_days")
DEFAULTS = {
    "consent_records_years": 5,
    "unconfirmed_subscriptions_days": 7,
    "delivered_outbox_days": 183,
    "dead_letter_days": 183,
}


def under_chinese_law(regions: dict[str, Any] | None) -> bool:
    """Some visitor of the site gets the `opt_in_separate` rules (China's, by default)."""
    return "opt_in_separate" in rule_sets_used(regions)


@dataclass(frozen=True)
class RetentionRules:
    consent_records_years: int
    unconfirmed_subscriptions_days: int
    delivered_outbox_days: int
    dead_letter_days: int
    floor_days: int = 0

    def days(self, name: str) -> int:
        """A period in days, never under the floor where it applies."""
        days = int(getattr(self, name))
        return max(days, self.floor_days) if name in LOG_PERIODS else days

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """What is older than these times goes (consent records: a visitor's last event)."""
        return {
            # 365.25 days a year: a leap day never shortens the promise.
            "consent_records": now - timedelta(days=365.25 * self.consent_records_years),
            "unconfirmed_subscriptions": now
            - timedelta(days=self.days("unconfirmed_subscriptions_days")),
            "delivered_outbox": now - timedelta(days=self.days("delivered_outbox_days")),
            "dead_letters": now - timedelta(days=self.days("dead_letter_days")),
        }


def rules_for(document: dict[str, Any]) -> RetentionRules:
    """The rules of a settings document (documents older than the section get the defaults)."""
    given = {**DEFAULTS, **(document.get("retention") or {})}
    floor = CN_LOG_FLOOR_DAYS if under_chinese_law(document.get("regions")) else 0
    return RetentionRules(**{name: int(given[name]) for name in DEFAULTS}, floor_days=floor)
