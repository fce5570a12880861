"""`--propose`: the undeclared findings written as services in the settings document's shape,
for a person to review and copy in. Never applied by itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from consent_service.scanner.declared import lifetime_days
from consent_service.scanner.findings import Finding

NOTE = (
    "Services proposed by `consent-service scan` from what the site set and sent but does not "
    "declare. Review each (category, provider, purpose, privacy links), then add it to the "
    "site's settings. Nothing here has been applied."
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


def write_proposal(path: Path, site_key: str, services: list[dict[str, Any]]) -> None:
    """YAML for a .yaml/.yml file when PyYAML is there, JSON otherwise (JSON is YAML too)."""
    document = {"site": site_key, "note": NOTE, "services": services}
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml

            path.write_text(
                yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
            return
        except ImportError:
            pass
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
