"""The console's signed bundle download: the CLI's bundle as a .tar.gz that `ledger verify`
accepts as it is, and refuses once a row is changed."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from click.testing import CliRunner

from consent_service.cli import main
from consent_service.ledger.sealing import seal_site
from consent_service.models import ConsoleActivity
from tests.conftest import count_rows, decision_body, ledger_public_key
from tests.console_support import make_account, sign_in


def verify_archive(path):
    return CliRunner().invoke(
        main, ["ledger", "verify", str(path), "--public-key", ledger_public_key()]
    )


def download(client, site, role):
    make_account(f"{role}@example.com", role, site)
    sign_in(client, f"{role}@example.com")
    for _ in range(4):
        answer = client.post(f"/api/v1/sites/{site.site_key}/consents", json=decision_body(site))
        assert answer.status_code == 201
    seal_site(site)
    page = client.get(f"/console/sites/{site.site_key}/ledger").get_data(as_text=True)
    assert f"/console/sites/{site.site_key}/ledger/bundle.tar.gz" in page
    response = client.get(f"/console/sites/{site.site_key}/ledger/bundle.tar.gz")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/gzip"
    assert f"{site.site_key}-ledger-bundle.tar.gz" in response.headers["Content-Disposition"]
    return response.get_data()


@pytest.mark.parametrize("role", ["owner", "auditor"])
def test_the_downloaded_bundle_verifies_as_the_cli_bundle_does(
    client, site, runner, tmp_path, role
):
    data = download(client, site, role)
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(data)
    result = verify_archive(archive)
    assert result.exit_code == 0, result.output
    assert "VERDICT: VERIFIED" in result.output
    assert count_rows(ConsoleActivity) >= 1

    out = tmp_path / "cli"
    assert (
        runner.invoke(
            args=["ledger", "export", "--site", site.site_key, "--out", str(out)]
        ).exit_code
        == 0
    )
    with tarfile.open(archive) as tar:
        names = sorted(member.name for member in tar.getmembers())
    top = f"{site.site_key}-ledger-bundle"
    assert names == sorted(f"{top}/{path.name}" for path in out.iterdir())


def test_a_tampered_archive_does_not_verify(client, site, tmp_path):
    data = download(client, site, "owner")
    tampered = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data)) as source,
        tarfile.open(fileobj=tampered, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            content = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("/events.jsonl"):
                lines = content.decode().splitlines()
                row = json.loads(lines[1])
                row["language"] = "xx"
                lines[1] = json.dumps(row)
                content = ("\n".join(lines) + "\n").encode()
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    archive = tmp_path / "tampered.tgz"
    archive.write_bytes(tampered.getvalue())
    result = verify_archive(archive)
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and "1 does not match its leaf hash" in result.output


def test_a_file_that_is_no_bundle_archive_is_a_verdict(tmp_path):
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"not gzip at all")
    result = verify_archive(archive)
    assert result.exit_code == 1
    assert "bundle readable" in result.output
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w:gz") as tar:
        member = tarfile.TarInfo("b/manifest.json")
        member.type = tarfile.SYMTYPE
        member.linkname = "/etc/passwd"
        tar.addfile(member)
    archive.write_bytes(link.getvalue())
    result = verify_archive(archive)
    assert result.exit_code == 1 and "links or special files" in result.output
