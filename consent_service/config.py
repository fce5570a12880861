"""Configuration: the only module that reads the environment.

Everything the service needs to know about its deployment comes from environment variables,
read here into a plain dict that `create_app` loads. When `DATABASE_URL` is unset the service
runs "embedded": a SQLite file and generated secrets in the instance folder, so a newcomer can
start it with nothing installed. Anywhere else a missing or weak secret stops the start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIN_SECRET_LENGTH = 32
WEAK_SECRETS = frozenset({"dev", "secret", "changeme", "change-me", "development", "test"})


class ConfigurationError(RuntimeError):
    """The environment does not describe a deployment we are willing to run."""


def instance_path_from_env() -> str | None:
    """Where the instance folder lives (`CONSENT_SERVICE_INSTANCE`), or None for Flask's default."""
    return os.environ.get("CONSENT_SERVICE_INSTANCE") or None


def normalise_database_url(url: str) -> str:
    """Map the URL forms hosting providers hand out onto the driver we ship (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number, got {value!r}") from exc


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def secret_from_env(name: str) -> str | None:
    """A secret a command takes from the environment (never from its arguments, which any
    user of the machine can read in the process list)."""
    return os.environ.get(name) or None


def new_ledger_key() -> str:
    from consent_service.ledger.signing import new_private_key_b64

    return new_private_key_b64()


def instance_secret(
    instance_path: str, filename: str, generate: Callable[[], str] | None = None
) -> str:
    """Read a secret kept in the instance folder, creating it (mode 0600) on first use."""
    path = Path(instance_path) / filename
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate() if generate else secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def is_fernet_key(value: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except ValueError:
        return False
    return True


def is_weak_secret(value: str | None) -> bool:
    return not value or len(value) < MIN_SECRET_LENGTH or value.lower() in WEAK_SECRETS


def load_config(instance_path: str) -> dict[str, Any]:
    """Build the Flask config from the environment.

    Raises ConfigurationError when a production deployment (DATABASE_URL set, not debug or
    demo) lacks a strong SECRET_KEY, saying what to set.
    """
    database_url = os.environ.get("DATABASE_URL", "").strip()
    embedded = not database_url
    debug = _env_bool("FLASK_DEBUG") or _env_bool("CONSENT_SERVICE_DEMO")

    if embedded:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        database_url = "sqlite:///" + str(Path(instance_path) / "consent-service.sqlite")

    secret_key = os.environ.get("SECRET_KEY", "").strip() or None
    if secret_key is None and embedded:
        secret_key = instance_secret(instance_path, "secret_key")
    if is_weak_secret(secret_key) and not (embedded or debug):
        raise ConfigurationError(
            "SECRET_KEY is missing or weak. Set SECRET_KEY to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters, for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )

    ledger_key = os.environ.get("LEDGER_SIGNING_KEY", "").strip() or None
    if ledger_key is None:
        if embedded or debug:
            ledger_key = instance_secret(
                instance_path, "ledger_signing_key", generate=new_ledger_key
            )
        else:
            raise ConfigurationError(
                "LEDGER_SIGNING_KEY is missing. Set it to a base64 Ed25519 seed, made with: "
                "consent-service ledger keygen"
            )

    public_base_url = os.environ.get("PUBLIC_BASE_URL", "").strip().rstrip("/") or None
    if public_base_url is None and not (embedded or debug):
        raise ConfigurationError(
            "PUBLIC_BASE_URL is missing. Set it to the service's public URL, for example "
            "https://consent.example.com: links in mails and the banner's API address are made "
            "from it, never from a request's Host header."
        )
    if public_base_url and not public_base_url.startswith(("https://", "http://")):
        raise ConfigurationError("PUBLIC_BASE_URL must start with https:// (or http://)")

    data_keys = [os.environ.get("DATA_ENCRYPTION_KEY", "").strip()]
    data_keys = [key for key in [*data_keys, *_env_list("DATA_ENCRYPTION_KEY_FALLBACKS")] if key]
    for key in data_keys:
        if not is_fernet_key(key):
            raise ConfigurationError(
                "DATA_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes), made with: "
                "consent-service crm keygen"
            )

    return {
        "LEDGER_SIGNING_KEY": ledger_key,
        "LEDGER_SEAL_INTERVAL": float(_env_int("LEDGER_SEAL_INTERVAL", 10)),
        "LEDGER_AUTOSEAL": _env_bool("LEDGER_AUTOSEAL", True),
        "LEDGER_MAX_MERGE_DELAY": float(_env_int("LEDGER_MAX_MERGE_DELAY", 60)),
        "WEBHOOK_AUTODELIVER": _env_bool("WEBHOOK_AUTODELIVER", True),
        "WEBHOOK_ALLOW_HTTP": _env_bool("WEBHOOK_ALLOW_HTTP", False),
        "CRM_AUTODELIVER": _env_bool("CRM_AUTODELIVER", True),
        "RETENTION_AUTORUN": _env_bool("RETENTION_AUTORUN", True),
        "RETENTION_INTERVAL": float(_env_int("RETENTION_INTERVAL", 3600)),
        "CRM_TIMEOUT": float(_env_int("CRM_TIMEOUT", 30)),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": _env_list("SECRET_KEY_FALLBACKS"),
        "TRUSTED_PROXIES": _env_int("TRUSTED_PROXIES", 0),
        "COUNTRY_HEADER": os.environ.get("COUNTRY_HEADER", "").strip() or None,
        "REGION_HEADER": os.environ.get("REGION_HEADER", "").strip() or None,
        "PUBLIC_BASE_URL": public_base_url,
        "SQLITE_SYNCHRONOUS": os.environ.get("SQLITE_SYNCHRONOUS", "FULL").strip().upper(),
        "GA4_SCRIPT_URL": os.environ.get("GA4_SCRIPT_URL", "").strip() or None,
        "DEMO_SITE_KEY": os.environ.get("DEMO_SITE_KEY", "").strip() or None,
        "DEMO_GTAG_URL": os.environ.get("DEMO_GTAG_URL", "").strip() or None,
        "DATA_ENCRYPTION_KEY": os.environ.get("DATA_ENCRYPTION_KEY", "").strip() or None,
        "DATA_ENCRYPTION_KEY_FALLBACKS": _env_list("DATA_ENCRYPTION_KEY_FALLBACKS"),
        "EMBEDDED": embedded,
        "CONSENT_WRITES_PER_CLIENT": _env_int("CONSENT_WRITES_PER_CLIENT", 600),
        "CONSENT_WRITE_WINDOW": _env_int("CONSENT_WRITE_WINDOW", 60),
        "CONSOLE_SIGNIN_FAILURES_PER_ACCOUNT": _env_int("CONSOLE_SIGNIN_FAILURES_PER_ACCOUNT", 5),
        "CONSOLE_SIGNIN_FAILURES_PER_NETWORK": _env_int("CONSOLE_SIGNIN_FAILURES_PER_NETWORK", 30),
        "CONSOLE_SIGNIN_WINDOW": _env_int("CONSOLE_SIGNIN_WINDOW", 900),
        **load_mail_config(),
    }


SMTP_SECURITY_MODES = ("none", "starttls", "tls")
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def load_mail_config() -> dict[str, Any]:
    """SMTP and the marketing-mail limits. Unset SMTP_HOST is allowed: messages then wait in
    the outbox until a host is configured (nothing is lost, and /readyz does not care)."""
    security = os.environ.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SMTP_SECURITY_MODES:
        raise ConfigurationError(
            f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY_MODES)}, got {security!r}"
        )
    host = os.environ.get("SMTP_HOST", "").strip() or None
    mail_from = os.environ.get("MAIL_FROM", "").strip() or None
    if host and not mail_from:
        raise ConfigurationError(
            "MAIL_FROM is missing. Set it to the sender of the service's e-mail, "
            "for example: News <news@example.com>"
        )
    if mail_from and any(character in mail_from for character in "\r\n\0"):
        raise ConfigurationError("MAIL_FROM must be one line")
    ca_file = os.environ.get("SMTP_CA_FILE", "").strip() or None
    if ca_file and not Path(ca_file).is_file():
        raise ConfigurationError(f"SMTP_CA_FILE {ca_file!r} is not a readable file")
    return {
        "SMTP_HOST": host,
        "SMTP_PORT": _env_int("SMTP_PORT", SMTP_DEFAULT_PORTS[security]),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", "").strip() or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_SECURITY": security,
        "SMTP_CA_FILE": ca_file,
        "SMTP_TIMEOUT": float(_env_int("SMTP_TIMEOUT", 20)),
        "MAIL_FROM": mail_from,
        "MAIL_AUTOSEND": _env_bool("MAIL_AUTOSEND", True),
        "MAIL_CONFIRMATIONS_PER_ADDRESS": _env_int("MAIL_CONFIRMATIONS_PER_ADDRESS", 3),
        "MAIL_ADDRESS_WINDOW": _env_int("MAIL_ADDRESS_WINDOW", 24 * 3600),
        "MAIL_REQUESTS_PER_CLIENT": _env_int("MAIL_REQUESTS_PER_CLIENT", 20),
        "MAIL_CLIENT_WINDOW": _env_int("MAIL_CLIENT_WINDOW", 3600),
    }


DEFAULTS: dict[str, Any] = {
    # Consent bodies are small; anything bigger is a mistake or an attack (413).
    "MAX_CONTENT_LENGTH": 16 * 1024,
    # A site's settings document (PUT .../settings): long texts in every locale.
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "JSON_SORT_KEYS": False,
    "API_TITLE": "consent-service",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "CONFIG_MAX_AGE": 60,
    # The ledger's maximum merge delay: receipts promise a seal within this many seconds, and
    # the in-process sealer runs at least three times within it.
    "LEDGER_MAX_MERGE_DELAY": 60.0,
    # The banner script at its mutable URL: short, so a new policy or category reaches pages
    # within minutes; the versioned URL is immutable.
    "SCRIPT_MAX_AGE": 300,
    # Where the banner loads gtag.js from (None: Google's URL); the demo and the tests point it
    # at a local stand-in so that nothing leaves the machine.
    "GA4_SCRIPT_URL": None,
    # `consent-service demo` sets these: its site, and the local gtag.js stand-in for that site
    # alone (every other site served by the same process loads Google's or GA4_SCRIPT_URL).
    "DEMO_SITE_KEY": None,
    "DEMO_GTAG_URL": None,
    # Webhooks: seconds between sender runs in a web process, per-request timeout, attempts
    # before a delivery is dead (30 s doubling to 6 h: about two days), plain http allowed.
    "WEBHOOK_INTERVAL": 5.0,
    "WEBHOOK_TIMEOUT": 10.0,
    "WEBHOOK_MAX_ATTEMPTS": 12,
    "WEBHOOK_ALLOW_HTTP": False,
    # CRM leads: seconds between worker runs in a web process (a new lead wakes it at once),
    # per-request timeout (generous: a create that times out may have landed), attempts.
    # CRM_AUTODELIVER comes from the environment (on) and is off for apps built with a config.
    "CRM_INTERVAL": 5.0,
    "CRM_TIMEOUT": 30.0,
    "CRM_MAX_ATTEMPTS": 12,
    # Marketing e-mail: SMTP (unset host: messages wait in the outbox), seconds between sender
    # runs, attempts before a message is dead, and the subscription limits: confirmations per
    # address per MAIL_ADDRESS_WINDOW seconds, requests per client per MAIL_CLIENT_WINDOW.
    # MAIL_AUTOSEND comes from the environment (on) and is off for apps built with a config.
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_SECURITY": "starttls",
    "SMTP_CA_FILE": None,
    "SMTP_TIMEOUT": 20.0,
    "MAIL_FROM": None,
    "MAIL_INTERVAL": 5.0,
    "MAIL_MAX_ATTEMPTS": 12,
    "MAIL_CONFIRMATIONS_PER_ADDRESS": 3,
    "MAIL_ADDRESS_WINDOW": 24 * 3600,
    "MAIL_REQUESTS_PER_CLIENT": 20,
    "MAIL_CLIENT_WINDOW": 3600,
    # Consent writes per client network (IPv4 /24, IPv6 /48) and site, per window in seconds,
    # counted in the database (0: no limit). Generous: an office behind one NAT is one client.
    "CONSENT_WRITES_PER_CLIENT": 600,
    "CONSENT_WRITE_WINDOW": 60,
    # The console: failed sign-ins per account (hashed e-mail) and per network per window in
    # seconds, and the wait after each failure (times the failures so far, at most 5 s).
    "CONSOLE_SIGNIN_FAILURES_PER_ACCOUNT": 5,
    "CONSOLE_SIGNIN_FAILURES_PER_NETWORK": 30,
    "CONSOLE_SIGNIN_WINDOW": 900,
    "CONSOLE_SIGNIN_DELAY": 0.5,
    # Flask-WTF: the console's views check the CSRF token themselves (the JSON API has none).
    "WTF_CSRF_CHECK_DEFAULT": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "TRUSTED_PROXIES": 0,
    "COUNTRY_HEADER": None,
    "REGION_HEADER": None,
    "SECRET_KEY_FALLBACKS": [],
    "SQLITE_SYNCHRONOUS": "FULL",
}
