"""The shipped cookie database (derived from the Open Cookie Database, Apache-2.0; see
`data/NOTICE`): what a cookie, a storage key or a host probably is when the site declares
nothing for it. Loaded once per process; read-only.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent / "data" / "cookie-database.json.gz"
ATTRIBUTION = "Open Cookie Database (Apache-2.0)"


@dataclass(frozen=True)
class Known:
    """A cookie database entry: the platform (a proposed service) and its category."""

    platform: str
    controller: str
    privacy_url: str
    category: str
    name: str = ""
    wildcard: bool = False
    retention: str = ""
    description: str = ""


@dataclass(frozen=True)
class CookieDatabase:
    exact: dict[str, Known]
    prefixes: list[tuple[str, Known]]  # longest first
    hosts: dict[str, Known]

    def cookie(self, name: str) -> Known | None:
        """An exact name first, then the longest wildcard prefix (`_ga_` finds `_ga_ABC123`)."""
        if name in self.exact:
            return self.exact[name]
        for prefix, known in self.prefixes:
            if name.startswith(prefix):
                return known
        return None

    def hosts_of(self, platform: str) -> list[str]:
        """The hosts the database knows a platform by (Google Analytics: google-analytics.com)."""
        return sorted(host for host, known in self.hosts.items() if known.platform == platform)

    def host(self, hostname: str) -> Known | None:
        """The host or its nearest parent domain (`www.google-analytics.com` finds
        `google-analytics.com`)."""
        labels = hostname.lower().split(".")
        for index in range(len(labels) - 1):
            found = self.hosts.get(".".join(labels[index:]))
            if found is not None:
                return found
        return None


@cache
def cookie_database() -> CookieDatabase:
    document: dict[str, Any] = json.loads(gzip.decompress(DATA_FILE.read_bytes()))
    platforms = document["platforms"]

    def known(platform: int, category: str, **extra: Any) -> Known:
        name, controller, privacy_url = platforms[platform]
        return Known(name, controller, privacy_url, category, **extra)

    exact: dict[str, Known] = {}
    prefixes: list[tuple[str, Known]] = []
    for name, wildcard, platform, category, retention, description in document["cookies"]:
        entry = known(
            platform,
            category,
            name=name,
            wildcard=bool(wildcard),
            retention=retention,
            description=description,
        )
        if wildcard:
            prefixes.append((name, entry))
        else:
            exact.setdefault(name, entry)
    prefixes.sort(key=lambda item: -len(item[0]))
    hosts = {host: known(platform, category) for host, platform, category in document["hosts"]}
    return CookieDatabase(exact, prefixes, hosts)
