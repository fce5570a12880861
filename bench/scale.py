"""One site's ledger growing on PostgreSQL: what the write, the current-state read, sealing and
an export cost at a tenth of the target size and at the target size (10 million events), so the
cost of growth is printed, not guessed (docs/scaling.md reads these figures).

At each size (a tenth of `--events`, then `--events`):

- prefill: the ledger is filled up to the size with sealed events written straight into the
  tables with COPY (real leaves, the Merkle tree extended, one signed checkpoint): what many
  decisions and seals would leave, in minutes instead of hours (events/s of the prefill);
- seal: `--seal-events` fresh unsealed events, then `seal_all()` numbers, hashes and
  checkpoints them (events/s at this size);
- current state: `GET .../consents/current` of visitors spread over the whole ledger (p50, p99);
- write: gunicorn (the bundled 2 workers x 4 threads) and wrk POST fresh decisions (req/s,
  p50, p99);
- export: the CSV export of the whole ledger streamed through the app (time, MB, peak RSS).

    python bench/scale.py [--events 10000000] [--seconds 5] [--connections 16]
        [--seal-events 20000]

Needs wrk and PostgreSQL at TEST_POSTGRES_URL, and disk for the ledger (about 1 GB per
million events with its indexes). `--events 1000000` took 6 minutes on the shared 2-core
machine (load 6); 10 million should take 30 to 40 minutes, mostly the prefill (about 10,000
events/s) and the export (about a minute per million events).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

import sqlalchemy as sa
from api import gunicorn, wrk
from ledger import run_step as ledger_step
from support import ROOT, backend, prepare_database, run_child_step

READS = 400
PREFILL_CHUNK = 50_000
EVENT_COLUMNS = (
    "id", "site_id", "event_id", "visitor_id", "action", "choices", "policy_version",
    "banner_version", "language", "source", "gpc", "recorded_at", "request_hash",
)  # fmt: skip


def child_prefill(site_key: str, count: int) -> dict[str, Any]:
    """`count` more events, sealed, written straight into the tables with COPY: what the
    service would hold after that many decisions and seals, without taking as long.

    Each event's leaf is the real one (`event_record`, hashed) and the Merkle tree is extended
    from the last checkpoint's compact range, so the ledger verifies and sealing, reads and
    exports afterwards run on a true ledger; one signed checkpoint at the end. Triggers are off
    for the session (`session_replication_role`): the queue row each insert would add is what
    sealing would remove again.
    """
    import secrets
    import uuid
    from datetime import timedelta
    from types import SimpleNamespace

    from consent_service.canonical import canonical_json
    from consent_service.extensions import db
    from consent_service.ledger.merkle import CompactRange
    from consent_service.ledger.records import event_record, record_leaf_hash
    from consent_service.ledger.sealing import latest_checkpoint, signed_checkpoint
    from consent_service.ledger.signing import register_current_key
    from consent_service.models.types import utcnow
    from consent_service.sites.registry import get_site
    from consent_service.sites.versions import current_policy

    if count <= 0:
        return {"seconds": 0.0}
    site = get_site(site_key)
    policy = current_policy(site)
    assert policy is not None
    previous = latest_checkpoint(site.id)
    tree = CompactRange.from_dict(previous.compact_range) if previous else CompactRange()
    waiting = db.session.scalar(sa.text("SELECT count(*) FROM ledger_queue"))
    assert not waiting, "seal what waits before a prefill"
    first_id = int(db.session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM consent_events")))
    now = utcnow()
    start = now - timedelta(seconds=count * 2 + 60)
    actions = ("accept_all", "reject_all", "custom")
    connection = db.session.connection().connection.driver_connection
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for chunk in range(0, count, PREFILL_CHUNK):
            events, entries = [], []
            for index in range(chunk, min(chunk + PREFILL_CHUNK, count)):
                granted = index % 3 != 1
                event = SimpleNamespace(
                    id=first_id + index + 1,
                    event_id=uuid.uuid4(),
                    visitor_id=secrets.token_hex(16),
                    action=actions[index % 3],
                    choices={
                        "necessary": True,
                        "analytics": granted,
                        "crm": index % 3 == 0,
                        "marketing_email": index % 3 == 0,
                    },
                    policy_version=policy.label,
                    banner_version=site.banner_version_hash,
                    language="en" if index % 4 else "zh-CN",
                    source="banner",
                    gpc=False,
                    recorded_at=start + timedelta(seconds=index * 2),
                )
                leaf = record_leaf_hash(event_record(event, site_key))
                events.append(
                    (event.id, site.id, event.event_id, event.visitor_id, event.action,
                     canonical_json(event.choices).decode(), event.policy_version,
                     event.banner_version, event.language, event.source, event.gpc,
                     event.recorded_at, secrets.token_hex(32))
                )  # fmt: skip
                entries.append((site.id, tree.size, event.id, leaf, now))
                tree.append(bytes.fromhex(leaf))
            columns = ", ".join(EVENT_COLUMNS)
            with cursor.copy(f"COPY consent_events ({columns}) FROM STDIN") as copy:
                for row in events:
                    copy.write_row(row)
            entry_columns = "site_id, seq, consent_event_id, leaf_hash, sealed_at"
            with cursor.copy(f"COPY ledger_entries ({entry_columns}) FROM STDIN") as copy:
                for row in entries:
                    copy.write_row(row)
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('consent_events', 'id'), %s)",
            (first_id + count,),
        )
    register_current_key()
    db.session.add(signed_checkpoint(site.id, site.site_key, tree, now))
    db.session.commit()
    db.session.execute(sa.text("ANALYZE consent_events"))
    db.session.execute(sa.text("ANALYZE ledger_entries"))
    db.session.commit()
    return {"seconds": time.perf_counter() - started, "tree_size": tree.size}


def child_read(site_key: str) -> dict[str, Any]:
    """Current-state reads of visitors spread over the ledger, through the app."""
    import random

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


def child_size(site_key: str) -> int:
    from consent_service.ledger.sealing import latest_checkpoint
    from consent_service.sites.registry import get_site

    checkpoint = latest_checkpoint(get_site(site_key).id)
    return checkpoint.tree_size if checkpoint else 0


def child(step: str, arguments: list[str]) -> None:
    from consent_service import create_app

    app = create_app()
    with app.app_context():
        if step == "read":
            figures = child_read(arguments[0])
        elif step == "size":
            figures = {"tree_size": child_size(arguments[0])}
        else:
            figures = child_prefill(arguments[0], int(arguments[1]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures, "rss_mb": peak / 1024}))


def scale_step(env: dict[str, str], *command: str) -> dict[str, Any]:
    return run_child_step(__file__, env, *command)


def measure(args: argparse.Namespace) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with backend("postgresql") as env:
        site = prepare_database(env)
        site_key = site["site_key"]
        loaded = 0
        for size in (args.events // 10, args.events):
            prefill = scale_step(env, "prefill", site_key, str(max(0, size - loaded)))
            rows.append(
                (
                    f"{size:>11,}: prefill, sealed (COPY)",
                    f"{max(0, size - loaded):,} events in {prefill['seconds']:.0f} s "
                    f"({max(0, size - loaded) / max(prefill['seconds'], 1e-9):,.0f} events/s)",
                )
            )
            ledger_step(env, "seed", site_key, str(args.seal_events))
            seal = ledger_step(env, "seal")
            rows.append(
                (
                    f"{size:>11,}: seal {seal['sealed']:,} more events",
                    f"{seal['sealed'] / seal['seconds']:,.0f} events/s ({seal['seconds']:.1f} s)",
                )
            )
            read = scale_step(env, "read", site_key)
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
            loaded = int(scale_step(env, "size", site_key)["tree_size"])
            for label, figures in rows[-5:]:
                print(f"{label:<48} {figures}  (load {os.getloadavg()[0]:.1f})", flush=True)
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
    parser.add_argument(
        "--seal-events", type=int, default=20_000, help="events sealed at each size, timed"
    )
    args = parser.parse_args()
    if args.events < 10:
        parser.error("--events must be at least 10")
    print(f"one site's ledger on PostgreSQL, at {args.events // 10:,} and {args.events:,} events")
    measure(args)


if __name__ == "__main__":
    main()
