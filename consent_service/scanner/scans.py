"""One scan, end to end: check the URLs, crawl in three states, classify, apply the rules,
keep the captures, and give back the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consent_service.extensions import db
from consent_service.models import Site
from consent_service.scanner import captures, declared, violations
from consent_service.scanner.cookie_db import cookie_database
from consent_service.scanner.crawl import CHROMIUM, Shot, chromium, crawl
from consent_service.scanner.findings import Finding, classify, group
from consent_service.scanner.observe import origin_of
from consent_service.sites.public_config import site_locales

WIDTHS_PER_LOCALE = 4  # two widths, two layers


@dataclass
class ScanOutcome:
    report: dict[str, Any]
    findings: list[Finding]
    shots: list[Shot] = field(default_factory=list)

    @property
    def violations(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.report["violations"]
        return found


def own_urls(site: Site, urls: list[str]) -> list[str]:
    """The start URLs, each on one of the site's origins (a scan never loads another site)."""
    origins = {origin.lower().rstrip("/") for origin in site.allowed_origins}
    outside = [url for url in urls if origin_of(url) not in origins]
    if outside:
        raise ValueError(
            f"not on the site's origins ({', '.join(sorted(origins))}): {', '.join(outside)}"
        )
    return list(dict.fromkeys(urls))


def steps(max_pages: int, locales: list[str]) -> int:
    """Roughly how many steps a scan takes, for a progress bar."""
    return max_pages * 3 + 2 + len(locales) * WIDTHS_PER_LOCALE


def run_scan(
    site: Site,
    urls: list[str],
    *,
    max_pages: int = 10,
    locales: list[str] | None = None,
    executable: str = CHROMIUM,
    progress: Callable[[int], None] | None = None,
) -> ScanOutcome:
    start = own_urls(site, urls)
    locales = site_locales(site) if locales is None else locales
    services = declared.declared_services(site)
    necessary = declared.necessary_categories(site)
    site_id, site_key, origins = site.id, site.site_key, list(site.allowed_origins)
    jurisdiction, site_name, current_version = (
        site.jurisdiction,
        site.name,
        site.banner_version_hash,
    )
    own_base = declared.own_service(site, None)
    # The crawl takes minutes: it must not hold a read transaction open all that time.
    db.session.commit()
    began, scanned_at = time.monotonic(), datetime.now(UTC)
    with chromium(executable) as browser:
        result = crawl(
            browser, site_key, origins, start,
            max_pages=max_pages, locales=locales, progress=progress,
        )  # fmt: skip
    own = {**own_base, "hosts": [result.service_host] if result.service_host else []}
    findings = classify(group(result.observations), services, own, necessary, cookie_database())
    broken = violations.violations(findings, result.pages, jurisdiction)
    stored = captures.store_captures(site, result.shots)
    report = {
        "site": {"key": site_key, "id": site_id, "name": site_name, "origins": origins},
        "scanned_at": scanned_at.isoformat(),
        "duration_seconds": round(time.monotonic() - began, 2),
        "timings": {state: round(seconds, 2) for state, seconds in result.timings.items()},
        "banner_version": result.banner_version,
        "current_banner_version": current_version,
        "service_host": result.service_host,
        "summary": summarise(findings, broken, result.pages),
        "pages": [visit.__dict__ for visit in result.pages],
        "findings": [finding.as_dict() for finding in findings],
        "violations": [violation.as_dict() for violation in broken],
        "captures": stored,
        "rules": violations.RULES,
    }
    return ScanOutcome(report, findings, result.shots)


def summarise(
    findings: list[Finding], broken: list[violations.Violation], pages: list[Any]
) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    for violation in broken:
        by_rule[violation.rule] = by_rule.get(violation.rule, 0) + 1
    by_state: dict[str, int] = {}
    for finding in findings:
        by_state[finding.state] = by_state.get(finding.state, 0) + 1
    return {
        "pages": len({visit.url for visit in pages}),
        "findings": by_state,
        "violations": len(broken),
        "violations_by_rule": by_rule,
        "undeclared": len({f.key for f in findings if not f.declared}),
    }
