"""The demo site: a B2B company with a global site, modelled on the privacy policies we serve.

Google Analytics for traffic analysis, consultation-form leads into the NeoCRM CRM (a third
party storing them in China, so the transfer is cross-border), and product news by e-mail. Its
settings are an ordinary settings document, `demo_site.yaml`, applied as a site owner would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select

from consent_service.extensions import db
from consent_service.models import Site
from consent_service.sites import access, settings, versions
from consent_service.sites.history import latest_change

DEMO_SITE_NAME = "Demo: Example Technology Inc."
DEMO_POLICY_LABEL = "2024-09"
# A made-up GA4 measurement id: the demo's gtag.js is a local stand-in (DEMO_GTAG_URL).
DEMO_GA4_MEASUREMENT_ID = "G-DEMO2024CS"

POLICY_TEXT = """Example Technology Inc. Website Privacy Policy (version 2024-09)

1. What we collect. When you browse this site we use cookies that are strictly necessary for it
to work. With your consent we use Google Analytics (Google LLC) to measure website traffic, page
dwell time, user behaviour and conversions.

2. Consultation form. If you submit the consultation form and consent, the details you give
(name, postal code, company website, phone number) are imported into the CRM system operated by
our third-party service provider NeoCRM and stored on servers located in China. We ask for your
separate consent to this transfer and record each disclosure: content, time, reason, recipient.

3. Marketing e-mail. If you opt in, we send product updates and promotions. Every message has an
unsubscribe link; you may withdraw at any time.

4. Your rights. You may access, correct, export or erase your personal information and withdraw
consent at any time through the "Cookie settings" link on every page.
"""


def demo_document(base_url: str) -> dict[str, Any]:
    """The demo's settings file, with the origins of the address the demo is served on."""
    text = resources.files("consent_service.sites").joinpath("demo_site.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    document["origins"] = sorted({base_url, base_url.replace("127.0.0.1", "localhost")})
    return document


def find_demo_site() -> Site | None:
    return db.session.scalar(select(Site).where(Site.name == DEMO_SITE_NAME))


def ensure_demo_site(base_url: str) -> tuple[Site, str]:
    """The demo site, its settings file applied (created on first run; on later runs unless
    someone edited the site in the console or API), and a fresh admin token replacing the last
    one."""
    site = find_demo_site()
    if site is None:
        site = settings.create_site(document=demo_document(base_url))
        versions.publish_policy(
            site,
            DEMO_POLICY_LABEL,
            text=POLICY_TEXT,
            url=f"{base_url}/demo/privacy",
            effective_at=datetime(2024, 9, 1, tzinfo=UTC),
            material=True,
        )
    else:
        document = demo_document(base_url)
        latest = latest_change(site)
        if latest is not None and latest.actor != settings.CLI_ACTOR:
            # Edited in the console or through the API since: keep that work, and only follow
            # the port the demo now serves on.
            document = {**settings.export_document(site), "origins": document["origins"]}
        settings.apply_settings(document, site=site)
    access.revoke_tokens(site, label="demo")
    _, secret = access.issue_token(site, "admin", label="demo")
    return site, secret
