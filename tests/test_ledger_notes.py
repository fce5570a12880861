"""Checkpoints as C2SP tlog-checkpoint signed notes, checked by a third-party implementation:
Go's golang.org/x/mod/sumdb/note (Debian: golang-go, golang-golang-x-mod-dev), offline."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from consent_service.ledger.notes import NoteError, open_checkpoint_note, verifier_key
from consent_service.ledger.sealing import seal_site
from consent_service.ledger.signing import load_key, new_private_key_b64
from tests.conftest import TEST_LEDGER_KEY
from tests.test_ledger_bundle import record_many

GO_VERIFIER = Path(__file__).parent / "go" / "verify_note.go"
GOPATH = "/usr/share/gocode"


def latest(client, site, token, accept):
    return client.get(
        f"/api/v1/sites/{site.site_key}/ledger/checkpoints/latest",
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
    )


def go_verify(vkey: str, note: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not installed (apt-get install golang-go golang-golang-x-mod-dev)")
    path = tmp_path / "note.txt"
    path.write_bytes(note.encode())
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH}
    return subprocess.run(
        [go, "run", GO_VERIFIER.name, vkey, str(path)],
        cwd=GO_VERIFIER.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_latest_checkpoint_as_a_signed_note(client, site, admin_token, runner, tmp_path):
    record_many(client, site, 5)
    seal_site(site)
    document = latest(client, site, admin_token, "application/json").json
    answer = latest(client, site, admin_token, "text/plain")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    note = answer.get_data(as_text=True)
    origin = f"consent-service/consent-ledger/{site.site_key}"
    root = base64.b64encode(bytes.fromhex(document["root_hash"])).decode()
    body, signature = note.split("\n\n")
    assert body == f"{origin}\n5\n{root}"
    assert signature.startswith(f"— {origin} ")
    key = load_key(TEST_LEDGER_KEY)
    parsed = open_checkpoint_note(note, origin, key.public_raw)
    assert (parsed.tree_size, parsed.root_hex) == (5, document["root_hash"])
    printed = runner.invoke(args=["ledger", "note-key", "--site", site.site_key])
    vkey = printed.output.strip()
    assert vkey == verifier_key(origin, key.public_raw)

    checked = go_verify(vkey, note, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.split() == [origin, "5", root]
    # Go refuses a changed size, a foreign key and a note for another origin
    forged = note.replace("\n5\n", "\n6\n", 1)
    assert go_verify(vkey, forged, tmp_path).returncode != 0
    foreign = load_key(new_private_key_b64())
    assert go_verify(verifier_key(origin, foreign.public_raw), note, tmp_path).returncode != 0
    with pytest.raises(NoteError):
        open_checkpoint_note(forged, origin, key.public_raw)
    # JSON stays the default
    assert latest(client, site, admin_token, "*/*").is_json


def test_origin_follows_the_public_base_url(app_factory, site, tmp_path):
    other = app_factory(PUBLIC_BASE_URL="https://consent.example.com")
    with other.app_context():
        from consent_service.ledger.proofs import log_origin

        assert log_origin(site.site_key) == f"consent.example.com/consent-ledger/{site.site_key}"


def test_every_checkpoint_is_served_by_size(client, site, admin_token, tmp_path):
    record_many(client, site, 3)
    seal_site(site)
    record_many(client, site, 2)
    seal_site(site)
    base = f"/api/v1/sites/{site.site_key}/ledger/checkpoints"
    headers = {"Authorization": f"Bearer {admin_token}"}
    older = client.get(f"{base}/3", headers=headers).json
    assert older["tree_size"] == 3
    note = client.get(f"{base}/3", headers={**headers, "Accept": "text/plain"})
    origin = f"consent-service/consent-ledger/{site.site_key}"
    key = load_key(TEST_LEDGER_KEY)
    parsed = open_checkpoint_note(note.get_data(as_text=True), origin, key.public_raw)
    assert (parsed.tree_size, parsed.root_hex) == (3, older["root_hash"])
    checked = go_verify(verifier_key(origin, key.public_raw), note.get_data(as_text=True), tmp_path)
    assert checked.returncode == 0, checked.stderr
    missing = client.get(f"{base}/4", headers=headers)
    assert missing.status_code == 404 and missing.json["status"] == "checkpoint_not_found"
    assert client.get(f"{base}/3").status_code == 401
