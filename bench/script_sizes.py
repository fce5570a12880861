"""The demo site's whole banner script per rule set, as served: runtime, configuration, forms
loader and, for a site whose services need them, the ad platforms' consent adapters. Prints raw
and gzip sizes (the core runtime's own budget is enforced by `npm run build`).

    python bench/script_sizes.py
"""

from __future__ import annotations

import gzip
import os
import sys

from support import ROOT, backend

sys.path.insert(0, str(ROOT))


def main() -> None:
    from flask_migrate import upgrade

    from consent_service import create_app
    from consent_service.sites import demo, settings
    from consent_service.sites.regions import RULE_SETS
    from consent_service.sites.snapshot import SiteSnapshotCache
    from consent_service.sites.snippet import SNIPPET_DIR

    core = (SNIPPET_DIR / "runtime.js").read_bytes()
    print(f"core runtime.js          {len(core):6d} B  {len(gzip.compress(core, 9)):5d} B gzip")
    with backend("sqlite") as env:
        os.environ.update(env)
        app = create_app()
        with app.app_context():
            upgrade()
            site, _ = demo.ensure_demo_site("http://127.0.0.1:8000")
            client = app.test_client()
            variants = {"demo": None, "demo + UET, Meta, Clarity": with_platforms()}
            for label, document in variants.items():
                if document is not None:
                    settings.apply_settings(document, site=site)
                app.extensions["consent_site_cache"] = SiteSnapshotCache(ttl=0)
                for rule_set in RULE_SETS:
                    region = {
                        "opt_in": "DE",
                        "opt_out": "US",
                        "opt_in_separate": "CN",
                        "notice_only": "US",
                    }[rule_set]
                    app.config.update(COUNTRY_HEADER="X-Country", REGION_HEADER="X-Region")
                    headers = {"X-Country": region}
                    if rule_set == "opt_out":
                        headers["X-Region"] = "US-CA"
                    body = client.get(f"/c/{site.site_key}.js", headers=headers).data
                    print(
                        f"{label:26s} {rule_set:16s} {len(body):6d} B  "
                        f"{len(gzip.compress(body, 9)):5d} B gzip"
                    )


def with_platforms() -> dict:
    from consent_service.sites import demo

    document = demo.demo_document("http://127.0.0.1:8000")
    document["categories"].append(
        {"slug": "marketing", "gpc_opt_out": True, "consent_mode": ["ad_storage"]}
    )
    document["services"] += [
        {"slug": "uet", "catalogue": "microsoft-advertising-uet"},
        {"slug": "meta", "catalogue": "meta-pixel"},
        {"slug": "clarity", "catalogue": "microsoft-clarity", "category": "analytics"},
    ]
    return document


if __name__ == "__main__":
    main()
