"""Regenerate the shipped cookie database from the Open Cookie Database CSV.

    python3 -m consent_service.scanner.build_cookie_db path/to/open-cookie-database.csv

The scanner needs a name (or prefix) to platform, category and retention table and a host
table for requests; descriptions are kept because proposals carry them. The result is a small
gzip-compressed JSON file in `consent_service/scanner/data/` next to the licence and the
attribution (Apache-2.0 asks for both to travel with the data). Deterministic: the same CSV
gives the same bytes, so a rebuild shows up in review only when the data changed.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
OUTPUT = DATA_DIR / "cookie-database.json.gz"

# Open Cookie Database categories to the category slug a proposal suggests.
CATEGORIES = {
    "Necessary": "necessary",
    "Security": "necessary",
    "Functional": "functional",
    "Personalization": "functional",
    "Analytics": "analytics",
    "Marketing": "marketing",
}
STRICTNESS = ["marketing", "analytics", "functional", "necessary"]
HOST = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}")


def hosts_of(domain: str) -> list[str]:
    """`".bing.com (3rd party) or .microsoft.com (3rd party)"` -> ["bing.com", "microsoft.com"]."""
    return sorted(set(HOST.findall(domain.lower())))


def build(csv_path: Path) -> dict[str, object]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    platforms: dict[str, int] = {}
    platform_rows: list[list[str]] = []
    cookies: list[list[object]] = []
    host_votes: dict[str, Counter[tuple[int, str]]] = defaultdict(Counter)
    for row in sorted(rows, key=lambda r: (r["Platform"], r["Cookie / Data Key name"], r["ID"])):
        name = row["Cookie / Data Key name"].strip()
        category = CATEGORIES.get(row["Category"].strip())
        if not name or category is None:
            continue
        platform = row["Platform"].strip()
        if platform not in platforms:
            platforms[platform] = len(platform_rows)
            platform_rows.append(
                [
                    platform,
                    row["Data Controller"].strip(),
                    row["User Privacy & GDPR Rights Portals"].strip(),
                ]
            )
        index = platforms[platform]
        cookies.append(
            [
                name,
                1 if row["Wildcard match"].strip() == "1" else 0,
                index,
                category,
                row["Retention period"].strip(),
                row["Description"].strip(),
            ]
        )
        for host in hosts_of(row["Domain"]):
            host_votes[host][(index, category)] += 1
    # A host's most frequent use; on a tie, the use that needs consent most (a tracker's host
    # also serves its opt-out cookie, but a request to it is tracking).
    hosts = [
        [host, *min(votes, key=lambda vote: (-votes[vote], STRICTNESS.index(vote[1])))]
        for host, votes in sorted(host_votes.items())
    ]
    return {
        "source": "Open Cookie Database (jkwakman/Open-Cookie-Database), Apache-2.0",
        "platforms": platform_rows,
        "cookies": cookies,
        "hosts": hosts,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    document = build(Path(argv[1]))
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    OUTPUT.write_bytes(gzip.compress(raw.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{OUTPUT.name}: {OUTPUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
