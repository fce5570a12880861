"""The fixture spine: every database test runs on a SQLite file and on PostgreSQL.

The schema is always made by running the migrations. SQLite gets a copy of a migrated template
file per test; PostgreSQL gets one uniquely named database per test run (and per xdist worker),
emptied between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consent_service import create_app
from consent_service.extensions import db
from tests.live_server import serving

pytest_plugins = ["tests.browser_fixtures"]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# A fixed Ed25519 seed (base64) so tests can check signatures against a known key.
TEST_LEDGER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
BACKENDS = ("sqlite", "postgresql")


def ledger_public_key() -> str:
    """The base64 public key of TEST_LEDGER_KEY, as an auditor would have obtained it."""
    from consent_service.ledger.signing import load_key

    return load_key(TEST_LEDGER_KEY).public_b64


def trusted_keys() -> Any:
    from consent_service.ledger.trust import from_public_key

    return from_public_key(ledger_public_key())


def make_app(database_url: str, **overrides: Any) -> Flask:
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": TEST_SECRET,
        "LEDGER_SIGNING_KEY": TEST_LEDGER_KEY,
        "TESTING": True,
        "SITE_CACHE_SECONDS": 0,
        "RETENTION_AUTORUN": False,
        **overrides,
    }
    return create_app(config)


def migrate(database_url: str) -> None:
    from flask_migrate import upgrade

    app = make_app(database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    name = f"consent_test_{worker_id}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed at {POSTGRES_ADMIN_URL}: {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker id when running in parallel, "main" otherwise."""
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


def empty_postgres(url: str) -> None:
    """Empty every table. Test-only: `replica` role skips the append-only triggers."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ]
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        if tables:
            quoted = ", ".join(f'"{table}"' for table in tables)
            connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "consent.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    empty_postgres(url)
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = make_app(database_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def site(app: Flask) -> Any:
    """The demo site (categories, services, a material policy), as a site owner would have."""
    from consent_service.sites import demo

    created, _ = demo.ensure_demo_site("https://www.example.com")
    return created


@pytest.fixture
def admin_token(site: Any) -> str:
    from consent_service.sites import access

    _, secret = access.issue_token(site, "admin", label="test")
    return secret


def decision_body(site: Any, **overrides: Any) -> dict[str, Any]:
    """A valid consent request body for `site`; override any field."""
    from consent_service.sites.versions import current_policy

    policy = current_policy(site)
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "action": "custom",
        "choices": {"analytics": True, "crm": False, "marketing_email": False},
        "policy_version": policy.label if policy else "none",
        "banner_version": site.banner_version_hash,
        "language": "en",
        "source": "banner",
        "gpc": False,
        "url": "https://www.example.com/products?utm_source=x#top",
        "client_time": "2026-11-22T10:00:00.123+01:00",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def count_rows(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


@pytest.fixture
def app_factory(database_url: str) -> Iterator[Any]:
    """More apps on the same database (other settings, other workers); disposed after the test."""
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        other = make_app(overrides.pop("database_url", database_url), **overrides)
        made.append(other)
        return other

    yield factory
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def service(app: Flask) -> Iterator[str]:
    """The app served on loopback, for clients that speak real HTTP (`--service`, monitors)."""
    with serving(app) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def keys_file(client: FlaskClient, tmp_path: Path) -> Path:
    """The service's keys document, fetched once and kept by the auditor."""
    path = tmp_path / "keys-you-trust.json"
    path.write_text(client.get("/.well-known/consent-ledger-keys").get_data(as_text=True))
    return path
