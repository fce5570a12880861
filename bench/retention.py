"""Retention at scale: purge (erase the evidence of) N expired consent events.

For each database it seeds a fresh demo site with N format-2 events recorded six years ago,
two per visitor, each with its evidence and salted commitment (bulk insert), seals them, then,
in a process of its own so that peak RSS is the purge's, runs `retention.run_retention()`:
every event is past the 5-year default, so all N are erased in batches of short transactions.
It prints the wall time, the events per second, the peak RSS, the number of transactions and
the longest one (what a request or the sealer could have waited for), and the load average.
The table is ANALYZEd after the bulk insert, as autovacuum would have done.

    python bench/retention.py [--events 1000000] [--only sqlite|postgresql] [--batch 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

from support import backend, prepare_database, run_child_step

INSERT_BATCH = 10_000


def child_seed(site_key: str, events: int) -> dict[str, Any]:
    import secrets
    import uuid
    from datetime import timedelta

    from consent_service.extensions import db
    from consent_service.ledger.evidence import commitment, evidence_document
    from consent_service.models import ConsentEvent
    from consent_service.models.types import utcnow
    from consent_service.sites.registry import get_site
    from consent_service.sites.versions import current_policy

    site = get_site(site_key)
    policy = current_policy(site)
    assert policy is not None
    start = utcnow() - timedelta(days=6 * 366)
    started = time.perf_counter()
    visitor = ""
    for first in range(0, events, INSERT_BATCH):
        rows = []
        for index in range(first, min(first + INSERT_BATCH, events)):
            if index % 2 == 0:
                visitor = secrets.token_hex(16)
            when = start + timedelta(seconds=index)
            salt = secrets.token_hex(32)
            evidence = {
                "page_url": f"https://www.example.com/page/{index % 500}",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
                "ip_prefix": f"198.51.{index % 256}.0",
                "client_time": when,
            }
            rows.append(
                {
                    "site_id": site.id,
                    "event_id": uuid.uuid4(),
                    "visitor_id": visitor,
                    "action": "accept_all",
                    "choices": {"necessary": True, "analytics": True},
                    "policy_version": policy.label,
                    "banner_version": site.banner_version_hash,
                    "language": "en",
                    "source": "banner",
                    "gpc": False,
                    "recorded_at": when,
                    "request_hash": secrets.token_hex(32),
                    "evidence_salt": salt,
                    "evidence_commitment": commitment(evidence_document(salt, **evidence)),
                    **evidence,
                }
            )
        db.session.execute(db.insert(ConsentEvent), rows)
        db.session.commit()
    # The planner's statistics, as autovacuum (PostgreSQL) or an operator would have them for
    # a table this size; without them PostgreSQL reads every event to find a few visitors.
    db.session.execute(db.text("ANALYZE consent_events"))
    db.session.commit()
    return {"seconds": time.perf_counter() - started}


def child_seal() -> dict[str, Any]:
    from consent_service.ledger.sealing import seal_all

    started = time.perf_counter()
    sealed = sum(result.sealed for result in seal_all())
    return {"sealed": sealed, "seconds": time.perf_counter() - started}


def child_purge(site_key: str, batch: int) -> dict[str, Any]:
    from consent_service.consents.retention import run_retention

    started = time.perf_counter()
    (report,) = run_retention(site_key, batch=batch)
    return {
        "seconds": time.perf_counter() - started,
        "purged": report.counts["consent_events"],
        "transactions": report.transactions,
        "longest": report.longest_transaction,
    }


def child_verify(site_key: str) -> dict[str, Any]:
    from consent_service.ledger.signing import public_key_document, published_keys
    from consent_service.ledger.trust import from_document
    from consent_service.ledger.verify import verify_live
    from consent_service.sites.registry import get_site

    site = get_site(site_key)
    keys = from_document(public_key_document(published_keys()), "the bench")
    started = time.perf_counter()
    verdict = verify_live(site.id, site.site_key, keys)
    return {
        "seconds": time.perf_counter() - started,
        "ok": verdict.ok,
        "failures": len(verdict.failures),
    }


def child(step: str, arguments: list[str]) -> None:
    """Run one step inside the app, print its figures and this process's peak RSS as JSON."""
    from consent_service import create_app

    app = create_app()
    with app.app_context():
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if step == "seed":
            figures = child_seed(arguments[0], int(arguments[1]))
        elif step == "seal":
            figures = child_seal()
        elif step == "purge":
            figures = child_purge(arguments[0], int(arguments[1]))
        else:
            figures = child_verify(arguments[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures, "rss_mb": peak / 1024, "baseline_rss_mb": baseline / 1024}))


def run_step(env: dict[str, str], *command: str) -> dict[str, Any]:
    return run_child_step(
        __file__, env, *command, extra_env={"RETENTION_AUTORUN": "0", "LEDGER_AUTOSEAL": "0"}
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(name: str, events: int, batch: int, verify: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with backend(name) as env:
        site_key = prepare_database(env)["site_key"]
        seed = run_step(env, "seed", site_key, str(events))
        seal = run_step(env, "seal")
        rows.append(
            (
                f"{name}: prefill {events:,} events",
                f"insert {seed['seconds']:.1f} s, seal {seal['seconds']:.1f} s",
            )
        )
        before = load()
        purge = run_step(env, "purge", site_key, str(batch))
        rows.append(
            (
                f"{name}: purge {purge['purged']:,} events",
                f"{purge['seconds']:.1f} s ({purge['purged'] / purge['seconds']:,.0f} events/s), "
                f"peak RSS {purge['rss_mb']:.0f} MB (app alone {purge['baseline_rss_mb']:.0f} MB), "
                f"{purge['transactions']:,} transactions of {batch:,}, longest "
                f"{purge['longest'] * 1000:.0f} ms; load average {before} -> {load()}",
            )
        )
        if verify:
            checked = run_step(env, "verify", site_key)
            rows.append(
                (
                    f"{name}: live verify after purge",
                    f"{'VERIFIED' if checked['ok'] else 'NOT VERIFIED'} in "
                    f"{checked['seconds']:.1f} s, peak RSS {checked['rss_mb']:.0f} MB",
                )
            )
    return rows


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument(
        "--verify", action="store_true", help="Verify the live ledger after the purge."
    )
    args = parser.parse_args()
    for name in [args.only] if args.only else ["sqlite", "postgresql"]:
        for label, figures in measure(name, args.events, args.batch, args.verify):
            print(f"{label:<36} {figures}", flush=True)


if __name__ == "__main__":
    main()
