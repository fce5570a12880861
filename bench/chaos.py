"""Chaos: post consents under load while killing gunicorn workers and crash-stopping PostgreSQL.

    python3 bench/chaos.py [--seconds 60] [--clients 8] [--workers 2]

Creates a PRIVATE PostgreSQL cluster with initdb under a temporary directory, on its own port
(never the shared server), migrates it, creates the demo site and starts gunicorn on
`consent_service.wsgi:app`. Client threads post decisions the way the banner does: each
decision keeps its event id until the service acknowledged it (2xx), retrying on errors and
503. Meanwhile faults alternate: SIGKILL of a random gunicorn worker, and an immediate
(crash) stop of the cluster followed by a restart. At the end every acknowledged event id is
looked up in the database. Prints acknowledged writes, lost writes (acknowledged but not
stored: must be 0), and the recovery time after each kind of fault (from the fault to the
next acknowledged write).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        sys.exit(f"{name} not found: install PostgreSQL's server binaries")
    return found[-1]


def as_postgres(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user when we are."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, **kwargs)


class PrivateCluster:
    """A throw-away PostgreSQL cluster in `root`, listening on 127.0.0.1:`port` only."""

    def __init__(self, root: Path, port: int) -> None:
        self.data = root / "pgdata"
        self.port = port
        self.socket_dir = root
        self.log = root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        as_postgres(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def crash(self) -> None:
        """Immediate shutdown: no checkpoint, recovery from WAL at the next start."""
        as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        subprocess.run(
            [
                *(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []),
                pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop",
            ],
            capture_output=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"


class Load:
    """Client threads posting decisions like the banner's queue, with what was acknowledged."""

    def __init__(self, base: str, site_key: str, config: dict[str, Any], clients: int) -> None:
        self.url = f"{base}/api/v1/sites/{site_key}/consents"
        self.config = config
        self.acknowledged: list[str] = []
        self.ack_times: list[float] = []
        self.failures = 0
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def body(self, event_id: str) -> bytes:
        policy = self.config.get("policy_version") or {}
        return json.dumps(
            {
                "event_id": event_id,
                "action": random.choice(["accept_all", "reject_all"]),
                "choices": {},
                "policy_version": policy.get("label", "none"),
                "banner_version": self.config["banner_version"],
                "language": "en",
                "url": "https://www.example.com/landing?gclid=" + "x" * 3000,
            }
        ).encode()

    def client(self) -> None:
        event_id = str(uuid.uuid4())
        while self.running:
            request = urllib.request.Request(
                self.url,
                data=self.body(event_id),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    ok = 200 <= answer.status < 300
            except urllib.error.HTTPError as refused:
                refused.close()
                ok = False
            except OSError:
                ok = False
            with self.lock:
                if ok:
                    self.acknowledged.append(event_id)
                    self.ack_times.append(time.monotonic())
                else:
                    self.failures += 1
            if ok:
                event_id = str(uuid.uuid4())
            else:
                time.sleep(0.05)  # the same event id again, like the banner's retry

    def first_ack_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.ack_times if t > moment]
        return min(later) - moment if later else None


def workers_of(master: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fault-every", type=float, default=3.0)
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="consent-chaos-"))
    cluster = PrivateCluster(root, free_port())
    cluster.start()
    dbname = "consent_chaos"
    admin = sa.create_engine(cluster.url + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
    admin.dispose()

    from consent_service.ledger.signing import new_private_key_b64

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    instance = root / "instance"
    instance.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"{cluster.url}/{dbname}",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "LEDGER_SIGNING_KEY": new_private_key_b64(),
        "PUBLIC_BASE_URL": base,
        "CONSENT_SERVICE_INSTANCE": str(instance),
        "CONSENT_WRITES_PER_CLIENT": "0",
        "WEBHOOK_AUTODELIVER": "0",
        "CRM_AUTODELIVER": "0",
        "MAIL_AUTOSEND": "0",
    }
    cli = [sys.executable, "-c", "from consent_service.cli import main; main()"]
    prepared = subprocess.run(
        [*cli, "demo", "--no-serve", "--port", str(port)],
        env=env, capture_output=True, text=True, check=True, cwd=instance,
    )  # fmt: skip
    site_key = prepared.stdout.split("site key:", 1)[1].split()[0]
    log = open(root / "gunicorn.log", "w")  # noqa: SIM115  (open for the server's lifetime)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:consent_service.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", str(options.workers),
         "--graceful-timeout", "5", "consent_service.wsgi:app"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=instance,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        config_url = f"{base}/api/v1/sites/{site_key}/config"
        with urllib.request.urlopen(config_url, timeout=5) as answer:
            config = json.load(answer)
        load = Load(base, site_key, config, options.clients)
        for thread in load.threads:
            thread.start()
        faults: list[tuple[str, float]] = []
        started = time.monotonic()
        kind = 0
        while time.monotonic() - started < options.seconds:
            time.sleep(options.fault_every)
            if kind % 2 == 0:
                victims = workers_of(server.pid)
                if victims:
                    os.kill(random.choice(victims), signal.SIGKILL)
                    faults.append(("worker SIGKILL", time.monotonic()))
            else:
                cluster.crash()
                faults.append(("PostgreSQL crash-stop", time.monotonic()))  # now down
                time.sleep(1.0)
                cluster.start()
            kind += 1
        time.sleep(3.0)  # let the last fault recover and in-flight writes finish
        load.running = False
        for thread in load.threads:
            thread.join(15)
        elapsed = time.monotonic() - started

        engine = sa.create_engine(f"{cluster.url}/{dbname}")
        with engine.connect() as connection:
            stored = {
                str(row[0])
                for row in connection.execute(sa.text("SELECT event_id FROM consent_events"))
            }
        engine.dispose()
        acknowledged = set(load.acknowledged)
        lost = acknowledged - stored
        print(f"chaos: {elapsed:.0f} s, {options.clients} clients, {options.workers} workers")
        print(f"  acknowledged writes: {len(acknowledged)} ({len(acknowledged) / elapsed:.0f}/s)")
        print(f"  lost writes:         {len(lost)}")
        print(f"  failed attempts:     {load.failures} (retried with the same event id)")
        print(f"  stored events:       {len(stored)}")
        for name in ("worker SIGKILL", "PostgreSQL crash-stop"):
            times = [
                load.first_ack_after(moment) for kind_name, moment in faults if kind_name == name
            ]
            known = [t for t in times if t is not None]
            if known:
                median = statistics.median(known)
                print(
                    f"  {name}: {len(times)} faults, next acknowledged write after"
                    f" median {median:.2f} s, max {max(known):.2f} s"
                )
        if lost:
            sys.exit(1)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
