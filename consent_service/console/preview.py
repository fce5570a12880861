"""The console's preview: the real banner script, built by the same `build_script` as
`/c/{key}.js`, from a settings document that may not be saved yet.

Nothing is written or cached: the script lives in one no-store answer. It reports decisions to
the console's preview sink, which records nothing, so trying the banner never reaches the
ledger; it names no cookie domain and loads no gtag.js, so it touches nothing but the console's
own origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consent_service.models import Site
from consent_service.sites import settings
from consent_service.sites.public_config import draft_facts, script_config
from consent_service.sites.snippet import build_script
from consent_service.sites.versions import current_policy, policy_summary


@dataclass
class Preview:
    """The script of a draft (None when the draft cannot be shown) and what it can be shown
    in; `problems` are the findings that kept it from being built."""

    script: str | None
    locales: list[str]
    default_locale: str
    cookie_name: str = ""
    problems: list[dict[str, str]] = field(default_factory=list)

    def locale(self, wanted: str | None) -> str:
        return wanted if wanted in self.locales else self.default_locale


def draft_preview(site: Site, raw: Any, sink_base: str) -> Preview:
    """The banner script a draft document would make, reporting to `sink_base`."""
    prepared, findings = settings.check(raw)
    if prepared is None:
        problems = [item.as_dict() for item in findings]
        return Preview(None, [site.default_locale], site.default_locale, problems=problems)
    document = prepared.document
    facts = {**draft_facts(site.site_key, document), "cookie_domain": None}
    facts["ga4_measurement_id"] = None  # the preview loads nothing from another host
    config = script_config(
        facts,
        prepared.banner,
        policy_summary(current_policy(site)),
        sink_base,
        None,
        document["regions"]["fallback"],  # what a visitor from an unlisted region sees
    )
    # Served inside a <script> element, which a "</script" would end: "<\/" means the same
    # in the strings and patterns where the built runtime could hold one (the configuration
    # has every "<" escaped already, by `script_literal`).
    script = build_script(config).body.decode("utf-8").replace("</", "<\\/")
    return Preview(script, facts["locales"], document["default_locale"], facts["cookie_name"])


def saved_preview(site: Site, sink_base: str) -> Preview:
    return draft_preview(site, settings.export_document(site), sink_base)
