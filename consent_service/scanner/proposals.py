"""`--propose`: the undeclared findings written as services into a copy of the site's settings
document, for a person to review, lint and apply. Never applied by itself.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

from consent_service.models import Site
from consent_service.scanner.declared import lifetime_days
from consent_service.scanner.findings import Finding
from consent_service.sites.settings import export_document

NOTE = (
    "A copy of the site's settings with the services `consent-service scan` saw but the site "
    "does not declare added after its own. Review each (category, provider, purpose, privacy "
    "links), then lint and apply this file yourself. Nothing here has been applied."
)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "service"


def _lifetime(finding: Finding) -> str:
    if finding.kind != "cookie":
        return "persistent" if finding.kind == "local_storage" else "session"
    if finding.lifetime_seconds is None:
        return "session"
    return f"{max(1, round(finding.lifetime_seconds / 86400))} days"


def propose(findings: list[Finding]) -> list[dict[str, Any]]:
    """One service per proposed platform, or per host when nothing is known of it."""
    services: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str, str]] = set()
    for finding in findings:
        if finding.declared or finding.key in seen:
            continue
        seen.add(finding.key)
        known = finding.proposed
        host = finding.domain.lstrip(".").split("//")[-1]
        if known:
            key = slug(known["service"])
            service = services.setdefault(
                key,
                {
                    "slug": key,
                    "category": known["category"],
                    "name": known["service"],
                    "provider": known["provider"],
                    "privacy_links": (
                        [{"url": known["privacy_url"], "locale": None}]
                        if known["privacy_url"]
                        else []
                    ),
                    "cookies": [],
                    "hosts": [],
                    "source": known["source"],
                },
            )
        else:
            key = slug("unknown-" + host)
            service = services.setdefault(
                key,
                {
                    "slug": key,
                    "category": "",
                    "name": f"Unknown ({host})",
                    "provider": "",
                    "privacy_links": [],
                    "cookies": [],
                    "hosts": [],
                    "source": "seen by the scan; not in the cookie database",
                },
            )
        if finding.kind == "request":
            if finding.name not in service["hosts"]:
                service["hosts"].append(finding.name)
            continue
        lifetime = _lifetime(finding)
        service["cookies"].append(
            {
                "name": finding.name,
                "pattern": False,
                "domain": finding.domain if finding.kind == "cookie" else None,
                "lifetime": lifetime,
                "lifetime_days": lifetime_days(lifetime),
                "description": (known or {}).get("description")
                or f"{finding.kind.replace('_', ' ')} seen on {finding.pages[0]}",
            }
        )
    return list(services.values())


def as_setting(service: dict[str, Any], locale: str) -> dict[str, Any]:
    """A proposed service in the settings document's own terms. An unknown one keeps an empty
    category, which the linter reports, so that nobody applies it without a look."""
    return {
        "slug": service["slug"],
        "category": service["category"] or "",
        "name": service["name"],
        "provider": {"legal_name": service["provider"] or service["name"]},
        "privacy_links": [
            {"url": link["url"], "locale": link["locale"] or locale}
            for link in service["privacy_links"]
        ],
        "cookies": service["cookies"],
        "hosts": service["hosts"],
    }


def proposed_document(site: Site, services: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of the site's settings document with the proposed services added after its own
    (a slug already taken gets `-proposed`)."""
    document = export_document(site)
    locale = str(document.get("default_locale") or "en")
    own = document.setdefault("services", [])
    taken = {str(service.get("slug")) for service in own}
    for service in services:
        entry = as_setting(service, locale)
        if entry["slug"] in taken:
            entry["slug"] = f"{entry['slug'][:54]}-proposed"
        taken.add(entry["slug"])
        own.append(entry)
    return document


def write_proposal(path: Path, site: Site, services: list[dict[str, Any]]) -> None:
    """The copy as YAML (with a note on top) for a .yaml/.yml file, JSON otherwise."""
    document = proposed_document(site, services)
    if path.suffix.lower() in (".yaml", ".yml"):
        note = "".join(f"# {line}\n" for line in textwrap.wrap(NOTE, 94))
        body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
        path.write_text(note + body, encoding="utf-8")
        return
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
