"""One site's ledger growing on PostgreSQL: what the write, the current-state read, sealing and
an export cost at a tenth of the target size and at the target size (10 million events), so the
cost of growth is printed, not guessed (docs/scaling.md reads these figures).

At each size the events are bulk-loaded as bench/ledger.py does (as many parallel requests
would leave them), then:

- seal: `seal_all()` numbers, hashes and checkpoints what waits (events/s);
- write: gunicorn (2 sync workers) and wrk POST fresh decisions (req/s, p50, p99);
- current state: `GET .../consents/current` of visitors spread over the whole ledger (p50, p99);
- export: the CSV export of the whole ledger streamed through the app (time, MB, peak RSS).

    python bench/scale.py [--events 10000000] [--seconds 5] [--connections 16]

Needs wrk and PostgreSQL at TEST_POSTGRES_URL. 10 million events take hours on a small machine;
`--events 200000` runs in minutes and prints the same rows (at 20,000 and 200,000).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

from api import gunicorn, wrk
from ledger import run_step as ledger_step
from support import ROOT, backend, prepare_database

READS = 400


def child_read(site_key: str) -> dict[str, Any]:
    """Current-state reads of visitors spread over the ledger, through the app."""
    import random

    import sqlalchemy as sa
    from flask import current_app

    from consent_service.extensions import db
    from consent_service.models import ConsentEvent
    from consent_service.sites.registry import get_site
    from consent_service.tokens import issue_visitor_token

    site = get_site(site_key)
    last = db.session.scalar(sa.select(sa.func.max(ConsentEvent.id))) or 0
    ids = random.Random(7).sample(range(1, last + 1), min(READS, last))
    visitors = db.session.scalars(
        sa.select(ConsentEvent.visitor_id).where(ConsentEvent.id.in_(ids))
    ).all()
    client = current_app.test_client()
    times = []
    for visitor in visitors:
        token = issue_visitor_token(site_key, visitor)
        started = time.perf_counter()
        response = client.get(
            f"/api/v1/sites/{site.site_key}/consents/current",
            headers={"X-Visitor-Token": token},
        )
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    times.sort()
    return {
        "reads": len(times),
        "p50_ms": times[len(times) // 2],
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
    }


def child(step: str, arguments: list[str]) -> None:
    from consent_service import create_app

    app = create_app()
    with app.app_context():
        figures = child_read(arguments[0]) if step == "read" else {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures, "rss_mb": peak / 1024}))


def read_step(env: dict[str, str], site_key: str) -> dict[str, Any]:
    import os
    import subprocess

    output = subprocess.run(
        [sys.executable, __file__, "--child", "read", site_key],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if output.returncode:
        raise RuntimeError(f"read failed:\n{output.stderr}")
    figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def measure(args: argparse.Namespace) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with backend("postgresql") as env:
        site = prepare_database(env)
        site_key = site["site_key"]
        loaded = 0
        for size in (args.events // 10, args.events):
            seed = ledger_step(env, "seed", site_key, str(size - loaded))
            loaded = size
            seal = ledger_step(env, "seal")
            rows.append(
                (
                    f"{size:>11,}: seal {seal['sealed']:,} events",
                    f"{seal['sealed'] / seal['seconds']:,.0f} events/s ({seal['seconds']:.1f} s;"
                    f" bulk load {seed['seconds']:.1f} s)",
                )
            )
            read = read_step(env, site_key)
            rows.append(
                (
                    f"{size:>11,}: current state ({read['reads']} visitors)",
                    f"p50 {read['p50_ms']:.2f} ms, p99 {read['p99_ms']:.2f} ms",
                )
            )
            post_env = {
                "SITE_PATH": f"/api/v1/sites/{site_key}/consents",
                "POLICY": site["policy"],
                "BANNER": site["banner"],
            }
            post = {"script": str(ROOT / "bench" / "consent_post.lua"), "env": post_env}
            with gunicorn("wsgi:app", {**env, "LEDGER_SEAL_INTERVAL": "1"}, ROOT) as base:
                wrk(base, 2, args.connections, **post)
                write = wrk(base, args.seconds, args.connections, **post)
            rows.append(
                (
                    f"{size:>11,}: write, {args.connections} connections",
                    f"{write['rps']:,.0f} req/s, p50 {write['p50_ms']:.1f} ms, "
                    f"p99 {write['p99_ms']:.1f} ms, non-2xx {write['errors']:.0f}",
                )
            )
            ledger_step(env, "seal")  # what the write run added, so the export is of the ledger
            export = ledger_step(env, "export", site_key, "csv")
            rows.append(
                (
                    f"{size:>11,}: export as csv",
                    f"{export['seconds']:.1f} s, {export['bytes'] / 1e6:,.0f} MB, "
                    f"peak RSS {export['rss_mb']:.0f} MB",
                )
            )
            for label, figures in rows[-4:]:
                print(f"{label:<48} {figures}", flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if args.events < 10:
        parser.error("--events must be at least 10")
    print(f"one site's ledger on PostgreSQL, at {args.events // 10:,} and {args.events:,} events")
    measure(args)


if __name__ == "__main__":
    main()
