"""A small settings document to build tests on: one analytics category with a catalogue
service, one own CRM service with a lead form."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "name": "Shop Inc.",
    "origins": ["https://shop.example"],
    "lifetime_days": 180,
    "categories": [
        {
            "slug": "analytics",
            "consent_mode": ["analytics_storage"],
            "texts": {
                "en": {"name": "Analytics", "description": "Counts visits."},
                "zh-CN": {"name": "统计分析", "description": "统计访问。"},
            },
        },
        {
            "slug": "crm",
            "texts": {
                "en": {"name": "Sales contact", "description": "Lets sales reply."},
                "zh-CN": {"name": "销售联系", "description": "便于销售回复。"},
            },
        },
    ],
    "services": [
        {"slug": "ga", "catalogue": "google-analytics-4"},
        {
            "slug": "own-crm",
            "category": "crm",
            "name": {"en": "Our CRM", "zh-CN": "我们的 CRM"},
            "provider": {"legal_name": "Shop Inc.", "contact": "privacy@shop.example"},
            "purposes": [{"en": "Reply to enquiries.", "zh-CN": "回复咨询。"}],
            "privacy_links": [{"url": "https://shop.example/privacy", "locale": "en"}],
            "storage_locations": [{"country": "DE", "name": {"en": "Germany", "zh-CN": "德国"}}],
            "third_party": False,
            "hosts": ["crm.shop.example"],
        },
    ],
    "forms": [
        {"slug": "contact", "purpose": "lead", "category": "crm", "service": "own-crm",
         "fields": ["name*", "email*"]},
    ],
}  # fmt: skip


def document(**overrides: Any) -> dict[str, Any]:
    made = copy.deepcopy(BASE)
    made.update(copy.deepcopy(overrides))
    return made
