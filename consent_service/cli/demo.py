"""`demo`: prepare the demo site and serve it with gunicorn."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import with_appcontext


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the database and demo site, then exit.")
@with_appcontext
def demo_command(host: str, port: int, workers: int, no_serve: bool) -> None:
    """Upgrade the database, create the demo site if missing, and serve it with gunicorn."""
    from flask_migrate import upgrade

    from consent_service.console.accounts import DEMO_OWNER, ensure_demo_owner
    from consent_service.extensions import db
    from consent_service.sites import demo

    upgrade()
    base_url = f"http://{host}:{port}"
    site, admin_token = demo.ensure_demo_site(base_url)
    owner_password = ensure_demo_owner(site)
    console = f"{base_url}/console/login  as {DEMO_OWNER}, password " + (
        owner_password or "as printed when the demo first ran"
    )
    click.echo(
        "\n".join(
            [
                "consent-service demo",
                f"  site key:     {site.site_key}",
                f"  admin token:  {admin_token}",
                f"  demo page:    {base_url}/demo/",
                f'  banner tag:   <script src="{base_url}/c/{site.site_key}.js" async></script>',
                f"  config:       {base_url}/api/v1/sites/{site.site_key}/config",
                f"  API document: {base_url}/api/openapi.json",
                f"  health:       {base_url}/readyz",
                # Where the demo's data lives, so a newcomer can find or remove it.
                f"  database:     {db.engine.url.render_as_string(hide_password=True)}",
                f"  console:      {console}",
                "Press Ctrl+C to stop.",
            ]
        )
    )
    sys.stdout.flush()
    if no_serve:
        return
    from consent_service.serve import serve

    os.environ.setdefault("CONSENT_SERVICE_DEMO", "1")
    os.environ.setdefault("PUBLIC_BASE_URL", base_url)
    # The demo page must not call Google: the demo site's gtag.js is a local stand-in (only the
    # demo site's: other sites served by this process load Google's).
    os.environ.setdefault("DEMO_SITE_KEY", site.site_key)
    os.environ.setdefault("DEMO_GTAG_URL", f"{base_url}/static/demo/gtag-standin.js")
    serve(bind=f"{host}:{port}", workers=workers)
