"""The service catalogue (stand-in: one entry until the full data file lands).

Entries have the shape of a settings service, with `id`, `default_category` and `source`
instead of `slug`, `catalogue` and `category`.
"""

from __future__ import annotations

import copy
from typing import Any

_ENTRIES: dict[str, dict[str, Any]] = {
    "google-analytics-4": {
        "id": "google-analytics-4",
        "source": "https://support.google.com/analytics/answer/11397207",
        "default_category": "analytics",
        "name": "Google Analytics 4",
        "provider": {
            "legal_name": "Google LLC",
            "address": "1600 Amphitheatre Parkway, Mountain View, CA 94043, USA",
            "contact": "https://support.google.com/policies/contact/general_privacy_form",
        },
        "purposes": [
            {"en": "Measure site traffic and usage.", "zh-CN": "统计网站流量和使用情况。"}
        ],
        "data_collected": [
            {
                "en": "Pages visited, device and browser, approximate location, events.",
                "zh-CN": "访问的页面、设备和浏览器、大致位置、事件。",
            }
        ],
        "privacy_links": [
            {"url": "https://policies.google.com/privacy?hl=en", "locale": "en"},
            {"url": "https://policies.google.com/privacy?hl=zh-CN", "locale": "zh-CN"},
        ],
        "storage_locations": [{"country": "US", "name": {"en": "United States", "zh-CN": "美国"}}],
        "cross_border": True,
        "third_party": True,
        "retention": {"en": "14 months", "zh-CN": "14 个月"},
        "cookies": [
            {
                "name": "_ga",
                "pattern": False,
                "domain": None,
                "lifetime": {"en": "2 years", "zh-CN": "2 年"},
                "lifetime_days": 730,
                "description": {"en": "Distinguishes visitors.", "zh-CN": "区分访问者。"},
            },
            {
                "name": "^_ga_[A-Z0-9]+$",
                "pattern": True,
                "domain": None,
                "lifetime": {"en": "2 years", "zh-CN": "2 年"},
                "lifetime_days": 730,
                "description": {"en": "Keeps session state.", "zh-CN": "保持会话状态。"},
            },
        ],
        "consent_mode": ["analytics_storage"],
        "hosts": ["www.googletagmanager.com", "www.google-analytics.com"],
    }
}


def catalogue_entry(entry_id: str) -> dict[str, Any] | None:
    """A copy of the entry, or None for an unknown id."""
    entry = _ENTRIES.get(entry_id)
    return copy.deepcopy(entry) if entry is not None else None


def catalogue_ids() -> list[str]:
    return sorted(_ENTRIES)
