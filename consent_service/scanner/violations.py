"""The rules a finding can break, each with the page, the evidence and the rule's source.

Before any choice (opt-in sites) and after "Reject all" only what is necessary may be set or
sent; a cookie must not outlive what its service declares; everything must belong to a
declared service; and the banner must show, or nothing else can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consent_service.scanner.crawl import PageVisit
from consent_service.scanner.declared import lifetime_seconds
from consent_service.scanner.findings import Finding
from consent_service.scanner.observe import STATES

DAY = 86400.0
RULES = {
    "before_consent": (
        "Not necessary, yet set or sent before the visitor made any choice "
        "(ePrivacy Directive Art. 5(3); GDPR Art. 6(1)(a); PIPL Art. 13)."
    ),
    "after_reject": (
        "Not necessary, yet set or sent after the visitor clicked Reject all "
        "(ePrivacy Directive Art. 5(3); EDPB cookie banner taskforce report, 2023)."
    ),
    "lifetime": (
        "The cookie lives longer than the lifetime its service declares "
        "(GDPR Art. 5(1)(e) and Art. 13(2)(a): the stated storage period must hold)."
    ),
    "undeclared": (
        "Matches no declared service, so the banner does not tell visitors about it "
        "(GDPR Art. 13; ePrivacy Directive Art. 5(3): clear and comprehensive information)."
    ),
    "banner_missing": (
        "The banner did not appear, or its button recorded no choice, so the choice could not "
        "be made or checked."
    ),
}


@dataclass
class Violation:
    rule: str
    state: str
    page: str
    evidence: str
    finding: int | None = None
    pages: list[str] = field(default_factory=list)
    kind: str = ""
    name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "message": RULES[self.rule]}


def describe(finding: Finding) -> str:
    """One line a person can check by hand."""
    what = {
        "cookie": f"cookie {finding.name} on {finding.domain}",
        "local_storage": f"localStorage key {finding.name} on {finding.domain}",
        "session_storage": f"sessionStorage key {finding.name} on {finding.domain}",
        "request": f"request to {finding.url or finding.name}",
    }[finding.kind]
    if finding.kind == "request":
        how = f"initiated by {finding.source}" if finding.source else "initiator unknown"
    elif finding.set_by == "http":
        how = f"set by the HTTP response of {finding.source}"
    else:
        how = f"set by script {finding.source}" if finding.source else "writer unknown"
    if finding.kind == "cookie":
        days = finding.lifetime_seconds
        how += ", session" if days is None else f", lifetime {days / DAY:.1f} days"
    category = finding.category or "unknown category"
    return f"{what}, {how} ({category}, {finding.matched_by or 'unmatched'})"


def allowed_seconds(entry: dict[str, Any] | None) -> float | None:
    """What the declared cookie allows: 0 for a session cookie; None when nothing is stated."""
    if entry is None:
        return None
    if entry.get("lifetime_days") is not None:
        return float(entry["lifetime_days"]) * DAY
    return lifetime_seconds(entry.get("lifetime"))


def _of(rule: str, finding: Finding, evidence: str) -> Violation:
    return Violation(
        rule, finding.state, finding.pages[0], evidence, finding.id, list(finding.pages),
        finding.kind, finding.name,
    )  # fmt: skip


def violations(
    findings: list[Finding], pages: list[PageVisit], jurisdiction: str
) -> list[Violation]:
    found: list[Violation] = []
    for visit in pages:
        if visit.banner is False:
            evidence = visit.error or f"no banner (#consent-service) appeared on {visit.url}"
            found.append(Violation("banner_missing", visit.state, visit.url, evidence))
    undeclared: dict[tuple[str, str, str], Violation] = {}
    for finding in findings:
        evidence = describe(finding)
        if not finding.necessary:
            if finding.state == "no_choice" and jurisdiction == "opt_in":
                found.append(_of("before_consent", finding, evidence))
            if finding.state == "reject_all":
                found.append(_of("after_reject", finding, evidence))
        allowed = allowed_seconds(finding.declared_cookie)
        observed = finding.lifetime_seconds
        # A day's grace for clocks and rounding; a session cookie (0) allows no expiry at all.
        if (
            finding.kind == "cookie"
            and allowed is not None
            and observed is not None
            and observed > allowed + (DAY if allowed else 0.0)
        ):
            stated = (finding.declared_cookie or {}).get("lifetime") or f"{allowed / DAY} days"
            found.append(_of("lifetime", finding, f"{evidence}; declared: {stated}"))
        if not finding.declared and finding.key not in undeclared:
            undeclared[finding.key] = _of("undeclared", finding, evidence)
    found += undeclared.values()
    order = list(RULES)
    found.sort(
        key=lambda v: (STATES.index(v.state) if v.state in STATES else 9, order.index(v.rule))
    )
    return found
