"""The service under real gunicorn, started the way `consent-service demo` and production do."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_support import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    instance = tmp_path_factory.mktemp("instance")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PUBLIC_"))},
        "CONSENT_SERVICE_INSTANCE": str(instance),
        "PYTHONPATH": str(ROOT),
        "LEDGER_AUTOSEAL": "0",
        "WEBHOOK_AUTODELIVER": "0",
        "CRM_AUTODELIVER": "0",
        "MAIL_AUTOSEND": "0",
    }
    prepared = subprocess.run(
        [sys.executable, "-c", "from consent_service.cli import main; main()",
         "demo", "--no-serve", "--port", str(port)],
        env=env, capture_output=True, text=True, check=True, cwd=instance,
    )  # fmt: skip
    site_key = re.search(r"site key:\s+(\S+)", prepared.stdout).group(1)  # type: ignore[union-attr]
    log = instance / "gunicorn.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:consent_service.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "consent_service.wsgi:app"],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=instance,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base, site_key, log
    finally:
        server.terminate()
        server.wait(10)


def test_an_installed_package_runs_under_gunicorn(served) -> None:
    base, site_key, _ = served
    with urllib.request.urlopen(f"{base}/c/{site_key}.js", timeout=5) as answer:
        assert answer.status == 200


def test_a_forwarded_proto_from_loopback_is_not_trusted_without_trusted_proxies(served) -> None:
    base, site_key, _ = served
    request = urllib.request.Request(
        f"{base}/api/v1/sites/{site_key}/snippet", headers={"X-Forwarded-Proto": "https"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.load(answer)["src"].startswith("http://127.0.0.1")


def test_the_access_log_keeps_no_query_string(served) -> None:
    base, site_key, log = served
    url = f"{base}/api/v1/sites/{site_key}/consents/current?visitor_token=secret-visitor-token"
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError as refused:
        refused.close()
    time.sleep(0.3)
    text = log.read_text()
    assert f"/api/v1/sites/{site_key}/consents/current HTTP/1.1" in text
    assert "secret-visitor-token" not in text and "127.0.0.1 " not in text


def test_concurrent_consents_are_each_recorded_by_the_threaded_worker(served) -> None:
    """The bundled settings run threads (gthread): concurrent writes share commits, and each is
    answered with its own event once durable."""
    import threading
    import uuid

    base, site_key, _ = served
    with urllib.request.urlopen(f"{base}/api/v1/sites/{site_key}/config", timeout=5) as answer:
        config = json.load(answer)
    statuses: dict[str, int] = {}

    def post(event_id: str) -> None:
        body = {
            "event_id": event_id,
            "action": "accept_all",
            "policy_version": config["policy_version"]["label"],
            "banner_version": config["banner_version"],
        }
        request = urllib.request.Request(
            f"{base}/api/v1/sites/{site_key}/consents",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            statuses[json.load(answer)["event_id"]] = answer.status

    sent = [str(uuid.uuid4()) for _ in range(12)]
    threads = [threading.Thread(target=post, args=(event_id,)) for event_id in sent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {event_id: 201 for event_id in sent}


def test_the_start_line_keeps_the_listening_address(served) -> None:
    base, _, log = served
    assert re.search(rf"Listening at: {re.escape(base)} \(\d+\)", log.read_text())
