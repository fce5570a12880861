"""The consent ledger at scale: sealing throughput, streaming export, offline verification.

For each database it seeds a fresh demo site with events (bulk insert, as many parallel
requests would leave them), then, each step in its own process so that peak RSS is the step's:

- seal: `seal_all()` numbers, hashes and checkpoints every waiting event (events/s; on
  SQLite also how long each batch held the write lock, which every consent write waits for);
- export: streams `GET .../ledger/export` (csv, then jsonl) of every event to nowhere, through
  the Flask app as a request would (time and peak RSS; the target is RSS under 150 MB);
- verify: `consent-service ledger export` writes a bundle, then `consent-service ledger verify`
  checks it offline (time and peak RSS; the target is under 30 s for 100,000 events).

    python bench/ledger.py [--events 1000000] [--verify-events 100000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import ROOT, backend, prepare_database, run_child_step

INSERT_BATCH = 10_000


def child_seed(site_key: str, events: int) -> dict[str, Any]:
    import secrets
    import uuid
    from datetime import timedelta

    from consent_service.extensions import db
    from consent_service.models import ConsentEvent
    from consent_service.models.types import utcnow
    from consent_service.sites.registry import get_site
    from consent_service.sites.versions import current_policy

    site = get_site(site_key)
    policy = current_policy(site)
    assert policy is not None
    start = utcnow() - timedelta(days=30)
    actions = ("accept_all", "reject_all", "custom")
    started = time.perf_counter()
    for first in range(0, events, INSERT_BATCH):
        rows = []
        for index in range(first, min(first + INSERT_BATCH, events)):
            granted = index % 3 != 1
            rows.append(
                {
                    "site_id": site.id,
                    "event_id": uuid.uuid4(),
                    "visitor_id": secrets.token_hex(16),
                    "action": actions[index % 3],
                    "choices": {
                        "necessary": True,
                        "analytics": granted,
                        "crm": index % 3 == 0,
                        "marketing_email": index % 3 == 0,
                    },
                    "policy_version": policy.label,
                    "banner_version": site.banner_version_hash,
                    "language": "en" if index % 4 else "zh-CN",
                    "source": "banner",
                    "gpc": False,
                    "recorded_at": start + timedelta(seconds=index * 2),
                    "request_hash": secrets.token_hex(32),
                }
            )
        db.session.execute(db.insert(ConsentEvent), rows)
        db.session.commit()
    return {"seconds": time.perf_counter() - started}


def child_seal() -> dict[str, Any]:
    """`seal_all`, and on SQLite how long each batch held the database's write lock (every
    consent write waits that long behind it): p50, p90 and max in milliseconds."""
    from contextlib import contextmanager

    from consent_service.extensions import db
    from consent_service.ledger import sealing

    held: list[float] = []
    writer = sealing.sqlite_writer

    @contextmanager
    def timed_writer(engine: Any) -> Any:
        with writer(engine):
            taken = time.perf_counter()
            try:
                yield
            finally:
                held.append(time.perf_counter() - taken)

    sealing.sqlite_writer = timed_writer  # type: ignore[assignment]
    started = time.perf_counter()
    sealed = sum(result.sealed for result in sealing.seal_all())
    figures: dict[str, Any] = {"sealed": sealed, "seconds": time.perf_counter() - started}
    if held and db.engine.dialect.name == "sqlite":
        held.sort()
        figures["lock_ms"] = [1000 * held[int(len(held) * share)] for share in (0.5, 0.9)]
        figures["lock_ms"].append(1000 * held[-1])
    return figures


def child_export(site_key: str, fmt: str) -> dict[str, Any]:
    from flask import current_app

    from consent_service.sites import access
    from consent_service.sites.registry import get_site

    _, token = access.issue_token(get_site(site_key), "auditor", label="bench")
    client = current_app.test_client()
    started = time.perf_counter()
    response = client.get(
        f"/api/v1/sites/{site_key}/ledger/export?format={fmt}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.status_code
    size = 0
    for chunk in response.iter_encoded():
        size += len(chunk)
    response.close()
    return {"seconds": time.perf_counter() - started, "bytes": size}


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
        else:
            figures = child_export(arguments[0], arguments[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures, "rss_mb": peak / 1024, "baseline_rss_mb": baseline / 1024}))


def run_step(env: dict[str, str], *command: str) -> dict[str, Any]:
    return run_child_step(__file__, env, *command)


def timed_command(env: dict[str, str], *command: str) -> dict[str, Any]:
    """Run a CLI command; its wall time and its own peak RSS (from wait4)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["consent-service", *command],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-2000:]}")
    return {
        "seconds": time.perf_counter() - started,
        "rss_mb": usage.ru_maxrss / 1024,
        "output": output,
    }


def lock_held(seal: dict[str, Any]) -> str:
    if "lock_ms" not in seal:
        return ""
    p50, p90, longest = seal["lock_ms"]
    return f"; write lock held per batch p50 {p50:.1f}, p90 {p90:.1f}, max {longest:.1f} ms"


def measure(name: str, events: int, verify_events: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with backend(name) as env:
        site_key = prepare_database(env)["site_key"]
        seed = run_step(env, "seed", site_key, str(verify_events))
        seal = run_step(env, "seal")
        rows.append(
            (
                f"{name}: seal {seal['sealed']:,} events",
                f"{seal['sealed'] / seal['seconds']:,.0f} events/s "
                f"({seal['seconds']:.1f} s; bulk insert took {seed['seconds']:.1f} s)"
                + lock_held(seal),
            )
        )
        bundle = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
        keys = bundle.with_name(bundle.name + "-keys.json")
        try:
            written = timed_command(
                env, "ledger", "export", "--site", site_key, "--out", str(bundle)
            )
            rows.append(
                (
                    f"{name}: bundle of {verify_events:,} events",
                    f"{written['seconds']:.1f} s, peak RSS {written['rss_mb']:.0f} MB",
                )
            )
            # the bench made the bundle itself, so it trusts the keys it was signed with
            shutil.copyfile(bundle / "public_keys.json", keys)
            verified = timed_command({}, "ledger", "verify", str(bundle), "--keys", str(keys))
            rows.append(
                (
                    f"verify {verify_events:,} events offline",
                    f"{verified['seconds']:.1f} s, peak RSS {verified['rss_mb']:.0f} MB "
                    f"(target < 30 s); {verified['output'].strip().splitlines()[-1]}",
                )
            )
        finally:
            shutil.rmtree(bundle, ignore_errors=True)
            keys.unlink(missing_ok=True)
        if events > verify_events:
            run_step(env, "seed", site_key, str(events - verify_events))
            seal = run_step(env, "seal")
            rows.append(
                (
                    f"{name}: seal {seal['sealed']:,} more",
                    f"{seal['sealed'] / seal['seconds']:,.0f} events/s ({seal['seconds']:.1f} s)",
                )
            )
        for fmt in ("csv", "jsonl"):
            export = run_step(env, "export", site_key, fmt)
            rows.append(
                (
                    f"{name}: export {events:,} events as {fmt}",
                    f"{export['seconds']:.1f} s, {export['bytes'] / 1e6:,.0f} MB sent, "
                    f"peak RSS {export['rss_mb']:.0f} MB (app alone "
                    f"{export['baseline_rss_mb']:.0f} MB; target < 150 MB)",
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
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    if args.verify_events > args.events:
        parser.error("--verify-events must not exceed --events")
    for name in [args.only] if args.only else ["sqlite", "postgresql"]:
        for label, figures in measure(name, args.events, args.verify_events):
            print(f"{label:<40} {figures}", flush=True)


if __name__ == "__main__":
    main()
