"""CRM lead capture against the local NeoCRM stand-in: form-to-CRM latency and worker throughput.

For each database, a fresh demo site connected to tests/neocrm_server.py (NeoCRM's protocol on
loopback), then:

- latency: a visitor consents, then the contact form POSTs /leads to the service (served over
  HTTP on loopback, its in-process CRM worker on); the clock stops when NeoCRM has the lead.
  Sequential leads; median, p95 and max in ms;
- throughput: N leads already accepted (encrypted in the outbox), one `consent-service crm
  worker` pass (`deliver_until_idle`) delivers them all; leads per second.

    python bench/crm.py [--leads 2000] [--latency-runs 50] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any

from support import ROOT, backend

sys.path.insert(0, str(ROOT))

from consent_service.integrations.crm import connection, delivery
from tests.neocrm_server import FakeNeoCRM

FIELDS = {
    "name": "Li Wei",
    "company": "Example Sensors Ltd.",
    "email": "li.wei@example.com",
    "phone": "+86 10 1234 5678",
    "website": "https://sensors.example.com",
    "postal_code": "100080",
    "message": "Please call me about the X200 series.",
}


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def run(name: str, leads: int, latency_runs: int) -> dict[str, Any]:
    with backend(name) as env:
        for key, value in env.items():
            if value:
                os.environ[key] = value
            else:
                os.environ.pop(key, None)
        os.environ["CRM_AUTODELIVER"] = "1"
        os.environ["LEDGER_AUTOSEAL"] = "0"
        os.environ["WEBHOOK_AUTODELIVER"] = "0"
        import logging

        from flask_migrate import upgrade
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        from consent_service import create_app
        from consent_service.extensions import db
        from consent_service.integrations.crm.leads import accept_lead
        from consent_service.sites import demo, forms
        from consent_service.sites.snapshot import load_snapshot
        from consent_service.sites.versions import current_policy

        app = create_app()
        app.config["SITE_CACHE_SECONDS"] = 0
        app.config["WEBHOOK_ALLOW_HTTP"] = True  # the NeoCRM stand-in is plain http on loopback
        with FakeNeoCRM() as neocrm, app.app_context():
            upgrade()
            site, _ = demo.ensure_demo_site("http://127.0.0.1")
            connection.configure(
                site,
                auth_url=neocrm.url,
                instance_url=neocrm.url,
                client_id=neocrm.client_id,
                client_secret=neocrm.client_secret,
                username=neocrm.username,
                password=neocrm.password,
                field_map={
                    "website": "customItem101__c",
                    "postal_code": "customItem102__c",
                    "message": "customItem103__c",
                    "lead_id": "customItem104__c",
                },
                fixed={"entityType": 11010000100001},
            )
            site_key = site.site_key
            policy = current_policy(site)
            banner = site.banner_version_hash
            form = forms.find_form(site.id, "crm")
            assert form is not None
            wording_hash = forms.wording_hash(form.wording["en"])
            db.session.remove()

            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{server.server_port}/api/v1/sites/{site_key}"

            def consenting_visitor() -> str:
                answer = post_json(
                    f"{base}/consents",
                    {
                        "event_id": str(uuid.uuid4()),
                        "action": "custom",
                        "choices": {"analytics": False, "crm": True, "marketing_email": False},
                        "policy_version": policy.label if policy else "none",
                        "banner_version": banner,
                        "language": "en",
                        "source": "banner",
                    },
                )
                return str(answer["visitor_token"])

            latencies = []
            for _ in range(latency_runs):
                token = consenting_visitor()
                before = neocrm.lead_creates
                started = time.perf_counter()
                post_json(
                    f"{base}/leads",
                    {
                        "visitor_token": token,
                        "fields": FIELDS,
                        "separate_consent": {"granted": True, "wording_hash": wording_hash},
                    },
                )
                deadline = started + 30
                while neocrm.lead_creates == before:
                    if time.perf_counter() > deadline:
                        raise RuntimeError("the lead never reached NeoCRM")
                    time.sleep(0.0002)
                latencies.append((time.perf_counter() - started) * 1000)
            server.shutdown()
            server.server_close()
            app.extensions[delivery.CRM_WORKER].stop()
            time.sleep(0.2)

            # Throughput: fill the outbox, then one worker pass.
            app.config["CRM_AUTODELIVER"] = False
            snapshot = load_snapshot(site_key, time.monotonic())
            token = consenting_visitor_direct(app, snapshot, policy, banner)
            for _ in range(leads):
                accept_lead(
                    snapshot,
                    {
                        "visitor_token": token,
                        "fields": FIELDS,
                        "separate_consent": {"granted": True, "wording_hash": wording_hash},
                    },
                )
            created_before = neocrm.lead_creates
            started = time.perf_counter()
            report = delivery.deliver_until_idle()
            elapsed = time.perf_counter() - started
            assert report.delivered == leads and neocrm.lead_creates - created_before == leads
        ordered = sorted(latencies)
        return {
            "backend": name,
            "latency_ms": {
                "median": round(statistics.median(latencies), 1),
                "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
                "max": round(max(latencies), 1),
                "runs": latency_runs,
            },
            "throughput": {
                "leads": leads,
                "seconds": round(elapsed, 2),
                "leads_per_s": round(leads / elapsed, 1),
            },
        }


def consenting_visitor_direct(app: Any, snapshot: Any, policy: Any, banner: str) -> str:
    from consent_service.consents.decisions import RequestContext, record_decision

    recorded = record_decision(
        snapshot,
        {
            "event_id": uuid.uuid4(),
            "action": "custom",
            "choices": {"analytics": False, "crm": True, "marketing_email": False},
            "policy_version": policy.label,
            "banner_version": banner,
            "language": "en",
            "source": "banner",
        },
        RequestContext(),
    )
    return recorded.visitor_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    import subprocess

    for name in ["sqlite", "postgresql"] if args.only is None else [args.only]:
        if os.environ.get("BENCH_CRM_CHILD"):
            result = run(name, args.leads, args.latency_runs)
            print(json.dumps(result))
            return
        # Each backend in its own process: the app reads its environment once.
        output = subprocess.run(
            [sys.executable, __file__, "--only", name, "--leads", str(args.leads),
             "--latency-runs", str(args.latency_runs)],
            env={**os.environ, "BENCH_CRM_CHILD": "1"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        result = json.loads(output.strip().splitlines()[-1])
        latency, throughput = result["latency_ms"], result["throughput"]
        print(
            f"{name:10}  form -> NeoCRM: median {latency['median']} ms, p95 {latency['p95']} ms, "
            f"max {latency['max']} ms ({latency['runs']} leads, worker in process)"
        )
        print(
            f"{'':10}  worker: {throughput['leads']} leads in {throughput['seconds']} s = "
            f"{throughput['leads_per_s']} leads/s"
        )


if __name__ == "__main__":
    main()
