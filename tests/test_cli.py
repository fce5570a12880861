"""The consent-service command, through Flask's CLI test runner."""

from __future__ import annotations

import json

from consent_service.extensions import db
from consent_service.models import ApiToken, Site
from tests.conftest import count_rows


def test_sites_create_json_and_list(runner):
    result = runner.invoke(
        args=[
            "sites",
            "create",
            "--name",
            "Acme EU",
            "--origin",
            "https://acme.eu",
            "--origin",
            "https://WWW.acme.eu/",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"site_key", "admin_token"}
    assert len(created["site_key"]) >= 22
    listed = runner.invoke(args=["sites", "list"])
    assert created["site_key"] in listed.output
    assert "https://www.acme.eu" in listed.output
    site = Site.query.filter_by(site_key=created["site_key"]).one()
    assert site.categories[0].slug == "necessary"
    assert count_rows(ApiToken) == 1


def test_sites_create_rejects_a_non_origin(runner):
    result = runner.invoke(
        args=["sites", "create", "--name", "Bad", "--origin", "https://acme.eu/path"]
    )
    assert result.exit_code != 0
    assert "origin" in result.output
    assert count_rows(Site) == 0


def test_tokens_and_policies(runner, site, tmp_path):
    result = runner.invoke(
        args=["tokens", "create", "--site", site.site_key, "--role", "auditor", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["role"] == "auditor"
    policy = tmp_path / "policy.txt"
    policy.write_text("Version three of our policy.", encoding="utf-8")
    published = runner.invoke(
        args=[
            "policies",
            "publish",
            "--site",
            site.site_key,
            "--label",
            "2026-12",
            "--file",
            str(policy),
            "--material",
        ]
    )
    assert published.exit_code == 0, published.output
    listed = runner.invoke(args=["policies", "list", "--site", site.site_key])
    assert "2026-12" in listed.output and "material" in listed.output
    again = runner.invoke(
        args=[
            "policies",
            "publish",
            "--site",
            site.site_key,
            "--label",
            "2026-12",
            "--file",
            str(policy),
        ]
    )
    assert again.exit_code != 0
    unknown = runner.invoke(args=["tokens", "create", "--site", "nope", "--role", "admin"])
    assert unknown.exit_code != 0 and "no site" in unknown.output


def test_demo_prepares_without_serving(runner):
    first = runner.invoke(args=["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "site key:" in first.output and "admin token:" in first.output
    database = next(line for line in first.output.splitlines() if "database:" in line)
    assert database.split("database:", 1)[1].strip() == str(db.engine.url)  # no password here
    # An owner account for the console, with a password that signs in.
    from consent_service.console import signin
    from consent_service.console.accounts import DEMO_OWNER

    console = next(line for line in first.output.splitlines() if "console:" in line)
    assert "/console/login" in console and DEMO_OWNER in console
    password = console.rsplit("password ", 1)[1].strip()
    assert signin.sign_in(DEMO_OWNER, password, None, sleep=lambda _: None).email == DEMO_OWNER
    second = runner.invoke(args=["demo", "--no-serve"])
    assert second.exit_code == 0
    assert "as printed when the demo first ran" in second.output
    assert count_rows(Site) == 1
    live = ApiToken.query.filter_by(label="demo", revoked_at=None).count()
    assert live == 1


def test_models_and_migrations_agree(runner):
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_db_check_notices_drift(runner):
    import sqlalchemy as sa

    from consent_service.extensions import db

    column = sa.Column("drift_probe", sa.Integer, nullable=True)
    table = db.metadata.tables["sites"]
    table.append_column(column)
    try:
        result = runner.invoke(args=["db", "check"])
    finally:
        table._columns.remove(column)
    assert result.exit_code != 0
