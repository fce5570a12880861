"""consent-service: self-hosted consent and cookie management with a verifiable ledger."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from consent_service.config import DEFAULTS, instance_path_from_env, load_config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class ConsentService(Flask):
    """Flask, with `ensure_sync` remembered per function: Flask asks `inspect` whether each
    hook and view is a coroutine on every request (14 times for a config GET, a quarter of its
    own cost); the answer never changes for a function."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return _sync_functions[func]
        except KeyError:
            sync = _sync_functions[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


_sync_functions: weakref.WeakKeyDictionary[Any, Callable[..., Any]] = weakref.WeakKeyDictionary()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides (tests), otherwise all comes from the environment."""
    app = ConsentService(
        __name__, instance_path=instance_path_from_env(), instance_relative_config=True
    )
    app.config.from_mapping(DEFAULTS)
    if config is None or "SQLALCHEMY_DATABASE_URI" not in config:
        app.config.from_mapping(load_config(app.instance_path))
    if config:
        app.config.from_mapping(config)
    register_sessions(app)
    register_request_guard(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_fast_lane(app)
    register_proxy_fix(app)  # outside the fast lane: it sees the proxy's client and scheme
    return app


def register_fast_lane(app: Flask) -> None:
    """The banner script and config answered before Flask's request machinery (FAST_LANE)."""
    from consent_service.api.fast_lane import FastLane

    if app.config.get("FAST_LANE", True):
        lane = FastLane(app, app.wsgi_app)
        app.extensions["fast_lane"] = lane
        app.wsgi_app = lane  # type: ignore[method-assign]


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* only from as many proxies as configured (none by default)."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def register_sessions(app: Flask) -> None:
    """Cookie sessions for the console's pages only: the API is stateless and must not open
    one on every request."""
    from consent_service.api.http import ConsoleSessionInterface

    app.session_interface = ConsoleSessionInterface()


def register_request_guard(app: Flask) -> None:
    """Bad input is a 4xx at the edge: bounded path ids, bodies, depths and characters."""
    from consent_service.api.http import register_request_guard as register

    register(app)


def register_extensions(app: Flask) -> None:
    from consent_service import models  # noqa: F401  (models must be known to metadata)
    from consent_service.database import (
        configure_engine_options,
        install_idle_ping,
        install_sqlite_pragmas,
    )
    from consent_service.extensions import api, csrf, db, migrate
    from consent_service.sites.snapshot import SiteSnapshotCache

    configure_engine_options(app)
    db.init_app(app)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=str(migrations_directory()))
    with app.app_context():
        install_sqlite_pragmas(db.engine, app.config.get("SQLITE_SYNCHRONOUS", "FULL"))
        install_idle_ping(db.engine)
    app.config.setdefault("API_SPEC_OPTIONS", {})
    app.config["API_SPEC_OPTIONS"].setdefault(
        "components",
        {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    )
    api.init_app(app)
    app.extensions["consent_site_cache"] = SiteSnapshotCache(
        ttl=float(app.config.get("SITE_CACHE_SECONDS", 5.0))
    )
    register_integrations(app)
    register_background_jobs(app)


def register_integrations(app: Flask) -> None:
    """What happens beside a recorded consent, in its transaction: webhook deliveries and CRM
    leads stopped when their category is withdrawn; beside a sealed batch of the ledger, in
    its transaction: the dashboard's daily counters."""
    from consent_service.consents.decisions import decision_recorded
    from consent_service.console.stats import count_sealed
    from consent_service.integrations.crm.leads import stop_on_withdrawal
    from consent_service.integrations.webhooks import queue_deliveries
    from consent_service.ledger.sealing import batch_sealed

    decision_recorded.connect(queue_deliveries)
    decision_recorded.connect(stop_on_withdrawal)
    batch_sealed.connect(count_sealed)


def register_background_jobs(app: Flask) -> None:
    """Seal the ledger and deliver webhooks (and mail) from the web processes themselves,
    unless an operator runs `consent-service ledger seal --watch` / `webhooks worker` /
    `mail worker` instead."""
    from consent_service.background import start_with_first_request
    from consent_service.integrations.crm.delivery import CRM_WORKER, deliver_until_idle
    from consent_service.integrations.mail.sending import MAIL_WORKER, run_mail_worker
    from consent_service.integrations.webhooks import deliver_due
    from consent_service.ledger.records import seal_interval
    from consent_service.ledger.sealing import seal_all

    if app.config.get("LEDGER_AUTOSEAL"):
        interval = seal_interval(  # bounded by the maximum merge delay receipts promise
            float(app.config["LEDGER_SEAL_INTERVAL"]), float(app.config["LEDGER_MAX_MERGE_DELAY"])
        )
        start_with_first_request(app, "ledger-sealer", interval, lambda: seal_all(wait=False))
    if app.config.get("WEBHOOK_AUTODELIVER"):
        start_with_first_request(
            app, "webhook-sender", float(app.config["WEBHOOK_INTERVAL"]), deliver_due
        )
    if app.config.get("CRM_AUTODELIVER"):
        start_with_first_request(
            app, CRM_WORKER, float(app.config["CRM_INTERVAL"]), deliver_until_idle
        )
    if app.config.get("MAIL_AUTOSEND"):
        start_with_first_request(
            app, MAIL_WORKER, float(app.config["MAIL_INTERVAL"]), run_mail_worker
        )
    if app.config.get("RETENTION_AUTORUN"):
        from consent_service.consents.retention import run_retention

        start_with_first_request(
            app, "retention", float(app.config["RETENTION_INTERVAL"]), run_retention
        )


def register_blueprints(app: Flask) -> None:
    from consent_service.api import (
        banner,
        captures,
        console,
        console_requests,
        console_settings,
        console_site,
        demo_pages,
        document,
        health,
        leads,
        ledger,
        preferences,
        public,
        requests_admin,
        requests_public,
        rights_pages,
        site_backend,
        site_settings,
        subscriptions,
        unsubscribe,
        webhooks,
    )
    from consent_service.extensions import api

    app.register_blueprint(health.blp)
    app.register_blueprint(banner.blp)
    app.register_blueprint(demo_pages.blp)
    app.register_blueprint(preferences.blp)
    app.register_blueprint(console.blp)
    app.register_blueprint(console_site.blp)
    app.register_blueprint(console_settings.blp)
    api.register_blueprint(public.blp)
    api.register_blueprint(site_backend.blp)
    api.register_blueprint(site_settings.blp)
    api.register_blueprint(ledger.blp)
    api.register_blueprint(captures.blp)
    api.register_blueprint(webhooks.blp)
    api.register_blueprint(leads.blp)
    api.register_blueprint(subscriptions.blp)
    app.register_blueprint(unsubscribe.blp)
    api.register_blueprint(requests_public.blp)
    api.register_blueprint(requests_admin.blp)
    app.register_blueprint(rights_pages.blp)
    app.register_blueprint(console_requests.blp)
    document.document_errors(api)


def register_error_handlers(app: Flask) -> None:
    from consent_service.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from consent_service.cli import register_commands as register

    register(app)


def migrations_directory() -> Path:
    """Alembic scripts: `migrations/` in a checkout, `consent_service/migrations` when installed."""
    checkout = Path(__file__).resolve().parent.parent / "migrations"
    if (checkout / "env.py").exists():
        return checkout
    return MIGRATIONS_DIR
