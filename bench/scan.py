"""How long a scan takes: the demo site served on loopback, scanned in headless Chromium
(/usr/bin/chromium) with 1 and 4 pages, captures in one locale and in every locale. Prints
the median of a few runs per pass (no choice, reject all, accept all, captures) and per page.

    python bench/scan.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent_service import create_app
from consent_service.extensions import db
from consent_service.ledger.signing import new_private_key_b64
from consent_service.scanner.scans import run_scan
from consent_service.sites import demo

CASES = [(1, ["en"]), (4, ["en"]), (4, None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'scan.sqlite'}",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "LEDGER_SIGNING_KEY": new_private_key_b64(),
            "SITE_CACHE_SECONDS": 0,
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        app.config["GA4_SCRIPT_URL"] = f"{base_url}/static/demo/gtag-standin.js"
        site, _ = demo.ensure_demo_site(base_url)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        print(f"{'pages':>5} {'locales':>8} {'no_choice':>10} {'reject':>8} {'accept':>8} "
              f"{'captures':>9} {'total s':>8} {'s/page':>7}")  # fmt: skip
        for pages, locales in CASES:
            runs = []
            for _ in range(args.runs):
                outcome = run_scan(site, [base_url + "/demo/"], max_pages=pages, locales=locales)
                report = outcome.report
                runs.append((report["timings"], report["duration_seconds"], report["summary"]))
            med = {
                key: statistics.median(run[0][key] for run in runs)
                for key in ("no_choice", "reject_all", "accept_all", "captures")
            }
            total = statistics.median(run[1] for run in runs)
            visited = runs[0][2]["pages"]
            per_page = (med["no_choice"] + med["reject_all"] + med["accept_all"]) / (3 * visited)
            print(
                f"{visited:>5} {len(locales) if locales else 'all':>8} {med['no_choice']:>10.2f} "
                f"{med['reject_all']:>8.2f} {med['accept_all']:>8.2f} {med['captures']:>9.2f} "
                f"{total:>8.2f} {per_page:>7.2f}"
            )
        server.shutdown()
        thread.join(5)
        db.engine.dispose()


if __name__ == "__main__":
    main()
