"""Configuration from the environment (no database)."""

from __future__ import annotations

import stat

import pytest

from consent_service.config import ConfigurationError, load_config, normalise_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ],
)
def test_database_urls_are_normalised(given, expected):
    assert normalise_database_url(given) == expected


def test_embedded_default_generates_a_private_secret(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "SECRET_KEY", "FLASK_DEBUG", "CONSENT_SERVICE_DEMO"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    secret_file = tmp_path / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ledger_signing_key").stat().st_mode) == 0o600
    assert config["SECRET_KEY"] == secret_file.read_text().strip()
    assert load_config(str(tmp_path))["SECRET_KEY"] == config["SECRET_KEY"]


@pytest.mark.parametrize("secret", [None, "dev", "short-secret"])
def test_production_refuses_a_weak_secret(monkeypatch, tmp_path, secret):
    monkeypatch.setenv("DATABASE_URL", "postgres://db/consent")
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.delenv("CONSENT_SERVICE_DEMO", raising=False)
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_config(str(tmp_path))


def test_production_needs_a_ledger_key(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://db/consent")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("LEDGER_SIGNING_KEY", raising=False)
    for name in ("FLASK_DEBUG", "CONSENT_SERVICE_DEMO"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="LEDGER_SIGNING_KEY"):
        load_config(str(tmp_path))


def test_production_reads_rotation_and_proxies(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://db/consent")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "old-one, older-one")
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://consent.example.com")
    config = load_config(str(tmp_path))
    assert config["SECRET_KEY_FALLBACKS"] == ["old-one", "older-one"]
    assert config["TRUSTED_PROXIES"] == 1
    monkeypatch.setenv("TRUSTED_PROXIES", "many")
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        load_config(str(tmp_path))


def test_production_requires_public_base_url(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://db/consent")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    for name in ("FLASK_DEBUG", "CONSENT_SERVICE_DEMO", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        load_config(str(tmp_path))
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://consent.example.com/")
    assert load_config(str(tmp_path))["PUBLIC_BASE_URL"] == "https://consent.example.com"
