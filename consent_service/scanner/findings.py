"""Findings: what was seen, grouped per state, and what it probably is.

A finding is matched first to consent-service itself (its consent cookie, its queue, its
host), then to the site's declared services (cookie names and patterns, hosts), and failing
that to the shipped cookie database, which proposes a service and a category. Whatever matches
nothing has no category and is treated as needing consent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from consent_service.scanner.cookie_db import ATTRIBUTION, CookieDatabase, Known
from consent_service.scanner.observe import STATES, Observation


@dataclass
class Finding:
    id: int
    state: str
    kind: str
    name: str
    domain: str
    pages: list[str] = field(default_factory=list)
    path: str = ""
    lifetime_seconds: float | None = None
    set_by: str = ""
    source: str = ""
    url: str = ""
    service: str | None = None  # the declared (or own) service's slug
    category: str | None = None  # its category, or the proposed one when undeclared
    matched_by: str | None = None  # consent-service | declared | cookie-database | None
    necessary: bool = False
    declared_cookie: dict[str, Any] | None = None
    proposed: dict[str, Any] | None = None

    @property
    def declared(self) -> bool:
        return self.matched_by in ("consent-service", "declared")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.domain)

    def as_dict(self) -> dict[str, Any]:
        value = {k: v for k, v in self.__dict__.items() if k != "declared_cookie"}
        value["declared"] = self.declared
        value["lifetime_days"] = (
            None if self.lifetime_seconds is None else round(self.lifetime_seconds / 86400, 1)
        )
        return value


def host_matches(host: str, declared: str) -> bool:
    """`declared` with a port names exactly that host:port; without, the host and below."""
    declared = declared.lower().lstrip(".")
    if ":" in declared:
        return host == declared
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return hostname == declared or hostname.endswith("." + declared)


def cookie_matches(entry: dict[str, Any], observed: Finding) -> bool:
    name = entry.get("name") or ""
    if entry.get("pattern"):
        try:
            if re.search(name, observed.name) is None:
                return False
        except re.error:
            return False
    elif name != observed.name:
        return False
    domain = entry.get("domain")
    return observed.kind != "cookie" or not domain or host_matches(observed.domain, domain)


def match_service(
    finding: Finding, services: Iterable[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    for service in services:
        if finding.kind == "request":
            if any(host_matches(finding.name, host) for host in service.get("hosts", [])):
                return service, None
            continue
        for entry in service.get("cookies", []):
            if cookie_matches(entry, finding):
                return service, entry
    return None


def proposal(known: Known) -> dict[str, Any]:
    return {
        "service": known.platform,
        "provider": known.controller,
        "privacy_url": known.privacy_url,
        "category": known.category,
        "retention": known.retention,
        "description": known.description,
        "source": ATTRIBUTION,
    }


def group(observations: Iterable[Observation]) -> list[Finding]:
    """One finding per state and (kind, name, domain), with every page it was seen on."""
    found: dict[tuple[str, str, str, str], Finding] = {}
    for seen in observations:
        key = (seen.state, seen.kind, seen.name, seen.domain)
        finding = found.get(key)
        if finding is None:
            finding = found[key] = Finding(
                0, seen.state, seen.kind, seen.name, seen.domain, [], seen.path,
                seen.lifetime_seconds, seen.set_by, seen.source, seen.url,
            )  # fmt: skip
        if seen.page not in finding.pages:
            finding.pages.append(seen.page)
        if (seen.lifetime_seconds or 0) > (finding.lifetime_seconds or 0):
            finding.lifetime_seconds = seen.lifetime_seconds
        if not finding.source and seen.source:
            finding.set_by, finding.source = seen.set_by, seen.source
    ordered = sorted(
        found.values(), key=lambda f: (STATES.index(f.state), f.kind, f.name, f.domain)
    )
    for number, finding in enumerate(ordered, 1):
        finding.id = number
    return ordered


def classify(
    findings: list[Finding],
    services: list[dict[str, Any]],
    own: dict[str, Any],
    necessary: set[str],
    database: CookieDatabase,
) -> list[Finding]:
    for finding in findings:
        for matched_by, candidates in (("consent-service", [own]), ("declared", services)):
            hit = match_service(finding, candidates)
            if hit is not None:
                service, entry = hit
                finding.matched_by, finding.service = matched_by, service["slug"]
                finding.category, finding.declared_cookie = service["category"], entry
                finding.necessary = matched_by == "consent-service" or (
                    service["category"] in necessary
                )
                break
        else:
            known = (
                database.host(finding.name.rsplit(":", 1)[0])
                if finding.kind == "request"
                else database.cookie(finding.name)
            )
            if known is not None:
                finding.matched_by, finding.category = "cookie-database", known.category
                finding.proposed = proposal(known)
                finding.necessary = known.category == "necessary"
    return findings
