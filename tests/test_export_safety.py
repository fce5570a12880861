"""Exports are safe to open in a spreadsheet as they are: what reaches them is refused at input
when it would start a formula; the SQLite database file is private to its owner."""

from __future__ import annotations

import csv
import io
import stat

import pytest
import sqlalchemy as sa

from consent_service.extensions import db
from consent_service.ledger.exports import CSV_COLUMNS
from consent_service.ledger.sealing import seal_site
from consent_service.safe_text import UnsafeText, check_label, check_text
from consent_service.sites import registry
from tests.conftest import make_app
from tests.test_ledger_bundle import record_many

FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("label", [*FORMULAS, "", "a b", "x" * 65, "v1\n", "é"])
def test_unsafe_policy_labels_are_refused(runner, site, tmp_path, label):
    policy = tmp_path / "policy.txt"
    policy.write_text("Our policy.", encoding="utf-8")
    result = runner.invoke(
        args=["policies", "publish", "--site", site.site_key, "--label", label, "--file", policy]
    )
    assert result.exit_code != 0
    assert "policy label must be" in result.output


def test_safe_labels_and_names_pass():
    for label in ("2026-12", "v2.1", "2026_12:eu"):
        assert check_label(label) == label
    for text in ("Example Inc. (EU)", "Google LLC", "United States", "a-b", "x = y"):
        assert check_text(text) == text
    for text in [*FORMULAS, "bell\x07"]:
        with pytest.raises(UnsafeText):
            check_text(text)


def test_unsafe_site_names_are_refused(runner):
    result = runner.invoke(
        args=["sites", "create", "--name", "=cmd|' /C calc'!A0", "--origin", "https://a.example"]
    )
    assert result.exit_code != 0 and "/name" in result.output


def test_site_keys_never_start_a_formula(monkeypatch):
    keys = iter(["-starts-with-minus0001", "fine_key_0123456789ab"])
    monkeypatch.setattr(registry.secrets, "token_urlsafe", lambda n: next(keys))
    assert registry.generate_site_key() == "fine_key_0123456789ab"


def test_csv_export_columns_and_cells(client, site, admin_token):
    record_many(client, site, 3)
    seal_site(site)
    answer = client.get(
        f"/api/v1/sites/{site.site_key}/ledger/export?format=csv",
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    table = list(csv.reader(io.StringIO(answer.data.decode("utf-8"))))
    assert tuple(table[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[-2:] == ("leaf_version", "evidence")
    for row in table[1:]:
        assert len(row) == len(CSV_COLUMNS)
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


def test_sqlite_database_file_is_created_private(tmp_path):
    path = tmp_path / "fresh.sqlite"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        db.session.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
        db.session.commit()
        for name in (path, tmp_path / "fresh.sqlite-wal"):
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
        db.engine.dispose()
